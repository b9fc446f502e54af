package vault

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"testing"
)

// requirePeers is set where the real peers (GnuPG, Postfix, Chromium) are
// installed and their tests must run (make test, CI).
func requirePeers() bool { return os.Getenv("SEALGATE_REQUIRE_PEERS") == "1" }

// TestGnuPGInterop is issue 6's GnuPG proof at the vault level: a key made
// by `gpg --quick-gen-key` (GnuPG's default algorithms, no passphrase) is
// uploaded as bring-your-own-key; a level-3 file stored before the key
// existed (pending, so also wrapped for the gateway) and one stored after
// both come out of OpenMessage as messages that `gpg --decrypt` opens to
// the original bytes; and the gateway's own keys open neither any more.
//
// It runs for GnuPG's "default" algorithms (RSA-3072 in GnuPG 2.2) and its
// "future-default" ones (Ed25519/Curve25519 ECDH, the default of later
// versions).
func TestGnuPGInterop(t *testing.T) {
	t.Parallel()
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		if requirePeers() {
			t.Fatal("SEALGATE_REQUIRE_PEERS=1 but gpg is not installed (Debian package gnupg)")
		}
		t.Skip("gpg not installed: GnuPG interoperability not tested (SEALGATE_REQUIRE_PEERS=1 makes this a failure)")
	}
	for _, algo := range []string{"default", "future-default"} {
		t.Run(algo, func(t *testing.T) {
			t.Parallel()
			testGnuPGInterop(t, gpg, algo)
		})
	}
}

func testGnuPGInterop(t *testing.T, gpg, algo string) {
	home, err := os.MkdirTemp("", "sg-gpg-") // short path: gpg-agent's socket
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
	const email = "citizen@example.net"
	run(nil, "--quick-gen-key", "Citizen <"+email+">", algo, "default", "never")
	public := run(nil, "--export", "--armor", email)

	// GnuPG dates its key with the real clock, so this vault runs on it.
	dir := t.TempDir()
	v, err := Open(context.Background(), Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx := context.Background()
	content, _ := io.ReadAll(pseudoRandom(6, 3<<20+17))
	gwID := v.keys.Load().keyID

	before, bf := storeE2E(t, v, content, email)
	if ps := storedPackets(t, v, before.ID(), bf.ID); ps[gwID] == nil {
		t.Fatal("a file for a pending recipient has no gateway key packet")
	}
	signIn(t, v, email)
	if err := v.SetAccountKey(ctx, email, KeyUpload{PublicKey: public}); err != nil {
		t.Fatalf("uploading GnuPG's key: %v", err)
	}
	info, _ := v.AccountKey(ctx, email)
	t.Logf("GnuPG key: %s, BYOK %v", info.Algorithm, info.BYOK)
	after, af := storeE2E(t, v, content, email)

	gw := gatewayRing(t, dir)
	for _, c := range []struct {
		name           string
		transferID, id string
	}{{"stored before the key existed", before.ID(), bf.ID}, {"stored after", after.ID(), af.ID}} {
		fr := storedFile(t, v, c.transferID, c.id)
		t.Logf("%s: %s", c.name, fr.Format)
		msg := openMessage(t, v, c.transferID, c.id, email)
		if got := run(msg, "--decrypt"); !bytes.Equal(got, content) {
			t.Fatalf("%s: gpg --decrypt gave %d bytes, not the original %d", c.name, len(got), len(content))
		}
		// Every key packet the vault holds for the file, with the blob:
		// the gateway's keys open none of it.
		ps := storedPackets(t, v, c.transferID, c.id)
		var all []byte
		for id, p := range ps {
			if id == gwID {
				t.Fatalf("%s: the gateway still holds a key packet", c.name)
			}
			all = append(all, p...)
		}
		if _, err := tryDecrypt(append(all, blobBytes(t, v, c.transferID, c.id)...), gw); err == nil {
			t.Fatalf("%s: the gateway's key opened the file", c.name)
		}
	}
}
