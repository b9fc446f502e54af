package linkserver

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/s2k"

	"sealgate/vault"
)

// testKey is a recipient's key pair as a test holds it: the secret key to
// decrypt with and what the browser (or the person) uploads.
type testKey struct {
	secret *openpgp.Entity
	upload vault.KeyUpload
}

// keyTime dates test keys a month before the test clock's start.
func keyTime() time.Time { return time.Date(2026, 2, 10, 9, 30, 0, 0, time.UTC) }

// browserKey makes a key as e2e.js does with OpenPGP.js: v6,
// Ed25519/X25519, SEIPDv2 with AES-256-GCM, and two copies of the secret
// key locked with Argon2 (small memory, to keep the test fast).
func browserKey(t testing.TB, name string) testKey {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name, &packet.Config{
		V6Keys: true, Algorithm: packet.PubKeyAlgoEd25519, DefaultCipher: packet.CipherAES256,
		DefaultHash: crypto.SHA256, AEADConfig: &packet.AEADConfig{DefaultMode: packet.AEADModeGCM}, Time: keyTime,
	})
	if err != nil {
		t.Fatal(err)
	}
	return testKey{secret: e, upload: vault.KeyUpload{
		PublicKey:        armoredKey(t, e, false),
		PassphraseLocked: lockedCopy(t, e, "correct horse battery staple"),
		RecoveryLocked:   lockedCopy(t, e, "ABCDEFGHJKMNPQRSTVWXYZ0123456789"),
	}}
}

// ownKey makes a v4 key like GnuPG's, uploaded as the recipient's own.
func ownKey(t testing.TB, name string) testKey {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, DefaultCipher: packet.CipherAES256, Time: keyTime})
	if err != nil {
		t.Fatal(err)
	}
	return testKey{secret: e, upload: vault.KeyUpload{PublicKey: armoredKey(t, e, false)}}
}

func armoredKey(t testing.TB, e *openpgp.Entity, private bool) []byte {
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
		err = e.SerializePrivateWithoutSigning(w, nil)
	} else {
		err = e.Serialize(w)
	}
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	return buf.Bytes()
}

// lockedCopy returns e's secret key locked with passphrase; e stays
// unlocked.
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
	err = c.EncryptPrivateKeys([]byte(passphrase), &packet.Config{
		DefaultCipher: packet.CipherAES256,
		AEADConfig:    &packet.AEADConfig{DefaultMode: packet.AEADModeGCM},
		S2KConfig:     &s2k.Config{S2KMode: s2k.Argon2S2K, Argon2Config: &s2k.Argon2Config{NumberOfPasses: 1, DegreeOfParallelism: 1, Memory: 64}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return armoredKey(t, c, true)
}

// decrypt opens an OpenPGP message with k's secret key and returns the
// plaintext, failing t when it does not open or fails authentication.
func (k testKey) decrypt(t testing.TB, msg []byte) []byte {
	t.Helper()
	md, err := openpgp.ReadMessage(bytes.NewReader(msg), openpgp.EntityList{k.secret}, nil, nil)
	if err != nil {
		t.Fatalf("the message does not open with the recipient's key: %v", err)
	}
	b, err := io.ReadAll(md.UnverifiedBody)
	if err != nil {
		t.Fatalf("decrypting: %v", err)
	}
	return b
}

// keyJSONOf is the JSON body of a key upload.
func keyJSONOf(u vault.KeyUpload, reset bool) map[string]any {
	return map[string]any{
		"public_key": string(u.PublicKey), "passphrase_locked": string(u.PassphraseLocked),
		"recovery_locked": string(u.RecoveryLocked), "reset": reset,
	}
}

// setKey uploads k for the account c is signed in as, through the API.
func (e *env) setKey(c *http.Client, k testKey, reset bool) {
	e.t.Helper()
	resp, body := e.putJSON(c, "/api/v1/me/key", keyJSONOf(k.upload, reset))
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("PUT /api/v1/me/key: %s %s", resp.Status, body)
	}
}

// putJSON sends v as JSON with PUT and returns the answer.
func (e *env) putJSON(c *http.Client, path string, v any, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	b := mustJSON(e.t, v)
	header = append(header, "Content-Type", "application/json")
	return e.do(c, http.MethodPut, path, bytes.NewReader(b), header...)
}

// addL4 stores a level-4 transfer from clerk to citizen with its message
// text and files.
func (e *env) addL4(plain, html string, files ...testFile) stored {
	e.t.Helper()
	ctx := context.Background()
	d, err := e.v.BeginTransfer(ctx, vault.NewTransfer{Level: 4, Sender: clerk, Recipients: []string{citizen}})
	if err != nil {
		e.t.Fatal(err)
	}
	st := stored{id: d.ID(), token: d.Token(), code: d.AccessCode(), sender: d.SenderToken()}
	items, err := d.AddText(ctx, []byte(plain), []byte(html))
	if err != nil {
		e.t.Fatal(err)
	}
	st.files = append(st.files, items...)
	for _, f := range files {
		vf, err := d.AddFile(ctx, f.name, f.contentType, f.reader())
		if err != nil {
			e.t.Fatal(err)
		}
		st.files = append(st.files, vf)
	}
	if err := d.Commit(ctx); err != nil {
		e.t.Fatal(err)
	}
	return st
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
