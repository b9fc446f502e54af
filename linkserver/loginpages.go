package linkserver

import (
	"net/http"

	"sealgate/vault"
)

// The sign-in pages work without JavaScript: the address form (on its own
// page, or inside a transfer or status page) posts to /login, which mails
// the code and shows the code form; that posts to /login/verify, which
// sets the session cookie and sends the browser back where it came from.
// Every step is a POST with a CSRF token, so a link scanner following the
// links of a mail never sends a code.

// signInPage shows the address form (GET /login?next=/t/…).
func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	v := s.newView(w, r)
	v.SignIn = &signInView{CSRF: s.csrf.token(w, r), Next: safeNext(r.URL.Query().Get("next"))}
	s.render(w, r, http.StatusOK, "signin", v)
}

// loginStartForm mails a code and shows the code form. The page says the
// same for every well-formed address: "if this address may sign in, a code
// is on its way".
func (s *Server) loginStartForm(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostForm.Get("next"))
	typed := r.PostForm.Get("email")
	v := s.newView(w, r)
	email, p := s.startLogin(r, typed, v.Lang)
	switch {
	case p == nil:
		v.Code = &codeView{CSRF: s.csrf.token(w, r), Next: next, Email: email, Sent: true}
		v.codeSwitch()
		s.render(w, r, http.StatusOK, "code", v)
	case p == problemBadAddress || p == problemSendFailed || p == problemMailUnavailable:
		v.SignIn = &signInView{CSRF: s.csrf.token(w, r), Next: next, Email: bounded(typed), Message: "page.login." + p.key}
		s.render(w, r, p.status, "signin", v)
	default:
		s.problemPage(w, r, p)
	}
}

// loginVerifyForm checks the code; when right, the browser goes back to
// the page the sign-in started on (303), now with a session.
func (s *Server) loginVerifyForm(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostForm.Get("next"))
	typed := r.PostForm.Get("email")
	email, p := s.verifyLogin(w, r, typed, r.PostForm.Get("code"), transferTokenOf(next), s.pickLang(w, r))
	switch {
	case p == nil:
		http.Redirect(w, r, next, http.StatusSeeOther)
	case p == problemBadAddress:
		v := s.newView(w, r)
		v.SignIn = &signInView{CSRF: s.csrf.token(w, r), Next: next, Email: bounded(typed), Message: "page.login." + p.key}
		s.render(w, r, p.status, "signin", v)
	case p == problemWrongCode || p == problemNoCode || p == problemTooManyTries:
		v := s.newView(w, r)
		v.Code = &codeView{CSRF: s.csrf.token(w, r), Next: next, Email: email, Message: "page.login." + p.key}
		v.codeSwitch()
		s.render(w, r, p.status, "code", v)
	default:
		s.problemPage(w, r, p)
	}
}

// codePage shows the code form again, as it was, without sending a code
// (POST /login/code): the language switch of the code page posts here.
func (s *Server) codePage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostForm.Get("next"))
	v := s.newView(w, r)
	email, err := vault.NormalizeEmail(r.PostForm.Get("email"))
	if err != nil {
		v.SignIn = &signInView{CSRF: s.csrf.token(w, r), Next: next}
		s.render(w, r, http.StatusOK, "signin", v)
		return
	}
	v.Code = &codeView{CSRF: s.csrf.token(w, r), Next: next, Email: email, Sent: r.PostForm.Get("sent") == "1"}
	for full, short := range codeMessageKeys {
		if r.PostForm.Get("message") == short {
			v.Code.Message = full
		}
	}
	v.codeSwitch()
	s.render(w, r, http.StatusOK, "code", v)
}

// logoutForm ends the session and goes back to next (303).
func (s *Server) logoutForm(w http.ResponseWriter, r *http.Request) {
	if err := s.endSession(w, r); err != nil {
		s.internalError(w, r, "signing out", err)
		return
	}
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

// bounded returns what a visitor typed into an address field, for showing
// it again, or "" when it is too long to be an address.
func bounded(typed string) string {
	if len(typed) > 254 {
		return ""
	}
	return typed
}
