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
	// Contrast is the contrast ratio between the outline's colour and what
	// lies behind it (the background next to the element): WCAG 1.4.11
	// asks 3:1 of a focus indicator. 0 without an outline.
	Contrast float64 `json:"contrast"`
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
  const outlined = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0;
  const drawn = outlined || s.boxShadow !== "none";
  const rgb = c => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const lum = c => {
    const f = v => (v /= 255) <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  // What is painted next to the element: the element found just left of
  // (or above) it, that is not it, and its first opaque background.
  const backdrop = () => {
    const probes = [[r.left - 4, r.top + r.height / 2], [r.left + r.width / 2, r.top - 4], [r.right + 4, r.top + r.height / 2]];
    for (const [x, y] of probes) {
      for (const n0 of document.elementsFromPoint(x, y)) {
        if (n0 === e || e.contains(n0)) continue;
        for (let n = n0; n; n = n.parentElement) {
          const c = rgb(getComputedStyle(n).backgroundColor);
          if (c && c.a > 0) return c;
        }
      }
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  let contrast = 0;
  if (outlined) {
    const a = lum(rgb(s.outlineColor)), b = lum(backdrop());
    contrast = Math.round((Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) * 100) / 100;
  }
  return {
    tag: e.tagName.toLowerCase(), id: e.id || "", name: e.getAttribute("name") || "",
    type: e.getAttribute("type") || "", href: e.getAttribute("href") || "",
    text: ((e.innerText || e.value || "") + "").trim().replace(/\s+/g, " ").slice(0, 60),
    visible: e.matches(":focus-visible") && drawn,
    inViewport: r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth,
    contrast,
  };
})()`

// Focused returns the element that has the keyboard focus now.
func (tab *Tab) Focused(t testing.TB) Focus {
	t.Helper()
	var f Focus
	tab.Eval(t, focusJS, &f)
	return f
}

// minFocusContrast is WCAG 1.4.11's minimum for a focus indicator.
const minFocusContrast = 3

// TabThrough presses Tab until the focus leaves the page or comes back to
// the first focused element, at most max times, and returns the elements
// focused in order. Each one must show a visible focus indicator inside the
// viewport, an outline with 3:1 contrast against what surrounds it, or t
// fails.
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
		if f.Visible && f.Contrast < minFocusContrast {
			t.Errorf("keyboard focus on %s: outline contrast %.2f:1 against its surroundings, want at least %d:1", f, f.Contrast, minFocusContrast)
		}
		if !f.InViewport {
			t.Errorf("keyboard focus on %s is outside the viewport", f)
		}
		seq = append(seq, f)
	}
	return seq
}
