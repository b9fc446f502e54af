package linkserver

import (
	"net/http"
	"slices"
)

const langCookie = "lang"

// knownLang reports whether the catalog has language l.
func (s *Server) knownLang(l string) bool {
	return l != "" && slices.Contains(s.text.Languages(), l)
}

// pickLang chooses the page language: an explicit ?lang= switch (remembered
// in a cookie), then the cookie, then Accept-Language, then German.
func (s *Server) pickLang(w http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); s.knownLang(l) {
		http.SetCookie(w, &http.Cookie{
			Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: s.cfg.secure(), SameSite: http.SameSiteLaxMode,
		})
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil && s.knownLang(c.Value) {
		return c.Value
	}
	return s.text.Match(r.Header.Get("Accept-Language"))
}
