package linkserver

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
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

// langSwitch is the header's way to the same page in another language. It
// is a link to the page's own address, query included, with lang set; or,
// when Fields is set, a small form that posts them to URL (see
// codeSwitch).
type langSwitch struct {
	Lang, Name, URL string
	Fields          []hiddenField
}

type hiddenField struct{ Name, Value string }

// switchURL is the address of the page of r in lang. A page that answers
// a POST (a form shown again with a mistake, an error) has no address of
// its own: the switch leads to the page the form is on, with what the form
// carried in its URL (next), so that the visitor stays where they were.
func switchURL(r *http.Request, lang string) string {
	path, q := r.URL.EscapedPath(), r.URL.Query()
	if r.Method == http.MethodPost {
		path, q = formPage(r)
	}
	q.Set("lang", lang)
	return path + "?" + q.Encode()
}

// formPage returns the address of the page whose form was posted in r. It
// goes by the path, not the route: a request refused before routing (a
// cross-origin POST) has none.
func formPage(r *http.Request) (string, url.Values) {
	q := url.Values{}
	next := safeNext(r.PostForm.Get("next")) // a form not parsed has none
	p := r.URL.Path
	switch {
	case p == "/login", p == "/login/verify", p == "/login/code":
		if next != "/" {
			q.Set("next", next)
		}
		return "/login", q
	case p == "/key":
		if transferTokenOf(next) != "" {
			q.Set("next", next)
		}
		return "/key", q
	case strings.HasSuffix(p, "/revoke") && senderTokenOf(strings.TrimSuffix(p, "/revoke")) != "":
		return statusPath(senderTokenOf(strings.TrimSuffix(p, "/revoke"))), q
	}
	return r.URL.EscapedPath(), q
}

// codeSwitch makes the switch of the code page a form that shows the same
// code page in the other language (POST /login/code): a link to the
// sign-in page would lose the code that is on its way, and the address it
// went to must not go into a URL, which browser histories keep.
func (v *view) codeSwitch() {
	c := v.Code
	v.Switch.URL = "/login/code?" + url.Values{"lang": {v.Switch.Lang}}.Encode()
	v.Switch.Fields = []hiddenField{{csrfField, c.CSRF}, {"email", c.Email}, {"next", c.Next}}
	if c.Sent {
		v.Switch.Fields = append(v.Switch.Fields, hiddenField{"sent", "1"})
	}
	if key, ok := codeMessageKeys[c.Message]; ok {
		v.Switch.Fields = append(v.Switch.Fields, hiddenField{"message", key})
	}
}

// codeMessageKeys are the messages the code page can carry across the
// language switch, by catalog key; the form names them by their last part.
var codeMessageKeys = map[string]string{
	"page.login." + problemWrongCode.key:    problemWrongCode.key,
	"page.login." + problemNoCode.key:       problemNoCode.key,
	"page.login." + problemTooManyTries.key: problemTooManyTries.key,
}
