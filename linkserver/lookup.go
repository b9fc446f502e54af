package linkserver

import (
	"errors"
	"net/http"
	"time"

	"sealgate/vault"
)

// problem is a look-up that did not produce a transfer, in the terms both
// pages and the API answer with.
type problem struct {
	status int
	key    string        // "not_found", "gone", "withdrawn", "locked", "rate_limited", "internal", or a sign-in problem (login.go)
	retry  time.Duration // for rate_limited
}

var (
	problemNotFound = &problem{status: http.StatusNotFound, key: "not_found"}
	problemGone     = &problem{status: http.StatusGone, key: "gone"}
	problemInternal = &problem{status: http.StatusInternalServerError, key: "internal"}
	// problemWithdrawn is a transfer its clerk or the admin revoked.
	problemWithdrawn = &problem{status: http.StatusGone, key: "withdrawn"}
	// problemLocked is a transfer locked after too many wrong sign-in
	// codes; 423 says the resource exists but is locked.
	problemLocked = &problem{status: http.StatusLocked, key: "locked"}
)

// guarded runs a look-up of a secret (a token or an access code) under the
// guessing limit: a token is spent before asking, so concurrent guesses
// cannot slip past the limit, and given back when the look-up found
// something real. Only a failed guess stays charged; ErrExpired, ErrRevoked
// and ErrLocked cannot come from a wrong guess, so they are free. The vault is
// not asked at all once the client or its subnet is over the limit.
func (s *Server) guarded(r *http.Request, what string, lookup func() error) *problem {
	addr := s.clients.of(r)
	if d := s.guesses.take(addr, s.now()); d > 0 {
		return &problem{status: http.StatusTooManyRequests, key: "rate_limited", retry: d}
	}
	err := lookup()
	if err != nil && errors.Is(err, vault.ErrNotFound) {
		return problemNotFound
	}
	s.guesses.refund(addr, s.now())
	switch {
	case err == nil:
		return nil
	case errors.Is(err, vault.ErrRevoked):
		return problemWithdrawn
	case errors.Is(err, vault.ErrExpired):
		return problemGone
	case errors.Is(err, vault.ErrLocked):
		return problemLocked
	case r.Context().Err() != nil:
		return problemInternal // the client went away; nobody reads the answer
	default:
		s.log.Error("vault look-up failed", "what", what, "err", err)
		return problemInternal
	}
}

// findTransfer looks up the transfer of a link token.
func (s *Server) findTransfer(r *http.Request, token string) (vault.Transfer, *problem) {
	var tr vault.Transfer
	p := s.guarded(r, "token", func() error {
		if !plausibleToken(token) {
			return vault.ErrNotFound
		}
		var err error
		tr, err = s.vault.TransferByToken(r.Context(), token)
		return err
	})
	return tr, p
}

// plausibleToken rejects what cannot be a link token (base64url, 43
// characters today) before it reaches the vault; the bounds leave room for a
// longer token format later.
func plausibleToken(t string) bool {
	if len(t) < 16 || len(t) > 128 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// maxCodeLen bounds what is passed on as an access code: 16 characters plus
// dashes and spaces a person might type.
const maxCodeLen = 64

// findFile returns the file with id in tr.
func findFile(tr vault.Transfer, id string) (vault.File, bool) {
	for _, f := range tr.Files {
		if f.ID == id {
			return f, true
		}
	}
	return vault.File{}, false
}
