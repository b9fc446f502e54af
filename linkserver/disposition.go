package linkserver

import (
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"
)

// contentDisposition builds an RFC 6266 attachment header: an ASCII
// filename="..." for old clients, and filename*=UTF-8”... (RFC 8187) that
// current browsers prefer. Control characters (CR and LF included) are
// dropped first, so the header can never be split.
func contentDisposition(name string) string {
	name = cleanName(name)
	var ascii, ext strings.Builder
	for _, r := range name {
		switch {
		case r == '"' || r == '\\' || r == '%':
			// Quotes and backslashes end or escape the quoted string in
			// parsers that get quoted-pair wrong; a percent makes some
			// browsers decode the fallback as if it were encoded.
			ascii.WriteByte('_')
		case r < utf8.RuneSelf:
			ascii.WriteRune(r)
		default:
			ascii.WriteByte('_')
		}
	}
	for _, b := range []byte(name) {
		if isAttrChar(b) {
			ext.WriteByte(b)
		} else {
			ext.WriteByte('%')
			ext.WriteByte("0123456789ABCDEF"[b>>4])
			ext.WriteByte("0123456789ABCDEF"[b&15])
		}
	}
	return `attachment; filename="` + ascii.String() + `"; filename*=UTF-8''` + ext.String()
}

// cleanName removes control and bidirectional-formatting characters and
// path separators, and never returns an empty name. The vault sanitises
// names already; this is the last line before a header.
func cleanName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r):
			return -1
		case r == '/' || r == '\\':
			return '_'
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." {
		return "download"
	}
	return name
}

// isAttrChar reports whether b may stand unencoded in an RFC 8187 value.
func isAttrChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", b) >= 0
}

// safeTypes are media types served as stored. Everything else, above all
// anything a browser would render as active content (HTML, SVG, XML), is
// served as application/octet-stream. The attachment disposition and nosniff
// make this belt and braces.
var safeTypes = map[string]bool{
	"application/pdf":               true,
	"application/zip":               true,
	"text/plain":                    true,
	"text/csv":                      true,
	"image/png":                     true,
	"image/jpeg":                    true,
	"image/gif":                     true,
	"image/webp":                    true,
	"audio/mpeg":                    true,
	"video/mp4":                     true,
	"application/msword":            true,
	"application/vnd.ms-excel":      true,
	"application/vnd.ms-powerpoint": true,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   true,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         true,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": true,
	"application/vnd.oasis.opendocument.text":                                   true,
	"application/vnd.oasis.opendocument.spreadsheet":                            true,
	"application/vnd.oasis.opendocument.presentation":                           true,
}

// downloadType returns the Content-Type to send for a stored media type.
func downloadType(stored string) string {
	mt, _, err := mime.ParseMediaType(stored)
	if err != nil || !safeTypes[mt] {
		return "application/octet-stream"
	}
	return mt
}
