package notify

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
)

// compose turns c into a complete message to the checked address to:
// multipart/alternative (text, HTML), inside multipart/mixed when there are
// attachments. Lines end in CRLF. File attachments are streamed into the
// message; the caller bounds their total.
func (n *Notifier) compose(to string, c *content, now time.Time) ([]byte, error) {
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{n.from})
	h.SetAddressList("To", []*mail.Address{{Address: to}})
	if c.replyTo != "" {
		h.SetAddressList("Reply-To", []*mail.Address{{Address: c.replyTo}})
	}
	// SetSubject encodes anything that is not plain printable ASCII, line
	// breaks included, as RFC 2047 words: a subject cannot add a field.
	h.SetSubject(displayText(c.subject))
	h.SetDate(now)
	h.SetMessageID(newMessageID(n.domain))
	h.Set("Content-Language", c.lang)
	// RFC 3834: no vacation replies or other auto-answers to us. Outlook
	// and Exchange read only their own field.
	h.Set("Auto-Submitted", "auto-generated")
	h.Set("X-Auto-Response-Suppress", "All")

	html, err := c.html()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if c.attach == nil && len(c.files) == 0 {
		w, err := mail.CreateInlineWriter(&b, h)
		if err != nil {
			return nil, fmt.Errorf("compose: %w", err)
		}
		if err := writeAlternatives(w, c.text(), html); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	w, err := mail.CreateWriter(&b, h)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	iw, err := w.CreateInline()
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	if err := writeAlternatives(iw, c.text(), html); err != nil {
		return nil, err
	}
	if c.attach != nil {
		var ah mail.AttachmentHeader
		ah.SetContentType(c.attach.contentType, map[string]string{"charset": "utf-8", "name": c.attach.name})
		ah.SetFilename(c.attach.name)
		ah.Set("Content-Transfer-Encoding", "base64")
		aw, err := w.CreateAttachment(ah)
		if err != nil {
			return nil, fmt.Errorf("compose attachment: %w", err)
		}
		if err := writeClose(aw, c.attach.data); err != nil {
			return nil, fmt.Errorf("compose attachment: %w", err)
		}
	}
	for _, f := range c.files {
		if err := writeFile(w, f); err != nil {
			return nil, fmt.Errorf("compose attachment: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	return b.Bytes(), nil
}

// writeAlternatives writes the plain-text part first and the HTML part
// last: readers show the last alternative they understand.
func writeAlternatives(w *mail.InlineWriter, text, html string) error {
	for _, p := range []struct{ ctype, body string }{{"text/plain", text}, {"text/html", html}} {
		var ph mail.InlineHeader
		ph.SetContentType(p.ctype, map[string]string{"charset": "utf-8"})
		ph.Set("Content-Transfer-Encoding", "quoted-printable")
		pw, err := w.CreatePart(ph)
		if err != nil {
			return fmt.Errorf("compose %s part: %w", p.ctype, err)
		}
		if err := writeClose(pw, []byte(p.body)); err != nil {
			return fmt.Errorf("compose %s part: %w", p.ctype, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	return nil
}

// writeFile streams one file attachment, base64-encoded, and checks that
// the bytes are those the vault hashed when it accepted the file.
func writeFile(w *mail.Writer, f fileAttachment) error {
	var ah mail.AttachmentHeader
	ah.SetContentType(f.contentType, map[string]string{"name": f.name})
	ah.SetFilename(f.name)
	ah.Set("Content-Transfer-Encoding", "base64")
	aw, err := w.CreateAttachment(ah)
	if err != nil {
		return err
	}
	r, err := f.open()
	if err != nil {
		_ = aw.Close()
		return err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(aw, h), r); err != nil {
		_ = aw.Close()
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != f.sha256 {
		_ = aw.Close()
		return errors.New("file does not match its recorded SHA-256")
	}
	return aw.Close()
}

func writeClose(w io.WriteCloser, b []byte) error {
	if _, err := w.Write(b); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

// newMessageID returns a Message-ID (without brackets) at domain with 128
// random bits: unique without a counter, and saying nothing about when or
// by whom it was made.
func newMessageID(domain string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents this)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])) + "@" + domain
}
