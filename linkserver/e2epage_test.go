package linkserver

import (
	"bytes"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"sealgate/internal/assetcheck"
)

// TestE2EPageCSPAndScripts: only a level-3/4 page shown to its signed-in
// recipient runs scripts, under e2eCSP; its script tags carry the
// integrity of the bytes the server serves. Level-1/2 pages, and the
// level-3 page before sign-in, stay script-free under the default CSP.
func TestE2EPageCSPAndScripts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("a")}
	l1, l2, l3, l4 := e.add(1, f), e.add(2, f), e.add(3, f), e.addL4("Hallo", "", f)
	c := e.client()

	scriptFree := func(name string, resp *http.Response, body []byte) {
		t.Helper()
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != http.StatusOK || strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe") ||
			!strings.Contains(csp, "default-src 'none'") || bytes.Contains(body, []byte("<script")) {
			t.Errorf("%s: %s, CSP %q, has script: %v", name, resp.Status, csp, bytes.Contains(body, []byte("<script")))
		}
	}
	resp, body := e.do(c, http.MethodGet, transferPath(l3.token), nil)
	scriptFree("level 3 before sign-in", resp, body)

	e.signIn(c, citizen, transferPath(l3.token))
	for _, st := range []stored{l1, l2} {
		resp, body := e.do(c, http.MethodGet, transferPath(st.token), nil)
		scriptFree("level 1/2 signed in", resp, body)
	}
	for name, st := range map[string]stored{"level 3": l3, "level 4": l4} {
		resp, body := e.do(c, http.MethodGet, transferPath(st.token), nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") != e2eCSP {
			t.Errorf("%s: %s, CSP %q", name, resp.Status, resp.Header.Get("Content-Security-Policy"))
		}
		for _, d := range []string{"script-src 'self' 'wasm-unsafe-eval'", "worker-src 'self'", "connect-src 'self'", "frame-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
			if !strings.Contains(e2eCSP, d) {
				t.Errorf("e2eCSP lacks %q", d)
			}
		}
		checkIntegrity(t, e, c, body)
	}
}

var integrityRE = regexp.MustCompile(`<(?:link rel="modulepreload" href|script type="module" src)="([^"]+)" integrity="([^"]+)"`)

// checkIntegrity fetches every script a page names and compares its
// integrity attribute with the bytes served.
func checkIntegrity(t *testing.T, e *env, c *http.Client, page []byte) {
	t.Helper()
	ms := integrityRE.FindAllSubmatch(page, -1)
	want := map[string]bool{openpgpPath: true, e2ePath: true, pagePath: true}
	for _, m := range ms {
		// html/template writes "+" as "&#43;" in attributes; browsers
		// read the same value.
		src, integrity := html.UnescapeString(string(m[1])), html.UnescapeString(string(m[2]))
		delete(want, src)
		resp, body := e.do(c, http.MethodGet, src, nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("%s: %s %s", src, resp.Status, resp.Header.Get("Content-Type"))
		}
		if got := assetcheck.Integrity(body); got != integrity {
			t.Errorf("%s: page says integrity %s, the served bytes have %s", src, integrity, got)
		}
	}
	for src := range want {
		t.Errorf("the page does not load %s with integrity", src)
	}
}

// TestScriptsServed: the scripts' types and caching, the service worker
// at its fixed address, revalidation by ETag, and the vendored OpenPGP.js
// matching SRI.txt.
func TestScriptsServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, p := range []string{openpgpPath, e2ePath, pagePath, swPath} {
		resp, body := e.get(p)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
			resp.Header.Get("Cache-Control") != "no-cache" || len(body) == 0 {
			t.Errorf("%s: %s, %q, Cache-Control %q", p, resp.Status, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
		}
		if resp, _ := e.get(p, "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s with its ETag: %s, want 304", p, resp.Status)
		}
	}
	sri, err := scriptFS.ReadFile("assets/vendor/SRI.txt")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := assetcheck.ParseSRI(sri)
	if err != nil || len(entries) == 0 {
		t.Fatalf("SRI.txt: %v", err)
	}
	_, body := e.get(openpgpPath)
	if entries[0].File != "openpgp.min.mjs" || assetcheck.Integrity(body) != entries[0].Integrity {
		t.Errorf("served OpenPGP.js has integrity %s, SRI.txt says %+v", assetcheck.Integrity(body), entries[0])
	}
	for _, p := range []string{"/assets/js/nope.js", "/assets/vendor/SRI.txt", "/assets/vendor/openpgp.LICENSE"} {
		if resp, _ := e.get(p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404", p, resp.Status)
		}
	}
}

// TestE2EPageStates: the page renders the step that applies (no key, a
// browser key, one's own key with .pgp links), keeps secrets out of form
// fields that could be submitted, and lists the level-4 text apart from
// the files.
func TestE2EPageStates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.addL4("Hallo", "<p>Hallo</p>", testFile{name: "Bescheid.pdf", contentType: "application/pdf", data: []byte("%PDF")})
	page := func(c *http.Client) string {
		t.Helper()
		resp, body := e.do(c, http.MethodGet, transferPath(st.token), nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("transfer page: %s", resp.Status)
		}
		return string(body)
	}
	c := e.client()
	e.signIn(c, citizen, transferPath(st.token))
	p := page(c)
	for _, want := range []string{`data-state="none"`, `<noscript>`, `id="setup-form"`, `id="recovery-code"`,
		`data-text="/t/` + st.token + `/f/text"`, `data-html="/t/` + st.token + `/f/html"`, `data-name="Bescheid.pdf"`,
		`sandbox="allow-popups allow-popups-to-escape-sandbox"`, `href="/key?next=/t/` + st.token + `"`} {
		if !strings.Contains(p, want) {
			t.Errorf("no-key page lacks %s", want)
		}
	}
	if strings.Contains(p, `data-name="message.txt"`) || strings.Contains(p, `allow-scripts`) || strings.Contains(p, `allow-same-origin`) {
		t.Error("the message text is offered as a file, or its frame may run scripts")
	}
	for _, in := range regexp.MustCompile(`<input type="password"[^>]*>`).FindAllString(p, -1) {
		if strings.Contains(in, "name=") {
			t.Errorf("a secret field has a name and would be submitted with a form: %s", in)
		}
	}
	if n := strings.Count(p, `<input type="password"`); n != 5 {
		t.Errorf("%d password fields, want 5 (setup ×2, unlock, change ×2)", n)
	}

	e.setKey(c, browserKey(t, citizen), false)
	if p := page(c); !strings.Contains(p, `data-state="browser"`) || !strings.Contains(p, `id="unlock-form"`) {
		t.Error("browser-key page is not in the unlock state")
	}

	own := e.client()
	addr := "zweite@example.org"
	st2 := e.addFor(3, []string{addr}, testFile{name: "Antwort.pdf", contentType: "application/pdf", data: []byte("%PDF")})
	e.signIn(own, addr, transferPath(st2.token))
	e.setKey(own, ownKey(t, addr), false)
	resp, body := e.do(own, http.MethodGet, transferPath(st2.token), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `data-state="byok"`) ||
		!strings.Contains(string(body), `href="`+fileURL(st2.token, st2.files[0].ID)+`" download`) || strings.Contains(string(body), `id="unlock-form"`) {
		t.Errorf("own-key page: %s, want .pgp links and no unlock form", resp.Status)
	}
}

// TestOwnKeyForm: the key page's bring-your-own-key form, as a file upload
// and pasted, without JavaScript: CSRF needed, unusable keys explained, a
// different key replaced only when confirmed.
func TestOwnKeyForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(3, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("a")})
	c := e.client()
	resp, body := e.do(c, http.MethodGet, "/key", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `name="next" value="/key"`) {
		t.Fatalf("key page signed out: %s, want the sign-in form back to /key", resp.Status)
	}
	e.signIn(c, citizen, "/key")
	resp, body = e.do(c, http.MethodGet, "/key?next="+transferPath(st.token), nil)
	m := csrfRE.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(string(body), `enctype="multipart/form-data"`) {
		t.Fatalf("key page: %s", resp.Status)
	}
	csrf := string(m[1])

	post := func(fields map[string]string, file []byte) (*http.Response, []byte) {
		t.Helper()
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		for k, v := range fields {
			w.WriteField(k, v)
		}
		if file != nil {
			fw, _ := w.CreateFormFile("key_file", "key.asc")
			fw.Write(file)
		}
		w.Close()
		return e.do(c, http.MethodPost, "/key", &b, "Content-Type", w.FormDataContentType())
	}
	k := ownKey(t, citizen)
	if resp, _ := post(map[string]string{"next": transferPath(st.token)}, k.upload.PublicKey); resp.StatusCode != http.StatusForbidden {
		t.Errorf("without CSRF token: %s", resp.Status)
	}
	resp, body = post(map[string]string{"csrf": csrf, "public_key": "not a key"}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), `id="key-error"`) {
		t.Errorf("unusable key: %s", resp.Status)
	}
	if resp, _ := post(map[string]string{"csrf": csrf}, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("nothing uploaded: %s", resp.Status)
	}
	secret := armoredKey(t, k.secret, true)
	if resp, _ := post(map[string]string{"csrf": csrf, "public_key": string(secret)}, nil); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("a secret key: %s, want 422", resp.Status)
	}
	resp, _ = post(map[string]string{"csrf": csrf, "next": transferPath(st.token)}, k.upload.PublicKey)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/key?saved=1&next="+transferPath(st.token) {
		t.Fatalf("upload: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	info, err := e.v.AccountKey(t.Context(), citizen)
	if err != nil || !info.BYOK {
		t.Fatalf("account key after upload: %+v %v", info, err)
	}
	resp, body = e.do(c, http.MethodGet, resp.Header.Get("Location"), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), info.Fingerprint) || !strings.Contains(string(body), `href="`+transferPath(st.token)+`"`) {
		t.Errorf("key page after upload: %s, lacks fingerprint or way back", resp.Status)
	}

	// Pasted (urlencoded form) works too; a different key needs the box.
	other := ownKey(t, citizen)
	form := url.Values{"csrf": {csrf}, "public_key": {string(other.upload.PublicKey)}}
	resp, body = e.postForm(c, "/key", form)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), `name="reset" value="yes"`) {
		t.Errorf("a different key without confirming: %s", resp.Status)
	}
	form.Set("reset", "yes")
	if resp, _ = e.postForm(c, "/key", form); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a different key, confirmed: %s", resp.Status)
	}
	if info2, _ := e.v.AccountKey(t.Context(), citizen); info2.Fingerprint == info.Fingerprint {
		t.Error("the confirmed key did not replace the old one")
	}
}
