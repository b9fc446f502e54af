package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// crockford is Crockford's base32 alphabet: no I, L, O or U, so codes read
// aloud or typed from paper survive the usual confusions.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var crockfordEnc = base32.NewEncoding(crockford).WithPadding(base32.NoPadding)

const (
	tokenBytes      = 32
	tokenLen        = 43 // base64url without padding of 32 bytes
	accessCodeBytes = 10 // 80 bits, exactly 16 base32 characters
	accessCodeLen   = 16
	referenceBytes  = 5 // 40 bits, 8 characters: short enough to read out
)

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("vault: random: %w", err)
	}
	return b, nil
}

// newToken returns a fresh link token: 32 random bytes, base64url.
func newToken() (string, error) {
	b, err := randomBytes(tokenBytes)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// wellFormedToken rejects anything that cannot be a token before it costs a
// database look-up.
func wellFormedToken(t string) bool {
	if len(t) != tokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(t)
	return err == nil
}

// secretHash is how tokens and access codes are stored and looked up: the
// database never holds either in a usable form.
func secretHash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// sameHash compares two stored hashes in constant time.
func sameHash(a, b []byte) bool {
	return len(a) == sha256.Size && subtle.ConstantTimeCompare(a, b) == 1
}

// newAccessCode returns a fresh access code in its normalised form (16
// Crockford characters, no dashes).
func newAccessCode() (string, error) {
	b, err := randomBytes(accessCodeBytes)
	if err != nil {
		return "", err
	}
	return crockfordEnc.EncodeToString(b), nil
}

// groupCode writes a normalised access code in groups of four for typing.
func groupCode(c string) string {
	var sb strings.Builder
	for i := 0; i < len(c); i += 4 {
		if i > 0 {
			sb.WriteByte('-')
		}
		sb.WriteString(c[i:min(i+4, len(c))])
	}
	return sb.String()
}

// normalizeAccessCode turns what a recipient typed into the stored form:
// case, dashes and white space do not matter, and O, I and L are read as
// 0, 1 and 1 as Crockford's base32 prescribes. ok is false when the result
// cannot be an access code.
func normalizeAccessCode(s string) (code string, ok bool) {
	if len(s) > 64 {
		return "", false
	}
	var sb strings.Builder
	for _, r := range s {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\u00a0' || r == '\u2010' || r == '\u2011' || r == '\u2013':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		switch r {
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		if r > 0x7f || !strings.ContainsRune(crockford, r) {
			return "", false
		}
		sb.WriteRune(r)
	}
	if sb.Len() != accessCodeLen {
		return "", false
	}
	return sb.String(), true
}

// newReference returns a transfer reference such as "SG-7K3M-XQ2P".
func newReference() (string, error) {
	b, err := randomBytes(referenceBytes)
	if err != nil {
		return "", err
	}
	c := crockfordEnc.EncodeToString(b)
	return "SG-" + c[:4] + "-" + c[4:], nil
}

// newFileID returns a random URL-safe file ID.
func newFileID() (string, error) {
	b, err := randomBytes(9)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// newBlobID returns a random blob name (128 bits, lower-case base32), which
// says nothing about the transfer it belongs to.
func newBlobID() (string, error) {
	b, err := randomBytes(16)
	if err != nil {
		return "", err
	}
	return strings.ToLower(crockfordEnc.EncodeToString(b)), nil
}

// Sealing the link token under the access code lets TokenForAccessCode give
// back the token while the database alone reveals neither: the code is only
// stored as a hash, and the key comes from the code itself.
const sealInfo = "sealgate access-code token seal v1"

func codeKey(code, transferID string) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, []byte(code), []byte(transferID), sealInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("vault: deriving code key: %w", err)
	}
	return k, nil
}

func codeAEAD(code, transferID string) (cipher.AEAD, error) {
	k, err := codeKey(code, transferID)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("vault: code cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// sealToken encrypts token under a key derived from the access code, bound
// to the transfer ID. The output is nonce || ciphertext.
func sealToken(code, transferID, token string) ([]byte, error) {
	aead, err := codeAEAD(code, transferID)
	if err != nil {
		return nil, err
	}
	nonce, err := randomBytes(aead.NonceSize())
	if err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(token), []byte(transferID)), nil
}

// openSealedToken reverses sealToken.
func openSealedToken(code, transferID string, sealed []byte) (string, error) {
	aead, err := codeAEAD(code, transferID)
	if err != nil {
		return "", err
	}
	ns := aead.NonceSize()
	if len(sealed) < ns+aead.Overhead() {
		return "", errors.New("vault: sealed token too short")
	}
	pt, err := aead.Open(nil, sealed[:ns], sealed[ns:], []byte(transferID))
	if err != nil {
		return "", fmt.Errorf("vault: opening sealed token: %w", err)
	}
	return string(pt), nil
}
