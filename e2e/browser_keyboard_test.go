package e2e

import (
	"fmt"
	"strings"
	"testing"

	"sealgate/internal/browsertest"
)

// focusablesJS lists the elements a keyboard user must be able to reach, in
// document order, described as browsertest.Focus describes them.
const focusablesJS = `[...document.querySelectorAll(
  'a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select, textarea, [tabindex]:not([tabindex="-1"])')]
  .filter(e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden")
  .map(e => ({tag: e.tagName.toLowerCase(), id: e.id || "", name: e.getAttribute("name") || "", href: e.getAttribute("href") || ""}))`

// key identifies an element in a focus order.
func key(f browsertest.Focus) string {
	return fmt.Sprintf("%s#%s[name=%s][href=%s]", f.Tag, f.ID, f.Name, f.Href)
}

// testKeyboard proves keyboard-only use: Tab reaches every control in
// document order with a visible focus, the skip link works, and the access
// code form can be used without a mouse.
func testKeyboard(t *testing.T, b *browsertest.Browser, s *browserSite) {
	for _, p := range []struct{ name, url string }{
		{"transfer-l1", s.L1},
		{"transfer-l2-signin", s.L2},
		{"home", s.WebURL + "/"},
		{"signin", s.WebURL + "/login"},
	} {
		for _, vp := range viewports {
			t.Run(fmt.Sprintf("tab order/%s/%d", p.name, vp.w), func(t *testing.T) {
				t.Parallel()
				tab := b.Tab(t, vp.w, vp.h, "de")
				tab.Navigate(t, p.url)
				var want []browsertest.Focus
				tab.Eval(t, focusablesJS, &want)
				got := tab.TabThrough(t, len(want)+5)
				if keys(got) != keys(want) {
					t.Errorf("Tab order:\n got  %s\n want %s", keys(got), keys(want))
				}
				if len(got) == 0 || got[0].Href != "#main" {
					t.Fatalf("the first Tab stop is not the skip link: %v", got)
				}
			})
		}
	}

	t.Run("skip link moves the focus to the content", func(t *testing.T) {
		t.Parallel()
		tab := b.Tab(t, 1280, 900, "en")
		tab.Navigate(t, s.L1)
		tab.Press(t, "\t")
		if f := tab.Focused(t); f.Href != "#main" || !f.Visible || !f.InViewport {
			t.Fatalf("first Tab: %+v, want the visible skip link", f)
		}
		tab.Press(t, "\r")
		if f := tab.Focused(t); f.ID != "main" {
			t.Fatalf("after Enter on the skip link the focus is on %s, want main", f)
		}
		tab.Press(t, "\t")
		if f := tab.Focused(t); f.Tag != "a" || !strings.Contains(f.Href, "/f/") {
			t.Errorf("the next Tab after the skip lands on %s, want the first download button", f)
		}
	})

	t.Run("access code without a mouse", func(t *testing.T) {
		t.Parallel()
		tab := b.Tab(t, 360, 800, "de")
		tab.Navigate(t, s.WebURL+"/")
		for range 10 {
			tab.Press(t, "\t")
			if tab.Focused(t).ID == "code" {
				break
			}
		}
		if f := tab.Focused(t); f.ID != "code" {
			t.Fatalf("Tab never reached the code field; focus on %s", f)
		}
		tab.Press(t, strings.ToLower(s.L1Code))
		if st := tab.PressAndWait(t, "\r"); st != 200 {
			t.Fatalf("Enter in the code field: status %d", st)
		}
		if loc := tab.Location(t); loc != s.L1 {
			t.Errorf("the code led to %s, want %s", loc, s.L1)
		}
	})
}

func keys(fs []browsertest.Focus) string {
	var ks []string
	for _, f := range fs {
		ks = append(ks, key(f))
	}
	return strings.Join(ks, " ")
}
