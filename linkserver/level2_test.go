package linkserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

const (
	alice = "alice@example.org"
	bob   = "bob@example.net" // the Bcc recipient: in the record like any other
	eve   = "eve@example.com" // signs in, but received nothing
)

// TestLevel2TwoRecipients is the level-2 journey: each recipient signs in
// with the code from the mail and gets the original bytes; an outsider who
// signs in gets what a wrong token gets; nobody sees the other recipient;
// the clerk gets one verifiable receipt per recipient, however many
// downloads run at once.
func TestLevel2TwoRecipients(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	file := testFile{name: "Bescheid.pdf", contentType: "application/pdf", size: 3 << 20, seed: 21}
	st := e.addFor(2, []string{alice, bob}, file)
	page := "/t/" + st.token
	dl := page + "/f/" + st.files[0].ID
	manifest := "/api/v1/transfers/" + st.token

	// Alice signs in with the forms, Bob through the JSON API.
	ac, bc := e.client(), e.client()
	e.signIn(ac, alice, page)
	e.signInJSON(bc, "Bob@Example.NET", st.token)
	if got := e.notes.lastCode(t, alice).lang; got != "de" {
		t.Errorf("code mail language %q, want de", got)
	}

	for _, c := range []struct {
		c         *http.Client
		me, other string
	}{{ac, alice, bob}, {bc, bob, alice}} {
		resp, body := e.do(c.c, http.MethodGet, page, nil)
		if resp.StatusCode != 200 || !strings.Contains(string(body), "Bescheid.pdf") || !strings.Contains(string(body), dl) {
			t.Fatalf("%s: transfer page %s without the file", c.me, resp.Status)
		}
		if !strings.Contains(string(body), c.me) || !strings.Contains(string(body), clerk) {
			t.Errorf("%s: page does not show who is signed in and who sent it", c.me)
		}
		if strings.Contains(string(body), c.other) {
			t.Errorf("%s: page shows the other recipient", c.me)
		}
		resp, body = e.do(c.c, http.MethodGet, manifest, nil)
		var m manifestJSON
		if err := json.Unmarshal(body, &m); err != nil || resp.StatusCode != 200 || len(m.Files) != 1 || m.SignInRequired {
			t.Fatalf("%s: manifest %s %s", c.me, resp.Status, body)
		}
		if strings.Contains(string(body), c.other) || strings.Contains(string(body), c.me) {
			t.Errorf("%s: manifest names recipients: %s", c.me, body)
		}
	}

	// Three parallel downloads each; every one gets the original bytes.
	var wg sync.WaitGroup
	for _, c := range []*http.Client{ac, bc} {
		for range 3 {
			wg.Go(func() {
				resp, err := c.Get(e.http.URL + dl)
				if err != nil {
					t.Error(err)
					return
				}
				if resp.StatusCode != 200 {
					t.Errorf("download: %s", resp.Status)
				}
				if hashBody(t, resp) != file.sum() {
					t.Error("download does not match the original")
				}
			})
		}
	}
	wg.Wait()
	for range 6 {
		if !e.waitDownload() {
			t.Error("a complete download was not counted")
		}
	}

	receipts := e.notes.receiptList()
	if len(receipts) != 2 {
		t.Fatalf("%d receipts, want 2 (one per recipient)", len(receipts))
	}
	var who []string
	for _, r := range receipts {
		text, err := e.v.VerifyReceipt(t.Context(), []byte(r))
		if err != nil {
			t.Fatalf("receipt does not verify: %v\n%s", err, r)
		}
		for _, want := range []string{"Reference: " + st.id, "File: Bescheid.pdf", "SHA-256: " + file.sum(), "Downloaded: 2026-03-10T09:30:00Z"} {
			if !strings.Contains(text, want+"\n") {
				t.Errorf("receipt lacks %q:\n%s", want, text)
			}
		}
		for _, a := range []string{alice, bob} {
			if strings.Contains(text, "Recipient: "+a+"\n") {
				who = append(who, a)
			}
		}
	}
	slices.Sort(who)
	if !slices.Equal(who, []string{alice, bob}) {
		t.Errorf("receipts are for %v, want one each for %s and %s", who, alice, bob)
	}
	ds, err := e.v.Downloads(t.Context(), st.id)
	if err != nil || len(ds) != 2 || ds[0].Count != 3 || ds[1].Count != 3 {
		t.Errorf("download records %+v, %v; want two with 3 each", ds, err)
	}

	// Eve signs in (her code works: anyone may sign in) but is no
	// recipient: every answer is what a wrong token gets.
	ec := e.client()
	e.signIn(ec, eve, page)
	wrong := strings.Repeat("W", 43)
	for _, p := range []struct{ real, fake string }{
		{page, "/t/" + wrong},
		{manifest, "/api/v1/transfers/" + wrong},
		{dl, "/t/" + wrong + "/f/" + st.files[0].ID},
	} {
		r1, b1 := e.do(ec, http.MethodGet, p.real, nil)
		r2, b2 := e.do(ec, http.MethodGet, p.fake, nil)
		if r1.StatusCode != http.StatusNotFound || r2.StatusCode != http.StatusNotFound {
			t.Errorf("outsider: %s for the real link, %s for a wrong one; want 404 for both", r1.Status, r2.Status)
		}
		if normalised(b1, st.token) != normalised(b2, wrong) {
			t.Errorf("outsider: the answer for the real link differs from a wrong token's:\n%s\n---\n%s", b1, b2)
		}
		if strings.Contains(string(b1), "Bescheid") || strings.Contains(string(b1), alice) || strings.Contains(string(b1), bob) {
			t.Errorf("outsider sees something of the transfer at %s", p.real)
		}
	}
	if len(e.notes.receiptList()) != 2 {
		t.Error("more receipts after the outsider's attempts")
	}
}

// TestLevel2NeedsSession: without a session, the page and the manifest
// show only what signing in needs, and downloads are refused.
func TestLevel2NeedsSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.addFor(2, []string{alice}, testFile{name: "Geheim.pdf", contentType: "application/pdf", data: []byte("secret")})
	resp, body := e.get("/t/" + st.token)
	page := string(body)
	if resp.StatusCode != 200 {
		t.Fatalf("page: %s", resp.Status)
	}
	for _, want := range []string{`action="/login"`, `name="next" value="/t/` + st.token + `"`, `type="email"`, `name="csrf"`, "Stufe 2"} {
		if !strings.Contains(page, want) {
			t.Errorf("sign-in page lacks %q", want)
		}
	}
	for _, leak := range []string{"Geheim", st.files[0].ID, clerk, alice} {
		if strings.Contains(page, leak) {
			t.Errorf("page before sign-in shows %q", leak)
		}
	}
	resp, body = e.get("/t/" + st.token + "/f/" + st.files[0].ID)
	if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), "secret") {
		t.Errorf("download without session: %s", resp.Status)
	}
	if e.waitDownload() {
		t.Error("a refused download was counted")
	}
}

// TestLevel1DownloadCountedWithoutName: level 1 knows nobody, so a whole
// download is recorded without an address, and sends no receipt.
func TestLevel1DownloadCountedWithoutName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(1, testFile{name: "a.pdf", contentType: "application/pdf", size: 100 << 10, seed: 3})
	c := e.client()
	e.signIn(c, citizen, "/") // even a recipient's session adds no name at level 1
	resp, err := c.Get(e.http.URL + "/t/" + st.token + "/f/" + st.files[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !e.waitDownload() {
		t.Fatal("the download was not counted")
	}
	ds, err := e.v.Downloads(t.Context(), st.id)
	if err != nil || len(ds) != 1 || ds[0].Email != "" || ds[0].Count != 1 {
		t.Errorf("download records %+v, %v; want one without an address", ds, err)
	}
	if n := len(e.notes.receiptList()); n != 0 {
		t.Errorf("%d receipts for a level-1 download", n)
	}
}

// TestScannersChangeNothing: HEAD, a range for the first bytes, a download
// the client breaks off, and GETs without cookies (link scanners) send no
// code, no receipt, and record no download.
func TestScannersChangeNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	file := testFile{name: "gross.bin", contentType: "application/octet-stream", size: 32 << 20, seed: 8}
	st := e.addFor(2, []string{alice}, file)
	page := "/t/" + st.token
	dl := page + "/f/" + st.files[0].ID
	c := e.client()
	e.signIn(c, alice, page)
	mails := e.notes.count()
	before := e.snapshot()

	resp, _ := e.do(c, http.MethodHead, dl, nil)
	if resp.StatusCode != 200 || e.waitDownload() {
		t.Errorf("HEAD: %s, or counted", resp.Status)
	}
	resp, body := e.do(c, http.MethodGet, dl, nil, "Range", "bytes=0-1023")
	if resp.StatusCode != http.StatusPartialContent || len(body) != 1024 || e.waitDownload() {
		t.Errorf("range: %s with %d bytes, or counted", resp.Status, len(body))
	}
	// The client hangs up after 1 MiB.
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+dl, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	if e.waitDownload() {
		t.Error("an interrupted download was counted")
	}
	// Link scanners: no cookies at all.
	for _, p := range []string{page, dl, "/api/v1/transfers/" + st.token, "/s/" + st.sender} {
		e.get(p)
		e.do(nil, http.MethodHead, p, nil)
	}
	for range 2 {
		if e.waitDownload() {
			t.Error("a download without session was counted")
		}
	}

	if e.snapshot() != before {
		t.Error("the storage directory changed")
	}
	if ds, err := e.v.Downloads(t.Context(), st.id); err != nil || len(ds) != 0 {
		t.Errorf("download records %+v, %v; want none", ds, err)
	}
	if e.notes.count() != mails {
		t.Errorf("%d mails sent", e.notes.count()-mails)
	}
}

// TestLockedTransferPage: a locked transfer says so, on the page and in
// the API, and tells the visitor the sender knows.
func TestLockedTransferPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.addFor(2, []string{alice}, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("a")})
	for range 10 {
		if _, _, err := e.v.RecordFailedCode(t.Context(), st.id); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := e.get("/t/" + st.token)
	if resp.StatusCode != http.StatusLocked || !strings.Contains(string(body), "gesperrt") || !strings.Contains(string(body), "Absender wurde benachrichtigt") {
		t.Errorf("locked page: %s\n%s", resp.Status, body)
	}
	resp, body = e.get("/api/v1/transfers/" + st.token)
	if resp.StatusCode != http.StatusLocked || !strings.Contains(string(body), "locked") {
		t.Errorf("locked manifest: %s %s", resp.Status, body)
	}
}
