package linkserver

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"

	"sealgate/catalog"
)

//go:embed assets/templates/*.html
var templateFS embed.FS

// pageNames are the page templates; each is parsed together with the layout
// and the shared forms.
var pageNames = []string{"home", "transfer", "error", "signin", "code", "status", "key", "upload", "clerk"}

type pages struct{ tmpl map[string]*template.Template }

func loadPages() (*pages, error) {
	p := &pages{tmpl: make(map[string]*template.Template)}
	for _, name := range pageNames {
		t, err := template.ParseFS(templateFS, "assets/templates/layout.html", "assets/templates/forms.html",
			"assets/templates/e2e.html", "assets/templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		p.tmpl[name] = t
	}
	return p, nil
}

// view is what every page template gets. Templates call {{$.T "key" args}}
// for text in the page's language.
type view struct {
	Lang  string
	Nonce string
	Brand string
	Logo  bool
	Theme *theme // nil: the stylesheet's default colours
	Dev   bool
	// Imprint and Privacy are the footer links; empty ones are left out.
	Imprint, Privacy string
	// Switch leads to the same page in the other language.
	Switch langSwitch

	// Visitor is the address the browser is signed in as, shown with a
	// sign-out button; empty when not signed in.
	Visitor string
	SignOut struct{ CSRF, Next string }

	Home     *homeView
	Transfer *transferView
	Error    *errorView
	// SignIn is the sign-in form, on its own page or inside the transfer
	// and status pages.
	SignIn *signInView
	Code   *codeView
	Status *statusView
	Key    *keyView
	// Upload is the upload or reply page, Clerk the clerk's page of an
	// upload (uploadpage.go, clerkpage.go).
	Upload *uploadView
	Clerk  *clerkView

	// Scripts, when set, loads the level-3/4 modules (see scriptTags);
	// pages without it run no script at all.
	Scripts *scriptTags

	cat *catalog.Catalog
}

// T returns the text for key in the page's language.
func (v *view) T(key string, args ...any) string { return v.cat.T(v.Lang, key, args...) }

type homeView struct {
	CSRF    string
	Code    string // as typed, shown again after a mistake
	Message string // catalog key of the error, if any
}

type transferView struct {
	Sender       string // empty until the visitor may see the files
	Level        string
	ExpiresDate  string
	ExpiresFull  string
	ExpiresISO   string
	SignInNeeded bool
	Files        []fileView
	// E2E is the level-3/4 part, for a signed-in recipient; Files is then
	// empty and E2E lists them.
	E2E *e2eView
	// ReplyURL leads to the secure reply page, when uploads are on.
	ReplyURL string
}

type fileView struct {
	ID    string
	Name  string
	Size  string // for people, e.g. "1,2 MB"
	Bytes string // exact, for the page's progress bar
	Type  string // the media type a download is saved as
	URL   string
}

type errorView struct {
	Title, Text string
	// Sender names who sent the transfer, where the visitor may know it
	// (a recipient past the transfer's gate), so they know whom to ask.
	Sender string
}

type signInView struct {
	CSRF    string
	Next    string // where to go once signed in (see safeNext)
	Email   string // as typed, shown again after a mistake
	Message string // catalog key of the error, if any
}

type codeView struct {
	CSRF    string
	Next    string
	Email   string // the address the code went to, normalised
	Sent    bool   // a code was just sent (rather than a wrong one typed)
	Message string // catalog key of the error, if any
}

// newView prepares the page frame: language (which may set the lang
// cookie), nonce, branding and the language switch.
func (s *Server) newView(w http.ResponseWriter, r *http.Request) *view {
	v := &view{
		Lang:    s.pickLang(w, r),
		Nonce:   nonceFrom(r.Context()),
		Brand:   s.cfg.BrandingName,
		Logo:    s.logo != nil,
		Theme:   s.theme,
		Dev:     s.cfg.Dev,
		Imprint: s.cfg.ImprintURL,
		Privacy: s.cfg.PrivacyURL,
		cat:     s.text,
	}
	// A failed look-up only costs the header line; the page itself asks
	// again where it matters.
	if email, err := s.signedIn(r); err == nil && email != "" {
		v.Visitor = email
		v.SignOut.CSRF = s.csrf.token(w, r)
		v.SignOut.Next = safeNext(r.URL.Path)
	}
	// With two languages the switch offers the other one; with more, the
	// first that is not the current one (a language menu comes with full
	// i18n).
	for _, l := range s.text.Languages() {
		if l != v.Lang {
			v.Switch.Lang = l
			v.Switch.Name = s.text.T(l, "language.name")
			v.Switch.URL = switchURL(r, l)
			break
		}
	}
	return v
}

// render executes a page into a buffer first, so a template failure becomes
// a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	var buf bytes.Buffer
	if err := s.pages.tmpl[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error("rendering page", "page", name, "err", err)
		// The page failed; its frame is all that can still be said.
		http.Error(w, v.T("page.error.internal.title"), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	// Set here for every page, so that an error page shown in place of a
	// download (whose CSP forbids even the stylesheet) looks like a page.
	switch {
	case v.Scripts != nil:
		h.Set("Content-Security-Policy", e2eCSP)
	case v.Upload != nil && v.Upload.Script != "":
		h.Set("Content-Security-Policy", uploadCSP(v.Nonce))
	default:
		h.Set("Content-Security-Policy", pageCSP(v.Nonce))
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Content-Language", v.Lang)
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}
