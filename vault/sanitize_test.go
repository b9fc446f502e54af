package vault

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitizeName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Bescheid.pdf", "Bescheid.pdf"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\clerk\Antrag.docx`, "Antrag.docx"},
		{"invoice\u202Efdp.exe", "invoicefdp.exe"}, // right-to-left override
		{"a\x00b\x07c\r\n.txt", "abc.txt"},
		{"  spaced   out  .pdf ", "spaced out .pdf"},
		{"<script>alert(1)</script>.html", "script_.html"}, // "/" ends the path
		{"<b>Bericht</b>", "b_"},
		{"<img onerror=x>.png", "_img onerror=x_.png"},
		{"what?*:|.txt", "what____.txt"},
		{"", "attachment"},
		{"...", "attachment"},
		{"/", "attachment"},
		{".hidden", "hidden"},
		{"bad\xffutf8.txt", "bad\uFFFDutf8.txt"},
		{"Cafe\u0301.txt", "Café.txt"}, // NFC
		{"zero\u200Bwidth.txt", "zerowidth.txt"},
	} {
		if got := sanitizeName(tc.in); got != tc.want {
			t.Errorf("sanitizeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := strings.Repeat("ä", 300) + ".pdf"
	got := sanitizeName(long)
	if len(got) > maxNameBytes || !strings.HasSuffix(got, ".pdf") || !utf8.ValidString(got) {
		t.Errorf("long name: %d bytes %q", len(got), got)
	}
}

func TestSanitizeContentType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"application/pdf", "application/pdf"},
		{"Application/PDF; name=\"x.pdf\"", "application/pdf"},
		{"text/plain; charset=utf-8", "text/plain"},
		{"", "application/octet-stream"},
		{"pdf", "application/octet-stream"},
		{"text/html\r\nX-Evil: 1", "application/octet-stream"},
		{"a/b/c", "application/octet-stream"},
		{"image/svg+xml", "image/svg+xml"},
	} {
		if got := sanitizeContentType(tc.in); got != tc.want {
			t.Errorf("sanitizeContentType(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
