package linkserver

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var nonceRE = regexp.MustCompile(`'nonce-([A-Za-z0-9+/]{22})'`)

// TestSecurityHeadersEverywhere checks every kind of response: pages,
// downloads, API, assets, and each error.
func TestSecurityHeadersEverywhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(1, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("abc")})
	revoked := e.add(1, testFile{name: "b.pdf", contentType: "application/pdf", data: []byte("b")})
	if err := e.v.Revoke(t.Context(), revoked.id); err != nil {
		t.Fatal(err)
	}
	type req struct {
		method, path string
		header       []string
		status       int
	}
	file := "/t/" + st.token + "/f/" + st.files[0].ID
	reqs := []req{
		{"GET", "/", nil, 200},
		{"GET", "/t/" + st.token, nil, 200},
		{"GET", file, nil, 200},
		{"GET", file, []string{"Range", "bytes=0-0"}, 206},
		{"GET", file, []string{"Range", "bytes=10-"}, 416},
		{"HEAD", file, nil, 200},
		{"GET", "/api/v1/transfers/" + st.token, nil, 200},
		{"GET", "/static/style.css", nil, 200},
		{"GET", "/static/nope.css", nil, 404},
		{"GET", "/t/" + strings.Repeat("C", 43), nil, 404},
		{"GET", "/t/" + revoked.token, nil, 410},
		{"GET", "/api/v1/transfers/" + revoked.token, nil, 410},
		{"POST", "/", []string{"Content-Type", "application/x-www-form-urlencoded"}, 403},
		{"POST", "/", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"DELETE", "/t/" + st.token, nil, 404},
		{"GET", "/login", nil, 200},
		{"POST", "/login", []string{"Content-Type", "application/x-www-form-urlencoded"}, 403},
		{"GET", "/s/" + st.sender, nil, 200},
		{"GET", "/s/" + strings.Repeat("C", 43), nil, 404},
		{"POST", "/api/v1/login/start", []string{"Content-Type", "application/json"}, 400},
		{"POST", "/api/v1/login/verify", nil, 415},
		{"GET", "/.well-known/sealgate/receipt-key.asc", nil, 200},
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		resp, _ := e.do(nil, r.method, r.path, strings.NewReader(""), r.header...)
		name := r.method + " " + r.path
		if resp.StatusCode != r.status {
			t.Errorf("%s: %s, want %d", name, resp.Status, r.status)
		}
		h := resp.Header
		for k, v := range map[string]string{
			"X-Content-Type-Options":     "nosniff",
			"Referrer-Policy":            "no-referrer",
			"Cache-Control":              "no-store",
			"X-Frame-Options":            "DENY",
			"Cross-Origin-Opener-Policy": "same-origin",
		} {
			if h.Get(k) != v {
				t.Errorf("%s: %s is %q, want %q", name, k, h.Get(k), v)
			}
		}
		csp := h.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s: CSP %q lacks %q", name, csp, d)
			}
		}
		if strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") {
			t.Errorf("%s: CSP %q is not strict", name, csp)
		}
		if m := nonceRE.FindStringSubmatch(csp); m != nil {
			if seen[m[1]] {
				t.Errorf("%s: CSP nonce reused", name)
			}
			seen[m[1]] = true
			for _, d := range []string{"form-action 'self'", "base-uri 'none'", "img-src 'self' data:"} {
				if !strings.Contains(csp, d) {
					t.Errorf("%s: CSP %q lacks %q", name, csp, d)
				}
			}
		} else if !strings.Contains(csp, "sandbox") {
			t.Errorf("%s: CSP %q has neither a nonce nor a sandbox", name, csp)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over plain HTTP", name)
		}
	}
}

func TestPagesNeedNoScriptOrExternalResources(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(1, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("abc")})
	st2 := e.add(2, testFile{name: "b.pdf", contentType: "application/pdf", data: []byte("b")})
	clerkBrowser := e.client()
	e.signIn(clerkBrowser, clerk, "/s/"+st2.sender)
	for _, p := range []string{"/", "/t/" + st.token, "/t/" + strings.Repeat("D", 43), "/login", "/t/" + st2.token, "/s/" + st2.sender, "status"} {
		var body []byte
		if p == "status" { // signed in
			_, body = e.do(clerkBrowser, http.MethodGet, "/s/"+st2.sender, nil)
		} else {
			_, body = e.get(p)
		}
		page := string(body)
		for _, bad := range []string{"<script", "http://", "https://", "style=\""} {
			if strings.Contains(page, bad) {
				t.Errorf("%s contains %q", p, bad)
			}
		}
		for _, want := range []string{`<html lang="`, `<main id="main"`, `<link rel="stylesheet" href="/static/style.css">`} {
			if !strings.Contains(page, want) {
				t.Errorf("%s lacks %q", p, want)
			}
		}
	}
	_, body := e.get("/")
	if !strings.Contains(string(body), `<label for="code">`) {
		t.Error("the access-code field has no label")
	}
}

// TestGetNeverChangesState runs every GET and HEAD a link scanner could
// send and compares the storage directory before and after.
func TestGetNeverChangesState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(1, testFile{name: "a.pdf", contentType: "application/pdf", size: 1 << 20, seed: 5})
	st2 := e.add(2, testFile{name: "b.pdf", contentType: "application/pdf", data: []byte("b")})
	before := e.snapshot()
	file := "/t/" + st.token + "/f/" + st.files[0].ID
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		for _, p := range []string{
			"/", "/?code=" + st.code, "/t/" + st.token, "/t/" + st.token + "?lang=en",
			"/api/v1/transfers/" + st.token, "/t/" + st2.token, "/t/" + st2.token + "/f/" + st2.files[0].ID,
			"/api/v1/transfers/" + st2.token, "/t/" + strings.Repeat("E", 43), "/static/style.css",
			"/s/" + st2.sender, "/login?next=/t/" + st2.token, "/.well-known/sealgate/receipt-key.asc",
		} {
			e.do(nil, method, p, nil)
		}
		e.do(nil, method, file, nil, "Range", "bytes=100-200")
	}
	// A whole level-1 download is the one GET that is recorded (without
	// a name: nobody signs in at level 1); HEAD is not.
	e.do(nil, http.MethodHead, file, nil)
	if n := e.notes.count(); n != 0 {
		t.Errorf("GET or HEAD requests sent %d mails", n)
	}
	if after := e.snapshot(); after != before {
		t.Error("GET or HEAD requests changed the storage directory")
	}
}

func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(1, testFile{name: "Geheimakte-Mueller.pdf", contentType: "application/pdf", data: []byte("abc")})
	e.get("/t/" + st.token)
	e.get("/t/" + st.token + "/f/" + st.files[0].ID)
	e.get("/api/v1/transfers/" + st.token)
	e.get("/t/" + st.token + "/extra/segments")
	e.postCode(e.client(), st.code)
	e.postCode(e.client(), "WRNG-CODE-WRNG-CODE")
	logs := e.logs.String()
	for _, secret := range []string{st.token, st.code, strings.ReplaceAll(st.code, "-", ""), "WRNG-CODE", "Geheimakte"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q", secret)
		}
	}
	if !strings.Contains(logs, "path=/t/…/f/"+st.files[0].ID) || !strings.Contains(logs, "path=/api/v1/transfers/…") {
		t.Errorf("log lacks the redacted paths:\n%s", logs)
	}
}
