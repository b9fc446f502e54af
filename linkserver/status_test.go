package linkserver

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStatusPageAndRevoke is the clerk's side: sign in at the sender
// address, see who downloaded what, withdraw the transfer; afterwards
// every link says it was withdrawn and no blob is left.
func TestStatusPageAndRevoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	files := []testFile{
		{name: "Bescheid.pdf", contentType: "application/pdf", size: 200 << 10, seed: 31},
		{name: "Anlage.pdf", contentType: "application/pdf", size: 1000, seed: 32},
	}
	st := e.addFor(2, []string{alice, bob}, files...)
	status := "/s/" + st.sender
	page := "/t/" + st.token
	dl := page + "/f/" + st.files[0].ID

	// Without a session: only the sign-in form.
	resp, body := e.get(status)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `name="next" value="`+status+`"`) {
		t.Fatalf("status page without session: %s", resp.Status)
	}
	for _, leak := range []string{st.id, alice, bob, "Bescheid"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("status page before sign-in shows %q", leak)
		}
	}

	// Alice downloads one file.
	ac := e.client()
	e.signIn(ac, alice, page)
	resp, err := ac.Get(e.http.URL + dl)
	if err != nil {
		t.Fatal(err)
	}
	if hashBody(t, resp) != files[0].sum() || !e.waitDownload() {
		t.Fatal("alice's download failed or was not counted")
	}

	cc := e.client()
	e.signIn(cc, strings.ToUpper(clerk), status)
	resp, body = e.do(cc, http.MethodGet, status, nil)
	sp := string(body)
	if resp.StatusCode != 200 {
		t.Fatalf("status page: %s", resp.Status)
	}
	for _, want := range []string{st.id, alice, bob, "Bescheid.pdf", "Anlage.pdf", files[0].sum(), `datetime="2026-03-10T09:30:00Z"`, `action="` + status + `/revoke"`, `name="confirm"`} {
		if !strings.Contains(sp, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if n := strings.Count(sp, "noch nicht abgerufen"); n != 3 {
		t.Errorf("%d cells say not downloaded, want 3 (of 2 recipients × 2 files)", n)
	}

	// Recipients, signed in, get what a wrong status token gets.
	wrong := strings.Repeat("Z", 43)
	r1, b1 := e.do(ac, http.MethodGet, status, nil)
	r2, b2 := e.do(ac, http.MethodGet, "/s/"+wrong, nil)
	if r1.StatusCode != 404 || r2.StatusCode != 404 || normalised(b1, st.sender) != normalised(b2, wrong) {
		t.Errorf("recipient on the status page: %s, wrong token %s, bodies equal %v", r1.Status, r2.Status, normalised(b1, st.sender) == normalised(b2, wrong))
	}
	resp, _ = e.postForm(ac, status+"/revoke", url.Values{"confirm": {"yes"}})
	if resp.StatusCode != 404 {
		t.Errorf("revoke by a recipient: %s", resp.Status)
	}

	// Without the confirmation nothing happens.
	resp, body = e.postForm(cc, status+"/revoke", url.Values{})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Häkchen") {
		t.Errorf("revoke without confirmation: %s", resp.Status)
	}
	if _, err := e.v.TransferByToken(t.Context(), st.token); err != nil {
		t.Fatalf("transfer gone before the confirmed revoke: %v", err)
	}

	// A download in flight when the clerk revokes may finish; start one.
	inflight, err := ac.Get(e.http.URL + dl)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ = e.postForm(cc, status+"/revoke", url.Values{"confirm": {"yes"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != status {
		t.Fatalf("revoke: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	io.Copy(io.Discard, inflight.Body)
	inflight.Body.Close()
	e.waitDownload()

	for _, p := range []string{page, dl, page + "/f/" + st.files[1].ID} {
		for _, c := range []*http.Client{ac, e.client()} {
			resp, body := e.do(c, http.MethodGet, p, nil)
			if resp.StatusCode != http.StatusGone || !strings.Contains(string(body), "zurückgezogen") {
				t.Errorf("%s after revoke: %s", p, resp.Status)
			}
		}
	}
	resp, body = e.do(ac, http.MethodGet, "/api/v1/transfers/"+st.token, nil)
	if resp.StatusCode != http.StatusGone || !strings.Contains(string(body), "withdrawn") {
		t.Errorf("manifest after revoke: %s %s", resp.Status, body)
	}
	blobs, err := os.ReadDir(filepath.Join(e.dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 0 {
		t.Errorf("%d blobs left after revoke", len(blobs))
	}

	// The clerk still sees what happened.
	resp, body = e.do(cc, http.MethodGet, status, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "zurückgezogen") || !strings.Contains(string(body), alice) ||
		strings.Contains(string(body), `name="confirm"`) {
		t.Errorf("status page after revoke: %s", resp.Status)
	}
}
