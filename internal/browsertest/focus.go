package browsertest

import (
	"fmt"
	"testing"
)

// Focus describes the element that has the keyboard focus.
type Focus struct {
	// Tag is the lower-case element name ("body" when nothing is focused).
	Tag  string `json:"tag"`
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	Href string `json:"href"`
	// Text is the element's visible text or value, shortened.
	Text string `json:"text"`
	// Visible is true when the element matches :focus-visible and draws an
	// indicator: a non-zero outline or a box shadow.
	Visible bool `json:"visible"`
	// InViewport is true when the element lies at least partly inside the
	// viewport, so the indicator can be seen.
	InViewport bool `json:"inViewport"`
}

// String is a short description for test messages, e.g. `input#code` or
// `a[href="/"] "Startseite"`.
func (f Focus) String() string {
	s := f.Tag
	if f.ID != "" {
		s += "#" + f.ID
	}
	if f.Name != "" {
		s += fmt.Sprintf("[name=%q]", f.Name)
	}
	if f.Href != "" {
		s += fmt.Sprintf("[href=%q]", f.Href)
	}
	if f.Text != "" {
		s += fmt.Sprintf(" %q", f.Text)
	}
	return s
}

const focusJS = `(() => {
  const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return {tag: "body"};
  const s = getComputedStyle(e);
  const r = e.getBoundingClientRect();
  const drawn = (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none";
  return {
    tag: e.tagName.toLowerCase(), id: e.id || "", name: e.getAttribute("name") || "",
    type: e.getAttribute("type") || "", href: e.getAttribute("href") || "",
    text: ((e.innerText || e.value || "") + "").trim().replace(/\s+/g, " ").slice(0, 60),
    visible: e.matches(":focus-visible") && drawn,
    inViewport: r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth,
  };
})()`

// Focused returns the element that has the keyboard focus now.
func (tab *Tab) Focused(t testing.TB) Focus {
	t.Helper()
	var f Focus
	tab.Eval(t, focusJS, &f)
	return f
}

// TabThrough presses Tab until the focus leaves the page or comes back to
// the first focused element, at most max times, and returns the elements
// focused in order. Each one must show a visible focus indicator inside the
// viewport, or t fails.
func (tab *Tab) TabThrough(t testing.TB, max int) []Focus {
	t.Helper()
	var seq []Focus
	for range max {
		tab.Press(t, "\t")
		f := tab.Focused(t)
		if f.Tag == "body" || len(seq) > 0 && f == seq[0] {
			break
		}
		if !f.Visible {
			t.Errorf("keyboard focus on %s is not visible (no outline or shadow under :focus-visible)", f)
		}
		if !f.InViewport {
			t.Errorf("keyboard focus on %s is outside the viewport", f)
		}
		seq = append(seq, f)
	}
	return seq
}
