package vault

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// TestSetAccountKeyRefuses covers what an upload must not be.
func TestSetAccountKeyRefuses(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	ctx := context.Background()
	good := browserKey(t, "good")
	other := browserKey(t, "other")

	expiring := classicKey(t, "expiring")
	// A key whose self-signature says it expired a day after it was made.
	life := uint32(86400)
	for _, id := range expiring.secret.Identities {
		id.SelfSignature.KeyLifetimeSecs = &life
		if err := id.SelfSignature.SignUserId(id.Name, expiring.secret.PrimaryKey, expiring.secret.PrivateKey, &packet.Config{Time: keyEpoch}); err != nil {
			t.Fatal(err)
		}
	}
	revoked := classicKey(t, "revoked")
	if err := revoked.secret.RevokeKey(packet.KeyCompromised, "lost", &packet.Config{Time: keyEpoch}); err != nil {
		t.Fatal(err)
	}
	signOnly := classicKey(t, "sign only")
	signOnly.secret.Subkeys = nil
	twoKeys := append(bytes.Clone(good.upload.PublicKey), other.upload.PublicKey...)
	unlocked := armored(t, good.secret, true, nil)

	for _, tc := range []struct {
		name string
		u    KeyUpload
		want string
	}{
		{"empty", KeyUpload{}, "no public key"},
		{"garbage", KeyUpload{PublicKey: []byte("not a key")}, "not a readable OpenPGP key"},
		{"too big", KeyUpload{PublicKey: bytes.Repeat([]byte("A"), maxKeyUpload+1)}, "larger than"},
		{"secret key as public", KeyUpload{PublicKey: unlocked}, "secret key material"},
		{"two keys", KeyUpload{PublicKey: twoKeys}, "holds 2 keys"},
		{"expired", KeyUpload{PublicKey: armored(t, expiring.secret, false, nil)}, "no valid encryption key"},
		{"revoked", KeyUpload{PublicKey: armored(t, revoked.secret, false, nil)}, "no valid encryption key"},
		{"signing only", KeyUpload{PublicKey: armored(t, signOnly.secret, false, nil)}, "no valid encryption key"},
		{"one locked copy", KeyUpload{PublicKey: good.upload.PublicKey, PassphraseLocked: good.upload.PassphraseLocked}, "both locked copies"},
		{"unlocked copy", KeyUpload{PublicKey: good.upload.PublicKey, PassphraseLocked: unlocked, RecoveryLocked: good.upload.RecoveryLocked}, "not locked"},
		{"copy of another key", KeyUpload{PublicKey: good.upload.PublicKey, PassphraseLocked: good.upload.PassphraseLocked, RecoveryLocked: other.upload.RecoveryLocked}, "not the same key"},
		{"public key as locked copy", KeyUpload{PublicKey: good.upload.PublicKey, PassphraseLocked: good.upload.PublicKey, RecoveryLocked: good.upload.RecoveryLocked}, "holds no secret key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signIn(t, v, "citizen@example.net")
			err := v.SetAccountKey(ctx, "citizen@example.net", tc.u)
			if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalidKey saying %q", err, tc.want)
			}
		})
	}
	if a, _ := v.Account(ctx, "citizen@example.net"); a.HasKey {
		t.Fatal("a refused key was stored")
	}
	if err := v.SetAccountKey(ctx, "nobody@example.net", good.upload); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetAccountKey without an account: %v, want ErrNotFound", err)
	}
	if _, err := v.AccountKey(ctx, "citizen@example.net"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("AccountKey without a key: %v, want ErrNoKey", err)
	}
}

// TestAccountKeyRoundTrip: what the browser uploads comes back; a second
// upload of the same key replaces the locked copies (a new passphrase).
func TestAccountKeyRoundTrip(t *testing.T) {
	t.Parallel()
	v, clock, _ := openTestVault(t)
	ctx := context.Background()
	k := browserKey(t, "citizen@example.net")
	setKey(t, v, "citizen@example.net", k)
	info, err := v.AccountKey(ctx, "Citizen@Example.net")
	if err != nil {
		t.Fatal(err)
	}
	if info.BYOK || !bytes.Equal(info.PassphraseLocked, k.upload.PassphraseLocked) || !bytes.Equal(info.RecoveryLocked, k.upload.RecoveryLocked) {
		t.Fatalf("locked copies do not come back as uploaded: %+v", info)
	}
	if info.Fingerprint != keyIDHex(k.secret.PrimaryKey) || info.KeyID != keyIDOf(t, k.secret) || info.Algorithm != "Ed25519/X25519 (v6)" || !info.Created.Equal(keyEpoch().Truncate(time.Second)) || !info.SetAt.Equal(clock.Now()) {
		t.Fatalf("key info %+v", info)
	}
	if len(info.UserIDs) != 1 || !strings.Contains(info.UserIDs[0], "citizen@example.net") {
		t.Fatalf("user IDs %q", info.UserIDs)
	}
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(info.PublicKey))
	if err != nil || len(ring) != 1 || ring[0].PrivateKey != nil || !bytes.Equal(ring[0].PrimaryKey.Fingerprint, k.secret.PrimaryKey.Fingerprint) {
		t.Fatalf("armoured public key: %v", err)
	}
	if a, _ := v.Account(ctx, "citizen@example.net"); !a.HasKey || a.KeyFingerprint != info.Fingerprint {
		t.Fatalf("account %+v", a)
	}

	// A changed passphrase: same key, new locked copy.
	relocked := k.upload
	relocked.PassphraseLocked = lockedCopy(t, k.secret, "a new passphrase")
	clock.Set(clock.Now().Add(time.Hour))
	if err := v.SetAccountKey(ctx, "citizen@example.net", relocked); err != nil {
		t.Fatal(err)
	}
	info2, _ := v.AccountKey(ctx, "citizen@example.net")
	if !bytes.Equal(info2.PassphraseLocked, relocked.PassphraseLocked) || !info2.SetAt.Equal(info.SetAt) {
		t.Fatalf("after a passphrase change: %+v", info2)
	}

	// Bring your own key, binary.
	byok := classicKey(t, "byok@example.org")
	var bin bytes.Buffer
	byok.secret.Serialize(&bin)
	signIn(t, v, "byok@example.org")
	if err := v.SetAccountKey(ctx, "byok@example.org", KeyUpload{PublicKey: bin.Bytes()}); err != nil {
		t.Fatal(err)
	}
	if info, err := v.AccountKey(ctx, "byok@example.org"); err != nil || !info.BYOK || len(info.PassphraseLocked) != 0 || !strings.HasPrefix(info.Algorithm, "EdDSA-") {
		t.Fatalf("BYOK key info: %+v %v", info, err)
	}
}

// TestKeyFromFastClock: a browser whose clock is a few minutes ahead makes
// a key dated in the vault's future; it is accepted and used at once.
func TestKeyFromFastClock(t *testing.T) {
	t.Parallel()
	v, clock, _ := openTestVault(t)
	cfg := &packet.Config{V6Keys: true, Algorithm: packet.PubKeyAlgoEd25519, AEADConfig: &packet.AEADConfig{DefaultMode: packet.AEADModeGCM},
		Time: func() time.Time { return clock.Now().Add(5 * time.Minute) }}
	e, err := openpgp.NewEntity("fast", "", "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	setKey(t, v, "fast@example.net", testKey{secret: e, upload: KeyUpload{PublicKey: armored(t, e, false, nil)}})
	d, f := storeE2E(t, v, []byte("früh"), "fast@example.net")
	if got := decryptWith(t, openMessage(t, v, d.ID(), f.ID, "fast@example.net"), openpgp.EntityList{e}); string(got) != "früh" {
		t.Fatalf("got %q", got)
	}

	cfg.Time = func() time.Time { return clock.Now().Add(48 * time.Hour) }
	e2, err := openpgp.NewEntity("far", "", "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	signIn(t, v, "far@example.net")
	if err := v.SetAccountKey(context.Background(), "far@example.net", KeyUpload{PublicKey: armored(t, e2, false, nil)}); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("key dated two days ahead: %v, want ErrInvalidKey", err)
	}
}
