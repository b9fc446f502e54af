package smtpproxy

import (
	"crypto/rand"
	"encoding/base32"
	"net/netip"
	"strings"
	"time"
)

// newMessageID returns a random reference for one message: it appears in
// every log line about the message, in the trace header and in the reply.
func newMessageID() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents this)
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// traceHeader is the Received: line we put on top of each message, so that
// loops can be counted and a message's path be followed in the logs.
func traceHeader(helo string, ip netip.Addr, hostname, id string, tls bool, now time.Time) []byte {
	proto := "ESMTP"
	if tls {
		proto = "ESMTPS"
	}
	addr := ip.String()
	if ip.Is6() {
		addr = "IPv6:" + addr
	}
	var b strings.Builder
	b.WriteString("Received: from ")
	b.WriteString(headerSafe(helo))
	b.WriteString(" ([")
	b.WriteString(addr)
	b.WriteString("])\r\n\tby ")
	b.WriteString(headerSafe(hostname))
	b.WriteString(" (sealgate) with ")
	b.WriteString(proto)
	b.WriteString(" id ")
	b.WriteString(id)
	b.WriteString(";\r\n\t")
	b.WriteString(now.Format(time.RFC1123Z))
	b.WriteString("\r\n")
	return []byte(b.String())
}

// headerSafe keeps a client-chosen name from breaking the header: only the
// characters of host names and address literals pass.
func headerSafe(s string) string {
	if s == "" {
		return "unknown"
	}
	if len(s) > 255 {
		s = s[:255]
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '.', r == '-', r == '_', r == ':', r == '[', r == ']':
			return r
		}
		return '?'
	}, s)
}
