package linkserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"sealgate/internal/uploadproto"
	"sealgate/vault"
)

// fakeUploadMailer queues the upload like the real mailer (PutOutgoing
// marks it queued) and counts the calls.
type fakeUploadMailer struct {
	v     *vault.Vault
	mu    sync.Mutex
	calls []string
}

func (m *fakeUploadMailer) queue(ctx context.Context, id string) error {
	m.mu.Lock()
	m.calls = append(m.calls, id)
	m.mu.Unlock()
	up, err := m.v.Upload(ctx, id)
	if err != nil {
		return err
	}
	_, err = m.v.PutOutgoing(ctx, vault.OutgoingMail{Kind: up.Kind, From: "noreply@musterhausen.example", To: []string{up.Sender},
		UploadID: id, UploadVersion: up.Version}, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
	return err
}

func (m *fakeUploadMailer) UploadDelivery(ctx context.Context, id string) error {
	return m.queue(ctx, id)
}
func (m *fakeUploadMailer) SecureReply(ctx context.Context, id string) error { return m.queue(ctx, id) }

func (m *fakeUploadMailer) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.calls)
}

// newUploadEnv is newEnv with uploads on.
func newUploadEnv(t *testing.T, cfg uploadproto.Config) (*env, *fakeUploadMailer) {
	e := newEnv(t)
	m := &fakeUploadMailer{v: e.v}
	e.startWith(e.v, func(*Config) {}, WithNotifier(e.notes), WithUploads(m, cfg, ""))
	return e, m
}

// addUpload stores a transfer from clerk to citizen with an upload link.
func (e *env) addUpload(level int) (st stored, uploadToken string) {
	e.t.Helper()
	ctx := context.Background()
	d, err := e.v.BeginTransfer(ctx, vault.NewTransfer{Level: level, Sender: clerk, Recipients: []string{citizen}, Upload: true})
	if err != nil {
		e.t.Fatal(err)
	}
	st = stored{id: d.ID(), token: d.Token(), code: d.AccessCode(), sender: d.SenderToken()}
	if uploadToken, err = d.UploadToken(ctx, citizen); err != nil {
		e.t.Fatal(err)
	}
	if _, err := d.AddFile(ctx, "a.txt", "text/plain", strings.NewReader("hello")); err != nil {
		e.t.Fatal(err)
	}
	if err := d.Commit(ctx); err != nil {
		e.t.Fatal(err)
	}
	return st, uploadToken
}

// tus sends one tus request with c.
func (e *env) tus(c *http.Client, method, path string, body []byte, header ...string) *http.Response {
	e.t.Helper()
	resp, _ := e.do(c, method, path, bytes.NewReader(body), append([]string{"Tus-Resumable", "1.0.0"}, header...)...)
	return resp
}

// formOf returns the CSRF token of a page.
func formOf(t *testing.T, page []byte) string {
	t.Helper()
	m := csrfRE.FindSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token on the page")
	}
	return string(m[1])
}

func TestUploadPageAccess(t *testing.T) {
	t.Parallel()
	e, _ := newUploadEnv(t, uploadproto.Config{MaxSize: 5 << 20, MaxFiles: 3})
	_, tok := e.addUpload(2)
	page := "/u/" + tok

	// Not signed in: the sign-in form, nothing about the clerk.
	resp, body := e.get(page)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `action="/login"`) || strings.Contains(string(body), clerk) {
		t.Fatalf("signed out: %s, sign-in form or clerk wrong", resp.Status)
	}
	// Someone else signed in: what a wrong token gets.
	ec := e.client()
	e.signIn(ec, eve, page)
	wrongResp, wrong := e.do(ec, http.MethodGet, page, nil)
	fake := strings.Repeat("A", 43)
	badResp, bad := e.do(ec, http.MethodGet, "/u/"+fake, nil)
	if wrongResp.StatusCode != http.StatusNotFound || badResp.StatusCode != http.StatusNotFound || normalised(wrong, tok) != normalised(bad, fake) {
		t.Errorf("wrong person: %s, wrong token: %s; bodies:\n%s\n---\n%s", wrongResp.Status, badResp.Status, wrong, bad)
	}
	if r := e.tus(ec, http.MethodPost, page+"/files/", nil, "Upload-Length", "5"); r.StatusCode != http.StatusForbidden {
		t.Errorf("tus by the wrong person: %s", r.Status)
	}
	// The citizen: the clerk, the limits in their language, the script.
	cc := e.client()
	e.signIn(cc, citizen, page)
	resp, body = e.do(cc, http.MethodGet, page, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), clerk) || !strings.Contains(string(body), "5 MB") && !strings.Contains(string(body), "5,2 MB") {
		t.Errorf("citizen: %s\n%s", resp.Status, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "connect-src 'self';") || strings.Contains(csp, "unsafe") {
		t.Errorf("upload page CSP %q", csp)
	}
	if !regexp.MustCompile(`<script type="module" src="/assets/js/upload.js" integrity="sha384-`).Match(body) {
		t.Error("upload page does not load upload.js with its integrity")
	}
	if r, _ := e.do(cc, http.MethodGet, "/assets/js/upload.js", nil); r.StatusCode != 200 {
		t.Errorf("upload.js: %s", r.Status)
	}
	// Other pages keep the script-free policy.
	resp, _ = e.get("/")
	if strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src") {
		t.Errorf("home page CSP allows scripts: %q", resp.Header.Get("Content-Security-Policy"))
	}
}

// TestUploadJourney: a level-1 upload with an interrupted and resumed
// file, a message, send (the mailer is called once, the page says
// delivery pending), the clerk page serves the bytes, and closing the link
// shows it closed.
func TestUploadJourney(t *testing.T) {
	t.Parallel()
	e, m := newUploadEnv(t, uploadproto.Config{MaxSize: 64 << 20, MaxFiles: 3})
	st, tok := e.addUpload(1)
	page := "/u/" + tok
	c := e.client()

	data := bytes.Repeat([]byte("sealgate upload test "), 100000) // ~2 MB
	meta := "filename " + base64.StdEncoding.EncodeToString([]byte("Antrag.pdf")) + ",filetype " + base64.StdEncoding.EncodeToString([]byte("application/pdf"))
	resp := e.tus(c, http.MethodPost, page+"/files/", nil, "Upload-Length", strconv.Itoa(len(data)), "Upload-Metadata", meta)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %s", resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	file := loc.Path

	// Over the file limit is refused before storing.
	if r := e.tus(c, http.MethodPost, page+"/files/", nil, "Upload-Length", strconv.Itoa(65<<20)); r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("over max_size: %s", r.Status)
	}

	// Half of the file, then the connection breaks mid-body.
	half := len(data) / 2
	pr, pw := io.Pipe()
	go func() {
		pw.Write(data[:half])
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}()
	req, _ := http.NewRequest(http.MethodPatch, e.http.URL+file, pr)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	if r, err := c.Do(req); err == nil {
		r.Body.Close()
	}
	// Resume as a tus client does: ask where the server stands, send the
	// rest; the server may still be finishing the broken request, which
	// answers 409 or "interrupted", and then the client asks again.
	for try := 0; ; try++ {
		resp = e.tus(c, http.MethodHead, file, nil)
		off, err := strconv.Atoi(resp.Header.Get("Upload-Offset"))
		if resp.StatusCode != 200 || err != nil || off > len(data) {
			t.Fatalf("HEAD after interruption: %s offset %q", resp.Status, resp.Header.Get("Upload-Offset"))
		}
		resp, rb := e.do(c, http.MethodPatch, file, bytes.NewReader(data[off:]), "Tus-Resumable", "1.0.0", "Upload-Offset", strconv.Itoa(off), "Content-Type", "application/offset+octet-stream")
		if resp.StatusCode == http.StatusNoContent && resp.Header.Get("Upload-Offset") == strconv.Itoa(len(data)) {
			break
		}
		if try == 10 || resp.StatusCode != http.StatusConflict && resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("resume from %d: %s offset %q %s", off, resp.Status, resp.Header.Get("Upload-Offset"), rb)
		}
	}

	// Message, then send.
	_, body := e.do(c, http.MethodGet, page, nil)
	form := url.Values{"csrf": {formOf(t, body)}, "message": {"Anbei der Antrag.\r\nGrüße"}}
	resp, _ = e.do(c, http.MethodPost, page+"/message", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("message: %s", resp.Status)
	}
	resp, _ = e.do(c, http.MethodPost, page+"/send", strings.NewReader(url.Values{"csrf": {form.Get("csrf")}}.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther || m.count() != 1 {
		t.Fatalf("send: %s, mailer called %d times", resp.Status, m.count())
	}
	resp, body = e.do(c, http.MethodGet, page, nil)
	if !strings.Contains(string(body), e.srv.text.T("de", "page.upload.state.queued")) {
		t.Errorf("page does not say delivery pending: %s", resp.Status)
	}
	// Sending again with nothing open: not ready, no mail.
	resp, _ = e.do(c, http.MethodPost, page+"/send", strings.NewReader(url.Values{"csrf": {form.Get("csrf")}}.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusConflict || m.count() != 1 {
		t.Errorf("second send: %s, mailer called %d times", resp.Status, m.count())
	}

	// The clerk's page serves the file as uploaded.
	ups, err := e.v.Uploads(context.Background(), st.id)
	if err != nil || len(ups) != 1 {
		t.Fatalf("uploads: %v %d", err, len(ups))
	}
	ct, err := e.v.NewClerkToken(context.Background(), ups[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	kc := e.client()
	if r, b := e.do(kc, http.MethodGet, "/r/"+ct, nil); r.StatusCode != 200 || !strings.Contains(string(b), `action="/login"`) {
		t.Fatalf("clerk page signed out: %s", r.Status)
	}
	e.signIn(kc, clerk, "/r/"+ct)
	resp, body = e.do(kc, http.MethodGet, "/r/"+ct, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Anbei der Antrag.") || !strings.Contains(string(body), citizen) {
		t.Fatalf("clerk page: %s", resp.Status)
	}
	f := ups[0].Files[0]
	dl, err := kc.Get(e.http.URL + "/r/" + ct + "/files/" + f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if dl.StatusCode != 200 || hashBody(t, dl) != hashOf(data) || !strings.Contains(dl.Header.Get("Content-Disposition"), "Antrag.pdf") {
		t.Errorf("clerk download: %s %q", dl.Status, dl.Header.Get("Content-Disposition"))
	}
	// The citizen is not the clerk.
	if r, _ := e.do(c, http.MethodGet, "/r/"+ct+"/files/"+f.ID, nil); r.StatusCode == 200 {
		t.Error("clerk file served to a browser that is not signed in")
	}

	// The clerk closes the link on the status page; the page says so.
	e.signIn(kc, clerk, "/s/"+st.sender)
	_, body = e.do(kc, http.MethodGet, "/s/"+st.sender, nil)
	if !strings.Contains(string(body), `action="/s/`+st.sender+`/close"`) {
		t.Fatal("status page has no close button")
	}
	form = url.Values{"csrf": {formOf(t, body)}, "email": {citizen}}
	resp, _ = e.do(kc, http.MethodPost, "/s/"+st.sender+"/close", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("close: %s", resp.Status)
	}
	_, body = e.do(c, http.MethodGet, page, nil)
	if !strings.Contains(string(body), e.srv.text.T("de", "page.upload.closed", clerk)) {
		t.Error("upload page does not say the link is closed")
	}
	if r := e.tus(c, http.MethodPost, page+"/files/", nil, "Upload-Length", "5"); r.StatusCode != http.StatusGone {
		t.Errorf("tus after close: %s", r.Status)
	}
}

// TestSecureReply: a signed-in recipient replies from the transfer page
// with a message; the mailer's SecureReply queues it.
func TestSecureReply(t *testing.T) {
	t.Parallel()
	e, m := newUploadEnv(t, uploadproto.Config{})
	st, _ := e.addUpload(1)
	page := "/t/" + st.token + "/reply"
	c := e.client()
	if r, b := e.do(c, http.MethodGet, page, nil); r.StatusCode != 200 || !strings.Contains(string(b), `action="/login"`) {
		t.Fatalf("reply signed out: %s", r.Status)
	}
	e.signIn(c, citizen, page)
	_, body := e.do(c, http.MethodGet, "/t/"+st.token, nil)
	if !strings.Contains(string(body), `href="`+page+`"`) {
		t.Error("transfer page does not link to the reply")
	}
	_, body = e.do(c, http.MethodGet, page, nil)
	form := url.Values{"csrf": {formOf(t, body)}, "message": {"Danke!"}}
	e.do(c, http.MethodPost, page+"/message", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	resp, _ := e.do(c, http.MethodPost, page+"/send", strings.NewReader(url.Values{"csrf": {form.Get("csrf")}}.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther || m.count() != 1 {
		t.Fatalf("reply send: %s, mailer called %d times", resp.Status, m.count())
	}
	ups, _ := e.v.Uploads(context.Background(), st.id)
	if len(ups) != 1 || ups[0].Kind != vault.UploadKindReply || ups[0].State != vault.UploadQueued {
		t.Errorf("uploads after reply: %+v", ups)
	}
}
