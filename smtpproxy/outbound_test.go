package smtpproxy

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"sealgate/internal/smtptest"
)

func newTestOutbound(t *testing.T, hop string, mod func(*OutboundConfig)) *Outbound {
	t.Helper()
	cfg := OutboundConfig{Hop: hop, Hostname: "sealgate.test", Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	o, err := NewOutbound(cfg, nil)
	if err != nil {
		t.Fatalf("NewOutbound: %v", err)
	}
	t.Cleanup(o.Close)
	return o
}

// ownMail is a small message as notify composes it, with a line that must
// be dot-stuffed on the way.
const ownMail = "From: sealgate <noreply@example.org>\r\n" +
	"To: citizen@example.net\r\n" +
	"Subject: Ihr Anmeldecode\r\n" +
	"\r\n" +
	"12345678\r\n" +
	".\r\n" +
	"..and a line with dots\r\n"

// TestOutboundSend: a message arrives byte for byte with its envelope, and
// the connection is reused for the next one.
func TestOutboundSend(t *testing.T) {
	t.Parallel()
	hop := smtptest.Start(t, smtptest.Options{})
	o := newTestOutbound(t, hop.Addr, nil)
	ctx := context.Background()
	for range 3 {
		if err := o.Send(ctx, "noreply@example.org", []string{"citizen@example.net", "other@example.net"}, []byte(ownMail)); err != nil {
			t.Fatal(err)
		}
	}
	msgs := hop.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages at the next hop", len(msgs))
	}
	m := msgs[0]
	if m.From != "noreply@example.org" || strings.Join(m.To, ",") != "citizen@example.net,other@example.net" {
		t.Errorf("envelope %q -> %q", m.From, m.To)
	}
	if string(m.Data) != ownMail {
		t.Errorf("message changed on the way: %q", m.Data)
	}
	if c := hop.Stats().Conns; c != 1 {
		t.Errorf("%d connections for 3 messages, want 1 (pooled)", c)
	}
}

// TestOutboundSTARTTLS: the same TLS handling as relayed mail.
func TestOutboundSTARTTLS(t *testing.T) {
	t.Parallel()
	hop := smtptest.Start(t, smtptest.Options{STARTTLS: true})
	o := newTestOutbound(t, hop.Addr, func(c *OutboundConfig) {
		c.TLS = NextHopTLSStartTLS
		c.InsecureSkipVerify = true
	})
	if err := o.Send(context.Background(), "noreply@example.org", []string{"citizen@example.net"}, []byte(ownMail)); err != nil {
		t.Fatal(err)
	}
	if m := hop.Messages(); len(m) != 1 || !m[0].TLS || string(m[0].Data) != ownMail {
		t.Errorf("messages %+v", m)
	}
}

// TestOutboundErrors: refusals come back with context, 4xx and failures to
// connect as temporary, 5xx as permanent; nothing is half sent.
func TestOutboundErrors(t *testing.T) {
	t.Parallel()
	reply := func(code int, enh smtp.EnhancedCode) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: "no"}
	}
	cases := []struct {
		name      string
		fault     smtptest.Fault
		temporary bool
		mention   string
	}{
		{"550 at RCPT", smtptest.Fault{Stage: smtptest.StageRcpt, Rcpt: "other@example.net", Reply: reply(550, smtp.EnhancedCode{5, 1, 1})}, false, "RCPT TO (recipient 2 of 2)"},
		{"452 at RCPT", smtptest.Fault{Stage: smtptest.StageRcpt, Reply: reply(452, smtp.EnhancedCode{4, 5, 3})}, true, "RCPT TO"},
		{"451 at MAIL", smtptest.Fault{Stage: smtptest.StageMail, Reply: reply(451, smtp.EnhancedCode{4, 3, 0})}, true, "MAIL FROM"},
		{"554 at end of data", smtptest.Fault{Stage: smtptest.StageData, Reply: reply(554, smtp.EnhancedCode{5, 7, 1})}, false, "end of data"},
		{"dropped in DATA", smtptest.Fault{Stage: smtptest.StageData, DropAfter: 10}, true, "outbound mail"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hop := smtptest.Start(t, smtptest.Options{})
			hop.Inject(tc.fault)
			o := newTestOutbound(t, hop.Addr, nil)
			err := o.Send(context.Background(), "noreply@example.org", []string{"citizen@example.net", "other@example.net"}, []byte(ownMail))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if IsTemporary(err) != tc.temporary {
				t.Errorf("IsTemporary(%v) = %v, want %v", err, !tc.temporary, tc.temporary)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not say where it failed (%q)", err, tc.mention)
			}
			if n := len(hop.Messages()); n != 0 {
				t.Errorf("%d messages accepted", n)
			}
			// The next hop recovers; so does the client.
			hop.Clear()
			if err := o.Send(context.Background(), "noreply@example.org", []string{"citizen@example.net"}, []byte(ownMail)); err != nil {
				t.Errorf("after recovery: %v", err)
			}
		})
	}

	t.Run("next hop down", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		o := newTestOutbound(t, addr, nil)
		err = o.Send(context.Background(), "noreply@example.org", []string{"citizen@example.net"}, []byte(ownMail))
		if err == nil || !IsTemporary(err) {
			t.Errorf("got %v, want a temporary error", err)
		}
	})
}

// TestOutboundAddresses: an address that could smuggle a command into the
// dialogue never reaches the next hop.
func TestOutboundAddresses(t *testing.T) {
	t.Parallel()
	hop := smtptest.Start(t, smtptest.Options{})
	o := newTestOutbound(t, hop.Addr, nil)
	bad := []struct{ from, to string }{
		{"noreply@example.org", "citizen@example.net\r\nRCPT TO:<evil@example.com>"},
		{"noreply@example.org\r\nRSET", "citizen@example.net"},
		{"noreply@example.org", "citizen@example.net> NOTIFY=NEVER"},
		{"noreply@example.org", "no-at-sign"},
		{"noreply@example.org", ""},
		{"noreply@example.org", strings.Repeat("a", 250) + "@example.net"},
	}
	for _, b := range bad {
		err := o.Send(context.Background(), b.from, []string{b.to}, []byte(ownMail))
		if err == nil || IsTemporary(err) {
			t.Errorf("Send(%q, %q) = %v, want a permanent error", b.from, b.to, err)
		}
	}
	if err := o.Send(context.Background(), "noreply@example.org", nil, []byte(ownMail)); err == nil {
		t.Error("Send without recipients succeeded")
	}
	// A good one, to show that only it reached the next hop.
	if err := o.Send(context.Background(), "noreply@example.org", []string{"citizen@example.net"}, []byte(ownMail)); err != nil {
		t.Fatal(err)
	}
	if s := hop.Stats(); s.Mails != 1 {
		t.Errorf("%d MAIL commands reached the next hop, want only the good one", s.Mails)
	}
}

// TestOutboundConfig: sealgate's own mail goes to smtp.deliver_hop when it
// is set, with the next hop's TLS settings and timeouts.
func TestOutboundConfig(t *testing.T) {
	t.Parallel()
	c := Config{NextHop: "mx.example.org:25", NextHopTLS: NextHopTLSStartTLS, NextHopTimeout: time.Minute, Hostname: "gate"}
	if o := c.Outbound(); o.Hop != "mx.example.org:25" || o.TLS != NextHopTLSStartTLS || o.Timeout != time.Minute || o.Hostname != "gate" {
		t.Errorf("without deliver_hop: %+v", o)
	}
	c.DeliverHop = "mail.intern.example:25"
	if o := c.Outbound(); o.Hop != "mail.intern.example:25" || o.TLS != NextHopTLSStartTLS {
		t.Errorf("with deliver_hop: %+v", o)
	}
	for _, bad := range []OutboundConfig{{Hop: "no-port"}, {Hop: "a:25", TLS: "maybe"}} {
		if _, err := NewOutbound(bad, nil); err == nil {
			t.Errorf("NewOutbound(%+v) accepted", bad)
		}
	}
	c.DeliverHop = "no-port"
	c.PublicURL = publicURL
	var found bool
	for _, err := range c.Validate() {
		found = found || strings.HasPrefix(err.Error(), "smtp.deliver_hop:")
	}
	if !found {
		t.Errorf("Validate does not name smtp.deliver_hop: %v", c.Validate())
	}
}

// TestOutboundClosed: a Send after Close fails permanently.
func TestOutboundClosed(t *testing.T) {
	t.Parallel()
	hop := smtptest.Start(t, smtptest.Options{})
	o := newTestOutbound(t, hop.Addr, nil)
	if err := o.Send(context.Background(), "noreply@example.org", []string{"citizen@example.net"}, []byte(ownMail)); err != nil {
		t.Fatal(err)
	}
	o.Close()
	err := o.Send(context.Background(), "noreply@example.org", []string{"citizen@example.net"}, []byte(ownMail))
	if err == nil || IsTemporary(err) || !errors.Is(err, errPoolClosed) {
		t.Errorf("Send after Close: %v", err)
	}
}
