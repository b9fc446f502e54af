package rewrite

import (
	"mime"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
)

// maxNameBytes bounds a file name: most file systems stop at 255 bytes, and
// the storage layer or a browser may add a suffix.
const maxNameBytes = 200

// SafeFileName makes a file name from a mail safe to store and to show: it
// keeps only the last path component (for both / and \), drops control
// characters, invisible format characters (bidirectional overrides and
// isolates such as U+202E, which make "gpj.exe" look like "exe.jpg";
// zero-width characters; byte order marks) and line or paragraph
// separators, turns invalid UTF-8 into U+FFFD, strips leading dots (no
// hidden files, no "..") and surrounding blanks, and shortens the name to
// 200 bytes on a character boundary, keeping its extension. The result is
// never empty: "attachment" stands in for a name with nothing left.
//
// HTML in a name is not touched: escaping belongs to whoever renders it.
func SafeFileName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r),
			unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r):
			return -1
		}
		return r
	}, name)
	name = strings.TrimFunc(name, unicode.IsSpace)
	name = strings.TrimLeft(name, ".")
	name = strings.TrimFunc(name, unicode.IsSpace)
	if name == "" {
		return "attachment"
	}
	return truncateName(name, maxNameBytes)
}

// truncateName shortens name to max bytes on a rune boundary, keeping a
// short extension.
func truncateName(name string, max int) string {
	if len(name) <= max {
		return name
	}
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 16 {
		ext = name[i:]
		name = name[:i]
	}
	limit := max - len(ext)
	for limit > 0 && !utf8.RuneStart(name[limit]) {
		limit--
	}
	return strings.TrimRightFunc(name[:limit], unicode.IsSpace) + ext
}

// partName returns the file name a part carries: Content-Disposition's
// filename, else Content-Type's name, with RFC 2231 and RFC 2047 decoded.
// It is empty when the part has none.
func partName(h textproto.Header, ctParams map[string]string) string {
	_, dp := parseValue(h.Get("Content-Disposition"))
	name := dp["filename"]
	if strings.TrimSpace(name) == "" {
		name = ctParams["name"]
	}
	return strings.TrimSpace(decodeWords(name))
}

// knownExt maps the media types of common attachments to an extension, for
// parts without a name; mime.ExtensionsByType depends on the system's
// mime.types and often knows none of these.
var knownExt = map[string]string{
	"text/plain":                  ".txt",
	"text/html":                   ".html",
	"text/calendar":               ".ics",
	"text/csv":                    ".csv",
	"text/xml":                    ".xml",
	"text/vcard":                  ".vcf",
	"text/x-vcard":                ".vcf",
	"message/rfc822":              ".eml",
	"message/global":              ".eml",
	"message/delivery-status":     ".txt",
	"application/pdf":             ".pdf",
	"application/zip":             ".zip",
	"application/xml":             ".xml",
	"application/json":            ".json",
	"application/msword":          ".doc",
	"application/vnd.ms-excel":    ".xls",
	"application/rtf":             ".rtf",
	"application/ms-tnef":         ".dat",
	"application/vnd.ms-tnef":     ".dat",
	"application/pkcs7-mime":      ".p7m",
	"application/pkcs7-signature": ".p7s",
	"application/pgp-encrypted":   ".asc",
	"application/pgp-signature":   ".asc",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   ".docx",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         ".xlsx",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
	"application/vnd.oasis.opendocument.text":                                   ".odt",
	"application/vnd.oasis.opendocument.spreadsheet":                            ".ods",
	"image/jpeg":    ".jpg",
	"image/png":     ".png",
	"image/gif":     ".gif",
	"image/tiff":    ".tif",
	"image/bmp":     ".bmp",
	"image/webp":    ".webp",
	"image/svg+xml": ".svg",
	"audio/mpeg":    ".mp3",
	"video/mp4":     ".mp4",
}

// fallbackName names a part that carries no name: "attachment-N.ext", with
// the extension from its media type. TNEF keeps the name everybody knows.
func fallbackName(mediaType string, n int) string {
	if mediaType == "application/ms-tnef" || mediaType == "application/vnd.ms-tnef" {
		return "winmail.dat"
	}
	ext, ok := knownExt[mediaType]
	if !ok {
		if exts, _ := mime.ExtensionsByType(mediaType); len(exts) > 0 {
			ext = exts[0]
		} else {
			ext = ".bin"
		}
	}
	return "attachment-" + strconv.Itoa(n) + ext
}
