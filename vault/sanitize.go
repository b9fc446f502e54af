package vault

import (
	"mime"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

const (
	maxNameBytes    = 200
	defaultFileName = "attachment"
	defaultType     = "application/octet-stream"
)

// sanitizeName makes an attachment's file name safe to show in pages and
// mail and to offer in Content-Disposition: no path, no control or
// formatting characters (which include the right-to-left overrides used to
// disguise extensions), none of the characters Windows forbids, valid
// NFC UTF-8 of bounded length, never empty.
func sanitizeName(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = norm.NFC.String(s)
	var sb strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			continue
		case unicode.IsSpace(r):
			space = true
			continue
		case strings.ContainsRune(`<>:"|?*`, r):
			r = '_'
		}
		if space && sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		space = false
		sb.WriteRune(r)
	}
	s = strings.Trim(sb.String(), " .")
	if s == "" {
		return defaultFileName
	}
	return truncateName(s, maxNameBytes)
}

// truncateName shortens s to at most n bytes on a rune boundary, keeping a
// short extension so the file still opens with the right program.
func truncateName(s string, n int) string {
	if len(s) <= n {
		return s
	}
	ext := filepath.Ext(s)
	if len(ext) > 16 {
		ext = ""
	}
	stem := s[:len(s)-len(ext)]
	limit := n - len(ext)
	for limit > 0 && !utf8.RuneStart(stem[limit]) {
		limit--
	}
	return strings.TrimRight(stem[:limit], " .") + ext
}

// sanitizeContentType keeps only a well-formed type/subtype, lower-cased,
// without parameters; anything else becomes application/octet-stream.
func sanitizeContentType(s string) string {
	mt, _, err := mime.ParseMediaType(s)
	if err != nil || len(mt) > 127 {
		return defaultType
	}
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || typ == "" || sub == "" || strings.Contains(sub, "/") {
		return defaultType
	}
	return mt
}
