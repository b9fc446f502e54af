package linkserver

import (
	"math"
	"strings"
	"testing"
)

// TestContrast checks the WCAG formula against known pairs.
func TestContrast(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b string
		want float64
	}{
		{"#000000", "#ffffff", 21},
		{"#ffffff", "#ffffff", 1},
		{"#767676", "#ffffff", 4.54}, // the lightest grey that passes AA on white
		{"#777777", "#ffffff", 4.48},
		{"#0b4f8a", "#ffffff", 8.40}, // the default header
	} {
		a, _ := parseHexColor(c.a)
		b, _ := parseHexColor(c.b)
		if got := contrast(a, b); math.Abs(got-c.want) > 0.01 {
			t.Errorf("contrast(%s, %s) = %.3f, want %.2f", c.a, c.b, got, c.want)
		}
	}
}

// TestPrimaryColorValidation: Validate names branding.primary_color and
// says why a colour cannot carry the white text of headers and buttons.
func TestPrimaryColorValidation(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		color string
		want  string // in the error; "" when valid
	}{
		{"", ""},
		{"#0b4f8a", ""},
		{"#0B4F8A", ""},
		{"#036", ""},
		{"#767676", ""},
		{"#777777", "contrast of 4.47:1"},
		{"#f2b600", "below the 4.5:1 that WCAG 2.1 AA asks for; choose a darker colour"},
		{"#ffffff", "contrast of 1.00:1"},
		{"0b4f8a", "not a colour in hex notation"},
		{"#0b4f8", "not a colour in hex notation"},
		{"#0b4f8g", "not a colour in hex notation"},
		{"navy", "not a colour in hex notation"},
		{"#0b4f8a;}body{display:none", "not a colour in hex notation"},
	} {
		errs := Config{PublicURL: "https://x.example", PrimaryColor: c.color}.Validate()
		switch {
		case c.want == "" && len(errs) > 0:
			t.Errorf("%q: %v", c.color, errs)
		case c.want != "" && (len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "branding.primary_color: ") || !strings.Contains(errs[0].Error(), c.want)):
			t.Errorf("%q: %v, want one error about branding.primary_color with %q", c.color, errs, c.want)
		}
	}
}

// TestTheme: the colours a valid primary colour gives the pages, each as
// readable as the stylesheet's own: the hover shade darker still, the
// header's focus ring at 3:1 against it.
func TestTheme(t *testing.T) {
	t.Parallel()
	if newTheme("") != nil {
		t.Error("a theme without a colour")
	}
	for _, color := range []string{"#0b4f8a", "#767676", "#000", "#8a1c0b", "#5a2d82", "#00703c"} {
		th := newTheme(color)
		c, _ := parseHexColor(color)
		if string(th.Accent) != "#"+strings.TrimPrefix(string(c.css()), "#") {
			t.Errorf("%s: accent %s", color, th.Accent)
		}
		hover, _ := parseHexColor(string(th.Hover))
		focus, _ := parseHexColor(string(th.Focus))
		if contrast(hover, white) < contrast(c, white) {
			t.Errorf("%s: hover %s is lighter", color, th.Hover)
		}
		if contrast(focus, c) < 3 {
			t.Errorf("%s: focus ring %s has %.2f:1 against the header", color, th.Focus, contrast(focus, c))
		}
	}
}
