package linkserver

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
)

// csrfField is the name of the hidden form field carrying the CSRF token.
const csrfField = "csrf"

// maxFormBytes bounds every form body; the forms hold a code and a token.
const maxFormBytes = 8 << 10

// csrfGuard implements signed double-submit tokens: the browser holds a
// random value in a cookie, and each form carries HMAC(server key, value).
// Someone who can plant a cookie (a sibling subdomain) still cannot compute
// the matching form token without the key. The key is made at start, so a
// restart only invalidates forms that were open at that moment.
type csrfGuard struct {
	key    []byte
	secure bool
}

func (g csrfGuard) cookieName() string {
	if g.secure {
		return "__Host-csrf" // the prefix forbids Domain and requires Secure
	}
	return "csrf"
}

func (g csrfGuard) sign(value string) string {
	m := hmac.New(sha256.New, g.key)
	m.Write([]byte("sealgate csrf\x00" + value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// token returns the form token for this browser, giving it a cookie first
// when it has none.
func (g csrfGuard) token(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(g.cookieName()); err == nil && len(c.Value) == 22 {
		return g.sign(c.Value)
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	v := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{
		Name: g.cookieName(), Value: v, Path: "/",
		HttpOnly: true, Secure: g.secure, SameSite: http.SameSiteLaxMode,
	})
	return g.sign(v)
}

// valid reports whether the request's form token matches its cookie. The
// form must have been parsed.
func (g csrfGuard) valid(r *http.Request) bool {
	c, err := r.Cookie(g.cookieName())
	if err != nil || c.Value == "" {
		return false
	}
	got := r.PostForm.Get(csrfField)
	want := g.sign(c.Value)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// protect bounds and parses the form of a POST and refuses it with 403 unless
// its CSRF token is valid.
func (g csrfGuard) protect(s *Server, next http.Handler) http.Handler {
	return g.protectUpTo(s, maxFormBytes, next)
}

// protectUpTo is protect for a form of up to limit bytes (the upload
// message).
func (g csrfGuard) protectUpTo(s *Server, limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if err := r.ParseForm(); err != nil {
			s.errorPage(w, r, http.StatusBadRequest, "page.error.bad_request")
			return
		}
		if !g.valid(r) {
			s.errorPage(w, r, http.StatusForbidden, "page.error.csrf")
			return
		}
		next.ServeHTTP(w, r)
	})
}
