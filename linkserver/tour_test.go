package linkserver

import (
	"bytes"
	"context"
	"errors"
	"html"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sealgate/vault"
)

// The tour visits every page and state a visitor can reach, in one
// language, on a server with full branding, so that tests can hold each
// page to what every page promises (TestEveryPage…).

// tourStop is one page of the tour.
type tourStop struct {
	name    string
	status  int
	header  http.Header
	body    string
	scripts bool // the level-3/4 page for its recipient, which runs scripts
}

// failToken is a well-formed token for which tourVault fails like a
// broken disk.
var failToken = strings.Repeat("F", 43)

// tourVault fails the look-up of failToken, for the internal-error page.
type tourVault struct{ Vault }

func (v tourVault) TransferByToken(ctx context.Context, token string) (vault.Transfer, error) {
	if token == failToken {
		return vault.Transfer{}, errors.New("reading the transfer: input/output error")
	}
	return v.Vault.TransferByToken(ctx, token)
}

// tourBrand is the branding of the tour's server.
var tourBrand = struct{ name, imprint, privacy, color string }{
	"Landratsamt Beispielkreis", "https://beispielkreis.example/impressum",
	"https://beispielkreis.example/datenschutz", "#5a2d82",
}

// tourEnv starts a branded server with transfers at every level.
type tourEnv struct {
	*env
	l1, l2, l3, revoked stored
}

func newTourEnv(t *testing.T) *tourEnv {
	t.Helper()
	e := newEnv(t)
	var logo bytes.Buffer
	if err := png.Encode(&logo, image.NewGray(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	logoFile := filepath.Join(t.TempDir(), "wappen.png")
	if err := os.WriteFile(logoFile, logo.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	e.startWith(tourVault{e.v}, func(c *Config) {
		c.BrandingName, c.LogoFile = tourBrand.name, logoFile
		c.ImprintURL, c.PrivacyURL, c.PrimaryColor = tourBrand.imprint, tourBrand.privacy, tourBrand.color
	}, WithNotifier(e.notes))
	te := &tourEnv{env: e}
	pdf := testFile{name: "Bescheid.pdf", contentType: "application/pdf", size: 1_234_567, seed: 9}
	te.l1, te.l2, te.l3 = e.add(1, pdf), e.add(2, pdf), e.add(3, pdf)
	te.revoked = e.add(1, pdf)
	if err := e.v.Revoke(t.Context(), te.revoked.id); err != nil {
		t.Fatal(err)
	}
	return te
}

// tour visits every page in lang (by Accept-Language, as a first visit
// would) and returns them in order.
func (te *tourEnv) tour(t *testing.T, lang string) []tourStop {
	t.Helper()
	te.clock.advance(time.Hour) // refills every limit the last tour used
	var stops []tourStop
	visit := func(name string, c *http.Client, method, path string, form url.Values) {
		t.Helper()
		var resp *http.Response
		var body []byte
		if method == http.MethodPost {
			resp, body = te.postForm(c, path, form, "Accept-Language", lang)
		} else {
			resp, body = te.do(c, method, path, nil, "Accept-Language", lang)
		}
		stops = append(stops, tourStop{name: name, status: resp.StatusCode, header: resp.Header, body: string(body)})
	}
	anon := te.client()
	l2page := transferPath(te.l2.token)
	visit("home", anon, "GET", "/", nil)
	visit("home, wrong access code", anon, "POST", "/", url.Values{"code": {"ABCD-EFGH-JKMN-PQRS"}})
	visit("transfer level 1", anon, "GET", transferPath(te.l1.token), nil)
	visit("transfer level 2, sign-in", anon, "GET", l2page, nil)
	visit("sign-in", anon, "GET", "/login?next="+l2page, nil)
	visit("sign-in, bad address", anon, "POST", "/login", url.Values{"email": {"nobody"}, "next": {l2page}})
	visit("code entry", anon, "POST", "/login", url.Values{"email": {citizen}, "next": {l2page}})
	visit("code entry, wrong code", anon, "POST", "/login/verify", url.Values{"email": {citizen}, "code": {"1"}, "next": {l2page}})
	visit("code entry, switched", anon, "POST", "/login/code", url.Values{"email": {citizen}, "next": {l2page}, "sent": {"1"}})
	visit("status, sign-in", anon, "GET", statusPath(te.l1.sender), nil)
	visit("key, sign-in", anon, "GET", "/key", nil)
	visit("error: not found", anon, "GET", "/t/"+strings.Repeat("N", 43), nil)
	visit("error: withdrawn", anon, "GET", transferPath(te.revoked.token), nil)
	visit("error: sign-in needed", anon, "GET", fileURL(te.l2.token, te.l2.files[0].ID), nil)
	visit("error: form expired", anon, "POST", "/", url.Values{"csrf": {"forged"}})
	visit("error: internal", anon, "GET", "/t/"+failToken, nil)

	citizenBrowser := te.client()
	te.signIn(citizenBrowser, citizen, l2page)
	visit("transfer level 2, files", citizenBrowser, "GET", l2page, nil)
	visit("transfer level 3", citizenBrowser, "GET", transferPath(te.l3.token), nil)
	stops[len(stops)-1].scripts = true
	visit("key", citizenBrowser, "GET", "/key?next="+transferPath(te.l3.token), nil)
	visit("error: key needed", citizenBrowser, "GET", fileURL(te.l3.token, te.l3.files[0].ID), nil)

	clerkBrowser := te.client()
	te.signIn(clerkBrowser, clerk, statusPath(te.l1.sender))
	visit("status", clerkBrowser, "GET", statusPath(te.l1.sender), nil)
	visit("status, withdrawal not confirmed", clerkBrowser, "POST", statusPath(te.l1.sender)+"/revoke", url.Values{})

	for range 20 { // wrong tokens until the guessing limit answers
		visit("error: too many attempts", anon, "GET", "/t/"+strings.Repeat("G", 43), nil)
		if stops[len(stops)-1].status == http.StatusTooManyRequests {
			break
		}
		stops = stops[:len(stops)-1]
	}
	return stops
}

var (
	fmtErrorRE = regexp.MustCompile(`%!|%\[?\d*\]?[sdv]`)
	htmlLangRE = regexp.MustCompile(`<html lang="([^"]+)">`)
	styleRE    = regexp.MustCompile(`<style nonce="([^"]+)">([^<]*)</style>`)
)

// TestEveryPage holds every page of the tour, in both languages, to what
// each page promises: its language in <html lang> and Content-Language,
// a switch to the other language, every text translated and formatted,
// the organisation's name, logo, colour, imprint and privacy links, and
// no script below level 3.
func TestEveryPage(t *testing.T) {
	t.Parallel()
	te := newTourEnv(t)
	wantStatus := map[string]int{
		"error: not found": 404, "error: withdrawn": 410, "error: sign-in needed": 403,
		"error: form expired": 403, "error: internal": 500, "error: too many attempts": 429,
		"error: key needed": 409, "home, wrong access code": 404, "sign-in, bad address": 400,
		"code entry, wrong code": 400, "status, withdrawal not confirmed": 400,
	}
	for _, lang := range []string{"de", "en"} {
		other := map[string]string{"de": "en", "en": "de"}[lang]
		stops := te.tour(t, lang)
		if len(stops) != 23 {
			t.Fatalf("%s: the tour saw %d pages, want 23", lang, len(stops))
		}
		for _, p := range stops {
			name := lang + " " + p.name
			if want := wantStatus[p.name]; want != 0 && p.status != want || want == 0 && p.status != 200 {
				t.Errorf("%s: status %d", name, p.status)
			}
			if m := htmlLangRE.FindStringSubmatch(p.body); m == nil || m[1] != lang || p.header.Get("Content-Language") != lang {
				t.Errorf("%s: <html lang> %v, Content-Language %q", name, m, p.header.Get("Content-Language"))
			}
			if !strings.Contains(p.body, `<a class="lang" href="`) && !strings.Contains(p.body, `<form class="lang" method="post"`) ||
				!strings.Contains(p.body, `lang="`+other+`">`+map[string]string{"de": "Deutsch", "en": "English"}[other]+`</`) {
				t.Errorf("%s: no switch to %s", name, other)
			}
			if k := untranslatedRE.FindString(strings.ReplaceAll(p.body, pagePath, "")); k != "" {
				t.Errorf("%s: shows the key %s", name, k)
			}
			if f := fmtErrorRE.FindString(p.body); f != "" {
				t.Errorf("%s: a text was formatted with the wrong arguments: %q", name, f)
			}
			for _, want := range []string{
				"<span>" + tourBrand.name + "</span>", `<img src="/static/logo" alt=""`,
				`<a href="` + tourBrand.imprint + `">`, `<a href="` + tourBrand.privacy + `">`,
			} {
				if !strings.Contains(p.body, want) {
					t.Errorf("%s: lacks %q", name, want)
				}
			}
			csp := p.header.Get("Content-Security-Policy")
			m := styleRE.FindStringSubmatch(p.body)
			if m == nil || !strings.Contains(m[2], "--accent: "+tourBrand.color+";") {
				t.Errorf("%s: no style with the primary colour", name)
			} else if !p.scripts && !strings.Contains(csp, "'nonce-"+html.UnescapeString(m[1])+"'") {
				t.Errorf("%s: the style's nonce is not the CSP's (%q)", name, csp)
			}
			if hasScript := strings.Contains(p.body, "<script"); hasScript != p.scripts {
				t.Errorf("%s: <script> in the page: %v", name, hasScript)
			}
			if !p.scripts && (strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe")) {
				t.Errorf("%s: CSP %q allows more than the page needs", name, csp)
			}
		}
	}
}

// TestErrorPagesSayWhatNext: every error page says what happened (its
// heading) and what to do next (a sentence and a way home); where the
// visitor may know the sender, the page names them.
func TestErrorPagesSayWhatNext(t *testing.T) {
	t.Parallel()
	te := newTourEnv(t)
	next := map[string]*regexp.Regexp{
		"de": regexp.MustCompile(`Bitte|Prüfen Sie|Öffnen Sie|wenden Sie sich`),
		"en": regexp.MustCompile(`Please|Check|Open|contact`),
	}
	for _, lang := range []string{"de", "en"} {
		for _, p := range te.tour(t, lang) {
			if !strings.HasPrefix(p.name, "error: ") {
				continue
			}
			name := lang + " " + p.name
			main := p.body[strings.Index(p.body, "<main"):strings.Index(p.body, "</main>")]
			if !strings.Contains(main, "<h1>") || !next[lang].MatchString(main) || !strings.Contains(main, `<a class="button" href="/">`) {
				t.Errorf("%s: does not say what happened and what to do next:\n%s", name, main)
			}
			namesSender := strings.Contains(main, clerk)
			if want := p.name == "error: key needed"; namesSender != want {
				t.Errorf("%s: names the sender: %v, want %v", name, namesSender, want)
			}
		}
	}
}

// TestDatesAndSizesFollowLanguage: sizes, dates and times on the pages are
// formatted for the page's language.
func TestDatesAndSizesFollowLanguage(t *testing.T) {
	t.Parallel()
	te := newTourEnv(t)
	want := map[string][]*regexp.Regexp{
		"de": {regexp.MustCompile(`1,2 MB`), regexp.MustCompile(`09\.05\.2026, \d\d:\d\d Uhr`)},
		"en": {regexp.MustCompile(`1\.2 MB`), regexp.MustCompile(`9 May 2026, \d\d:\d\d<`)},
	}
	wrong := map[string]*regexp.Regexp{
		"de": regexp.MustCompile(`1\.2 MB|May 2026`),
		"en": regexp.MustCompile(`1,2 MB|\d\d\.\d\d\.2026|Uhr`),
	}
	for lang, res := range want {
		stops := te.tour(t, lang)
		for _, p := range stops {
			if p.name != "transfer level 1" && p.name != "status" && p.name != "transfer level 2, files" {
				continue
			}
			for _, re := range res {
				if !re.MatchString(p.body) {
					t.Errorf("%s %s: lacks %s", lang, p.name, re)
				}
			}
			if m := wrong[lang].FindString(p.body); m != "" {
				t.Errorf("%s %s: shows %q, formatted for the other language", lang, p.name, m)
			}
		}
	}
}
