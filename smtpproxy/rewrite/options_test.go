package rewrite

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

// memText records what Options.Text receives.
type memText struct {
	calls       int
	plain, html []byte
	fail        error
}

func (m *memText) AddText(_ context.Context, plain, html []byte) error {
	m.calls++
	m.plain, m.html = plain, html
	return m.fail
}

// refuseSink refuses every file, as smtpproxy's sink does under KeepAll.
type refuseSink struct{ calls int }

var errRefused = errors.New("nothing may be taken out")

func (s *refuseSink) AddFile(_ context.Context, _, _ string, r io.Reader) (Stored, error) {
	s.calls++
	return Stored{}, errRefused
}

// parseString runs Parse on a whole message.
func parseString(t *testing.T, msg string, lim Limits, opts Options, sink Sink) (*Message, error) {
	t.Helper()
	hdr, body, err := ReadHeader(bufio.NewReader(strings.NewReader(msg)), 0)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(context.Background(), hdr, body, lim, opts, sink)
}

func writeString(t *testing.T, m *Message, n Notice) ([]byte, Result) {
	t.Helper()
	var out bytes.Buffer
	res, err := m.Write(&out, n)
	if err != nil {
		t.Fatal(err)
	}
	checkLineEndings(t, out.Bytes())
	return out.Bytes(), res
}

// level4Message is text in Latin-1 and HTML, each with a marker, a cid
// image, an attachment, and a second text/plain part after it (as Apple
// Mail splits text around attachments).
func level4Message(t *testing.T) (msg, plainMark, htmlMark, laterMark string) {
	plainMark, htmlMark, laterMark = randomMarker(t), randomMarker(t), randomMarker(t)
	msg = crlf(`From: Amt <clerk@amt.example>
To: citizen@example.net
Subject: Diagnose
Thread-Index: AdlXYZ
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="m"

--m
Content-Type: multipart/alternative; boundary="a"

--a
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Sehr geehrte Frau M=FCller, ` + plainMark + `
--a
Content-Type: multipart/related; boundary="r"

--r
Content-Type: text/html; charset=iso-8859-1

<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"></head><body><p>` + htmlMark + `</p><img src="cid:logo123@example.org"></body></html>
--r
` + inlineImagePart + `
--r--
--a--
--m
Content-Type: application/pdf; name="befund.pdf"
Content-Disposition: attachment; filename="befund.pdf"
Content-Transfer-Encoding: base64

` + b64Lines([]byte("%PDF-1.4 befund "+plainMark)) + `--m
Content-Type: text/plain; charset=utf-8

Nachsatz ` + laterMark + `
--m--
`)
	return msg, plainMark, htmlMark, laterMark
}

// TestParseTextTakesOutEverything: with Options.Text the output is the
// notice alone under the message's own fields; the first text and HTML
// bodies reach the TextSink in UTF-8, every other part the Sink.
func TestParseTextTakesOutEverything(t *testing.T) {
	t.Parallel()
	msg, plainMark, htmlMark, laterMark := level4Message(t)
	sink, text := &memSink{}, &memText{}
	m, err := parseString(t, msg, Limits{}, Options{Text: text}, sink)
	if err != nil {
		t.Fatal(err)
	}
	out, res := writeString(t, m, testNotice{})
	if !res.Text || res.KeptParts != 0 || res.NoticeParts != 1 || len(res.Files) != 3 {
		t.Fatalf("result %+v", res)
	}
	for _, mark := range []string{plainMark, htmlMark, laterMark, "Frau M", "PDF-1.4"} {
		for _, form := range encodedForms([]byte(mark)) {
			if bytes.Contains(unfold(out), unfold(form)) {
				t.Errorf("%q survived in the output:\n%s", mark, out)
			}
		}
	}
	parts, err := parseOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0].media != "text/plain" || parts[1].media != "text/html" ||
		!bytes.Contains(parts[0].body, []byte(noticeTextMark)) || !bytes.Contains(parts[1].body, []byte(noticeHTMLMark)) {
		t.Fatalf("output parts: %+v", parts)
	}
	for _, f := range []string{"From: Amt <clerk@amt.example>\r\n", "Subject: Diagnose\r\n", "Thread-Index: AdlXYZ\r\n", "Content-Type: multipart/alternative;"} {
		if !bytes.Contains(out, []byte(f)) {
			t.Errorf("output header lacks %q", f)
		}
	}

	if text.calls != 1 {
		t.Fatalf("AddText called %d times", text.calls)
	}
	if want := "Sehr geehrte Frau Müller, " + plainMark; strings.TrimSpace(string(text.plain)) != want {
		t.Errorf("plain text %q, want %q (in UTF-8)", text.plain, want)
	}
	if !bytes.Contains(text.html, []byte(htmlMark)) || !bytes.Contains(text.html, []byte(`charset=utf-8"`)) ||
		!bytes.Contains(text.html, []byte("cid:logo123@example.org")) {
		t.Errorf("html text %q", text.html)
	}
	var names []string
	for _, f := range sink.files {
		names = append(names, f.name)
	}
	if strings.Join(names, ",") != "logo.png,befund.pdf,attachment-3.txt" {
		t.Errorf("files %q: the cid image, the attachment and the later text are files", names)
	}
	if !bytes.Contains(sink.files[2].data, []byte(laterMark)) {
		t.Error("the later text part was not stored whole")
	}

	// A second Write gives the same message with another notice.
	again, _ := writeString(t, m, otherNotice{})
	if !bytes.Contains(again, []byte("OTHER-NOTICE")) || bytes.Contains(again, []byte(noticeTextMark)) {
		t.Errorf("second write:\n%s", again)
	}
}

type otherNotice struct{}

func (otherNotice) Text([]Stored) string { return "OTHER-NOTICE text\n" }
func (otherNotice) HTML([]Stored) string { return "<p>OTHER-NOTICE html</p>" }

// TestParseTextEdgeCases: the text sink is always called, once; text that
// cannot be converted or held is a file, never lost.
func TestParseTextEdgeCases(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		msg        string
		lim        Limits
		plain      string
		html       string
		files      []string
		fileSubstr string
	}{
		{"no text at all", "Content-Type: application/pdf\nContent-Disposition: attachment; filename=a.pdf\n\n%PDF\n",
			Limits{}, "", "", []string{"a.pdf"}, ""},
		{"single text part", "Content-Type: text/plain; charset=utf-8\n\nnur Text\n", Limits{}, "nur Text\n", "", nil, ""},
		{"unknown charset", "Content-Type: text/plain; charset=x-martian\n\nglorp\n", Limits{}, "", "", []string{"message.txt"}, "glorp"},
		{"too large", "Content-Type: text/html\n\n<p>" + strings.Repeat("x", 300) + "</p>\n", Limits{MaxKeptBytes: 100}, "", "",
			[]string{"attachment-1.html"}, "xxxx"},
		{"signed", "Content-Type: multipart/signed; boundary=s; protocol=\"application/pgp-signature\"\n\n--s\nContent-Type: text/plain\n\nsigned text\n--s--\n",
			Limits{}, "", "", []string{"signed-message.eml"}, "signed text"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink, text := &memSink{}, &memText{}
			m, err := parseString(t, crlf("Subject: x\n"+tc.msg), tc.lim, Options{Text: text}, sink)
			if err != nil {
				t.Fatal(err)
			}
			if text.calls != 1 || strings.ReplaceAll(string(text.plain), "\r", "") != tc.plain || string(text.html) != tc.html || text.plain == nil {
				t.Errorf("AddText ×%d (%q, %q), want (%q, %q)", text.calls, text.plain, text.html, tc.plain, tc.html)
			}
			var names []string
			for _, f := range sink.files {
				names = append(names, f.name)
			}
			if strings.Join(names, ",") != strings.Join(tc.files, ",") {
				t.Errorf("files %q, want %q", names, tc.files)
			}
			if tc.fileSubstr != "" && (len(sink.files) == 0 || !bytes.Contains(sink.files[0].data, []byte(tc.fileSubstr))) {
				t.Errorf("file does not hold %q", tc.fileSubstr)
			}
			out, _ := writeString(t, m, testNotice{})
			if _, err := parseOutput(out); err != nil || !bytes.Contains(out, []byte(noticeTextMark)) {
				t.Errorf("output (%v):\n%s", err, out)
			}
		})
	}
}

func TestParseTextSinkError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk full")
	_, err := parseString(t, crlf("Content-Type: text/plain\n\nhi\n"), Limits{}, Options{Text: &memText{fail: boom}}, &memSink{})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if _, err := parseString(t, "x", Limits{}, Options{Text: &memText{}, KeepAll: true}, &memSink{}); err == nil {
		t.Error("KeepAll with Text accepted")
	}
}

// TestParseKeepAll: nothing is taken out, every part stays byte for byte,
// and the notice goes into the text; what would have to go reaches the
// sink, which refuses it.
func TestParseKeepAll(t *testing.T) {
	t.Parallel()
	msg, markers, _ := fullMessage(t)
	sink := &refuseSink{}
	m, err := parseString(t, msg, Limits{}, Options{KeepAll: true, AlwaysNotice: true}, sink)
	if err != nil {
		t.Fatal(err)
	}
	out, res := writeString(t, m, testNotice{})
	if sink.calls != 0 || len(res.Files) != 0 || res.NoticeParts != 2 || res.KeptParts != 6 {
		t.Fatalf("sink called %d times; result %+v", sink.calls, res)
	}
	parts, err := parseOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, p := range parts {
		all = append(all, p.body...)
	}
	for _, mark := range markers {
		if !bytes.Contains(all, []byte(mark)) {
			t.Errorf("marker %s is gone", mark)
		}
	}
	if !bytes.Contains(parts[0].body, []byte(noticeTextMark)) || !bytes.Contains(parts[0].body, []byte("Müller")) {
		t.Errorf("text part %q", parts[0].body)
	}

	signed := crlf("Content-Type: multipart/signed; boundary=s; protocol=\"application/pgp-signature\"\n\n--s\n\nsigned\n--s--\n")
	if _, err := parseString(t, signed, Limits{}, Options{KeepAll: true}, &refuseSink{}); !errors.Is(err, errRefused) {
		t.Errorf("signed message under KeepAll: %v, want the sink's refusal", err)
	}
	big := crlf("Content-Type: application/pdf\n\n" + strings.Repeat("x", 200) + "\n")
	if _, err := parseString(t, big, Limits{MaxKeptBytes: 100}, Options{KeepAll: true}, &refuseSink{}); !errors.Is(err, errRefused) {
		t.Errorf("part over the bound under KeepAll: %v, want the sink's refusal", err)
	}
}

// TestAlwaysNotice: a message from which nothing was taken out gets the
// notice only when asked.
func TestAlwaysNotice(t *testing.T) {
	t.Parallel()
	msg := crlf("Subject: x\nContent-Type: text/plain\n\nHallo\n")
	for _, always := range []bool{false, true} {
		m, err := parseString(t, msg, Limits{}, Options{AlwaysNotice: always}, &memSink{})
		if err != nil {
			t.Fatal(err)
		}
		out, _ := writeString(t, m, testNotice{})
		if got := bytes.Contains(out, []byte(noticeTextMark)); got != always {
			t.Errorf("AlwaysNotice %v: notice present %v:\n%s", always, got, out)
		}
	}
}

// TestWrap: the body streams through unchanged as the second part, after
// the notice; a signed message stays verifiable byte for byte.
func TestWrap(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, header, body string }{
		{"multipart", "From: a@b\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"s\"\r\n",
			"--s\r\nContent-Type: text/plain\r\n\r\nsigned text\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\nSIG\r\n--s--\r\n"},
		{"plain, no MIME", "From: a@b\r\nSubject: s\r\n", "just text\r\n.leading dot\r\n"},
		{"8bit", "From: a@b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n", "Grüße\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hdr, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(tc.header + "\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := Wrap(hdr, strings.NewReader(tc.body), testNotice{}, &out); err != nil {
				t.Fatal(err)
			}
			checkLineEndings(t, out.Bytes())
			if !bytes.Contains(out.Bytes(), []byte("\r\n\r\n"+tc.body+"\r\n--")) {
				t.Errorf("body not kept byte for byte:\n%s", out.Bytes())
			}
			parts, err := parseOutput(out.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) < 3 || !bytes.Contains(parts[0].body, []byte(noticeTextMark)) || !bytes.Contains(parts[1].body, []byte(noticeHTMLMark)) {
				t.Fatalf("parts %+v", parts)
			}
			top, _, _ := bytes.Cut(out.Bytes(), []byte("\r\n\r\n"))
			if strings.Contains(tc.header, "8bit") && bytes.Count(top, []byte("Content-Transfer-Encoding: 8bit\r\n")) != 1 {
				t.Error("the wrapping multipart does not say 8bit")
			}
		})
	}
	var out bytes.Buffer
	hdr := textproto.Header{}
	hdr.Set("Subject", "s")
	if err := Wrap(hdr, strings.NewReader("body\r\n"), otherNotice{}, &out); err != nil || !bytes.Contains(out.Bytes(), []byte("OTHER-NOTICE")) {
		t.Errorf("wrap: %v", err)
	}
	out.Reset()
	if err := Wrap(hdr, strings.NewReader("body\r\n"), emptyNotice{}, &out); err != nil || out.String() != "Subject: s\r\n\r\nbody\r\n" {
		t.Errorf("wrap with an empty notice: %v %q", err, out.String())
	}
}

type emptyNotice struct{}

func (emptyNotice) Text([]Stored) string { return "" }
func (emptyNotice) HTML([]Stored) string { return "" }

func TestBoundaryBeside(t *testing.T) {
	t.Parallel()
	for _, others := range [][]string{nil, {"s"}, {"sealgate-"}, {"s", "="}, {"sealgate-", "=_sealgate", "_", "0"}} {
		b, err := boundaryBeside(others)
		if err != nil {
			t.Fatalf("%q: %v", others, err)
		}
		if prefixClash(b, others) {
			t.Errorf("%q: boundary %q clashes", others, b)
		}
	}
}
