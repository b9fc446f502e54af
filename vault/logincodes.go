package vault

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/big"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Sign-in codes (SPEC section 4, step 2).
const (
	loginCodeDigits   = 8
	loginCodeValidity = 10 * time.Minute
	loginCodeTries    = 5
)

// loginRecord is a pending sign-in code. The code is kept only as
// HMAC-SHA256 under the database's login secret: 10^8 codes are too few to
// survive a plain hash, and the secret is worthless without the database.
type loginRecord struct {
	V         int       `json:"v"`
	MAC       []byte    `json:"mac"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Tries     int       `json:"tries"`
}

// loginMAC binds a code to its address, so a code for one address is
// worthless for another even with the database in hand.
func (v *Vault) loginMAC(email, code string) []byte {
	m := hmac.New(sha256.New, v.loginSecret)
	m.Write([]byte(email))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// newLoginCode returns 8 decimal digits, uniformly distributed.
func newLoginCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(100_000_000))
	if err != nil {
		return "", fmt.Errorf("vault: random: %w", err)
	}
	return fmt.Sprintf("%0*d", loginCodeDigits, n), nil
}

// StartLogin makes a new sign-in code for email (8 digits, valid 10
// minutes, 5 tries) and returns it for mailing; it replaces any code the
// address had. It works the same whether or not the address has an account
// (the account is made on the first successful sign-in), so its answer
// reveals nothing. Rate limiting is the caller's job.
func (v *Vault) StartLogin(ctx context.Context, email string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return "", err
	}
	code, err := newLoginCode()
	if err != nil {
		return "", err
	}
	now := v.now()
	rec := loginRecord{V: 1, MAC: v.loginMAC(e, code), CreatedAt: now, ExpiresAt: now.Add(loginCodeValidity)}
	err = v.update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketLoginCodes), []byte(e), rec)
	})
	if err != nil {
		return "", fmt.Errorf("vault: storing sign-in code: %w", err)
	}
	return code, nil
}

// VerifyLogin checks a typed sign-in code. The try is counted and the code
// checked in one transaction, so parallel guesses cannot exceed the limit.
// It returns true once for the right code (which is then used up); false
// with a nil error for a wrong one; ErrNoCode when no code is pending or it
// expired; ErrTooManyTries from the sixth try on, even with the right code.
// Spaces and dashes in code are ignored. The comparison takes constant
// time.
func (v *Vault) VerifyLogin(ctx context.Context, email, code string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return false, ErrNoCode
	}
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, code)
	now := v.now()
	ok := false
	// refusal is the answer for the visitor; the transaction itself still
	// commits (an expired code's deletion, a counted try).
	var refusal error
	err = v.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLoginCodes)
		var rec loginRecord
		found, err := getJSON(b, []byte(e), &rec)
		if err != nil {
			return err
		}
		switch {
		case !found:
			refusal = ErrNoCode
			return nil
		case !now.Before(rec.ExpiresAt):
			refusal = ErrNoCode
			return deleteMarked(tx, b, []byte(e))
		case rec.Tries >= loginCodeTries:
			// Kept until it expires, so the answer stays "too many
			// tries" rather than turning into "no code".
			refusal = ErrTooManyTries
			return nil
		}
		rec.Tries++
		if hmac.Equal(rec.MAC, v.loginMAC(e, code)) {
			ok = true
			return deleteMarked(tx, b, []byte(e))
		}
		return putJSON(b, []byte(e), rec)
	})
	if err != nil {
		return false, fmt.Errorf("vault: checking sign-in code: %w", err)
	}
	return ok, refusal
}
