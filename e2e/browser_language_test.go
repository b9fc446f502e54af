package e2e

import (
	"testing"

	"sealgate/internal/browsertest"
)

// testLanguageSwitch follows the visible language switch both ways and
// checks that the choice outlives Accept-Language on the next page.
func testLanguageSwitch(t *testing.T, b *browsertest.Browser, s *browserSite) {
	for _, c := range []struct{ from, to string }{{"de", "en"}, {"en", "de"}} {
		t.Run(c.from+" to "+c.to, func(t *testing.T) {
			t.Parallel()
			tab := b.Tab(t, 360, 800, c.from)
			tab.Navigate(t, s.L1)
			if got := htmlLang(t, tab); got != c.from {
				t.Fatalf("Accept-Language %s gave <html lang=%q>", c.from, got)
			}
			var link struct{ Lang, Hreflang string }
			tab.Eval(t, `(e => ({lang: e.lang, hreflang: e.hreflang}))(document.querySelector("header a.lang"))`, &link)
			if link.Lang != c.to || link.Hreflang != c.to {
				t.Errorf("switch link lang=%q hreflang=%q, want %q", link.Lang, link.Hreflang, c.to)
			}
			if st := tab.ClickAndWait(t, "header a.lang"); st != 200 {
				t.Fatalf("switch: status %d", st)
			}
			if got := htmlLang(t, tab); got != c.to {
				t.Errorf("after the switch <html lang=%q>, want %q", got, c.to)
			}
			// Remembered: the next page ignores Accept-Language.
			tab.Navigate(t, s.WebURL+"/")
			if got := htmlLang(t, tab); got != c.to {
				t.Errorf("the next page forgot the choice: <html lang=%q>, want %q", got, c.to)
			}
		})
	}
}

func htmlLang(t *testing.T, tab *browsertest.Tab) string {
	t.Helper()
	var lang string
	tab.Eval(t, `document.documentElement.lang`, &lang)
	return lang
}
