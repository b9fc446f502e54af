package linkserver

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMessageDownload: a level-3 file is served to its signed-in recipient
// as the OpenPGP message for their key, which their secret key opens to
// the original bytes; before they have a key the answer is 409; the
// download is counted, with one receipt, only when complete.
func TestMessageDownload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	file := testFile{name: "Bescheid 2026.pdf", contentType: "application/pdf", size: 700 << 10, seed: 7}
	st := e.add(3, file)
	path := fileURL(st.token, st.files[0].ID)

	c := e.client()
	e.signIn(c, citizen, transferPath(st.token))
	resp, _ := e.do(c, http.MethodGet, path, nil)
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("before the recipient has a key: %s, want 409", resp.Status)
	}
	if e.waitDownload() {
		t.Error("a refused download was counted")
	}

	k := ownKey(t, citizen)
	e.setKey(c, k, false) // the gateway re-wraps the pending file for it

	resp, body := e.do(c, http.MethodHead, path, nil)
	if resp.StatusCode != http.StatusOK || len(body) != 0 || e.waitDownload() {
		t.Errorf("HEAD: %s, %d bytes", resp.Status, len(body))
	}
	resp, body = e.do(c, http.MethodGet, path, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %s %s", resp.Status, body)
	}
	if got := resp.Header.Get("Content-Disposition"); !strings.Contains(got, `filename="Bescheid 2026.pdf.pgp"`) || !strings.HasPrefix(got, "attachment;") {
		t.Errorf("Content-Disposition %q, want an attachment named Bescheid 2026.pdf.pgp", got)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/octet-stream" {
		t.Errorf("Content-Type %q", got)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") {
		t.Errorf("CSP %q lacks sandbox", csp)
	}
	if got := hashOf(k.decrypt(t, body)); got != file.sum() {
		t.Errorf("decrypted sha256 %s, want %s", got, file.sum())
	}
	if !e.waitDownload() {
		t.Error("a complete download was not counted")
	}
	e.do(c, http.MethodGet, path, nil)
	if !e.waitDownload() {
		t.Error("the second complete download was not counted")
	}
	if n := len(e.notes.receiptList()); n != 1 {
		t.Errorf("%d receipts, want 1", n)
	}
	ds, err := e.v.Downloads(t.Context(), st.id)
	if err != nil || len(ds) != 1 || ds[0].Count != 2 || ds[0].Email != citizen {
		t.Errorf("download records %+v, %v", ds, err)
	}

	// The manifest's download URL is this one.
	resp, body = e.do(c, http.MethodGet, "/api/v1/transfers/"+st.token, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"download_url":"`+e.http.URL+path+`"`) {
		t.Errorf("manifest: %s %s", resp.Status, body)
	}
}

// TestMessageDownloadGate: without a session the level-3 download asks to
// sign in; signed in as someone else it answers exactly as a wrong token.
func TestMessageDownloadGate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(3, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("secret")})
	path := fileURL(st.token, st.files[0].ID)
	if resp, _ := e.get(path); resp.StatusCode != http.StatusForbidden {
		t.Errorf("without a session: %s, want 403", resp.Status)
	}
	other := e.client()
	e.signIn(other, "nachbar@example.org", "/")
	e.setKey(other, browserKey(t, "nachbar@example.org"), false)
	resp, body := e.do(other, http.MethodGet, path, nil)
	wrongPath := fileURL(strings.Repeat("Q", 43), st.files[0].ID)
	wresp, wbody := e.do(other, http.MethodGet, wrongPath, nil)
	if resp.StatusCode != http.StatusNotFound || resp.StatusCode != wresp.StatusCode ||
		normalised(body, st.token) != normalised(wbody, strings.Repeat("Q", 43)) {
		t.Errorf("non-recipient: %s, wrong token: %s; pages differ: %v", resp.Status, wresp.Status, normalised(body, st.token) != normalised(wbody, strings.Repeat("Q", 43)))
	}
}

// TestMessageDownloadBroken: a download the client breaks off is not
// counted and sends no receipt.
func TestMessageDownloadBroken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(3, testFile{name: "big.bin", contentType: "application/octet-stream", size: 32 << 20, seed: 3})
	c := e.client()
	e.signIn(c, citizen, transferPath(st.token))
	e.setKey(c, browserKey(t, citizen), false)

	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+fileURL(st.token, st.files[0].ID), nil)
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %v %v", resp, err)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
		t.Fatal(err)
	}
	cancel() // the client hangs up mid-download
	resp.Body.Close()
	select {
	case counted := <-e.done:
		if counted {
			t.Error("a broken download was counted")
		}
	case <-time.After(time.Minute):
		t.Fatal("the download handler did not end")
	}
	if n := len(e.notes.receiptList()); n != 0 {
		t.Errorf("%d receipts for a broken download", n)
	}
}

// TestMessageDownloadUnreadable: after a key reset, a file wrapped only for
// the earlier key answers 410, and the clerk's status page says so.
func TestMessageDownloadUnreadable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	e.signIn(c, citizen, "/")
	e.setKey(c, browserKey(t, citizen), false)
	st := e.add(3, testFile{name: "Gutachten.pdf", contentType: "application/pdf", data: []byte("for the first key")})
	path := fileURL(st.token, st.files[0].ID)
	e.setKey(c, browserKey(t, citizen), true)
	if resp, _ := e.do(c, http.MethodGet, path, nil); resp.StatusCode != http.StatusGone {
		t.Errorf("a file for the replaced key: %s, want 410", resp.Status)
	}
	e.waitDownload()

	clerkC := e.client()
	e.signIn(clerkC, clerk, statusPath(st.sender))
	resp, body := e.do(clerkC, http.MethodGet, statusPath(st.sender), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `class="unreadable"`) {
		t.Errorf("status page does not show the unreadable file: %s", resp.Status)
	}
}

// TestLevel4Text: the message text of a level-4 transfer is served as
// messages the recipient's key opens (plain and HTML), listed in the
// manifest with kind "text"; reading it sends the clerk one receipt.
func TestLevel4Text(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	e.signIn(c, citizen, "/")
	k := browserKey(t, citizen)
	e.setKey(c, k, false)
	plain, html := "Guten Tag,\nIhr Antrag ist bewilligt.\n", "<p>Guten Tag,</p><p><b>bewilligt</b></p>"
	st := e.addL4(plain, html, testFile{name: "Bescheid.pdf", contentType: "application/pdf", data: []byte("%PDF")})
	for id, want := range map[string]string{"text": plain, "html": html} {
		resp, body := e.do(c, http.MethodGet, fileURL(st.token, id), nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", id, resp.Status)
		}
		if got := string(k.decrypt(t, body)); got != want {
			t.Errorf("%s: %q, want %q", id, got, want)
		}
		if !e.waitDownload() {
			t.Errorf("%s: the complete download was not counted", id)
		}
	}
	if n := len(e.notes.receiptList()); n != 1 {
		t.Errorf("%d receipts for reading the message (plain and HTML), want 1", n)
	}
	resp, body := e.do(c, http.MethodGet, "/api/v1/transfers/"+st.token, nil)
	if resp.StatusCode != http.StatusOK || strings.Count(string(body), `"kind":"text"`) != 2 || strings.Count(string(body), `"kind"`) != 2 {
		t.Errorf("manifest: %s", body)
	}
}
