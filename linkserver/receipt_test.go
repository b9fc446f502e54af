package linkserver

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"sealgate/vault"
)

// TestReceiptKeyServed: the published key verifies receipts without the
// vault, and a receipt with a changed byte is refused.
func TestReceiptKeyServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp, key := e.get("/.well-known/sealgate/receipt-key.asc")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pgp-keys" ||
		!bytes.Equal(key, e.v.ReceiptPublicKey()) || !bytes.HasPrefix(key, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		t.Fatalf("receipt key: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}

	st := e.addFor(2, []string{alice}, testFile{name: "Übersicht März.pdf", contentType: "application/pdf", size: 5000, seed: 41})
	c := e.client()
	e.signIn(c, alice, "/t/"+st.token)
	e.clock.advance(90 * time.Minute)
	resp, err := c.Get(e.http.URL + "/t/" + st.token + "/f/" + st.files[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !e.waitDownload() {
		t.Fatal("download not counted")
	}
	receipts := e.notes.receiptList()
	if len(receipts) != 1 {
		t.Fatalf("%d receipts", len(receipts))
	}
	text, err := vault.VerifyReceiptWithKey(key, []byte(receipts[0]))
	if err != nil {
		t.Fatalf("receipt does not verify with the served key: %v", err)
	}
	want := "sealgate download receipt\n\nReference: " + st.id + "\nFile: Übersicht März.pdf\nSHA-256: " + st.files[0].SHA256 +
		"\nSize: 5000 bytes\nRecipient: " + alice + "\nDownloaded: 2026-03-10T11:00:00Z\nSender: " + clerk + "\nGateway: " + e.http.URL
	if text != want {
		t.Errorf("receipt text:\n%s\nwant:\n%s", text, want)
	}
	changed := strings.Replace(receipts[0], alice, "alicf@example.org", 1)
	if _, err := vault.VerifyReceiptWithKey(key, []byte(changed)); err == nil {
		t.Error("a receipt with a changed byte verifies")
	}
}

// TestNoReceiptsWhenOff: with notify.receipts off, downloads are still
// recorded but nothing is mailed.
func TestNoReceiptsWhenOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startWith(e.v, func(c *Config) { c.Receipts = false }, WithNotifier(e.notes))
	st := e.addFor(2, []string{alice}, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("abc")})
	c := e.client()
	e.signIn(c, alice, "/t/"+st.token)
	resp, body := e.do(c, http.MethodGet, "/t/"+st.token+"/f/"+st.files[0].ID, nil)
	if resp.StatusCode != 200 || string(body) != "abc" || !e.waitDownload() {
		t.Fatalf("download: %s", resp.Status)
	}
	if n := len(e.notes.receiptList()); n != 0 {
		t.Errorf("%d receipts with receipts off", n)
	}
	if ds, _ := e.v.Downloads(t.Context(), st.id); len(ds) != 1 || ds[0].Email != alice {
		t.Errorf("download records %+v", ds)
	}
}
