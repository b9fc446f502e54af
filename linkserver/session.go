package linkserver

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"sealgate/vault"
)

// sessionCookie names the session cookie. Under HTTPS the __Host- prefix
// makes browsers refuse it unless it is Secure, host-only and for Path=/,
// so a sibling subdomain cannot plant or shadow it (as for the CSRF cookie).
func (s *Server) sessionCookie() string {
	if s.csrf.secure {
		return "__Host-session"
	}
	return "session"
}

// visitor is the signed-in address of one request, looked up at most once
// however many handlers and templates ask.
type visitor struct {
	once  sync.Once
	email string
	err   error
}

type visitorKey struct{}

// visitorScope gives each request a place to remember its session look-up.
func (s *Server) visitorScope(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), visitorKey{}, &visitor{})))
	})
}

// signedIn returns the address the request's session cookie is signed in
// as, or "" when there is no live session. An error means the store could
// not be asked; callers that only decorate a page treat it as "".
func (s *Server) signedIn(r *http.Request) (string, error) {
	v, ok := r.Context().Value(visitorKey{}).(*visitor)
	if !ok {
		v = &visitor{}
	}
	v.once.Do(func() { v.email, v.err = s.lookupSession(r) })
	return v.email, v.err
}

func (s *Server) lookupSession(r *http.Request) (string, error) {
	c, err := r.Cookie(s.sessionCookie())
	if err != nil || c.Value == "" {
		return "", nil
	}
	email, err := s.vault.SessionEmail(r.Context(), c.Value)
	switch {
	case err == nil:
		return email, nil
	case errors.Is(err, vault.ErrNotFound), errors.Is(err, vault.ErrExpired):
		return "", nil
	default:
		return "", err
	}
}

// startSession sets the session cookie. It has no Max-Age: it ends with the
// browser, and the vault ends it anyway after 12 idle hours or 7 days.
func (s *Server) startSession(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name: s.sessionCookie(), Value: token, Path: "/",
		HttpOnly: true, Secure: s.csrf.secure, SameSite: http.SameSiteLaxMode,
	})
}

// endSession ends the request's session, if it has one, in the store and
// in the browser.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, &http.Cookie{
		Name: s.sessionCookie(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.csrf.secure, SameSite: http.SameSiteLaxMode,
	})
	return s.dropSession(r)
}

// dropSession ends the request's session in the store, leaving the cookie
// to be replaced.
func (s *Server) dropSession(r *http.Request) error {
	c, err := r.Cookie(s.sessionCookie())
	if err != nil || c.Value == "" {
		return nil
	}
	return s.vault.EndSession(r.Context(), c.Value)
}
