package linkserver

import (
	"net/http"
	"strconv"
	"strings"
)

// Languages the pages come in; the first is the default.
var languages = []string{"de", "en"}

const langCookie = "lang"

func knownLang(l string) bool {
	for _, k := range languages {
		if l == k {
			return true
		}
	}
	return false
}

// pickLang chooses the page language: an explicit ?lang= switch (remembered
// in a cookie), then the cookie, then Accept-Language, then German.
func (s *Server) pickLang(w http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); knownLang(l) {
		http.SetCookie(w, &http.Cookie{
			Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: s.cfg.secure(), SameSite: http.SameSiteLaxMode,
		})
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil && knownLang(c.Value) {
		return c.Value
	}
	return acceptLanguage(r.Header.Get("Accept-Language"))
}

// acceptLanguage returns the known language the header prefers most, by
// q-value and then by order; German when it names none of them.
func acceptLanguage(h string) string {
	best, bestQ := languages[0], 0.0
	for _, part := range strings.Split(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if knownLang(primary) && q > bestQ {
			best, bestQ = primary, q
		}
	}
	return best
}
