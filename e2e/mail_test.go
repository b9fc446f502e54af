package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode the bounce's parts whatever their charset
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-msgauth/dkim"

	"sealgate/internal/smtptest"
)

const (
	clerk   = "clerk@sealgate.test"
	citizen = "citizen@example.net"
)

// rawMail is a message as the clerk's client sends it: exact bytes, so that
// "unchanged" can be checked byte for byte.
type rawMail struct {
	Subject string
	Body    string
	// Attachment, when set, makes a multipart/mixed message with this file.
	Attachment     []byte
	AttachmentName string
	MessageID      string
}

func (m rawMail) bytes() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Sachbearbeitung <%s>\r\nTo: =?utf-8?q?B=C3=BCrger?= <%s>\r\n", clerk, citizen)
	fmt.Fprintf(&b, "Subject: %s\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n", m.Subject, m.MessageID)
	if m.Attachment == nil {
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", m.Body)
		return []byte(b.String())
	}
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"e2e-boundary\"\r\n\r\n")
	fmt.Fprintf(&b, "--e2e-boundary\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", m.Body)
	fmt.Fprintf(&b, "--e2e-boundary\r\nContent-Type: application/pdf; name=\"%s\"\r\n", m.AttachmentName)
	fmt.Fprintf(&b, "Content-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", m.AttachmentName)
	for _, line := range base64Lines(m.Attachment) {
		b.WriteString(line + "\r\n")
	}
	b.WriteString("--e2e-boundary--\r\n")
	return []byte(b.String())
}

// base64Lines is the attachment as it travels: 76-character lines.
func base64Lines(data []byte) []string {
	enc := base64.StdEncoding.EncodeToString(data)
	var lines []string
	for len(enc) > 76 {
		lines = append(lines, enc[:76])
		enc = enc[76:]
	}
	return append(lines, enc)
}

// writeMail stores m for `swaks --data @FILE` and returns the bytes that
// will travel. swaks ends DATA with "\r\n.\r\n" after the file's content, so
// the file leaves out the message's final line break.
func writeMail(t *testing.T, m rawMail) (path string, raw []byte) {
	t.Helper()
	raw = m.bytes()
	path = filepath.Join(t.TempDir(), "mail.eml")
	if err := os.WriteFile(path, bytes.TrimSuffix(raw, []byte("\r\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, raw
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// parsed is a captured message taken apart.
type parsed struct {
	Header mail.Header
	// Texts are the decoded text/* parts.
	Texts []string
	// Leaves are the decoded bodies of every non-multipart part.
	Leaves [][]byte
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	e, err := message.Read(bytes.NewReader(data))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		t.Fatalf("captured message does not parse: %v", err)
	}
	p := parsed{Header: mail.Header{Header: e.Header}}
	err = e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil {
			return err
		}
		if mr := part.MultipartReader(); mr != nil {
			return nil
		}
		body, err := io.ReadAll(part.Body)
		if err != nil {
			return err
		}
		p.Leaves = append(p.Leaves, body)
		if ct, _, _ := part.Header.ContentType(); strings.HasPrefix(ct, "text/") || ct == "message/delivery-status" || ct == "" {
			p.Texts = append(p.Texts, string(body))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("captured message is not well-formed MIME: %v\n%s", err, data)
	}
	return p
}

// subjectOf decodes only the header's Subject, so that one malformed body
// does not hide the other messages.
func subjectOf(data []byte) string {
	e, err := message.Read(bytes.NewReader(data))
	if e == nil {
		return fmt.Sprintf("(unreadable header: %v)", err)
	}
	h := mail.Header{Header: e.Header}
	s, _ := h.Subject()
	return s
}

func (p parsed) subject() string {
	s, _ := p.Header.Subject()
	return s
}

// text is all text parts with every run of white space made one space, so
// that sentences survive Postfix's line wrapping in bounces.
func (p parsed) text() string {
	return strings.Join(strings.Fields(strings.Join(p.Texts, "\n")), " ")
}

// bySubject finds the one captured message whose decoded subject contains
// s, failing t if there is not exactly one.
func bySubject(t *testing.T, msgs []smtptest.Message, s string) smtptest.Message {
	t.Helper()
	var found []smtptest.Message
	for _, m := range msgs {
		if strings.Contains(subjectOf(m.Data), s) {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one captured message with subject containing %q, found %d", s, len(found))
	}
	return found[0]
}

// verifyDKIMGo checks the first DKIM signature with go-msgauth.
func verifyDKIMGo(data []byte, records map[string]string) error {
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if txt, ok := records[name]; ok {
				return []string{txt}, nil
			}
			return nil, fmt.Errorf("no TXT record for %s", name)
		},
	})
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return fmt.Errorf("no DKIM-Signature")
	}
	return vs[0].Err
}
