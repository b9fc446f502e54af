package smtpproxy

import (
	"bufio"
	"bytes"
	"fmt"
	"mime"
	"regexp"
	"strings"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"

	"sealgate/policy"
)

// headerPrefix marks the headers that talk to sealgate; none leaves it.
const headerPrefix = "x-sealgate-"

// parseHeader parses the raw header block read by readHeaderBlock.
func parseHeader(raw []byte) (textproto.Header, error) {
	if !bytes.HasSuffix(raw, []byte("\r\n\r\n")) && !bytes.Equal(raw, []byte("\r\n")) {
		// A message without a body: end the block for the parser only.
		raw = append(raw[:len(raw):len(raw)], "\r\n"...)
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return textproto.Header{}, fmt.Errorf("%w (%v)", errMalformedHeader, err)
	}
	return h, nil
}

// decodedSubject returns the Subject with encoded words decoded, or the raw
// value where they cannot be.
func decodedSubject(h textproto.Header) string {
	raw := h.Get("Subject")
	dec := mime.WordDecoder{CharsetReader: charset.Reader}
	s, err := dec.DecodeHeader(raw)
	if err != nil {
		return raw
	}
	return s
}

// policyMessage is what the policy looks at; subject is decodedSubject(h).
func policyMessage(h textproto.Header, subject, sender string, recipients []string) policy.Message {
	return policy.Message{
		Subject:       subject,
		LevelHeaders:  h.Values("X-Sealgate-Level"),
		UploadHeaders: h.Values("X-Sealgate-Upload"),
		Sender:        sender,
		Recipients:    recipients,
	}
}

// needsCleaning reports whether the header carries anything meant for
// sealgate: a tag in the subject or an X-Sealgate-* field.
func needsCleaning(h textproto.Header, subject string, d policy.Decision) bool {
	if subjectTagged(h, subject, d) {
		return true
	}
	fs := h.Fields()
	for fs.Next() {
		if strings.HasPrefix(strings.ToLower(fs.Key()), headerPrefix) {
			return true
		}
	}
	return false
}

// cleanHeader returns a copy of h without the tags and X-Sealgate-* fields.
// Fields that need no change keep their original bytes.
func cleanHeader(h textproto.Header, subject string, d policy.Decision) textproto.Header {
	out := h.Copy()
	fs := out.Fields()
	for fs.Next() {
		if strings.HasPrefix(strings.ToLower(fs.Key()), headerPrefix) {
			fs.Del()
		}
	}
	if subjectTagged(h, subject, d) {
		out.Set("Subject", encodeHeaderText(d.Subject))
	}
	return out
}

// neutralize gives a level-4 message the neutral subject (in lang, naming
// org) and drops Outlook's Thread-Topic, which repeats the subject.
func neutralize(h *textproto.Header, subject string) {
	h.Set("Subject", encodeHeaderText(subject))
	h.Del("Thread-Topic")
}

// subjectTagged reports whether the policy took tags out of the subject. The
// policy also folds runs of blanks, so compare against the subject folded the
// same way: an untagged subject then stays byte for byte as it was.
func subjectTagged(h textproto.Header, subject string, d policy.Decision) bool {
	if !h.Has("Subject") {
		return false
	}
	return d.Subject != strings.TrimSpace(blanksRE.ReplaceAllString(subject, " "))
}

var blanksRE = regexp.MustCompile(`[ \t]{2,}`)

// encodeHeaderText makes text safe for a header: plain ASCII stays as it
// is, anything else becomes RFC 2047 encoded words.
func encodeHeaderText(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

// writeHeader serialises h as it goes out (with its final blank line).
func writeHeader(h textproto.Header) ([]byte, error) {
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
