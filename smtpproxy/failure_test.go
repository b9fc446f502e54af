package smtpproxy

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"sealgate/internal/smtptest"
)

// TestNextHopFailures: whatever goes wrong at the next hop, the client hears
// 451 (or the next hop's own permanent refusal), and storage.dir keeps
// nothing of the attempt. The message is tagged and has attachments, so a
// draft with stored files exists when the DATA failures strike.
func TestNextHopFailures(t *testing.T) {
	t.Parallel()
	reply := func(code int, e1, e2, e3 int, text string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{e1, e2, e3}, Message: text}
	}
	temp := smtp.EnhancedCode{4, 3, 0}
	cases := []struct {
		name     string
		fault    *smtptest.Fault
		down     bool
		wantCode int
		wantEnh  smtp.EnhancedCode
	}{
		{name: "down", down: true, wantCode: 451, wantEnh: temp},
		{name: "greeting hangs", fault: &smtptest.Fault{Stage: smtptest.StageConnect, Hang: true}, wantCode: 451, wantEnh: temp},
		{name: "421 at MAIL", fault: &smtptest.Fault{Stage: smtptest.StageMail, Reply: reply(421, 4, 3, 2, "closing")}, wantCode: 451, wantEnh: smtp.EnhancedCode{4, 3, 2}},
		{name: "451 at MAIL", fault: &smtptest.Fault{Stage: smtptest.StageMail, Reply: reply(451, 4, 3, 0, "try later")}, wantCode: 451, wantEnh: temp},
		{name: "MAIL hangs", fault: &smtptest.Fault{Stage: smtptest.StageMail, Hang: true}, wantCode: 451, wantEnh: temp},
		{name: "550 at RCPT", fault: &smtptest.Fault{Stage: smtptest.StageRcpt, Reply: reply(550, 5, 1, 1, "unknown user")}, wantCode: 550, wantEnh: smtp.EnhancedCode{5, 1, 1}},
		{name: "451 at DATA", fault: &smtptest.Fault{Stage: smtptest.StageData, Reply: reply(451, 4, 3, 0, "queue full")}, wantCode: 451, wantEnh: temp},
		{name: "554 at DATA", fault: &smtptest.Fault{Stage: smtptest.StageData, Reply: reply(554, 5, 7, 1, "spam")}, wantCode: 554, wantEnh: smtp.EnhancedCode{5, 7, 1}},
		{name: "drop in DATA", fault: &smtptest.Fault{Stage: smtptest.StageData, DropAfter: 100}, wantCode: 451, wantEnh: temp},
		{name: "DATA hangs", fault: &smtptest.Fault{Stage: smtptest.StageData, Hang: true}, wantCode: 451, wantEnh: temp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, func(c *Config, _ *smtptest.Options) {
				c.NextHopTimeout = 500 * time.Millisecond
				if tc.down {
					ln, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					c.NextHop = ln.Addr().String()
					ln.Close()
				}
			})
			if tc.fault != nil {
				h.hop.Inject(*tc.fault)
			}
			msg := &taggedMessage{subject: "[secure1] Bescheid", files: threeFiles(300 << 10)}
			err := h.send("clerk@example.org", []string{"citizen@example.net"}, msg.reader())
			wantReply(t, err, tc.wantCode, tc.wantEnh)
			if n := len(h.hop.Messages()); n != 0 {
				t.Errorf("next hop accepted %d message(s)", n)
			}
			h.assertNothingStored()

			// The next hop recovers; so does the relay.
			h.hop.Clear()
			if !tc.down {
				if err := h.send("clerk@example.org", []string{"citizen@example.net"}, msg.reader()); err != nil {
					t.Fatalf("after recovery: %v", err)
				}
			}
		})
	}
}

// TestInternalCopyFails: when the internal copy is refused, the external one
// is never ended, so no link goes out, and nothing stays stored.
func TestInternalCopyFails(t *testing.T) {
	t.Parallel()
	h := start(t)
	// Faults match in order: the internal transaction ends first.
	h.hop.Inject(smtptest.Fault{Stage: smtptest.StageData, Times: 1,
		Reply: &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "disk full"}})
	msg := &taggedMessage{subject: "[secure1] Bescheid", files: threeFiles(100 << 10)}
	err := h.send("clerk@example.org", []string{"citizen@example.net", "colleague@intern.example"}, msg.reader())
	wantReply(t, err, 452, smtp.EnhancedCode{4, 3, 1})
	if n := len(h.hop.Messages()); n != 0 {
		t.Errorf("next hop accepted %d message(s)", n)
	}
	h.assertNothingStored()
}

// TestVaultFailure: storage that fails means 451 and nothing sent.
func TestVaultFailure(t *testing.T) {
	t.Parallel()
	h := start(t)
	if err := h.vault.Close(); err != nil {
		t.Fatal(err)
	}
	msg := &taggedMessage{subject: "[secure1] Bescheid", files: threeFiles(10 << 10)}
	err := h.send("clerk@example.org", []string{"citizen@example.net"}, msg.reader())
	wantReply(t, err, 451, smtp.EnhancedCode{4, 3, 0})
	if n := len(h.hop.Messages()); n != 0 {
		t.Errorf("next hop accepted %d message(s)", n)
	}
}

// TestNextHopGreetingRefused: a next hop that refuses us in its greeting
// (554 "no service") is a temporary failure for the client, never a bounce.
func TestNextHopGreetingRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("554 5.3.2 no service for you\r\n"))
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-served })
	h := start(t, func(c *Config, _ *smtptest.Options) { c.NextHop = ln.Addr().String() })
	err = h.send("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(simpleMessage("x")))
	wantReply(t, err, 451, smtp.EnhancedCode{4, 3, 0})
}
