package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Session lifetimes. A session ends after 12 hours without a request (long
// enough for a working day with the transfer page open, short enough that a
// forgotten shared computer does not stay signed in overnight), and 7 days
// after sign-in whatever happens, so a stolen cookie is worth a week at
// most.
const (
	SessionIdle     = 12 * time.Hour
	SessionLifetime = 7 * 24 * time.Hour
)

// sessionTouchEvery is how stale a session's last-seen time may get before
// a look-up writes it again: sliding the idle expiry on every request would
// cost a synced write per page view.
const sessionTouchEvery = time.Minute

// sessionRecord is a signed-in browser. Only the token's SHA-256 (the key)
// is stored.
type sessionRecord struct {
	V         int       `json:"v"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
}

// expired reports whether s has ended by t.
func (s sessionRecord) expired(t time.Time) bool {
	return !t.Before(s.LastSeen.Add(SessionIdle)) || !t.Before(s.CreatedAt.Add(SessionLifetime))
}

// NewSession starts a session for email, which has just proved it holds the
// address (VerifyLogin), and returns its token for the cookie: 32 random
// bytes, base64url, stored only as SHA-256. It does not require an account
// (a clerk signs in to the status page with one made or not).
func (v *Vault) NewSession(ctx context.Context, email string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return "", err
	}
	token, err := newToken()
	if err != nil {
		return "", err
	}
	now := v.now()
	rec := sessionRecord{V: 1, Email: e, CreatedAt: now, LastSeen: now}
	err = v.update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketSessions), secretHash(token), rec)
	})
	if err != nil {
		return "", fmt.Errorf("vault: storing session: %w", err)
	}
	return token, nil
}

// SessionEmail returns the address a session token was signed in as, and
// slides its idle expiry. It returns ErrNotFound for an unknown token and
// ErrExpired for an ended session (which it deletes).
func (v *Vault) SessionEmail(ctx context.Context, token string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if !wellFormedToken(token) {
		return "", ErrNotFound
	}
	h := secretHash(token)
	now := v.now()
	var rec sessionRecord
	err := v.view(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketSessions), h, &rec)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return "", err
	}
	if !rec.expired(now) && now.Sub(rec.LastSeen) < sessionTouchEvery {
		return rec.Email, nil
	}
	// Check again in the write: the session may have ended meanwhile.
	var expired bool
	err = v.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		ok, err := getJSON(b, h, &rec)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if rec.expired(now) {
			expired = true
			return deleteMarked(tx, b, h)
		}
		rec.LastSeen = now
		return putJSON(b, h, rec)
	})
	if errors.Is(err, ErrNotFound) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("vault: session: %w", err)
	}
	if expired {
		return "", ErrExpired
	}
	return rec.Email, nil
}

// EndSession signs a session out. An unknown token is not an error.
func (v *Vault) EndSession(ctx context.Context, token string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !wellFormedToken(token) {
		return nil
	}
	err := v.update(func(tx *bolt.Tx) error {
		return deleteMarked(tx, tx.Bucket(bucketSessions), secretHash(token))
	})
	if err != nil {
		return fmt.Errorf("vault: ending session: %w", err)
	}
	return nil
}
