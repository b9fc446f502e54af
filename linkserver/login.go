package linkserver

import (
	"context"
	"errors"
	"net/http"
	"time"

	"sealgate/vault"
)

// notifyTimeout bounds a mail sent on behalf of a request that no longer
// waits for it (a lock notice, a receipt after the last byte went out).
const notifyTimeout = 2 * time.Minute

// maxSignInCodeLen bounds what is passed on as a sign-in code: 8 digits
// plus the spaces and dashes a person might type.
const maxSignInCodeLen = 32

// A sign-in problem is a problem with a reason that both the pages (as
// catalog key page.login.<key>) and the API (as "reason") name.
var (
	problemBadAddress      = &problem{status: http.StatusBadRequest, key: "invalid_address"}
	problemMailUnavailable = &problem{status: http.StatusServiceUnavailable, key: "mail_unavailable"}
	problemSendFailed      = &problem{status: http.StatusServiceUnavailable, key: "send_failed"}
	problemWrongCode       = &problem{status: http.StatusBadRequest, key: "wrong_code"}
	problemNoCode          = &problem{status: http.StatusBadRequest, key: "no_code"}
	problemTooManyTries    = &problem{status: http.StatusBadRequest, key: "too_many_tries"}
)

func rateLimited(d time.Duration) *problem {
	return &problem{status: http.StatusTooManyRequests, key: "rate_limited", retry: d}
}

// startLogin mails a sign-in code to email and returns the address as
// normalised. It answers the same whether or not the address has an account
// or receives anything: every well-formed address gets a code (the account
// is made only when the code comes back). Requests are limited per client
// network and per address; a refused request learns at once how long to
// wait.
func (s *Server) startLogin(r *http.Request, email, lang string) (string, *problem) {
	e, err := vault.NormalizeEmail(email)
	if err != nil {
		return "", problemBadAddress
	}
	if s.notifier == nil {
		return e, problemMailUnavailable
	}
	now := s.now()
	if d := s.mails.take(s.clients.of(r), now); d > 0 {
		return e, rateLimited(d)
	}
	if d := s.addresses.take(e, now); d > 0 {
		return e, rateLimited(d)
	}
	code, err := s.vault.StartLogin(r.Context(), e)
	if err != nil {
		s.logErr(r, "making a sign-in code", err)
		return e, problemInternal
	}
	if err := s.notifier.LoginCode(r.Context(), e, code, lang); err != nil {
		// Shown to the visitor: a code that never left must not look sent.
		// The failure says nothing about accounts, which play no part here.
		s.logErr(r, "sending a sign-in code", err)
		return e, problemSendFailed
	}
	s.obs.CodeSent()
	return e, nil
}

// verifyLogin checks a typed sign-in code and, when right, makes the
// account (on first sign-in) and a session, and sets its cookie. A wrong
// code typed for a transfer (transferToken, from the page the sign-in
// started on) counts against that transfer when the address is one of its
// recipients; the count locks it (see countFailedCode).
func (s *Server) verifyLogin(w http.ResponseWriter, r *http.Request, email, code, transferToken, lang string) (string, *problem) {
	e, p := s.checkLogin(w, r, email, code, transferToken, lang)
	s.obs.SignIn(signInResult(p))
	return e, p
}

// signInResult names the outcome of checkLogin for the Observer.
func signInResult(p *problem) string {
	switch {
	case p == nil:
		return SignInOK
	case p == problemWrongCode || p == problemLocked:
		return SignInWrongCode
	case p == problemNoCode || p == problemBadAddress:
		return SignInNoCode
	case p == problemTooManyTries:
		return SignInTooMany
	case p.status == http.StatusTooManyRequests:
		return SignInLimited
	default:
		return SignInError
	}
}

// checkLogin is verifyLogin without the report to the Observer.
func (s *Server) checkLogin(w http.ResponseWriter, r *http.Request, email, code, transferToken, lang string) (string, *problem) {
	e, err := vault.NormalizeEmail(email)
	if err != nil {
		return "", problemBadAddress
	}
	addr := s.clients.of(r)
	if d := s.guesses.take(addr, s.now()); d > 0 {
		return e, rateLimited(d)
	}
	if len(code) > maxSignInCodeLen {
		code = ""
	}
	ok, err := s.vault.VerifyLogin(r.Context(), e, code)
	switch {
	case errors.Is(err, vault.ErrNoCode):
		return e, problemNoCode
	case errors.Is(err, vault.ErrTooManyTries):
		return e, problemTooManyTries
	case err != nil:
		s.logErr(r, "checking a sign-in code", err)
		return e, problemInternal
	case !ok:
		if s.countFailedCode(r, e, transferToken) {
			return e, problemLocked
		}
		return e, problemWrongCode
	}
	s.guesses.refund(addr, s.now())
	if _, err := s.vault.TouchAccount(r.Context(), e, lang); err != nil {
		s.logErr(r, "recording a sign-in", err)
		return e, problemInternal
	}
	token, err := s.vault.NewSession(r.Context(), e)
	if err != nil {
		s.logErr(r, "starting a session", err)
		return e, problemInternal
	}
	// A browser signed in as someone else before is signed out of that.
	if err := s.dropSession(r); err != nil {
		s.logErr(r, "ending the previous session", err)
	}
	s.startSession(w, token)
	return e, nil
}

// countFailedCode counts a wrong code against the transfer whose page the
// sign-in started on, if email is one of its recipients, and reports
// whether the transfer is locked now. The clerk is told once, when the
// count locks it. Wrong codes typed elsewhere (the home page, the clerk's
// status page) lock nothing.
func (s *Server) countFailedCode(r *http.Request, email, transferToken string) bool {
	if transferToken == "" || !plausibleToken(transferToken) {
		return false
	}
	tr, err := s.vault.TransferByToken(r.Context(), transferToken)
	if errors.Is(err, vault.ErrLocked) {
		return true
	}
	if err != nil || !vault.IsRecipient(tr, email) {
		return false
	}
	locked, justLocked, err := s.vault.RecordFailedCode(r.Context(), tr.ID)
	if err != nil {
		s.logErr(r, "counting a wrong sign-in code", err)
		return false
	}
	if justLocked {
		s.log.Warn("transfer locked after too many wrong sign-in codes", "transfer", tr.ID)
		if s.notifier != nil {
			// The visitor's request may end before the mail is out; the
			// clerk must hear of the lock all the same.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), notifyTimeout)
			defer cancel()
			if err := s.notifier.LockNotice(ctx, tr); err != nil {
				s.log.Error("lock notice not sent", "transfer", tr.ID, "err", err)
			}
		}
	}
	return locked
}

// logErr logs a store or mail failure, unless it is merely a client that
// went away.
func (s *Server) logErr(r *http.Request, msg string, err error) {
	if ctxErr := r.Context().Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		return
	}
	s.log.Error(msg, "err", err)
}
