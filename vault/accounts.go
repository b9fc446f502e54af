package vault

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Account is a recipient's account (SPEC section 7): the address, the last
// activity, the preferred language and, from level 3, the keys. Nothing
// else is kept about a person.
type Account struct {
	Email      string    // lower-cased address, the account's key
	CreatedAt  time.Time // first successful sign-in
	LastActive time.Time // last sign-in or download
	// Lang is the preferred language, "de" or "en"; empty when unknown
	// (mail then goes out in German).
	Lang string
	// WarnedAt is when the inactivity warning was sent for the current
	// idle period; zero if none was (see AccountsToWarn).
	WarnedAt time.Time
	// HasKey reports whether the account holds a level-3 key (see
	// SetAccountKey); KeyFingerprint is its primary key's lower-case hex
	// fingerprint.
	HasKey         bool
	KeyFingerprint string
}

// accountRecord is an account as stored.
type accountRecord struct {
	V          int       `json:"v"`
	Email      string    `json:"email"`
	CreatedAt  time.Time `json:"created_at"`
	LastActive time.Time `json:"last_active"`
	Lang       string    `json:"lang,omitempty"`
	WarnedAt   time.Time `json:"warned_at,omitzero"`

	// Levels 3–4 (SetAccountKey): the public key (binary, as go-crypto
	// re-serialises it after checking) and the two copies of the private
	// key, locked in the browser with the key passphrase and with the
	// recovery code, as uploaded; both empty for a key the recipient
	// brought (BYOK). The server never sees either secret.
	PublicKey     []byte `json:"public_key,omitempty"`
	PassphraseKey []byte `json:"passphrase_key,omitempty"`
	RecoveryKey   []byte `json:"recovery_key,omitempty"`
	// KeyFingerprint is the hex fingerprint of the primary key; KeyID
	// that of the encryption subkey, which names its key packets.
	KeyFingerprint string    `json:"key_fingerprint,omitempty"`
	KeyID          string    `json:"key_id,omitempty"`
	KeySetAt       time.Time `json:"key_set_at,omitzero"`
}

func (r accountRecord) account() Account {
	return Account{
		Email:      r.Email,
		CreatedAt:  r.CreatedAt,
		LastActive: r.LastActive,
		Lang:       r.Lang,
		WarnedAt:   r.WarnedAt,
		HasKey:     len(r.PublicKey) > 0,

		KeyFingerprint: r.KeyFingerprint,
	}
}

// maxAddressLen is RFC 5321's limit on a forward path's address.
const maxAddressLen = 254

// NormalizeEmail returns an address in the form in which the vault stores
// and compares it: trimmed and lower-cased. It refuses, with
// ErrInvalidAddress, what cannot be a plain address (no display names, no
// angle brackets, no white space or control characters, exactly one @ with
// something on both sides). Callers may use it as the key for per-address
// rate limits.
func NormalizeEmail(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", ErrInvalidAddress
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > maxAddressLen {
		return "", ErrInvalidAddress
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.Contains(s[at+1:], "..") {
		return "", ErrInvalidAddress
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("<>,;\"\\", r) {
			return "", ErrInvalidAddress
		}
	}
	if strings.Count(s, "@") != 1 {
		return "", ErrInvalidAddress
	}
	return s, nil
}

// normalizeLang keeps the languages sealgate speaks; anything else is
// unknown ("").
func normalizeLang(lang string) string {
	switch l := strings.ToLower(strings.TrimSpace(lang)); l {
	case "de", "en":
		return l
	}
	return ""
}

// Account returns the account of email, or ErrNotFound.
func (v *Vault) Account(ctx context.Context, email string) (Account, error) {
	if err := ctx.Err(); err != nil {
		return Account{}, err
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return Account{}, ErrNotFound
	}
	var rec accountRecord
	err = v.view(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketAccounts), []byte(e), &rec)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Account{}, err
	}
	return rec.account(), nil
}

// TouchAccount records a successful sign-in: it creates the account on the
// first one, sets the last activity to now, ends any pending inactivity
// warning, and sets the preferred language when lang is "de" or "en" (any
// other value leaves it as it was).
func (v *Vault) TouchAccount(ctx context.Context, email, lang string) (Account, error) {
	if err := ctx.Err(); err != nil {
		return Account{}, err
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return Account{}, err
	}
	now := v.now()
	var rec accountRecord
	err = v.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAccounts)
		ok, err := getJSON(b, []byte(e), &rec)
		if err != nil {
			return err
		}
		if !ok {
			rec = accountRecord{V: 1, Email: e, CreatedAt: now}
		}
		rec.LastActive = now
		rec.WarnedAt = time.Time{}
		if l := normalizeLang(lang); l != "" {
			rec.Lang = l
		}
		return putJSON(b, []byte(e), rec)
	})
	if err != nil {
		return Account{}, fmt.Errorf("vault: recording sign-in: %w", err)
	}
	return rec.account(), nil
}

// touchActivity moves an existing account's last activity to now (a
// download counts as activity); it creates no account.
func touchActivity(tx *bolt.Tx, email string, now time.Time) error {
	b := tx.Bucket(bucketAccounts)
	var rec accountRecord
	ok, err := getJSON(b, []byte(email), &rec)
	if err != nil || !ok {
		return err
	}
	rec.LastActive = now
	rec.WarnedAt = time.Time{}
	return putJSON(b, []byte(email), rec)
}

// ListAccounts returns every account, ordered by address.
func (v *Vault) ListAccounts(ctx context.Context) ([]Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Account
	err := v.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAccounts).ForEach(func(k, data []byte) error {
			var rec accountRecord
			if err := decodeJSON(k, data, &rec); err != nil {
				return err
			}
			out = append(out, rec.account())
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("vault: listing accounts: %w", err)
	}
	return out, nil
}

// DeleteAccount deletes an account with everything that belongs to it: its
// keys (in the record) and the key packets made for them in level-3/4
// files, its sessions and any pending sign-in code; then the
// database is compacted so that none of it stays on disk. It returns
// ErrNotFound when there is no such account (sessions and codes of the
// address are deleted all the same). Download records in transfers stay
// with their transfers, which the clerk's status page shows until they
// expire.
func (v *Vault) DeleteAccount(ctx context.Context, email string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return ErrNotFound
	}
	found := false
	deleted := 0
	err = v.update(func(tx *bolt.Tx) error {
		var err error
		var sessions, codes int
		found, sessions, codes, err = v.deleteAccount(tx, e)
		deleted = sessions + codes
		return err
	})
	if err != nil {
		return fmt.Errorf("vault: deleting account: %w", err)
	}
	if found || deleted > 0 {
		if err := v.compact(); err != nil {
			return err
		}
	}
	if !found {
		return ErrNotFound
	}
	return nil
}

// deleteAccount removes the account of the normalised address e (with its
// key), its sessions, its sign-in code, and the key packets made for its
// key in level-3/4 files (see dropRecipient). It reports whether the
// account existed and how many sessions and codes went.
func (v *Vault) deleteAccount(tx *bolt.Tx, e string) (found bool, sessions, codes int, err error) {
	if err := markDeleted(tx); err != nil {
		return false, 0, 0, err
	}
	ab := tx.Bucket(bucketAccounts)
	found = ab.Get([]byte(e)) != nil
	if found {
		if err := ab.Delete([]byte(e)); err != nil {
			return false, 0, 0, err
		}
		if _, err := v.dropRecipient(tx, e); err != nil {
			return false, 0, 0, err
		}
	}
	lb := tx.Bucket(bucketLoginCodes)
	if lb.Get([]byte(e)) != nil {
		if err := lb.Delete([]byte(e)); err != nil {
			return false, 0, 0, err
		}
		codes = 1
	}
	sessions, err = deleteSessionsOf(tx, e)
	return found, sessions, codes, err
}

// deleteSessionsOf removes every session of the normalised address e.
// Sessions are found by a scan: they are few (each lives at most a week)
// and an index would be one more place holding the address.
func deleteSessionsOf(tx *bolt.Tx, e string) (int, error) {
	b := tx.Bucket(bucketSessions)
	var doomed [][]byte
	err := b.ForEach(func(k, data []byte) error {
		var s sessionRecord
		if err := decodeJSON(k, data, &s); err != nil {
			return err
		}
		if s.Email == e {
			doomed = append(doomed, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(doomed), nil
}
