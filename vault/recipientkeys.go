package vault

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// maxKeyUpload bounds each part of a KeyUpload. A public key with a few
// user IDs and subkeys is a few KiB (RSA-4096 with certifications perhaps
// 20); anything bigger is not a key a browser made or a person exported.
const maxKeyUpload = 64 << 10

// minRSABits is the smallest RSA key that files are encrypted to.
const minRSABits = 2048

// KeyUpload is what a recipient's browser uploads to set their key
// (PUT /api/v1/me/key).
type KeyUpload struct {
	// PublicKey is one OpenPGP public key (transferable public key),
	// ASCII-armoured or binary. It must have a valid encryption-capable
	// (sub)key, must not be expired or revoked, and must not hold secret
	// key material.
	PublicKey []byte
	// PassphraseLocked and RecoveryLocked are the same key's secret key,
	// locked in the browser with the key passphrase and with the
	// recovery code (armoured or binary OpenPGP secret keys whose every
	// secret part is encrypted). Both are empty when the recipient
	// brings their own key (BYOK): then only they hold its secret.
	PassphraseLocked []byte
	RecoveryLocked   []byte
}

// KeyInfo is a recipient's key as the vault keeps it (GET /api/v1/me/key).
// Nothing in it opens the key: the secret parts are locked with secrets
// that never reach the server.
type KeyInfo struct {
	// Fingerprint is the primary key's fingerprint, lower-case hex.
	Fingerprint string
	// KeyID is the encryption subkey's fingerprint, lower-case hex: the
	// ID its key packets are stored under (KeyRef.ID).
	KeyID string
	// Algorithm describes the key, e.g. "Ed25519/X25519 (v6)" or
	// "RSA-3072/RSA-3072 (v4)": primary key / encryption key.
	Algorithm string
	// Created is the primary key's creation time; SetAt when the vault
	// stored this key for the account.
	Created time.Time
	SetAt   time.Time
	// UserIDs are the key's user IDs as the key states them, unchecked
	// against the account's address.
	UserIDs []string
	// BYOK is true for a key the recipient brought: no locked copies.
	BYOK bool
	// PublicKey is ASCII-armoured.
	PublicKey []byte
	// PassphraseLocked and RecoveryLocked are as uploaded; empty for BYOK.
	PassphraseLocked []byte
	RecoveryLocked   []byte
}

// ErrInvalidKey means an uploaded key was refused; the wrapped error says
// why, in words a page may show.
var ErrInvalidKey = errors.New("vault: unusable key")

func invalidKey(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidKey, fmt.Sprintf(format, args...))
}

// checkedKey is an uploaded key after checking.
type checkedKey struct {
	entity      *openpgp.Entity
	binary      []byte // the public key as stored (go-crypto's serialisation)
	fingerprint string
	keyID       string
	passphrase  []byte
	recovery    []byte
}

// checkKeyUpload parses and checks an upload at time now.
func checkKeyUpload(u KeyUpload, now time.Time) (checkedKey, error) {
	for name, b := range map[string][]byte{"public key": u.PublicKey, "passphrase-locked key": u.PassphraseLocked, "recovery-locked key": u.RecoveryLocked} {
		if len(b) > maxKeyUpload {
			return checkedKey{}, invalidKey("the %s is larger than %d KiB", name, maxKeyUpload>>10)
		}
	}
	if len(u.PublicKey) == 0 {
		return checkedKey{}, invalidKey("no public key")
	}
	if (len(u.PassphraseLocked) == 0) != (len(u.RecoveryLocked) == 0) {
		return checkedKey{}, invalidKey("a key made in the browser needs both locked copies (passphrase and recovery code)")
	}
	e, err := readOneKey(u.PublicKey, "public key")
	if err != nil {
		return checkedKey{}, err
	}
	if hasSecret(e) {
		return checkedKey{}, invalidKey("the public key contains secret key material; upload only the public key")
	}
	at, ok := keyTime(e, now)
	if !ok {
		return checkedKey{}, invalidKey("the key is dated more than a day in the future; check the computer's clock")
	}
	enc, ok := e.EncryptionKey(at)
	if !ok {
		return checkedKey{}, invalidKey("the key has no valid encryption key (expired, revoked, or for signing only)")
	}
	if err := checkKeyStrength(enc.PublicKey); err != nil {
		return checkedKey{}, err
	}
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		return checkedKey{}, invalidKey("the key cannot be serialised: %v", err)
	}
	ck := checkedKey{
		entity:      e,
		binary:      buf.Bytes(),
		fingerprint: fmt.Sprintf("%x", e.PrimaryKey.Fingerprint),
		keyID:       fmt.Sprintf("%x", enc.PublicKey.Fingerprint),
	}
	if len(u.PassphraseLocked) > 0 {
		if err := checkLocked(u.PassphraseLocked, "passphrase-locked key", e); err != nil {
			return checkedKey{}, err
		}
		if err := checkLocked(u.RecoveryLocked, "recovery-locked key", e); err != nil {
			return checkedKey{}, err
		}
		ck.passphrase = bytes.Clone(u.PassphraseLocked)
		ck.recovery = bytes.Clone(u.RecoveryLocked)
	}
	return ck, nil
}

// readOneKey reads exactly one transferable key, armoured or binary.
func readOneKey(b []byte, what string) (*openpgp.Entity, error) {
	var r io.Reader = bytes.NewReader(b)
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("-----BEGIN ")) {
		// armor.Decode reads the first block only.
		if n := bytes.Count(b, []byte("-----BEGIN ")); n > 1 {
			return nil, invalidKey("the %s holds %d keys; upload exactly one", what, n)
		}
		block, err := armor.Decode(bytes.NewReader(b))
		if err != nil {
			return nil, invalidKey("the %s is not readable OpenPGP armour: %v", what, err)
		}
		r = block.Body
	}
	ring, err := openpgp.ReadKeyRing(r)
	if err != nil {
		return nil, invalidKey("the %s is not a readable OpenPGP key: %v", what, err)
	}
	if len(ring) != 1 {
		return nil, invalidKey("the %s holds %d keys; upload exactly one", what, len(ring))
	}
	return ring[0], nil
}

func hasSecret(e *openpgp.Entity) bool {
	if e.PrivateKey != nil {
		return true
	}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey != nil {
			return true
		}
	}
	return false
}

// maxClockSkew is how far in the future a key may be dated: a key made
// in a browser whose clock runs ahead is otherwise "not yet valid" for
// go-crypto, and its owner could not set it.
const maxClockSkew = 24 * time.Hour

// keyTime returns the time at which to judge e's validity: now, or, for a
// key made on a computer whose clock is ahead of ours by at most
// maxClockSkew, the newest creation time in it. ok is false for a key
// dated further ahead.
func keyTime(e *openpgp.Entity, now time.Time) (time.Time, bool) {
	newest := e.PrimaryKey.CreationTime
	later := func(t time.Time) {
		if t.After(newest) {
			newest = t
		}
	}
	if sig, _ := e.PrimarySelfSignature(); sig != nil {
		later(sig.CreationTime)
	}
	for _, id := range e.Identities {
		if id.SelfSignature != nil {
			later(id.SelfSignature.CreationTime)
		}
	}
	for _, sk := range e.Subkeys {
		later(sk.PublicKey.CreationTime)
		if sk.Sig != nil {
			later(sk.Sig.CreationTime)
		}
	}
	if !newest.After(now) {
		return now, true
	}
	if newest.Sub(now) > maxClockSkew {
		return now, false
	}
	return newest, true
}

// checkKeyStrength refuses encryption keys too weak to protect a file.
func checkKeyStrength(pub *packet.PublicKey) error {
	switch pub.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoElGamal:
		bits, err := pub.BitLength()
		if err != nil {
			return invalidKey("the encryption key's size cannot be read: %v", err)
		}
		if bits < minRSABits {
			return invalidKey("the encryption key has %d bits; at least %d are needed", bits, minRSABits)
		}
	}
	return nil
}

// checkLocked checks that b is pub's secret key with every secret part
// locked (encrypted with a passphrase): what the server keeps must not
// open the key.
func checkLocked(b []byte, what string, pub *openpgp.Entity) error {
	e, err := readOneKey(b, what)
	if err != nil {
		return err
	}
	if !bytes.Equal(e.PrimaryKey.Fingerprint, pub.PrimaryKey.Fingerprint) {
		return invalidKey("the %s is not the same key as the public key", what)
	}
	if e.PrivateKey == nil {
		return invalidKey("the %s holds no secret key", what)
	}
	secrets := []*packet.PrivateKey{e.PrivateKey}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey != nil {
			secrets = append(secrets, sk.PrivateKey)
		}
	}
	for _, sk := range secrets {
		if sk.Dummy() {
			continue
		}
		if !sk.Encrypted {
			return invalidKey("the %s is not locked: the server must never hold an unlocked secret key", what)
		}
	}
	return nil
}

// algorithmName describes a key's primary and encryption keys.
func algorithmName(e *openpgp.Entity, enc *packet.PublicKey) string {
	return fmt.Sprintf("%s/%s (v%d)", pubKeyAlgoName(e.PrimaryKey), pubKeyAlgoName(enc), e.PrimaryKey.Version)
}

func pubKeyAlgoName(pk *packet.PublicKey) string {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
		bits, _ := pk.BitLength()
		return fmt.Sprintf("RSA-%d", bits)
	case packet.PubKeyAlgoX25519:
		return "X25519"
	case packet.PubKeyAlgoX448:
		return "X448"
	case packet.PubKeyAlgoEd25519:
		return "Ed25519"
	case packet.PubKeyAlgoEd448:
		return "Ed448"
	case packet.PubKeyAlgoEdDSA, packet.PubKeyAlgoECDH, packet.PubKeyAlgoECDSA:
		name := map[packet.PublicKeyAlgorithm]string{packet.PubKeyAlgoEdDSA: "EdDSA", packet.PubKeyAlgoECDH: "ECDH", packet.PubKeyAlgoECDSA: "ECDSA"}[pk.PubKeyAlgo]
		if c, err := pk.Curve(); err == nil {
			return name + "-" + string(c)
		}
		return name
	case packet.PubKeyAlgoElGamal:
		bits, _ := pk.BitLength()
		return fmt.Sprintf("ElGamal-%d", bits)
	case packet.PubKeyAlgoDSA:
		bits, _ := pk.BitLength()
		return fmt.Sprintf("DSA-%d", bits)
	}
	return fmt.Sprintf("algorithm-%d", pk.PubKeyAlgo)
}

// userIDs lists a key's user IDs in a stable order.
func userIDs(e *openpgp.Entity) []string {
	ids := make([]string, 0, len(e.Identities))
	for name := range e.Identities {
		ids = append(ids, name)
	}
	slices.Sort(ids)
	return ids
}

// armorPublic returns a stored binary public key ASCII-armoured.
func armorPublic(binary []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(binary); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// recipientKey is a recipient's current key as files are wrapped for it.
type recipientKey struct {
	keyID string
	pub   *packet.PublicKey // the encryption (sub)key
	// aead: the key asks for SEIPDv2 with AES-256 and GCM (see
	// chooseFormat).
	aead bool
}

// parseRecipientKey reads an account's stored public key for wrapping at
// time now. ok is false when the key is no longer usable (expired or
// revoked since it was set): the recipient then counts as pending.
func parseRecipientKey(rec accountRecord, now time.Time) (recipientKey, bool, error) {
	if len(rec.PublicKey) == 0 {
		return recipientKey{}, false, nil
	}
	ring, err := openpgp.ReadKeyRing(bytes.NewReader(rec.PublicKey))
	if err != nil || len(ring) != 1 {
		return recipientKey{}, false, fmt.Errorf("vault: stored key of an account is unreadable: %v", err)
	}
	e := ring[0]
	at, _ := keyTime(e, now)
	enc, ok := e.EncryptionKey(at)
	if !ok {
		return recipientKey{}, false, nil
	}
	return recipientKey{keyID: fmt.Sprintf("%x", enc.PublicKey.Fingerprint), pub: enc.PublicKey, aead: wantsSEIPDv2(e)}, true, nil
}

// wantsSEIPDv2 reports whether a key advertises SEIPDv2 and lists AES-256
// with GCM among its preferred AEAD cipher suites. GCM is only a MAY in
// RFC 9580 (OCB is the MUST): a key that advertises SEIPDv2 without GCM
// gets SEIPDv1, which every implementation reads, rather than a slower
// mode the vault does not write.
func wantsSEIPDv2(e *openpgp.Entity) bool {
	sig, _ := e.PrimarySelfSignature()
	if sig == nil || !sig.SEIPDv2 {
		return false
	}
	want := [2]uint8{uint8(fileCipherSuite.Cipher), uint8(fileCipherSuite.Mode)}
	return slices.Contains(sig.PreferredCipherSuites, want)
}

// normalizeRecipients returns the distinct valid addresses of a transfer's
// recipients, normalised, in order. Invalid ones cannot sign in and so can
// never hold a key.
func normalizeRecipients(list []string) []string {
	out := make([]string, 0, len(list))
	for _, r := range list {
		e, err := NormalizeEmail(r)
		if err == nil && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}
