package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sealgate/internal/browsertest"
)

// screenshotsEnv names a directory that keeps the screenshots (see
// scripts/screenshots.sh); without it they go to a temporary directory.
const screenshotsEnv = "SEALGATE_SCREENSHOTS"

// Viewports: a small phone and a desktop.
var viewports = []struct{ w, h int }{{360, 800}, {1280, 900}}

var langs = []string{"de", "en"}

// TestBrowser checks sealgate's pages in a real browser: one sealgate, one
// Chromium, a tab per case.
func TestBrowser(t *testing.T) {
	b := browsertest.New(t)
	site := startBrowserSite(t)
	shots := os.Getenv(screenshotsEnv)
	if shots == "" {
		shots = t.TempDir()
	}
	// The groups run side by side; nothing one does changes what another
	// sees (each tab has its own cookies, sign-in codes go to distinct
	// addresses, withdrawal needs the checkbox). The server's per-client
	// rate limits all count these requests from 127.0.0.1: keep the sum
	// of wrong codes and unknown tokens under 10 and of sign-in mails
	// under 10 a minute (today 8 and 8).
	for _, g := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"pages", func(t *testing.T) { testPages(t, b, site, shots) }},
		{"signin", func(t *testing.T) { testSignIn(t, b, site, shots) }},
		{"sender", func(t *testing.T) { testSenderStatus(t, b, site, shots) }},
		{"language", func(t *testing.T) { testLanguageSwitch(t, b, site) }},
		{"keyboard", func(t *testing.T) { testKeyboard(t, b, site) }},
	} {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.run(t)
		})
	}
}

// pageCase is one page in one state.
type pageCase struct {
	name string
	// status is the HTTP status the page answers with.
	status int
	// open brings tab to the page and returns its status; variant tells
	// parallel cases apart (e.g. for distinct sign-in addresses).
	open func(t *testing.T, tab *browsertest.Tab, variant string) int
	// skip, when set, says why the state cannot be reached yet.
	skip string
}

func pageCases(s *browserSite) []pageCase {
	get := func(url string) func(*testing.T, *browsertest.Tab, string) int {
		return func(t *testing.T, tab *browsertest.Tab, _ string) int { return tab.Navigate(t, url) }
	}
	cases := []pageCase{
		{name: "home", status: 200, open: get(s.WebURL + "/")},
		{name: "home-wrong-code", status: 404, open: func(t *testing.T, tab *browsertest.Tab, _ string) int {
			tab.Navigate(t, s.WebURL+"/")
			tab.Fill(t, "#code", "ZZZZ-ZZZZ-ZZZZ-ZZZZ")
			st := tab.ClickAndWait(t, "main form button[type=submit]")
			if got := tab.Text(t, "#code-error"); got == "" {
				t.Error("wrong code: no message tied to the field")
			}
			return st
		}},
		{name: "transfer-l1", status: 200, open: func(t *testing.T, tab *browsertest.Tab, _ string) int {
			st := tab.Navigate(t, s.L1)
			tab.WaitVisible(t, "main a.button[download]")
			return st
		}},
		{name: "transfer-l2-signin", status: 200, open: func(t *testing.T, tab *browsertest.Tab, _ string) int {
			st := tab.Navigate(t, s.L2)
			tab.WaitVisible(t, "main input#email")
			return st
		}},
		{name: "signin", status: 200, open: get(s.WebURL + "/login")},
		{name: "signin-code", status: 200, open: func(t *testing.T, tab *browsertest.Tab, variant string) int {
			// A distinct address per case: codes to one address are
			// rate limited.
			tab.Navigate(t, s.WebURL+"/login")
			tab.Fill(t, "#email", "buerger."+variant+"@example.net")
			st := tab.ClickAndWait(t, "main form button[type=submit]")
			tab.WaitVisible(t, "main input#code")
			return st
		}},
		{name: "not-found", status: 404, open: get(s.WebURL + "/t/" + strings.Repeat("A", 43))},
		{name: "not-found-path", status: 404, open: get(s.WebURL + "/no/such/page")},
		{name: "withdrawn", status: 410, open: get(s.Revoked)},
		{name: "sender-status", status: 200, open: get(s.Status)},
		{name: "sender-status-withdrawn", status: 200, open: get(s.StatusRevoked)},
	}
	for i := range cases {
		if strings.Contains(cases[i].name, "withdrawn") && s.Revoked == "" {
			cases[i].skip = "sealgate has no `transfers revoke` yet: no withdrawn transfer to show"
		}
	}
	return cases
}

// testPages visits every page in both languages at both widths: axe-core
// finds nothing (WCAG 2.1 A and AA), no console error, no sideways
// scrolling on a phone, the branding is there, and a screenshot is saved.
func testPages(t *testing.T, b *browsertest.Browser, s *browserSite, shots string) {
	for _, c := range pageCases(s) {
		for _, lang := range langs {
			for _, vp := range viewports {
				name := fmt.Sprintf("%s/%s/%d", c.name, lang, vp.w)
				t.Run(name, func(t *testing.T) {
					if c.skip != "" {
						t.Skip(c.skip)
					}
					t.Parallel()
					tab := b.Tab(t, vp.w, vp.h, lang)
					st := c.open(t, tab, fmt.Sprintf("%s%d", lang, vp.w))
					if c.status != 0 && st != c.status {
						t.Errorf("HTTP status %d, want %d", st, c.status)
					}
					checkPage(t, tab, lang, vp.w)
					tab.Screenshot(t, filepath.Join(shots, fmt.Sprintf("%s-%s-%d.png", c.name, lang, vp.w)))
				})
			}
		}
	}
}

// checkPage runs the checks every page must pass.
func checkPage(t *testing.T, tab *browsertest.Tab, lang string, width int) {
	t.Helper()
	var page struct {
		Lang, Brand, Title string
		Imprint, Privacy   bool
		Logo               int
		Main               int
	}
	tab.Eval(t, fmt.Sprintf(`({
		lang: document.documentElement.lang,
		brand: (document.querySelector("header .brand") || {}).textContent || "",
		title: document.title,
		imprint: !!document.querySelector('footer a[href=%q]'),
		privacy: !!document.querySelector('footer a[href=%q]'),
		logo: (document.querySelector('header img[src="/static/logo"]') || {}).naturalWidth || 0,
		main: document.querySelectorAll("main").length,
	})`, imprintURL, privacyURL), &page)
	if page.Lang != lang {
		t.Errorf("<html lang=%q>, want %q", page.Lang, lang)
	}
	if !strings.Contains(page.Brand, brandName) || !strings.Contains(page.Title, brandName) {
		t.Errorf("branding.name missing: header %q, title %q", page.Brand, page.Title)
	}
	if !page.Imprint || !page.Privacy {
		t.Errorf("footer links: imprint %v, privacy %v", page.Imprint, page.Privacy)
	}
	if page.Logo == 0 {
		t.Error("the logo did not load")
	}
	if page.Main != 1 {
		t.Errorf("%d <main> elements, want 1", page.Main)
	}
	for _, v := range tab.Axe(t) {
		t.Errorf("axe: %s", v)
	}
	if width < 768 {
		if px := tab.Overflow(t); px > 0 {
			t.Errorf("the page scrolls sideways by %d px at %d px wide", px, width)
		}
		var small []string
		tab.Eval(t, smallTargetsJS, &small)
		for _, s := range small {
			t.Errorf("touch target smaller than 44×44 px: %s", s)
		}
	}
}

// smallTargetsJS lists the controls smaller than 44×44 CSS pixels. Exempt
// are links inside running text, the skip link (seen only when focused) and
// a checkbox or radio button whose label takes the tap as well.
const smallTargetsJS = `[...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea')]
  .filter(e => e.getClientRects().length > 0 && !e.classList.contains("skip"))
  .filter(e => !(e.parentElement.tagName === "P" && e.parentElement.textContent.trim() !== e.textContent.trim()))
  .filter(e => !(["checkbox", "radio"].includes(e.type) && e.labels && e.labels.length > 0))
  .map(e => [e, e.getBoundingClientRect()])
  .filter(([e, r]) => r.width < 44 || r.height < 44)
  .map(([e, r]) => e.outerHTML.slice(0, 80) + " " + Math.round(r.width) + "×" + Math.round(r.height))`
