package notify

import (
	"errors"
	"net/mail"
	"strings"
	"unicode"
)

// errBadAddress is what a recipient address that may not go into a header
// or an SMTP command gets. It never quotes the address: errors end up in
// logs, and addresses stay out of them.
var errBadAddress = errors.New("not a plain e-mail address")

// checkAddress accepts a bare addr-spec ("name@example.org") and nothing
// that could break the header or the SMTP command it goes into: no display
// name, no blanks or line breaks, no angle brackets, at most 254 bytes.
func checkAddress(s string) error {
	if s == "" || len(s) > 254 || strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == 0x7f || r == '<' || r == '>' || unicode.IsControl(r) || isBidi(r)
	}) {
		return errBadAddress
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return errBadAddress
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return errBadAddress
	}
	return nil
}

// domainOf returns the domain of a checked address.
func domainOf(addr string) string {
	return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
}

// hasControl reports a control character (line breaks included).
func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// displayText makes text from outside (a file name, the organisation's
// name, a reference) safe to show in the plain-text part and in a header:
// control characters become blanks, and direction overrides, which can make
// "gpj.exe" read as "exe.jpg", are dropped. The HTML part escapes on top.
func displayText(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case isBidi(r):
			return -1
		case unicode.IsControl(r):
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// isBidi reports the Unicode direction embeddings, overrides and isolates.
func isBidi(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f
}
