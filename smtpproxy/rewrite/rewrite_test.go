package rewrite

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

// crlf turns the LF line breaks of a Go string literal into CRLF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func b64Lines(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\n")
	return b.String()
}

const inlineImagePart = `Content-Type: image/png; name="logo.png"
Content-Transfer-Encoding: base64
Content-ID: <logo123@example.org>
Content-Disposition: inline; filename="logo.png"

iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA
WjR9awAAAABJRU5ErkJggg==`

// fullMessage is text + HTML + a cid image + three attachments, each
// attachment carrying a random marker.
func fullMessage(t *testing.T) (msg string, markers []string, pdf []byte) {
	t.Helper()
	m1, m2, m3 := randomMarker(t), randomMarker(t), randomMarker(t)
	pdf = append([]byte("%PDF-1.4\n\x00\x01\x02\xff binary "), m1...)
	pdf = append(pdf, bytes.Repeat([]byte{0xfe, 0x00, 'x'}, 500)...)
	jpeg := append([]byte("\xff\xd8\xff\xe0 jpeg "), m3...)
	msg = crlf(`From: Amt <clerk@amt.example>
To: Bürger <citizen@example.net>
Subject: Ihr Bescheid
Date: Thu, 26 Nov 2026 10:00:00 +0100
Message-ID: <1@amt.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mixed-1"

This is a multi-part message in MIME format.
--mixed-1
Content-Type: multipart/alternative; boundary="alt-1"

--alt-1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Sehr geehrte Frau M=C3=BCller,

anbei Ihr Bescheid.
--alt-1
Content-Type: multipart/related; boundary="rel-1"; type="text/html"

--rel-1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 7bit

<html><head><title>x</title></head><body style="font-family: Arial">
<p>Sehr geehrte Frau M&uuml;ller,</p><img src="cid:logo123@example.org">
</body></html>
--rel-1
` + inlineImagePart + `
--rel-1--

--alt-1--

--mixed-1
Content-Type: application/pdf; name="Bescheid.pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="Bescheid.pdf"

` + b64Lines(pdf) + `--mixed-1
Content-Type: text/plain; charset=us-ascii
Content-Disposition: attachment; filename="notes.txt"

These notes are private: ` + m2 + `
--mixed-1
Content-Type: image/jpeg; name="photo.jpg"
Content-Transfer-Encoding: base64
Content-ID: <unused@example.org>

` + b64Lines(jpeg) + `--mixed-1--
epilogue
`)
	return msg, []string{m1, m2, m3}, pdf
}

func TestRewriteFullMessage(t *testing.T) {
	t.Parallel()
	msg, markers, pdf := fullMessage(t)
	out, res, sink, err := rewriteString(t, msg, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	checkLineEndings(t, out)

	if len(res.Files) != 3 || len(sink.files) != 3 {
		t.Fatalf("files = %+v, want 3", res.Files)
	}
	wantNames := []string{"Bescheid.pdf", "notes.txt", "photo.jpg"}
	for i, f := range res.Files {
		if f.Name != wantNames[i] {
			t.Errorf("file %d name = %q, want %q", i, f.Name, wantNames[i])
		}
	}
	var gotPDF []byte
	for _, f := range sink.files {
		if f.name == "Bescheid.pdf" {
			gotPDF = f.data
		}
	}
	if !bytes.Equal(gotPDF, pdf) {
		t.Errorf("stored PDF differs from the attachment (%d vs %d bytes)", len(gotPDF), len(pdf))
	}
	if res.KeptParts != 3 || res.TextParts != 2 || res.NoticeParts != 2 {
		t.Errorf("result = %+v, want 3 kept parts, 2 text parts, 2 notices", res)
	}

	flat := unfold(out)
	for _, m := range markers {
		for _, form := range encodedForms([]byte(m)) {
			if bytes.Contains(out, form) || bytes.Contains(flat, unfold(form)) {
				t.Fatalf("attachment marker survives in the output as %q", form)
			}
		}
	}
	for _, f := range sink.files {
		for _, form := range encodedForms(f.data) {
			if len(form) >= 16 && bytes.Contains(flat, unfold(form)) {
				t.Fatalf("bytes of %s survive in the output", f.name)
			}
		}
	}
	if !bytes.Contains(out, []byte(crlf(inlineImagePart))) {
		t.Error("the cid image is not in the output byte for byte")
	}

	parts, err := parseOutput(out)
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	var text, htmlBody string
	for _, p := range parts {
		switch p.media {
		case "text/plain":
			text = string(p.body)
		case "text/html":
			htmlBody = string(p.body)
		}
	}
	if !strings.HasPrefix(text, noticeTextMark) || !strings.Contains(text, "Sehr geehrte Frau Müller,") {
		t.Errorf("text part = %q, want the notice on top of the text", text)
	}
	for _, name := range wantNames {
		if !strings.Contains(text, name) || !strings.Contains(htmlBody, name) {
			t.Errorf("notice does not name %s", name)
		}
	}
	if !strings.Contains(htmlBody, `<body style="font-family: Arial"><div><p>`+noticeHTMLMark) {
		t.Errorf("HTML notice is not right after <body>: %q", htmlBody)
	}
	if strings.Contains(string(out), "epilogue") || strings.Contains(string(out), "multi-part message in MIME") {
		t.Error("preamble or epilogue copied")
	}
	for _, h := range []string{"From: Amt <clerk@amt.example>\r\n", "Subject: Ihr Bescheid\r\n", "Message-ID: <1@amt.example>\r\n"} {
		if !bytes.Contains(out, []byte(h)) {
			t.Errorf("top-level header %q lost", h)
		}
	}
}

func TestRewriteSinglePartAttachment(t *testing.T) {
	t.Parallel()
	data := []byte("%PDF-1.7 only an attachment " + randomMarker(t))
	msg := crlf(`From: a@example.org
To: b@example.net
Subject: scan
MIME-Version: 1.0
Content-Type: application/pdf; name="scan.pdf"
Content-Disposition: attachment; filename="scan.pdf"
Content-Transfer-Encoding: base64
Content-Length: 1234

` + b64Lines(data))
	out, res, sink, err := rewriteString(t, msg, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	checkLineEndings(t, out)
	if len(sink.files) != 1 || !bytes.Equal(sink.files[0].data, data) || res.Files[0].Name != "scan.pdf" {
		t.Fatalf("files = %+v", res.Files)
	}
	parts, err := parseOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0].media != "text/plain" || parts[1].media != "text/html" {
		t.Fatalf("want a text+html notice, got %+v", parts)
	}
	if !strings.Contains(string(parts[0].body), "scan.pdf") {
		t.Error("text notice does not name the file")
	}
	if bytes.Contains(out, []byte("Content-Length")) || bytes.Contains(out, []byte("Content-Disposition")) {
		t.Errorf("stale top-level Content-* fields remain:\n%s", out)
	}
	if !bytes.Contains(out, []byte("Subject: scan\r\n")) {
		t.Error("subject lost")
	}
}

func TestRewriteNestedMixedInAlternative(t *testing.T) {
	t.Parallel()
	secret := randomMarker(t)
	msg := crlf(`From: a@example.org
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=us-ascii

plain body
--alt
Content-Type: multipart/mixed; boundary="mix"

--mix
Content-Type: text/html; charset=us-ascii

<p>html body</p>
--mix
Content-Type: application/octet-stream; name="data.bin"

` + secret + `
--mix
Content-Type: text/html; charset=us-ascii

<p>second html</p>
--mix--
--alt--
`)
	out, res, _, err := rewriteString(t, msg, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	checkLineEndings(t, out)
	if bytes.Contains(out, []byte(secret)) {
		t.Fatal("attachment survives")
	}
	parts, err := parseOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 || len(res.Files) != 1 || res.Files[0].Name != "data.bin" {
		t.Fatalf("parts = %d, files = %+v", len(parts), res.Files)
	}
	if !strings.HasPrefix(string(parts[0].body), noticeTextMark) ||
		!strings.HasPrefix(string(parts[1].body), "<div><p>"+noticeHTMLMark) {
		t.Errorf("notice missing: %q / %q", parts[0].body, parts[1].body)
	}
	// The second HTML part is copied as it came: one notice per view.
	if string(parts[2].body) != "<p>second html</p>" {
		t.Errorf("second html = %q", parts[2].body)
	}
}

func TestRewriteFileNames(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		header string
		want   string
	}{
		{"rfc2231 utf-8", `Content-Type: application/pdf
Content-Disposition: attachment; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20und%20K%C3%BCsse.pdf`, "Grüße und Küsse.pdf"},
		{"rfc2231 latin1 continuation", `Content-Type: application/pdf
Content-Disposition: attachment;
 filename*0*=iso-8859-1'de'Antrag%20M%FC;
 filename*1*=ller.pdf`, "Antrag Müller.pdf"},
		{"rfc2231 mixed sections", `Content-Type: application/pdf
Content-Disposition: attachment; filename*0*=utf-8''%E2%82%AC; filename*1=" rest.pdf"`, "€ rest.pdf"},
		{"encoded word b", `Content-Type: application/pdf; name="=?UTF-8?B?w5xiZXJzaWNodC5wZGY=?="`, "Übersicht.pdf"},
		{"encoded word q latin1", `Content-Type: application/octet-stream
Content-Disposition: attachment; filename="=?iso-8859-1?Q?Stra=DFe_=FCber.txt?="`, "Straße über.txt"},
		{"raw 8-bit latin1", "Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"Pr\xfcfung.pdf\"", "Prüfung.pdf"},
		{"path and rtl", "Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"..\\\\..\\\\evil\u202egpj.exe\"", "evilgpj.exe"},
		{"no name", `Content-Type: application/pdf`, "attachment-1.pdf"},
		{"tnef", `Content-Type: application/ms-tnef`, "winmail.dat"},
		{"blank name", `Content-Type: image/png; name=""`, "attachment-1.png"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msg := crlf("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b\n" +
				tc.header + "\n\nQUJD\n--b--\n")
			_, res, _, err := rewriteString(t, msg, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Files) != 1 || res.Files[0].Name != tc.want {
				t.Fatalf("files = %+v, want name %q", res.Files, tc.want)
			}
		})
	}
}

func TestRewriteMessageAndTNEFAttachments(t *testing.T) {
	t.Parallel()
	inner := crlf("From: x@example.org\nSubject: forwarded\n\nforwarded body " + randomMarker(t) + "\n")
	tnef := []byte("\x78\x9f\x3e\x22 tnef " + randomMarker(t))
	msg := crlf(`MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain

see attached
--b
Content-Type: message/rfc822

`) + inner + crlf(`
--b
Content-Type: application/ms-tnef; name="winmail.dat"
Content-Transfer-Encoding: base64

`+b64Lines(tnef)+`--b
Content-Type: message/rfc822; name="Antwort"
Content-Disposition: attachment; filename="Antwort"

Subject: other

body
--b--
`)
	out, res, sink, err := rewriteString(t, msg, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, ct string }{
		{"attachment-1.eml", "message/rfc822"}, {"winmail.dat", "application/ms-tnef"}, {"Antwort.eml", "message/rfc822"},
	}
	if len(res.Files) != len(want) {
		t.Fatalf("files = %+v", res.Files)
	}
	for i, w := range want {
		if res.Files[i].Name != w.name || res.Files[i].ContentType != w.ct {
			t.Errorf("file %d = %+v, want %v", i, res.Files[i], w)
		}
	}
	if !bytes.Equal(sink.files[0].data, []byte(inner)) || !bytes.Equal(sink.files[1].data, tnef) {
		t.Error("stored message or TNEF differs from the original")
	}
	if bytes.Contains(out, []byte("forwarded body")) {
		t.Error("message/rfc822 content survives")
	}
}

func TestRewriteCharsets(t *testing.T) {
	t.Parallel()
	latin1 := "Gr\xfc\xdfe aus K\xf6ln, 50 \x80"
	cases := []struct {
		name, part, want string
	}{
		{"latin1 qp", "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nGr=FC=DFe aus K=F6ln, 50 =80", "Grüße aus Köln, 50 \u0080"},
		{"latin1 base64", "Content-Type: text/plain; charset=\"ISO-8859-1\"\nContent-Transfer-Encoding: base64\n\n" + b64Lines([]byte("Gr\xfc\xdfe aus K\xf6ln")), "Grüße aus Köln"},
		{"windows-1252 8bit", "Content-Type: text/plain; charset=windows-1252\nContent-Transfer-Encoding: 8bit\n\n" + latin1, "Grüße aus Köln, 50 €"},
		{"undeclared 8bit", "Content-Type: text/plain\n\n" + latin1, "Grüße aus Köln, 50 €"},
		{"html meta", "Content-Type: text/html\n\n<html><head><meta charset=\"iso-8859-1\"></head><body><p>K\xf6ln</p></body></html>", "<p>Köln</p>"},
		{"koi8-r", "Content-Type: text/plain; charset=koi8-r\n\n\xf0\xd2\xc9\xd7\xc5\xd4", "Привет"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msg := crlf("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n" + tc.part +
				"\n--b\nContent-Type: application/pdf; name=a.pdf\n\nPDF\n--b--\n")
			out, res, _, err := rewriteString(t, msg, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			checkLineEndings(t, out)
			parts, err := parseOutput(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != 1 || res.NoticeParts != 1 {
				t.Fatalf("parts = %+v", parts)
			}
			body := string(parts[0].body)
			ct := parts[0].hdr.Get("Content-Type")
			if !strings.Contains(ct, "charset=utf-8") || parts[0].hdr.Get("Content-Transfer-Encoding") != "quoted-printable" {
				t.Errorf("header = %q", ct)
			}
			if !strings.Contains(body, tc.want) || !strings.Contains(body, "SEALGATE-NOTICE") {
				t.Errorf("body = %q, want notice and %q", body, tc.want)
			}
			if strings.Contains(body, "iso-8859-1") {
				t.Error("meta charset not updated")
			}
		})
	}
}

func TestRewriteUnknownCharsetKeepsPart(t *testing.T) {
	t.Parallel()
	part := "Content-Type: text/plain; charset=x-unheard-of\r\n\r\nsome \xa4\xa5 text"
	msg := "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" + part +
		"\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\nPDF\r\n--b--\r\n"
	out, res, _, err := rewriteString(t, msg, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	checkLineEndings(t, out)
	if !bytes.Contains(out, []byte(part)) {
		t.Errorf("part with unknown charset not kept byte for byte:\n%s", out)
	}
	parts, err := parseOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || !strings.HasPrefix(string(parts[0].body), noticeTextMark) || res.NoticeParts != 1 {
		t.Fatalf("want notice part then original, got %d parts", len(parts))
	}
}

func TestRewriteUnknownCharsetRoot(t *testing.T) {
	t.Parallel()
	msg := "From: a@example.org\r\nSubject: s\r\nContent-Type: text/plain; charset=x-unheard-of\r\nContent-Transfer-Encoding: 8bit\r\n\r\nbody \xa4"
	out, _, _, err := rewriteString(t, msg, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing taken out: no notice, nothing changed.
	if want := msg; string(out) != want {
		t.Errorf("output = %q\nwant     %q", out, want)
	}
}

func TestRewriteNoAttachmentsNoNotice(t *testing.T) {
	t.Parallel()
	msg := crlf(`From: a@example.org
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe
--alt
Content-Type: text/html; charset=us-ascii

<p>hi</p>
--alt--
`)
	out, res, _, err := rewriteString(t, msg, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 0 || res.NoticeParts != 0 || res.TextParts != 2 {
		t.Fatalf("result = %+v", res)
	}
	if string(out) != msg {
		t.Errorf("message without attachments changed:\n%q\n%q", out, msg)
	}
}

func TestRewriteMissingFinalBoundary(t *testing.T) {
	t.Parallel()
	secret := randomMarker(t)
	msg := crlf(`MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain

text
--outer
Content-Type: application/pdf; name=x.pdf

` + secret + `
`)
	out, res, sink, err := rewriteString(t, msg, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Recovered || len(sink.files) != 1 || !bytes.Contains(sink.files[0].data, []byte(secret)) {
		t.Fatalf("result = %+v", res)
	}
	if bytes.Contains(out, []byte(secret)) {
		t.Fatal("attachment survives")
	}
	if _, err := parseOutput(out); err != nil {
		t.Fatal(err)
	}
}

func TestRewriteBoundaryNeverAppears(t *testing.T) {
	t.Parallel()
	secret := randomMarker(t)
	msg := crlf(`MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=nowhere

--elsewhere
Content-Type: application/pdf

` + secret + `
--elsewhere--
`)
	out, res, sink, err := rewriteString(t, msg, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sink.files) != 1 || res.Files[0].Name != "message-text.txt" || !bytes.Contains(sink.files[0].data, []byte(secret)) {
		t.Fatalf("files = %+v", res.Files)
	}
	if bytes.Contains(out, []byte(secret)) {
		t.Fatal("content survives")
	}
	if _, err := parseOutput(out); err != nil {
		t.Fatal(err)
	}
}

func TestRewriteBareLF(t *testing.T) {
	t.Parallel()
	msg := "From: a@example.org\nMIME-Version: 1.0\nContent-Type: multipart/related; boundary=b\n\n" +
		"--b\nContent-Type: text/html\n\n<img src=\"cid:i1\">\nline two\r\nthree\rfour\n" +
		"--b\nContent-Type: image/gif\nContent-ID: <i1>\n\nR0lGODlhAQABAAAAACw=\nAAAAAAEAAQAAAgA7\n" +
		"--b\nContent-Type: application/zip; name=z.zip\n\nPK\x03\x04\n--b--\n"
	out, res, _, err := rewriteString(t, msg, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	checkLineEndings(t, out)
	if res.KeptParts != 2 || len(res.Files) != 1 {
		t.Fatalf("result = %+v", res)
	}
	if !bytes.Contains(out, []byte("Content-ID: <i1>\r\n\r\nR0lGODlhAQABAAAAACw=\r\nAAAAAAEAAQAAAgA7\r\n--b")) {
		t.Errorf("inline image not kept with CRLF:\n%q", out)
	}
}

func TestRewriteLimits(t *testing.T) {
	t.Parallel()
	deep := func(n int) string {
		var b strings.Builder
		b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
		for i := 1; i < n; i++ {
			fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i-1, i)
		}
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: text/plain\r\n\r\ndeep\r\n", n-1)
		for i := n - 1; i >= 0; i-- {
			fmt.Fprintf(&b, "--b%d--\r\n", i)
		}
		return b.String()
	}
	longHeader := "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nX-Long: " +
		strings.Repeat("a", 2<<20) + "\r\n\r\ntext\r\n--b--\r\n"
	manyParts := "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		strings.Repeat("--b\r\n\r\n", 200) + "--b--\r\n"
	cases := []struct {
		name   string
		msg    string
		lim    Limits
		reason string // empty: success
	}{
		{"32 deep", deep(32), Limits{}, ""},
		{"33 deep", deep(33), Limits{}, "message structure nested too deep"},
		{"100 deep", deep(100), Limits{}, "message structure nested too deep"},
		{"header of 2 MiB", longHeader, Limits{}, "a header section of the message is larger than 1048576 bytes"},
		{"header within a raised bound", longHeader, Limits{MaxHeaderBytes: 3 << 20}, ""},
		{"too many parts", manyParts, Limits{MaxParts: 100}, "message has too many MIME parts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, _, _, err := rewriteString(t, tc.msg, tc.lim)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := parseOutput(out); err != nil {
					t.Fatal(err)
				}
				return
			}
			var bm *BadMessageError
			if !errors.As(err, &bm) || bm.Reason != tc.reason {
				t.Fatalf("err = %v, want BadMessageError %q", err, tc.reason)
			}
			if len(out) != 0 {
				t.Error("output written for a refused message")
			}
		})
	}
}

func TestReadHeaderBound(t *testing.T) {
	t.Parallel()
	msg := "Subject: " + strings.Repeat("x", 5000) + "\r\n\r\nbody"
	_, _, err := ReadHeader(bufioReader(msg), 1000)
	if !IsBadMessage(err) {
		t.Fatalf("err = %v, want a BadMessageError", err)
	}
	h, body, err := ReadHeader(bufioReader(" From: a@example.org\r\nSubject: s\r\nno colon here\r\nrest\r\n"), 0)
	if err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(body)
	if h.Get("From") != "a@example.org" || string(rest) != "no colon here\r\nrest\r\n" {
		t.Errorf("from = %q, body = %q", h.Get("From"), rest)
	}
}

func TestRewriteKeptBudget(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("long text line\r\n", 1000)
	msg := "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nshort\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\n" + big + "--b--\r\n"
	out, res, sink, err := rewriteString(t, msg, Limits{MaxKeptBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	// The line break before the delimiter belongs to the delimiter.
	if len(sink.files) != 1 || string(sink.files[0].data) != strings.TrimSuffix(big, "\r\n") || res.Files[0].Name != "attachment-1.txt" {
		t.Fatalf("files = %+v", res.Files)
	}
	if bytes.Contains(out, []byte("long text line")) {
		t.Error("over-budget text survives")
	}
}

func TestRewriteSignedTakenOutWhole(t *testing.T) {
	t.Parallel()
	signed := crlf(`Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="sig"

--sig
Content-Type: text/plain

signed text
--sig
Content-Type: application/pkcs7-signature; name=smime.p7s

MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwGggCSABIIB
--sig--
`)
	msg := crlf("From: a@example.org\nMIME-Version: 1.0\n") + signed
	out, res, sink, err := rewriteString(t, msg, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 1 || res.Files[0].Name != "signed-message.eml" {
		t.Fatalf("files = %+v", res.Files)
	}
	// The stored message is the signed entity as it came.
	if !bytes.HasSuffix(sink.files[0].data, []byte(strings.SplitN(signed, "\r\n\r\n", 2)[1])) {
		t.Errorf("signed body changed:\n%s", sink.files[0].data)
	}
	if bytes.Contains(out, []byte("signed text")) {
		t.Error("signed content survives")
	}
}

func TestRewriteSinkError(t *testing.T) {
	t.Parallel()
	msg, _, _ := fullMessage(t)
	hdr, body, err := ReadHeader(bufioReader(msg), 0)
	if err != nil {
		t.Fatal(err)
	}
	diskFull := errors.New("disk full")
	var out bytes.Buffer
	_, err = Rewrite(context.Background(), hdr, body, Limits{}, &memSink{fail: diskFull}, testNotice{}, &out)
	if !errors.Is(err, diskFull) || IsBadMessage(err) || out.Len() != 0 {
		t.Fatalf("err = %v, output %d bytes", err, out.Len())
	}
}

func TestRewriteCanceled(t *testing.T) {
	t.Parallel()
	msg, _, _ := fullMessage(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	_, err := Rewrite(ctx, textproto.Header{}, strings.NewReader(msg), Limits{}, &memSink{}, testNotice{}, &out)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestRewriteInlineImages(t *testing.T) {
	t.Parallel()
	img := func(cid string) string {
		return "Content-Type: image/png\nContent-ID: <" + cid + ">\nContent-Transfer-Encoding: base64\n\n" +
			b64Lines([]byte("png bytes of "+cid+" "+strings.Repeat("x", 100)))
	}
	cases := []struct {
		name      string
		body      string
		lim       Limits
		kept      []string // cids kept inline
		files     int
		keptParts int
	}{
		{"image before html", "--r\n" + img("first@x") + "--r\nContent-Type: text/html\n\n<img src=\"cid:first@x\">\n--r--\n",
			Limits{}, []string{"first@x"}, 0, 2},
		{"unreferenced image", "--r\nContent-Type: text/html\n\n<p>no image</p>\n--r\n" + img("lonely@x") + "--r--\n",
			Limits{}, nil, 1, 1},
		{"referenced image over budget", "--r\nContent-Type: text/html\n\n<img src=\"cid:big@x\">\n--r\n" + img("big@x") + "--r--\n",
			Limits{MaxKeptBytes: 150}, nil, 1, 1},
		{"referenced from a later html only", "--r\n" + img("a@x") + "--r\n" + img("b@x") +
			"--r\nContent-Type: text/html\n\n<img src=\"cid:b@x\">\n--r--\n", Limits{}, []string{"b@x"}, 1, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msg := crlf("MIME-Version: 1.0\nContent-Type: multipart/related; boundary=r\n\n" + tc.body)
			out, res, _, err := rewriteString(t, msg, tc.lim)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Files) != tc.files || res.KeptParts != tc.keptParts {
				t.Fatalf("result = %+v", res)
			}
			for _, cid := range tc.kept {
				if !bytes.Contains(out, []byte(crlf(img(cid)))) {
					t.Errorf("image %s not kept byte for byte", cid)
				}
			}
			if _, err := parseOutput(out); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRewriteEmptyAttachment(t *testing.T) {
	t.Parallel()
	msg := crlf("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n" +
		"--b\nContent-Type: application/pdf; name=empty.pdf\nContent-Disposition: attachment; filename=empty.pdf\n\n--b--\n")
	out, res, _, err := rewriteString(t, msg, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 1 || res.Files[0] != (Stored{Name: "empty.pdf", ContentType: "application/pdf", Size: 0}) {
		t.Fatalf("files = %+v", res.Files)
	}
	if !bytes.Contains(out, []byte("empty.pdf (0)")) {
		t.Error("empty attachment not in the notice")
	}
}
