package smtpproxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"sealgate/policy"
	"sealgate/smtpproxy/dkimsign"
	"sealgate/smtpproxy/rewrite"
)

// Next-hop TLS modes (smtp.next_hop_tls).
const (
	NextHopTLSNone     = "none"
	NextHopTLSStartTLS = "starttls"
	NextHopTLSImplicit = "tls"
)

// Config is what the relay needs from the configuration file. Zero values get
// the defaults documented on each field.
type Config struct {
	// Listen is smtp.listen, host:port.
	Listen string
	// Hostname is smtp.hostname: the greeting, EHLO to the next hop and
	// the trace header. Default: the machine's host name.
	Hostname string

	// NextHop is smtp.next_hop, host:port.
	NextHop string
	// NextHopTLS is smtp.next_hop_tls: none (default), starttls or tls.
	NextHopTLS string
	// NextHopInsecureSkipVerify accepts any certificate from the next hop.
	NextHopInsecureSkipVerify bool

	// MaxMessageSize is smtp.max_message_size in bytes; default 1 GiB.
	MaxMessageSize int64
	// InternalDomains is smtp.internal_domains: their recipients receive
	// the original message.
	InternalDomains []string
	// AllowedClients is smtp.allowed_clients; default loopback only.
	AllowedClients []netip.Prefix
	// TLSCert and TLSKey are smtp.tls_cert and smtp.tls_key (PEM files);
	// with both set, STARTTLS is offered.
	TLSCert, TLSKey string

	// PublicURL is web.public_url, the base of the links in the notice.
	PublicURL string
	// OrgName is branding.name, named in the notice when set.
	OrgName string
	// NeutralSubject is notify.neutral_subject: a level-4 message goes out
	// with a neutral subject from the catalog ("Sichere Nachricht von
	// OrgName") instead of its own.
	NeutralSubject bool

	// ReadTimeout bounds the wait for each command and for each chunk of a
	// message from the client; default 5 minutes (RFC 5321 4.5.3.2).
	ReadTimeout time.Duration
	// WriteTimeout bounds each reply to the client; default 1 minute.
	WriteTimeout time.Duration
	// NextHopTimeout bounds connecting to the next hop, each of its
	// replies and each write to it; default 5 minutes.
	NextHopTimeout time.Duration
	// ShutdownTimeout is how long sessions in the middle of a message get
	// to finish when the server stops; default 1 minute.
	ShutdownTimeout time.Duration
	// MaxNextHopConns bounds the connections open to the next hop, idle
	// ones included; default 64.
	MaxNextHopConns int
	// MaxRecipients bounds RCPT commands per message; default 1000.
	MaxRecipients int

	// Policy decides the level of each message.
	Policy policy.Config
	// Rewrite bounds the MIME rewrite.
	Rewrite rewrite.Limits

	// DKIM is smtp.dkim: when set, every rewritten message is DKIM-signed
	// after the rewrite. Level-0 mail passes with its own signatures.
	DKIM dkimsign.Config
	// DeliverHop is smtp.deliver_hop, host:port: the internal mail server
	// that receives the mail sealgate writes itself (see Outbound). The
	// relay does not use it.
	DeliverHop string

	// SenderCopy, when set, is handed every relayed message that stored a
	// transfer, after the client's 250 was decided (notify.sender_summary).
	SenderCopy SenderCopier
	// Observer, when set, hears how each message ended (metrics).
	Observer Observer
}

// Defaults for the zero values of Config.
const (
	DefaultMaxMessageSize  = 1 << 30
	DefaultReadTimeout     = 5 * time.Minute
	DefaultWriteTimeout    = time.Minute
	DefaultNextHopTimeout  = 5 * time.Minute
	DefaultShutdownTimeout = time.Minute
	DefaultMaxNextHopConns = 64
	DefaultMaxRecipients   = 1000
	// defaultMaxHeaderBytes bounds the top-level header block when
	// Rewrite.MaxHeaderBytes is not set.
	defaultMaxHeaderBytes = 1 << 20
	// maxLineLength is go-smtp's limit for one line of DATA. RFC 5322 allows
	// 998 characters; Postfix folds longer lines before they reach us.
	maxLineLength = 4000
)

// DefaultAllowedClients returns the default smtp.allowed_clients: loopback
// only, never an open relay.
func DefaultAllowedClients() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
	}
}

func (c Config) withDefaults() Config {
	if c.NextHopTLS == "" {
		c.NextHopTLS = NextHopTLSNone
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.AllowedClients == nil {
		c.AllowedClients = DefaultAllowedClients()
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.NextHopTimeout == 0 {
		c.NextHopTimeout = DefaultNextHopTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.MaxNextHopConns == 0 {
		c.MaxNextHopConns = DefaultMaxNextHopConns
	}
	if c.MaxRecipients == 0 {
		c.MaxRecipients = DefaultMaxRecipients
	}
	if c.Rewrite.MaxHeaderBytes == 0 {
		c.Rewrite.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return c
}

// Validate returns every problem at once, each naming its configuration key.
// It checks the values as given, before defaults are applied.
func (c Config) Validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			bad("smtp.listen", "%q is not host:port", c.Listen)
		}
	}
	if c.NextHop == "" {
		bad("smtp.next_hop", "required")
	} else if _, _, err := net.SplitHostPort(c.NextHop); err != nil {
		bad("smtp.next_hop", "%q is not host:port", c.NextHop)
	}
	switch c.NextHopTLS {
	case "", NextHopTLSNone, NextHopTLSStartTLS, NextHopTLSImplicit:
	default:
		bad("smtp.next_hop_tls", "%q is not one of none, starttls, tls", c.NextHopTLS)
	}
	if c.MaxMessageSize < 0 {
		bad("smtp.max_message_size", "must not be negative")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("smtp.tls_cert", "smtp.tls_cert and smtp.tls_key must be set together")
	}
	for _, d := range c.InternalDomains {
		if strings.TrimSpace(d) == "" || strings.ContainsAny(d, "@ ") {
			bad("smtp.internal_domains", "%q is not a domain", d)
		}
	}
	if u, err := url.Parse(c.PublicURL); c.PublicURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("web.public_url", "%q is not an absolute http(s) URL", c.PublicURL)
	}
	for _, d := range []struct {
		key string
		d   time.Duration
	}{
		{"smtp.read_timeout", c.ReadTimeout}, {"smtp.write_timeout", c.WriteTimeout},
		{"smtp.next_hop_timeout", c.NextHopTimeout}, {"smtp.shutdown_timeout", c.ShutdownTimeout},
	} {
		if d.d < 0 {
			bad(d.key, "must not be negative")
		}
	}
	if c.DeliverHop != "" {
		if _, _, err := net.SplitHostPort(c.DeliverHop); err != nil {
			bad("smtp.deliver_hop", "%q is not host:port", c.DeliverHop)
		}
	}
	errs = append(errs, c.DKIM.Check("smtp.dkim")...)
	if c.MaxNextHopConns < 0 {
		bad("smtp.max_next_hop_conns", "must not be negative")
	}
	if c.MaxRecipients < 0 {
		bad("smtp.max_recipients", "must not be negative")
	}
	errs = append(errs, c.Policy.Validate()...)
	return errs
}

func (c Config) validate() error {
	return errors.Join(c.Validate()...)
}
