package smtpproxy

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
)

// genFile is an attachment made up on the fly: size pseudo-random bytes,
// base64-encoded in 76-character lines, never held in memory.
type genFile struct {
	name, ctype string
	size        int64
	seed        uint64

	sum string // hex SHA-256 of the plaintext, set once the part was read
}

// reader streams the encoded body.
func (f *genFile) reader() io.Reader {
	pr, pw := io.Pipe()
	go func() {
		h := sha256.New()
		lw := &lineWrapper{w: pw}
		enc := base64.NewEncoder(base64.StdEncoding, lw)
		_, err := io.Copy(io.MultiWriter(enc, h), io.LimitReader(f.plain(), f.size))
		if err == nil {
			err = enc.Close()
		}
		if err == nil {
			err = lw.end()
		}
		f.sum = hex.EncodeToString(h.Sum(nil))
		pw.CloseWithError(err)
	}()
	return pr
}

func (f *genFile) plain() io.Reader { return rand.NewChaCha8(seed32(f.seed)) }

// marker is the first encoded line of the file: if it shows up in a
// rewritten message, the attachment was not taken out.
func (f *genFile) marker() string {
	n := min(f.size, 57)
	b := make([]byte, n)
	io.ReadFull(f.plain(), b)
	return base64.StdEncoding.EncodeToString(b)
}

func seed32(s uint64) [32]byte {
	var b [32]byte
	for i := range 8 {
		b[i] = byte(s >> (8 * i))
	}
	return b
}

// lineWrapper breaks base64 into CRLF lines of 76 characters.
type lineWrapper struct {
	w   io.Writer
	col int
	buf []byte
}

func (l *lineWrapper) Write(p []byte) (int, error) {
	l.buf = l.buf[:0]
	for _, c := range p {
		l.buf = append(l.buf, c)
		l.col++
		if l.col == 76 {
			l.buf = append(l.buf, '\r', '\n')
			l.col = 0
		}
	}
	_, err := l.w.Write(l.buf)
	return len(p), err
}

func (l *lineWrapper) end() error {
	if l.col > 0 {
		_, err := l.w.Write([]byte("\r\n"))
		return err
	}
	return nil
}

// taggedMessage is the mail of the acceptance test: text, HTML with a cid
// signature image, and files.
type taggedMessage struct {
	subject string
	files   []*genFile
	// text and html replace the clerk's text and the HTML body's
	// paragraphs when set.
	text, html string
}

const logoPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="

const (
	defaultText = "Sehr geehrte Frau Muster,\n\nanbei erhalten Sie Ihren Bescheid."
	defaultHTML = "<p>Sehr geehrte Frau Muster,</p><p>anbei erhalten Sie Ihren Bescheid.</p>"
)

func (m *taggedMessage) reader() io.Reader {
	text, html := defaultText, defaultHTML
	if m.text != "" {
		text = m.text
	}
	if m.html != "" {
		html = m.html
	}
	head := lines(`From: Clerk <clerk@example.org>
To: Citizen <citizen@example.net>
Subject: ` + m.subject + `
Date: Thu, 26 Nov 2026 10:00:00 +0100
Message-ID: <tagged@example.org>
Content-Language: de-DE
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

This is a multi-part message in MIME format.
--outer
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

` + text + `
--alt
Content-Type: text/html; charset=utf-8

<html><body>` + html + `<img src="cid:logo@example.org"></body></html>
--alt--
--rel
Content-Type: image/png
Content-ID: <logo@example.org>
Content-Disposition: inline; filename="logo.png"
Content-Transfer-Encoding: base64

` + logoPNG + `
--rel--
`)
	parts := []io.Reader{strings.NewReader(head)}
	for _, f := range m.files {
		parts = append(parts, strings.NewReader(lines(fmt.Sprintf(`--outer
Content-Type: %s; name="%s"
Content-Disposition: attachment; filename="%s"
Content-Transfer-Encoding: base64

`, f.ctype, f.name, f.name))), f.reader())
	}
	parts = append(parts, strings.NewReader("--outer--\r\n"))
	return io.MultiReader(parts...)
}

func (m *taggedMessage) bytes() []byte {
	b, err := io.ReadAll(m.reader())
	if err != nil {
		panic(err)
	}
	return b
}

func threeFiles(big int64) []*genFile {
	return []*genFile{
		{name: "bescheid.pdf", ctype: "application/pdf", size: 120 << 10, seed: 1},
		{name: "anlage.csv", ctype: "text/csv", size: 3000, seed: 2},
		{name: "scan.bin", ctype: "application/octet-stream", size: big, seed: 3},
	}
}

func sha256Hex(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
