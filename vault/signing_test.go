package vault

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const sampleReceipt = `Empfangsbestätigung / Receipt
Transfer: SG-7K3M-XQ2P
File: Bescheid 2025-03.pdf
SHA-256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
Recipient: anna@example.net
Downloaded: 2025-03-01T09:00:00Z
-- a line that needs dash-escaping`

func TestReceiptSignVerify(t *testing.T) {
	t.Parallel()
	v, _, dir := openTestVault(t)
	ctx := context.Background()
	signed, err := v.SignReceipt(ctx, sampleReceipt+"  \r\n\n")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(signed, "-----BEGIN PGP SIGNED MESSAGE-----\n") || !strings.Contains(signed, "-----BEGIN PGP SIGNATURE-----") {
		t.Fatalf("not a clear-signed message:\n%s", signed)
	}
	text, err := v.VerifyReceipt(ctx, []byte(signed))
	if err != nil || text != sampleReceipt {
		t.Fatalf("VerifyReceipt = %q, %v", text, err)
	}
	// Line ends converted by a mail program, and surrounding white space,
	// do not matter.
	crlf := "\n" + strings.ReplaceAll(signed, "\n", "\r\n") + "\r\n"
	if text, err := v.VerifyReceipt(ctx, []byte(crlf)); err != nil || text != sampleReceipt {
		t.Errorf("CRLF receipt: %q, %v", text, err)
	}
	// Without the vault, with the published key.
	if text, err := VerifyReceiptWithKey(v.ReceiptPublicKey(), []byte(signed)); err != nil || text != sampleReceipt {
		t.Errorf("VerifyReceiptWithKey: %q, %v", text, err)
	}
	// Another vault's key does not verify it.
	other, _, _ := openTestVault(t)
	if _, err := other.VerifyReceipt(ctx, []byte(signed)); !errors.Is(err, ErrBadReceipt) {
		t.Errorf("receipt verified with another key: %v", err)
	}
	// The key survives a restart.
	pub := v.ReceiptPublicKey()
	v.Close()
	v2, err := Open(ctx, Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if !bytes.Equal(v2.ReceiptPublicKey(), pub) {
		t.Error("receipt key changed across restart")
	}
}

// TestReceiptEveryByteMatters changes each byte of a signed receipt in
// turn; every single change must be refused.
func TestReceiptEveryByteMatters(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	ctx := context.Background()
	signed, err := v.SignReceipt(ctx, sampleReceipt)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(signed)
	if _, err := v.VerifyReceipt(ctx, b); err != nil {
		t.Fatalf("unchanged receipt: %v", err)
	}
	for i := range b {
		for _, repl := range []byte{b[i] ^ 0x01, ' ', '\n'} {
			if repl == b[i] {
				continue
			}
			changed := bytes.Clone(b)
			changed[i] = repl
			if text, err := v.VerifyReceipt(ctx, changed); err == nil {
				// CRLF folding and trimming are the only tolerated
				// changes; a byte that becomes white space at the
				// very end or start is such a trim.
				if bytes.Equal(bytes.TrimSpace(changed), bytes.TrimSpace(b)) {
					continue
				}
				t.Errorf("byte %d (%q) changed to %q: receipt accepted with text %q", i, b[i], repl, text)
			}
		}
	}
}

func TestReceiptRefusesBadText(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	for _, text := range []string{"", "\n\n", "bell\a", "nul\x00", strings.Repeat("x", maxReceiptSize+1)} {
		if _, err := v.SignReceipt(context.Background(), text); err == nil {
			t.Errorf("SignReceipt(%.20q) succeeded", text)
		}
	}
}

func TestReceiptKeyIsV4EdDSA(t *testing.T) {
	t.Parallel()
	v, _, dir := openTestVault(t)
	pk := v.receipt.entity.PrimaryKey
	if pk.Version != 4 || pk.PubKeyAlgo != 22 /* EdDSA (legacy) */ {
		t.Errorf("receipt key is v%d algorithm %d, want v4 EdDSA (22)", pk.Version, pk.PubKeyAlgo)
	}
	fi, err := os.Stat(filepath.Join(dir, receiptKeyName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("receipt key file: %v, %v", fi, err)
	}
}

// TestReceiptGnuPG: GnuPG (2.2 on Debian 12) verifies a receipt against the
// published key. Required when SEALGATE_REQUIRE_PEERS=1.
func TestReceiptGnuPG(t *testing.T) {
	t.Parallel()
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		if os.Getenv("SEALGATE_REQUIRE_PEERS") == "1" {
			t.Fatal("gpg not installed, and SEALGATE_REQUIRE_PEERS=1 requires it (Debian package gnupg)")
		}
		t.Skip("gpg not installed: GnuPG check of receipts skipped (install gnupg, or set SEALGATE_REQUIRE_PEERS=1 to make this fail)")
	}
	v, _, _ := openTestVault(t)
	ctx := context.Background()
	signed, err := v.SignReceipt(ctx, sampleReceipt)
	if err != nil {
		t.Fatal(err)
	}
	home, err := os.MkdirTemp("", "sg-gpg-") // short path: gpg-agent's socket
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	run := func(stdin []byte, args ...string) (string, error) {
		cmd := exec.Command(gpg, append([]string{"--homedir", home, "--batch", "--no-tty", "--status-fd", "1"}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	if out, err := run(v.ReceiptPublicKey(), "--import"); err != nil {
		t.Fatalf("gpg --import: %v\n%s", err, out)
	}
	receipt := filepath.Join(home, "receipt.asc")
	if err := os.WriteFile(receipt, []byte(signed), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(nil, "--verify", receipt)
	if err != nil || !strings.Contains(out, "[GNUPG:] GOODSIG") || !strings.Contains(out, "[GNUPG:] VALIDSIG") {
		t.Fatalf("gpg --verify: %v\n%s", err, out)
	}
	changed := strings.Replace(signed, "anna@example.net", "anna@example.com", 1)
	os.WriteFile(receipt, []byte(changed), 0o600)
	if out, err := run(nil, "--verify", receipt); err == nil || !strings.Contains(out, "BADSIG") {
		t.Fatalf("gpg verified a changed receipt: %v\n%s", err, out)
	}
}
