package linkserver

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// minTextContrast is WCAG 2.1 AA's contrast for normal text (1.4.3): the
// primary colour carries white text in the header and on buttons.
const minTextContrast = 4.5

// rgb is a colour of branding.primary_color.
type rgb struct{ r, g, b uint8 }

var (
	white = rgb{0xff, 0xff, 0xff}
	// focusYellow is the stylesheet's focus ring on the header; it needs
	// 3:1 against the header (WCAG 1.4.11).
	focusYellow = rgb{0xf2, 0xb6, 0x00}
)

// parseHexColor reads "#rrggbb" or "#rgb" (CSS hex notation, any case).
func parseHexColor(s string) (rgb, bool) {
	h, ok := strings.CutPrefix(s, "#")
	if !ok {
		return rgb{}, false
	}
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if len(h) != 6 {
		return rgb{}, false
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return rgb{}, false
	}
	return rgb{uint8(v >> 16), uint8(v >> 8), uint8(v)}, true
}

// luminance is the relative luminance of WCAG 2.1.
func (c rgb) luminance() float64 {
	lin := func(v uint8) float64 {
		x := float64(v) / 255
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.r) + 0.7152*lin(c.g) + 0.0722*lin(c.b)
}

// contrast is the WCAG contrast ratio of two colours, 1 to 21.
func contrast(a, b rgb) float64 {
	la, lb := a.luminance(), b.luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func (c rgb) css() template.CSS {
	return template.CSS(fmt.Sprintf("#%02x%02x%02x", c.r, c.g, c.b))
}

// checkPrimaryColor explains why branding.primary_color cannot be used, or
// returns nil.
func checkPrimaryColor(s string) error {
	c, ok := parseHexColor(s)
	if !ok {
		return fmt.Errorf("branding.primary_color: %q is not a colour in hex notation such as #0b4f8a", s)
	}
	if r := contrast(c, white); r < minTextContrast {
		// Truncated, so that a colour just below the bound never reads
		// as "4.50:1".
		return fmt.Errorf("branding.primary_color: %s gives the white text of the header and buttons a contrast of %.2f:1, "+
			"below the 4.5:1 that WCAG 2.1 AA asks for; choose a darker colour", s, math.Floor(r*100)/100)
	}
	return nil
}

// theme is the organisation's colour, set on every page as CSS custom
// properties in a style element carrying the CSP nonce (the CSP allows no
// style attributes). Nil leaves the stylesheet's calm blue.
type theme struct {
	Accent template.CSS // header, buttons, links
	Hover  template.CSS // buttons under the pointer: a quarter darker
	Focus  template.CSS // focus ring on the header
}

// newTheme returns the theme of a validated primary colour; "" gives nil.
func newTheme(primary string) *theme {
	c, ok := parseHexColor(primary)
	if !ok {
		return nil
	}
	dark := rgb{uint8(float64(c.r) * .75), uint8(float64(c.g) * .75), uint8(float64(c.b) * .75)}
	focus := focusYellow
	if contrast(focus, c) < 3 {
		focus = white // at least 4.5:1 against the header by validation
	}
	return &theme{Accent: c.css(), Hover: dark.css(), Focus: focus.css()}
}
