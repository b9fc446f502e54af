package linkserver

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	switchLinkRE  = regexp.MustCompile(`<a class="lang" href="([^"]+)" lang="([a-z]+)"`)
	switchFormRE  = regexp.MustCompile(`(?s)<form class="lang" method="post" action="([^"]+)">(.*?)</form>`)
	hiddenFieldRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// followSwitch finds the language switch in a page and uses it as a
// browser would: follows the link, or submits the form.
func (e *env) followSwitch(c *http.Client, page []byte) (*http.Response, []byte) {
	e.t.Helper()
	if m := switchFormRE.FindSubmatch(page); m != nil {
		form := url.Values{}
		for _, f := range hiddenFieldRE.FindAllSubmatch(m[2], -1) {
			form.Set(html.UnescapeString(string(f[1])), html.UnescapeString(string(f[2])))
		}
		return e.postForm(c, html.UnescapeString(string(m[1])), form)
	}
	m := switchLinkRE.FindSubmatch(page)
	if m == nil {
		e.t.Fatalf("no language switch in the page")
	}
	return e.do(c, http.MethodGet, html.UnescapeString(string(m[1])), nil)
}

// TestLanguageSwitchKeepsPageAndState follows the switch from every kind of
// page: it leads to the same page in the other language, with what the
// visitor was doing (where the sign-in leads, the code on its way, the
// mistake just made), remembers the choice, and never sends a code.
func TestLanguageSwitchKeepsPageAndState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(2, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("a")})
	page := transferPath(st.token)
	de := []string{"Accept-Language", "de"}

	type check struct {
		name   string
		start  func(c *http.Client) (*http.Response, []byte)
		status int      // after the switch
		want   []string // in the English page
	}
	checks := []check{
		{"transfer page", func(c *http.Client) (*http.Response, []byte) { return e.do(c, "GET", page, nil, de...) },
			200, []string{"Sign-in required", `name="next" value="` + page + `"`}},
		{"sign-in page", func(c *http.Client) (*http.Response, []byte) { return e.do(c, "GET", "/login?next="+page, nil, de...) },
			200, []string{"Sign in with the e-mail address", `name="next" value="` + page + `"`}},
		{"sign-in, bad address", func(c *http.Client) (*http.Response, []byte) {
			return e.postForm(c, "/login", url.Values{"email": {"nobody"}, "next": {page}}, de...)
		}, 200, []string{`name="next" value="` + page + `"`, `name="email"`}},
		{"code page", func(c *http.Client) (*http.Response, []byte) {
			return e.postForm(c, "/login", url.Values{"email": {citizen}, "next": {page}}, de...)
		}, 200, []string{"We have sent an e-mail with an 8-digit code to " + citizen, `name="email" value="` + citizen + `"`,
			`name="next" value="` + page + `"`, `action="/login/verify"`}},
		{"code page, wrong code", func(c *http.Client) (*http.Response, []byte) {
			e.postForm(c, "/login", url.Values{"email": {alice}, "next": {page}}, de...)
			return e.postForm(c, "/login/verify", url.Values{"email": {alice}, "code": {"1"}, "next": {page}}, de...)
		}, 200, []string{"This code is not right", `name="email" value="` + alice + `"`, `name="next" value="` + page + `"`}},
		{"home, wrong access code", func(c *http.Client) (*http.Response, []byte) {
			return e.postForm(c, "/", url.Values{"code": {"ABCD-EFGH-JKMN-PQRS"}}, de...)
		}, 200, []string{"Retrieve documents", `name="code"`}},
		{"error page", func(c *http.Client) (*http.Response, []byte) {
			return e.do(c, "GET", "/t/"+strings.Repeat("N", 43), nil, de...)
		}, 404, []string{"This link is not valid or has expired"}},
		{"refused cross-origin form", func(c *http.Client) (*http.Response, []byte) {
			return e.postForm(c, "/login/verify", url.Values{"email": {alice}, "next": {page}}, append(de, "Sec-Fetch-Site", "cross-site")...)
		}, 200, []string{"Sign in with the e-mail address"}},
		{"status page, withdrawal not confirmed", func(c *http.Client) (*http.Response, []byte) {
			e.signIn(c, clerk, statusPath(st.sender))
			return e.postForm(c, statusPath(st.sender)+"/revoke", url.Values{}, de...)
		}, 200, []string{"Status of your transfer", "Withdraw this transfer"}},
		{"key page", func(c *http.Client) (*http.Response, []byte) {
			e.signIn(c, citizen, page)
			return e.do(c, "GET", "/key?saved=1&next="+page, nil, de...)
		}, 200, []string{"Your key was saved.", `name="next" value="` + page + `"`}},
	}
	for _, ck := range checks {
		c := e.client()
		_, before := ck.start(c)
		if !strings.Contains(string(before), `<html lang="de">`) {
			t.Fatalf("%s: not German to start with", ck.name)
		}
		codes := e.notes.count()
		resp, body := e.followSwitch(c, before)
		if resp.StatusCode != ck.status || !strings.Contains(string(body), `<html lang="en">`) {
			t.Errorf("%s: the switch led to %s, lang %q", ck.name, resp.Status, htmlLangRE.FindSubmatch(body))
			continue
		}
		for _, want := range ck.want {
			if !strings.Contains(string(body), want) {
				t.Errorf("%s: after the switch the page lacks %q", ck.name, want)
			}
		}
		if e.notes.count() != codes {
			t.Errorf("%s: the switch sent mail", ck.name)
		}
		// Remembered, whatever the browser says it prefers; and the way back.
		if _, home := e.do(c, "GET", "/", nil, de...); !strings.Contains(string(home), `<html lang="en">`) {
			t.Errorf("%s: the choice was not remembered", ck.name)
		}
		if _, back := e.followSwitch(c, body); !strings.Contains(string(back), `<html lang="de">`) {
			t.Errorf("%s: no way back to German", ck.name)
		}
		e.clock.advance(time.Hour) // refills the limits for the next check
	}
}

// TestLanguageSwitchLinkKeepsQuery: the switch keeps the page's query and
// replaces only lang.
func TestLanguageSwitchLinkKeepsQuery(t *testing.T) {
	t.Parallel()
	r, _ := http.NewRequest(http.MethodGet, "/key?next=%2Ft%2Fabc&saved=1&lang=de", nil)
	if got, want := switchURL(r, "en"), "/key?lang=en&next=%2Ft%2Fabc&saved=1"; got != want {
		t.Errorf("switchURL = %q, want %q", got, want)
	}
}
