package vault

import (
	"bytes"
	"context"
	"crypto"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/s2k"
	bolt "go.etcd.io/bbolt"
)

// keyEpoch dates test keys a month before the test clock starts.
func keyEpoch() time.Time { return newTestClock().Now().AddDate(0, -1, 0) }

// testKey is a recipient's key pair as a test holds it: the secret key to
// decrypt with and the upload the browser (or the person) would make.
type testKey struct {
	secret *openpgp.Entity
	upload KeyUpload
}

// browserKey makes a key as the pages' e2e.js does with OpenPGP.js: v6,
// Ed25519/X25519, advertising SEIPDv2 with AES-256-GCM, and two locked
// copies (Argon2 S2K, AEAD-protected; small Argon2 memory to keep the
// test fast).
func browserKey(t testing.TB, name string) testKey {
	t.Helper()
	cfg := &packet.Config{
		V6Keys:        true,
		Algorithm:     packet.PubKeyAlgoEd25519,
		DefaultCipher: packet.CipherAES256,
		DefaultHash:   crypto.SHA256,
		AEADConfig:    &packet.AEADConfig{DefaultMode: packet.AEADModeGCM},
		Time:          keyEpoch,
	}
	e, err := openpgp.NewEntity(name, "", name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{secret: e, upload: KeyUpload{
		PublicKey:        armored(t, e, false, nil),
		PassphraseLocked: lockedCopy(t, e, "correct horse battery staple"),
		RecoveryLocked:   lockedCopy(t, e, "ABCD-EFGH-JKMN-PQRS-TVWX-YZ01-2345"),
	}}
}

// classicKey makes a v4 key that, like a GnuPG key, advertises SEIPDv1
// only; uploaded as bring-your-own-key.
func classicKey(t testing.TB, name string) testKey {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, DefaultCipher: packet.CipherAES256, Time: keyEpoch}
	e, err := openpgp.NewEntity(name, "", name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{secret: e, upload: KeyUpload{PublicKey: armored(t, e, false, nil)}}
}

// armored exports e's public key, or with private its secret key
// (locked with cfg's S2K when the entity is locked).
func armored(t testing.TB, e *openpgp.Entity, private bool, cfg *packet.Config) []byte {
	t.Helper()
	var buf bytes.Buffer
	typ := openpgp.PublicKeyType
	if private {
		typ = openpgp.PrivateKeyType
	}
	w, err := armor.Encode(&buf, typ, nil)
	if err != nil {
		t.Fatal(err)
	}
	if private {
		err = e.SerializePrivateWithoutSigning(w, cfg)
	} else {
		err = e.Serialize(w)
	}
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	return buf.Bytes()
}

// lockedCopy returns e's secret key locked with passphrase, leaving e
// itself unlocked.
func lockedCopy(t testing.TB, e *openpgp.Entity, passphrase string) []byte {
	t.Helper()
	var raw bytes.Buffer
	if err := e.SerializePrivateWithoutSigning(&raw, nil); err != nil {
		t.Fatal(err)
	}
	ring, err := openpgp.ReadKeyRing(&raw)
	if err != nil {
		t.Fatal(err)
	}
	c := ring[0]
	cfg := &packet.Config{
		DefaultCipher: packet.CipherAES256,
		AEADConfig:    &packet.AEADConfig{DefaultMode: packet.AEADModeGCM},
		S2KConfig:     &s2k.Config{S2KMode: s2k.Argon2S2K, Argon2Config: &s2k.Argon2Config{NumberOfPasses: 1, DegreeOfParallelism: 1, Memory: 64}},
	}
	if err := c.EncryptPrivateKeys([]byte(passphrase), cfg); err != nil {
		t.Fatal(err)
	}
	return armored(t, c, true, nil)
}

// signIn makes the account of email (as the first sign-in does).
func signIn(t testing.TB, v *Vault, email string) {
	t.Helper()
	if _, err := v.TouchAccount(context.Background(), email, "en"); err != nil {
		t.Fatal(err)
	}
}

// setKey signs email in and sets k as its key.
func setKey(t testing.TB, v *Vault, email string, k testKey) {
	t.Helper()
	signIn(t, v, email)
	if err := v.SetAccountKey(context.Background(), email, k.upload); err != nil {
		t.Fatalf("SetAccountKey(%s): %v", email, err)
	}
}

// storeE2E stores one file at level 3 to recipients and commits.
func storeE2E(t testing.TB, v *Vault, content []byte, recipients ...string) (*Draft, File) {
	t.Helper()
	ctx := context.Background()
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 3, Sender: "clerk@example.org", Recipients: recipients})
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
	return d, f
}

// openMessage returns what OpenMessage serves, in full.
func openMessage(t testing.TB, v *Vault, transferID, fileID, email string) []byte {
	t.Helper()
	rc, _, err := v.OpenMessage(context.Background(), transferID, fileID, email)
	if err != nil {
		t.Fatalf("OpenMessage(%s): %v", email, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decryptWith opens an OpenPGP message with ring; it fails the test on
// any error, including an authentication failure at the end.
func decryptWith(t testing.TB, msg []byte, ring openpgp.EntityList) []byte {
	t.Helper()
	b, err := tryDecrypt(msg, ring)
	if err != nil {
		t.Fatalf("decrypting: %v", err)
	}
	return b
}

func tryDecrypt(msg []byte, ring openpgp.EntityList) ([]byte, error) {
	md, err := openpgp.ReadMessage(bytes.NewReader(msg), ring, nil, nil)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(md.UnverifiedBody)
}

// gatewayRing reads the gateway's current and retired secret keys from
// storage.dir, as someone holding the key files would.
func gatewayRing(t testing.TB, dir string) openpgp.EntityList {
	t.Helper()
	ring, err := readSecretKeys(filepath.Join(dir, gatewayKeyName))
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, retiredKeyDir))
	for _, e := range entries {
		more, err := readSecretKeys(filepath.Join(dir, retiredKeyDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		ring = append(ring, more...)
	}
	return ring
}

// storedPackets returns a file's key packets by key ID, as stored.
func storedPackets(t testing.TB, v *Vault, transferID, fileID string) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	err := v.view(func(tx *bolt.Tx) error {
		for _, kp := range fileKeyPackets(tx, transferID, fileID) {
			out[kp.keyID] = kp.packet
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// storedFile returns a file's record.
func storedFile(t testing.TB, v *Vault, transferID, fileID string) fileRecord {
	t.Helper()
	var fr fileRecord
	err := v.view(func(tx *bolt.Tx) error {
		_, err := getJSON(tx.Bucket(bucketFiles), fileKey(transferID, fileID), &fr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return fr
}

// blobSum is the SHA-256 of a file's blob as it lies on disk.
func blobSum(t *testing.T, v *Vault, transferID, fileID string) string {
	t.Helper()
	return fileSum(t, filepath.Join(v.dir, "blobs", storedFile(t, v, transferID, fileID).BlobID))
}

// packetVersions lists the versions of the PKESK packets at the start of
// msg and the version of the encrypted data packet after them.
func packetVersions(t testing.TB, msg []byte) (pkesk []int, seipd int) {
	t.Helper()
	pr := packet.NewReader(bytes.NewReader(msg))
	for {
		p, err := pr.Next()
		if err != nil {
			t.Fatalf("reading packets: %v", err)
		}
		switch p := p.(type) {
		case *packet.EncryptedKey:
			pkesk = append(pkesk, p.Version)
		case *packet.SymmetricallyEncrypted:
			return pkesk, p.Version
		default:
			t.Fatalf("unexpected packet %T", p)
		}
	}
}

// keyIDOf is the key ID that names e's key packets.
func keyIDOf(t testing.TB, e *openpgp.Entity) string {
	t.Helper()
	k, ok := e.EncryptionKey(e.PrimaryKey.CreationTime.AddDate(0, 0, 1))
	if !ok {
		t.Fatal("test key has no encryption key")
	}
	return keyIDHex(k.PublicKey)
}

func keyIDHex(pk *packet.PublicKey) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(pk.Fingerprint))
	for _, b := range pk.Fingerprint {
		out = append(out, digits[b>>4], digits[b&15])
	}
	return string(out)
}
