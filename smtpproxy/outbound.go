package smtpproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// OutboundConfig is what the client for sealgate's own mail needs. Config.Outbound
// derives it from the relay's configuration.
type OutboundConfig struct {
	// Hop is host:port of the server that takes sealgate's own mail:
	// smtp.deliver_hop when set, else smtp.next_hop.
	Hop string
	// TLS is none (default), starttls or tls, as smtp.next_hop_tls.
	TLS string
	// InsecureSkipVerify accepts any certificate from Hop.
	InsecureSkipVerify bool
	// Hostname is said in EHLO; default: the machine's host name.
	Hostname string
	// Timeout bounds connecting, each reply and each write; default
	// DefaultNextHopTimeout.
	Timeout time.Duration
	// MaxConns bounds the connections open to Hop; default
	// DefaultOutboundConns.
	MaxConns int
}

// DefaultOutboundConns bounds the connections of an Outbound: its mail is a
// trickle next to relayed mail.
const DefaultOutboundConns = 4

// Outbound returns the configuration for sealgate's own mail: the same
// next-hop settings as relayed mail, to smtp.deliver_hop when it is set.
func (c Config) Outbound() OutboundConfig {
	hop := c.DeliverHop
	if hop == "" {
		hop = c.NextHop
	}
	return OutboundConfig{
		Hop:                hop,
		TLS:                c.NextHopTLS,
		InsecureSkipVerify: c.NextHopInsecureSkipVerify,
		Hostname:           c.Hostname,
		Timeout:            c.NextHopTimeout,
	}
}

// Outbound sends the mail that sealgate writes itself (sign-in codes, sender
// copies, receipts, warnings) with the relay's next-hop code: the same
// connection pool, TLS handling, timeouts and bulk DATA writer. It is safe
// for concurrent use; Close it when done.
type Outbound struct {
	pool *hopPool
	log  *slog.Logger
}

// NewOutbound checks cfg and prepares the client; it connects only when
// the first message is sent.
func NewOutbound(cfg OutboundConfig, logger *slog.Logger) (*Outbound, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if _, _, err := net.SplitHostPort(cfg.Hop); err != nil {
		return nil, fmt.Errorf("outbound mail: next hop %q is not host:port", cfg.Hop)
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = NextHopTLSNone
	case NextHopTLSNone, NextHopTLSStartTLS, NextHopTLSImplicit:
	default:
		return nil, fmt.Errorf("outbound mail: TLS mode %q is not one of none, starttls, tls", cfg.TLS)
	}
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("outbound mail: no host name for EHLO: %w", err)
		}
		cfg.Hostname = h
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultNextHopTimeout
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultOutboundConns
	}
	return &Outbound{pool: newHopPool(Config{
		NextHop:                   cfg.Hop,
		NextHopTLS:                cfg.TLS,
		NextHopInsecureSkipVerify: cfg.InsecureSkipVerify,
		Hostname:                  cfg.Hostname,
		NextHopTimeout:            cfg.Timeout,
		MaxNextHopConns:           cfg.MaxConns,
	}), log: logger}, nil
}

// Send delivers msg, a complete message with CRLF line endings, from the
// envelope sender from to every address in to. It returns nil only when the
// next hop accepted the message for every recipient; a recipient refused at
// RCPT fails the whole message, and nothing is sent. Use IsTemporary to tell
// a refusal worth retrying from a permanent one. ctx bounds the whole
// dialogue.
func (o *Outbound) Send(ctx context.Context, from string, to []string, msg []byte) error {
	if len(to) == 0 {
		return &addressError{what: "no recipient"}
	}
	if err := checkEnvelopeAddress(from); err != nil {
		return err
	}
	for _, a := range to {
		if a == "" {
			return &addressError{what: "empty recipient address"}
		}
		if err := checkEnvelopeAddress(a); err != nil {
			return err
		}
	}
	opts := &smtp.MailOptions{UTF8: !ascii(from)}
	for _, r := range to {
		opts.UTF8 = opts.UTF8 || !ascii(r)
	}
	t, err := o.pool.begin(ctx, from, opts)
	if err != nil {
		return fmt.Errorf("outbound mail: MAIL FROM: %w", err)
	}
	defer t.release()
	for i, r := range to {
		if err := t.rcpt(r, nil); err != nil {
			return fmt.Errorf("outbound mail: RCPT TO (recipient %d of %d): %w", i+1, len(to), err)
		}
	}
	w, err := t.data()
	if err != nil {
		return fmt.Errorf("outbound mail: DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		w.Abort()
		return fmt.Errorf("outbound mail: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("outbound mail: end of data: %w", err)
	}
	o.log.Debug("outbound: mail accepted", "hop", o.pool.addr, "recipients", len(to), "bytes", len(msg))
	return nil
}

// Close ends the idle connections; a Send after Close fails.
func (o *Outbound) Close() {
	o.pool.close()
}

// IsTemporary reports whether an error from Outbound.Send is worth retrying
// later: a 4xx reply, or a failure to reach the next hop or to finish the
// dialogue. A 5xx reply and an address that cannot be sent to are permanent.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var he *hopError
	if errors.As(err, &he) {
		return he.reply.Code < 500
	}
	var ae *addressError
	if errors.As(err, &ae) {
		return false
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code < 500
	}
	if errors.Is(err, errPoolClosed) {
		return false
	}
	return true
}

// addressError is an envelope address that must not reach the SMTP dialogue.
type addressError struct{ what string }

func (e *addressError) Error() string { return "outbound mail: " + e.what }

// checkEnvelopeAddress refuses what could break the SMTP command it goes
// into: line breaks, blanks, angle brackets, and more than RFC 5321 allows.
// The empty reverse path (null sender) is allowed.
func checkEnvelopeAddress(a string) error {
	if len(a) > 254 {
		return &addressError{what: "address longer than 254 bytes"}
	}
	if strings.ContainsFunc(a, func(r rune) bool {
		return r <= ' ' || r == 0x7f || r == '<' || r == '>'
	}) {
		return &addressError{what: "address with a control character, blank or angle bracket"}
	}
	if a != "" && strings.LastIndexByte(a, '@') <= 0 {
		return &addressError{what: "address without local part and domain"}
	}
	return nil
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
