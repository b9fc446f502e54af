package linkserver

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"sealgate/vault"
)

// maxKeyBody bounds a key upload: the vault takes at most 64 KiB for each
// of its three parts, and JSON escaping adds little to armoured text.
const maxKeyBody = 256 << 10

// keyJSON is the body of GET /api/v1/me/key and of a successful PUT. The
// locked copies are what the browser unlocks with the passphrase or the
// recovery code; nothing here opens the key.
type keyJSON struct {
	Fingerprint      string    `json:"fingerprint"`
	KeyID            string    `json:"key_id"`
	Algorithm        string    `json:"algorithm"`
	Created          time.Time `json:"created"`
	SetAt            time.Time `json:"set_at"`
	UserIDs          []string  `json:"user_ids"`
	BYOK             bool      `json:"byok"`
	PublicKey        string    `json:"public_key"`
	PassphraseLocked string    `json:"passphrase_locked"`
	RecoveryLocked   string    `json:"recovery_locked"`
}

func newKeyJSON(k vault.KeyInfo) keyJSON {
	ids := k.UserIDs
	if ids == nil {
		ids = []string{}
	}
	return keyJSON{
		Fingerprint: k.Fingerprint, KeyID: k.KeyID, Algorithm: k.Algorithm,
		Created: k.Created.UTC(), SetAt: k.SetAt.UTC(), UserIDs: ids, BYOK: k.BYOK,
		PublicKey: string(k.PublicKey), PassphraseLocked: string(k.PassphraseLocked), RecoveryLocked: string(k.RecoveryLocked),
	}
}

// keyRequest is the body of PUT /api/v1/me/key. reset must be true to
// replace a different key (earlier level-3/4 files become unreadable).
type keyRequest struct {
	PublicKey        string `json:"public_key"`
	PassphraseLocked string `json:"passphrase_locked"`
	RecoveryLocked   string `json:"recovery_locked"`
	Reset            bool   `json:"reset"`
}

// Problems of the key API, answered in JSON with these keys as "reason".
var (
	problemSignInFirst = &problem{status: http.StatusUnauthorized, key: "sign_in"}
	problemNoKey       = &problem{status: http.StatusNotFound, key: "no_key"}
	problemKeyExists   = &problem{status: http.StatusConflict, key: "key_exists"}
)

// getKeyAPI is GET /api/v1/me/key: the signed-in account's key, or 404.
func (s *Server) getKeyAPI(w http.ResponseWriter, r *http.Request) {
	email, p := s.keyOwner(r)
	if p != nil {
		s.apiProblem(w, r, p)
		return
	}
	k, err := s.vault.AccountKey(r.Context(), email)
	switch {
	case errors.Is(err, vault.ErrNoKey), errors.Is(err, vault.ErrNotFound):
		s.apiProblem(w, r, problemNoKey)
	case err != nil:
		s.logErr(r, "reading an account key", err)
		s.apiProblem(w, r, problemInternal)
	default:
		s.writeJSON(w, r, http.StatusOK, newKeyJSON(k))
	}
}

// putKeyAPI is PUT /api/v1/me/key: sets the account's key, replaces its
// locked copies (the same key again: a changed passphrase), or with reset
// replaces it by another key. 200 with the key as GET shows it.
func (s *Server) putKeyAPI(w http.ResponseWriter, r *http.Request) {
	email, p := s.keyOwner(r)
	if p != nil {
		s.apiProblem(w, r, p)
		return
	}
	var req keyRequest
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		s.apiProblem(w, r, bodyProblem(err))
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		s.apiProblem(w, r, bodyProblem(err))
		return
	}
	k, reason, p := s.setKey(r, email, vault.KeyUpload{
		PublicKey:        []byte(req.PublicKey),
		PassphraseLocked: []byte(req.PassphraseLocked),
		RecoveryLocked:   []byte(req.RecoveryLocked),
	}, req.Reset)
	switch {
	case reason != "":
		s.writeJSON(w, r, http.StatusUnprocessableEntity, map[string]string{"error": reason, "reason": "invalid_key"})
	case p != nil:
		s.apiProblem(w, r, p)
	default:
		s.writeJSON(w, r, http.StatusOK, newKeyJSON(k))
	}
}

// bodyProblem names what was wrong with a JSON body: too large, or not the
// documented object.
func bodyProblem(err error) *problem {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return problemTooLarge
	}
	return problemBadJSON
}

var (
	problemBadJSON  = &problem{status: http.StatusBadRequest, key: "bad_json"}
	problemTooLarge = &problem{status: http.StatusRequestEntityTooLarge, key: "too_large"}
)

// keyOwner returns the signed-in address whose key a request may read or
// change.
func (s *Server) keyOwner(r *http.Request) (string, *problem) {
	email, err := s.signedIn(r)
	switch {
	case err != nil:
		s.logErr(r, "session look-up", err)
		return "", problemInternal
	case email == "":
		return "", problemSignInFirst
	}
	return email, nil
}

// setKey stores a key upload for email under the key-change limits and
// returns the key as stored. A key the vault refuses gives its reason, in
// words a page may show; other failures a problem.
func (s *Server) setKey(r *http.Request, email string, u vault.KeyUpload, reset bool) (vault.KeyInfo, string, *problem) {
	now := s.now()
	if d := s.keyChanges.take(s.clients.of(r), now); d > 0 {
		return vault.KeyInfo{}, "", rateLimited(d)
	}
	if d := s.keyAccounts.take(email, now); d > 0 {
		return vault.KeyInfo{}, "", rateLimited(d)
	}
	set := s.vault.SetAccountKey
	if reset {
		set = s.vault.ResetAccountKey
	}
	err := set(r.Context(), email, u)
	switch {
	case errors.Is(err, vault.ErrInvalidKey):
		return vault.KeyInfo{}, invalidKeyReason(err), nil
	case errors.Is(err, vault.ErrKeyExists):
		return vault.KeyInfo{}, "", problemKeyExists
	case errors.Is(err, vault.ErrNotFound):
		// The account went (deleted by an admin or by retention) while
		// the session lived on: sign in again, which makes a new one.
		return vault.KeyInfo{}, "", problemSignInFirst
	case err != nil:
		s.logErr(r, "setting an account key", err)
		return vault.KeyInfo{}, "", problemInternal
	}
	s.log.Info("account key set", "reset", reset, "byok", len(u.PassphraseLocked) == 0)
	k, err := s.vault.AccountKey(r.Context(), email)
	if err != nil {
		s.logErr(r, "reading an account key", err)
		return vault.KeyInfo{}, "", problemInternal
	}
	return k, "", nil
}

// invalidKeyReason is the vault's explanation of a refused key without its
// package prefix: "the key has no valid encryption key (...)".
func invalidKeyReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, vault.ErrInvalidKey.Error()+": "); i >= 0 {
		return msg[i+len(vault.ErrInvalidKey.Error())+2:]
	}
	return "the key cannot be used"
}
