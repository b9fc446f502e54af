package catalog

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// sizeUnits are decimal (SI) units, as file managers on macOS and most web
// pages show them: 1 kB = 1000 bytes.
var sizeUnits = [...]string{"kB", "MB", "GB", "TB", "PB", "EB"}

// Size formats a byte count for lang: "1,5 MB" in German, "1.5 MB" in
// English; one decimal below 10 units (dropped when it is 0), none above;
// below 1000 the exact count ("512 Byte", "512 bytes").
func (c *Catalog) Size(lang string, n int64) string {
	if n < 1000 {
		if n == 1 {
			return c.T(lang, "size.byte", n)
		}
		return c.T(lang, "size.bytes", n)
	}
	v, unit := float64(n)/1000, 0
	// Move up while the rounded figure would read 1000 or more.
	for math.Round(v) >= 1000 && unit < len(sizeUnits)-1 {
		v /= 1000
		unit++
	}
	s := strings.Replace(roundSize(v), ".", c.T(lang, "format.decimal_separator"), 1)
	return s + " " + sizeUnits[unit]
}

// roundSize renders v with one decimal below 10 and none above, without a
// trailing ".0".
func roundSize(v float64) string {
	if r := math.Round(v*10) / 10; r < 10 {
		s := strconv.FormatFloat(r, 'f', 1, 64)
		return strings.TrimSuffix(s, ".0")
	}
	return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
}

// Date formats the calendar date of t for lang ("26.11.2026",
// "26 Nov 2026"), in t's own location: callers pass the time in the zone
// their readers live in.
func (c *Catalog) Date(lang string, t time.Time) string {
	return t.Format(c.T(lang, "format.date"))
}

// DateTime formats date and time of day for lang ("26.11.2026, 14:05 Uhr",
// "26 Nov 2026, 14:05"), in t's own location.
func (c *Catalog) DateTime(lang string, t time.Time) string {
	return t.Format(c.T(lang, "format.datetime"))
}
