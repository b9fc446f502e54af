package assetcheck

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sealgate/vault"
)

// TestE2EJSWithVault runs the pages' key code (linkserver/assets/js/e2e.js
// with the vendored OpenPGP.js) under Node against the vault: a key made,
// locked and unlocked by e2e.js (v6, Argon2, AEAD) is accepted by
// SetAccountKey; a file stored for it alone is SEIPDv2, one stored while
// another recipient was pending is SEIPDv1, one stored before the key
// existed is re-wrapped to it; and e2e.js's streaming decryption opens all
// three OpenMessage outputs to the original bytes. The real browser test
// is linkserver's; this one needs only node, and is skipped without it.
func TestE2EJSWithVault(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: e2e.js is not exercised outside the browser test")
	}
	runNode := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(node, append([]string{"--no-warnings", "testdata/e2e_node.mjs"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			msg := stderr.Bytes()
			if len(msg) > 2000 { // a minified library's source line
				msg = msg[len(msg)-2000:]
			}
			t.Fatalf("node %s: %v\n%s", args[0], err, msg)
		}
		return out
	}
	const email, passphrase = "citizen@example.net", "correct horse battery staple"
	var key struct {
		PublicKey, PassphraseLocked, RecoveryLocked, RecoveryCode, Fingerprint string
	}
	if err := json.Unmarshal(runNode("gen", email, passphrase), &key); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	dir := t.TempDir()
	v, err := vault.Open(ctx, vault.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	content := bytes.Repeat([]byte("0123456789abcdef"), 3<<16+7) // 3 MiB and a bit: many chunks
	store := func(recipients ...string) (string, string) {
		d, err := v.BeginTransfer(ctx, vault.NewTransfer{Level: 3, Sender: "clerk@example.org", Recipients: recipients})
		if err != nil {
			t.Fatal(err)
		}
		f, err := d.AddFile(ctx, "bescheid.pdf", "application/pdf", bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		return d.ID(), f.ID
	}
	beforeT, beforeF := store(email)
	if _, err := v.TouchAccount(ctx, email, "de"); err != nil {
		t.Fatal(err)
	}
	err = v.SetAccountKey(ctx, email, vault.KeyUpload{
		PublicKey: []byte(key.PublicKey), PassphraseLocked: []byte(key.PassphraseLocked), RecoveryLocked: []byte(key.RecoveryLocked),
	})
	if err != nil {
		t.Fatalf("the vault refuses e2e.js's key: %v", err)
	}
	aloneT, aloneF := store(email)
	mixedT, mixedF := store(email, "pending@example.com")

	want := sha256.Sum256(content)
	var files []string
	for _, c := range []struct{ name, transfer, file, format string }{
		{"stored before the key", beforeT, beforeF, "seipdv1-aes256"},
		{"for the key alone", aloneT, aloneF, "seipdv2-aes256-gcm"},
		{"with a pending recipient", mixedT, mixedF, "seipdv1-aes256"},
	} {
		info, err := v.TransferByID(ctx, c.transfer)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.FileFormats[c.file]; got != c.format {
			t.Errorf("%s: format %s, want %s", c.name, got, c.format)
		}
		rc, _, err := v.OpenMessage(ctx, c.transfer, c.file, email)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		msg, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "msg.pgp")
		if err := os.WriteFile(p, msg, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	keyFile := filepath.Join(t.TempDir(), "locked.asc")
	if err := os.WriteFile(keyFile, []byte(key.PassphraseLocked), 0o600); err != nil {
		t.Fatal(err)
	}
	var results []struct {
		SHA256   string
		Progress int
	}
	if err := json.Unmarshal(runNode(append([]string{"decrypt", keyFile, passphrase}, files...)...), &results); err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.SHA256 != hex.EncodeToString(want[:]) || r.Progress != len(content) {
			t.Errorf("message %d: e2e.js decrypted sha256 %s (progress %d), want %x (%d)", i, r.SHA256, r.Progress, want, len(content))
		}
	}
	if len(results) != len(files) {
		t.Fatalf("%d results for %d messages", len(results), len(files))
	}
}
