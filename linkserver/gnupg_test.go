package linkserver

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestGnuPGOwnKeyOverHTTP: a key made by `gpg --quick-gen-key` is uploaded
// through the key page's form as the recipient's own; a level-3 file sent
// before and one sent after come as .pgp downloads that `gpg --decrypt`
// opens to the original bytes.
func TestGnuPGOwnKeyOverHTTP(t *testing.T) {
	t.Parallel()
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		if os.Getenv("SEALGATE_REQUIRE_PEERS") == "1" {
			t.Fatal("SEALGATE_REQUIRE_PEERS=1 but gpg is not installed (Debian package gnupg)")
		}
		t.Skip("gpg not installed: the .pgp downloads are not checked with GnuPG")
	}
	home, err := os.MkdirTemp("", "sg-gpg-") // short: gpg-agent's socket path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	run := func(stdin []byte, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(gpg, append([]string{"--homedir", home, "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %v: %v: %s", args, err, stderr.Bytes())
		}
		return out
	}
	run(nil, "--quick-gen-key", "Citizen <"+citizen+">", "future-default", "default", "never")
	public := run(nil, "--export", "--armor", citizen)

	e := newEnv(t)
	e.clock.t = time.Now() // GnuPG dates its key by the real clock
	file := testFile{name: "Bescheid.pdf", contentType: "application/pdf", size: 1<<20 + 3, seed: 11}
	before := e.add(3, file)
	c := e.client()
	e.signIn(c, citizen, "/key")
	_, page := e.do(c, http.MethodGet, "/key", nil)
	m := csrfRE.FindSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token on the key page")
	}
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("csrf", string(m[1]))
	fw, _ := w.CreateFormFile("key_file", "citizen.asc")
	fw.Write(public)
	w.Close()
	resp, body := e.do(c, http.MethodPost, "/key", &b, "Content-Type", w.FormDataContentType())
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("uploading GnuPG's key: %s %s", resp.Status, body)
	}
	after := e.add(3, file)
	for name, st := range map[string]stored{"sent before the key": before, "sent after": after} {
		resp, msg := e.do(c, http.MethodGet, fileURL(st.token, st.files[0].ID), nil)
		if resp.StatusCode != http.StatusOK || !strings.HasSuffix(resp.Header.Get("Content-Disposition"), `Bescheid.pdf.pgp`) {
			t.Fatalf("%s: %s, %q", name, resp.Status, resp.Header.Get("Content-Disposition"))
		}
		if got := hashOf(run(msg, "--decrypt")); got != file.sum() {
			t.Errorf("%s: gpg --decrypt gave sha256 %s, want %s", name, got, file.sum())
		}
	}
}
