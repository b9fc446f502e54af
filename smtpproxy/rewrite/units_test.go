package rewrite

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

func TestSafeFileName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("ä", 150) + ".pdf" // 304 bytes
	cases := []struct{ in, want string }{
		{"Bescheid.pdf", "Bescheid.pdf"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\clerk\Desktop\Antrag.docx`, "Antrag.docx"},
		{"dir/", "attachment"},
		{"a\x00b\x07c\x7f\u0085.txt", "abc.txt"},
		{"line\r\nbreak.txt", "linebreak.txt"},
		{"tab\tname.txt", "tab name.txt"},
		{"invoice\u202Efdp.exe", "invoicefdp.exe"},
		{"\u2066x\u2067y\u2068z\u2069.txt", "xyz.txt"},
		{"zero\u200Bwidth\u200C\u200D\uFEFF.pdf", "zerowidth.pdf"},
		{"...hidden", "hidden"},
		{"..", "attachment"},
		{"  . spaced .pdf  ", "spaced .pdf"},
		{"", "attachment"},
		{"\u202E", "attachment"},
		{`<img src=x onerror=alert(1)>.html`, `<img src=x onerror=alert(1)>.html`},
		{"bad\xffutf8.txt", "bad\uFFFDutf8.txt"},
		{long, strings.Repeat("ä", 98) + ".pdf"},
	}
	for _, tc := range cases {
		got := SafeFileName(tc.in)
		if got != tc.want {
			t.Errorf("SafeFileName(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if len(got) > maxNameBytes || !utf8.ValidString(got) || got == "" {
			t.Errorf("SafeFileName(%q) = %q: too long, invalid or empty", tc.in, got)
		}
	}
}

func TestParseValue(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in     string
		first  string
		params map[string]string
	}{
		{`Text/Plain; Charset="ISO-8859-1"; format=flowed`, "text/plain", map[string]string{"charset": "ISO-8859-1", "format": "flowed"}},
		{`multipart/mixed; boundary="a;b\"c"`, "multipart/mixed", map[string]string{"boundary": `a;b"c`}},
		{`text/html; charset="UTF-8Return-Path: x`, "text/html", map[string]string{"charset": "UTF-8Return-Path: x"}},
		{`text/plain; charset=a; charset=b`, "text/plain", map[string]string{"charset": "a"}},
		{`text/html;iso-8859-1`, "text/html", map[string]string{}},
		{`attachment; filename*=UTF-8''%E2%82%AC.pdf; filename="euro.pdf"`, "attachment", map[string]string{"filename": "€.pdf"}},
		{`attachment; filename*1="b.pdf"; filename*0="a"`, "attachment", map[string]string{"filename": "ab.pdf"}},
		{`attachment; filename*0*=utf-8''a; filename*2=c`, "attachment", map[string]string{"filename": "a"}},
		{`inline`, "inline", map[string]string{}},
		{``, "", map[string]string{}},
	}
	for _, tc := range cases {
		first, params := parseValue(tc.in)
		if first != tc.first || len(params) != len(tc.params) {
			t.Errorf("parseValue(%q) = %q %v, want %q %v", tc.in, first, params, tc.first, tc.params)
			continue
		}
		for k, v := range tc.params {
			if params[k] != v {
				t.Errorf("parseValue(%q)[%s] = %q, want %q", tc.in, k, params[k], v)
			}
		}
	}
}

func TestDecoders(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, cte, in, want string
	}{
		{"base64", "base64", "SGVsbG8g\r\nV29ybGQh\r\n", "Hello World!"},
		{"base64 junk and spaces", "base64", " SGVs bG8*g\tV29y\r\nbGQh", "Hello World!"},
		{"base64 one extra char", "base64", "SGVsbG8gV29ybGQhA", "Hello World!"},
		{"base64 concatenated blocks", "base64", "SGk=\r\nSGk=\r\n", "HiHi"},
		{"qp", "quoted-printable", "Gr=C3=BC=C3=9Fe=\r\n aus K=c3=b6ln   \r\nx", "Grüße aus Köln\r\nx"},
		{"qp broken escapes", "quoted-printable", "a=ZZb=\r\n=4", "a=ZZb=4"},
		{"qp soft break with blanks", "quoted-printable", "a= \t\r\nb", "ab"},
		{"qp control chars", "quoted-printable", "a\x01b\x7fc", "a\x01b\x7fc"},
		{"7bit", "7bit", "as is=41", "as is=41"},
	}
	for _, tc := range cases {
		// One byte at a time finds state kept wrongly between reads.
		for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
			got, err := io.ReadAll(decoder(tc.cte, r))
			if err != nil || string(got) != tc.want {
				t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
			}
		}
	}
}

func TestWriteQP(t *testing.T) {
	t.Parallel()
	inputs := []string{
		"",
		"plain ascii\nsecond line\n",
		"--boundary at the start\n-- \n.dot\n",
		strings.Repeat("x", 200) + "\n" + strings.Repeat("ä", 100),
		"trailing blanks   \nand tab\t\nbare\rcr\r\n",
		strings.Repeat("-", 300),
		"=3D literal equals = and \x00 nul",
	}
	for _, in := range inputs {
		var b bytes.Buffer
		if err := writeQP(&b, []byte(in)); err != nil {
			t.Fatal(err)
		}
		enc := b.String()
		for _, line := range strings.Split(enc, "\r\n") {
			if len(line) > qpLineMax {
				t.Errorf("line of %d chars: %q", len(line), line)
			}
			if strings.HasPrefix(line, "-") || strings.HasPrefix(line, ".") {
				t.Errorf("line starts with %q: %q", line[0], line)
			}
			if strings.HasSuffix(line, " ") || strings.HasSuffix(line, "\t") {
				t.Errorf("trailing blank: %q", line)
			}
		}
		checkLineEndings(t, b.Bytes())
		dec, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(enc)))
		want := strings.ReplaceAll(strings.ReplaceAll(in, "\r\n", "\n"), "\n", "\r\n")
		if err != nil || string(dec) != want {
			t.Errorf("round trip of %q = %q, %v", in, dec, err)
		}
	}
}

func TestBodyTagEnd(t *testing.T) {
	t.Parallel()
	cases := []struct {
		html string
		want int
	}{
		{`<html><body><p>x`, len(`<html><body>`)},
		{`<HTML><BODY class="a>b" style='c>d'>x`, len(`<HTML><BODY class="a>b" style='c>d'>`)},
		{`<bodyguard><body>x`, len(`<bodyguard><body>`)},
		{`<p>no body</p>`, 0},
		{`<body`, 0},
	}
	for _, tc := range cases {
		if got := bodyTagEnd([]byte(tc.html)); got != tc.want {
			t.Errorf("bodyTagEnd(%q) = %d, want %d", tc.html, got, tc.want)
		}
	}
}

func TestCollectCIDs(t *testing.T) {
	t.Parallel()
	refs := map[string]bool{}
	collectCIDs(refs, []byte(`<img src="cid:Logo@X"><img src='CID:a%40b'><div style="background:url(cid:bg1)">`))
	for _, want := range []string{"logo@x", "a@b", "bg1"} {
		if !refs[want] {
			t.Errorf("cid %q not found in %v", want, refs)
		}
	}
}

// TestBase64LineLengths checks the line-at-a-time fast path against every
// way a body can be folded.
func TestBase64LineLengths(t *testing.T) {
	t.Parallel()
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i * 7 % 251)
	}
	enc := base64.StdEncoding.EncodeToString(data)
	for width := 1; width <= 100; width++ {
		for _, eol := range []string{"\r\n", "\n"} {
			var b strings.Builder
			for s := enc; len(s) > 0; {
				k := min(width, len(s))
				b.WriteString(s[:k] + eol)
				s = s[k:]
			}
			got, err := io.ReadAll(decoder("base64", strings.NewReader(b.String())))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("width %d eol %q: decoded %d bytes, %v", width, eol, len(got), err)
			}
		}
	}
}
