package smtpproxy

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"sealgate/internal/smtptest"
)

// TestPassThroughByteIdentical: untagged mail arrives exactly as sent, with
// only our trace header on top, including lines that need dot-stuffing,
// 8-bit text and long lines.
func TestPassThroughByteIdentical(t *testing.T) {
	t.Parallel()
	h := start(t)
	msg := "From: clerk@example.org\r\n" +
		"To: citizen@example.net\r\n" +
		"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
		"X-Other: keep me\r\n" +
		"\r\n" +
		".a line starting with a dot\r\n" +
		"..two dots\r\n" +
		".\r\n" +
		"8-bit: Grüße aus Köln\r\n" +
		strings.Repeat("x", 990) + "\r\n" +
		"From the start of a line\r\n" +
		"\r\n"
	if err := h.send("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	m := h.messages(1)[0]
	if got := stripTrace(t, m.Data); !bytes.Equal(got, []byte(msg)) {
		t.Errorf("message changed on the way:\n got %q\nwant %q", got, msg)
	}
	if m.From != "clerk@example.org" || len(m.To) != 1 || m.To[0] != "citizen@example.net" {
		t.Errorf("envelope %q -> %q", m.From, m.To)
	}
	trace := string(m.Data[:bytes.Index(m.Data, []byte(";"))])
	if !strings.Contains(trace, "from client.test ([127.0.0.1])") || !strings.Contains(trace, "by sealgate.test (sealgate) with ESMTP id ") {
		t.Errorf("trace header %q", trace)
	}
	h.assertNothingStored()
}

// TestMirrorRcpt: the next hop's refusal of a recipient is our refusal,
// with its own words; the other recipients still get the mail.
func TestMirrorRcpt(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.hop.Inject(smtptest.Fault{Stage: smtptest.StageRcpt, Rcpt: "nobody@example.net",
		Reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}})
	h.hop.Inject(smtptest.Fault{Stage: smtptest.StageRcpt, Rcpt: "full@example.net",
		Reply: &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}})

	c, err := smtp.Dial(h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("clerk@example.org", nil); err != nil {
		t.Fatal(err)
	}
	se := wantReply(t, c.Rcpt("nobody@example.net", nil), 550, smtp.EnhancedCode{5, 1, 1})
	if se.Message != "no such user here" {
		t.Errorf("reply text %q", se.Message)
	}
	wantReply(t, c.Rcpt("full@example.net", nil), 452, smtp.EnhancedCode{4, 2, 2})
	if err := c.Rcpt("citizen@example.net", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, simpleMessage("hello"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	m := h.messages(1)[0]
	if len(m.To) != 1 || m.To[0] != "citizen@example.net" {
		t.Errorf("recipients at the next hop: %q", m.To)
	}
}

// TestPoolReuse: consecutive messages share one next-hop connection, and a
// pooled connection that the next hop dropped is replaced without the
// client noticing.
func TestPoolReuse(t *testing.T) {
	t.Parallel()
	h := start(t)
	for i := range 3 {
		if err := h.send("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(simpleMessage("hello"))); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if st := h.hop.Stats(); st.Conns != 1 {
		t.Errorf("%d next-hop connections for 3 messages, want 1", st.Conns)
	}
	h.hop.Inject(smtptest.Fault{Stage: smtptest.StageMail, Drop: true, Times: 1})
	if err := h.send("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(simpleMessage("hello"))); err != nil {
		t.Fatalf("after the next hop dropped the pooled connection: %v", err)
	}
	if n := len(h.messages(4)); n != 4 {
		t.Errorf("%d messages", n)
	}
}

// TestAllowedClients: a client outside smtp.allowed_clients gets 554 5.7.1
// instead of a greeting and can send no command; the next hop never hears
// of it.
func TestAllowedClients(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *Config, _ *smtptest.Options) {
		c.AllowedClients = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "EHLO evil\r\nMAIL FROM:<a@evil.example>\r\nRCPT TO:<b@example.net>\r\n")
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "554 5.7.1 sealgate.test access denied\r\n" {
		t.Errorf("got %q", got)
	}
	if err := h.send("a@evil.example", []string{"b@example.net"}, strings.NewReader(simpleMessage("x"))); err == nil {
		t.Error("relayed from a client outside smtp.allowed_clients")
	}
	if st := h.hop.Stats(); st.Conns != 0 {
		t.Errorf("the next hop saw %d connection(s)", st.Conns)
	}
}

// TestSmuggling: bare CR or LF in DATA is refused; nothing of such a message
// reaches the next hop, and no smuggled second message exists there. The
// one variant go-smtp's reader swallows itself ("\r\n.\r" followed by text:
// it drops the ".\r") leaves one ordinary message with CRLF lines.
func TestSmuggling(t *testing.T) {
	t.Parallel()
	smuggled := "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n" +
		"From: ceo@example.org\r\nSubject: smuggled\r\n\r\nwire the money\r\n"
	refused := map[string]string{
		"LF.LF":     "\n.\n",
		"CRLF.LF":   "\r\n.\n",
		"LF.CRLF":   "\n.\r\n",
		"CR.CRLF":   "\r.\r\n",
		"bare LF":   "\n",
		"bare CR":   "\r",
		"CR in hdr": "",
	}
	for name, sep := range refused {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := start(t)
			rc := dialRaw(t, h.addr)
			rc.cmd("EHLO client.test", 250)
			rc.cmd("MAIL FROM:<clerk@example.org>", 250)
			rc.cmd("RCPT TO:<citizen@example.net>", 250)
			rc.cmd("DATA", 354)
			if name == "CR in hdr" {
				rc.write("Subject: a\rb\r\n\r\nbody\r\n.\r\n")
			} else {
				rc.write("Subject: hi\r\n\r\nhello" + sep + smuggled + ".\r\n")
			}
			msg := rc.expect(554)
			if !strings.HasPrefix(msg, "5.6.0 ") {
				t.Errorf("reply %q", msg)
			}
			// The session goes on and works.
			rc.cmd("MAIL FROM:<clerk@example.org>", 250)
			rc.cmd("RCPT TO:<citizen@example.net>", 250)
			rc.cmd("DATA", 354)
			rc.write("Subject: fine\r\n\r\nok\r\n.\r\n")
			rc.expect(250)
			rc.cmd("QUIT", 221)
			msgs := h.messages(1)
			if len(msgs) != 1 || !bytes.Contains(msgs[0].Data, []byte("Subject: fine")) {
				t.Errorf("next hop got %d message(s)", len(msgs))
			}
			for _, m := range msgs {
				if bytes.Contains(m.Data, []byte("wire the money")) {
					t.Error("smuggled content reached the next hop")
				}
			}
			if st := h.hop.Stats(); st.Mails != 2 {
				// One for the refused attempt (aborted), one for the good one.
				t.Errorf("next hop saw %d MAIL commands, want 2", st.Mails)
			}
		})
	}
	t.Run("CRLF.CR swallowed by go-smtp", func(t *testing.T) {
		t.Parallel()
		h := start(t)
		rc := dialRaw(t, h.addr)
		rc.cmd("EHLO client.test", 250)
		rc.cmd("MAIL FROM:<clerk@example.org>", 250)
		rc.cmd("RCPT TO:<citizen@example.net>", 250)
		rc.cmd("DATA", 354)
		rc.write("Subject: hi\r\n\r\nhello\r\n.\r" + smuggled + ".\r\n")
		rc.expect(250)
		rc.cmd("QUIT", 221)
		msgs := h.messages(1)
		if st := h.hop.Stats(); st.Mails != 1 || len(msgs) != 1 {
			t.Fatalf("next hop saw %d MAIL and %d messages, want 1 and 1", st.Mails, len(msgs))
		}
		if msgs[0].From != "clerk@example.org" {
			t.Errorf("sender %q", msgs[0].From)
		}
		if bytes.Contains(msgs[0].Data, []byte("\n.\r")) || bytes.Contains(msgs[0].Data, []byte("\r\n.\r\n")) {
			t.Error("an end-of-data sequence survived into the message")
		}
	})
}

// TestSizeLimit: SIZE is announced and enforced, at MAIL and in DATA.
func TestSizeLimit(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *Config, _ *smtptest.Options) { c.MaxMessageSize = 10000 })
	c, err := smtp.Dial(h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if size, ok := c.MaxMessageSize(); !ok || size != 10000 {
		t.Errorf("EHLO SIZE %d %v", size, ok)
	}
	wantReply(t, c.Mail("clerk@example.org", &smtp.MailOptions{Size: 20000}), 552, smtp.EnhancedCode{5, 3, 4})

	big := simpleMessage("big") + strings.Repeat("0123456789012345678901234567890123456789\r\n", 500)
	err = h.send("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(big))
	wantReply(t, err, 552, smtp.EnhancedCode{5, 3, 4})
	if n := len(h.hop.Messages()); n != 0 {
		t.Errorf("next hop got %d message(s)", n)
	}
}

// TestUnknownLevel: [secure7] is refused with 550 5.7.1 and a sentence for
// the clerk; nothing is stored, nothing sent.
func TestUnknownLevel(t *testing.T) {
	t.Parallel()
	h := start(t)
	err := h.send("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(simpleMessage("[secure7] Contract")))
	se := wantReply(t, err, 550, smtp.EnhancedCode{5, 7, 1})
	if !strings.Contains(se.Message, "unknown security level 7") || !strings.Contains(se.Message, "[secure1] to [secure4]") {
		t.Errorf("reply %q", se.Message)
	}
	if n := len(h.hop.Messages()); n != 0 {
		t.Errorf("next hop got %d message(s)", n)
	}
	h.assertNothingStored()
}

// TestInternalOnlyUntouched: a message whose recipients are all internal
// goes out as it came, tag and all.
func TestInternalOnlyUntouched(t *testing.T) {
	t.Parallel()
	h := start(t)
	msg := simpleMessage("[secure1] internal")
	if err := h.send("clerk@example.org", []string{"colleague@intern.example"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	m := h.messages(1)[0]
	if got := stripTrace(t, m.Data); string(got) != msg {
		t.Errorf("internal copy changed: %q", got)
	}
	h.assertNothingStored()
}

// TestLevel0HeaderCleaned: X-Sealgate-* fields never leave, even at level 0.
func TestLevel0HeaderCleaned(t *testing.T) {
	t.Parallel()
	h := start(t)
	msg := "X-Sealgate-Level: 0\r\n" + simpleMessage("plain")
	if err := h.send("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	m := h.messages(1)[0]
	if bytes.Contains(bytes.ToLower(m.Data), []byte("x-sealgate")) {
		t.Errorf("X-Sealgate field left in %q", m.Data)
	}
	if !bytes.Contains(m.Data, []byte("Subject: plain\r\n")) || !bytes.HasSuffix(m.Data, []byte("\r\n\r\nHello,\r\nthis is the text.\r\n")) {
		t.Errorf("message %q", m.Data)
	}
}

// TestShutdownGraceful: at shutdown idle connections are closed at once,
// while a message in the middle of DATA is finished and answered with 250.
func TestShutdownGraceful(t *testing.T) {
	t.Parallel()
	h := start(t)
	busy := dialRaw(t, h.addr)
	busy.cmd("EHLO client.test", 250)
	busy.cmd("MAIL FROM:<clerk@example.org>", 250)
	busy.cmd("RCPT TO:<citizen@example.net>", 250)
	busy.cmd("DATA", 354)
	busy.write("Subject: slow\r\n\r\nfirst half\r\n")

	idle := dialRaw(t, h.addr)
	idle.cmd("EHLO client.test", 250)

	stopped := make(chan struct{})
	go func() { h.stop(); close(stopped) }()
	// The idle connection is closed: that means shutdown has begun.
	if _, err := io.ReadAll(idle.c); err != nil {
		t.Fatalf("idle connection: %v", err)
	}
	busy.write("second half\r\n.\r\n")
	busy.expect(250)
	<-stopped
	m := h.messages(1)[0]
	if !bytes.HasSuffix(m.Data, []byte("first half\r\nsecond half\r\n")) {
		t.Errorf("message %q", m.Data)
	}
}

// TestClientStalls: a client that stops sending in the middle of DATA is cut
// off after ReadTimeout; the next hop gets nothing.
func TestClientStalls(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *Config, _ *smtptest.Options) { c.ReadTimeout = 300 * time.Millisecond })
	rc := dialRaw(t, h.addr)
	rc.cmd("EHLO client.test", 250)
	rc.cmd("MAIL FROM:<clerk@example.org>", 250)
	rc.cmd("RCPT TO:<citizen@example.net>", 250)
	rc.cmd("DATA", 354)
	rc.write("Subject: stall\r\n\r\nsome text\r\n")
	// No more data: the server gives up and closes. By then the next-hop
	// transaction was dropped without its final dot, so nothing can
	// arrive there later.
	if _, err := io.ReadAll(rc.c); err != nil {
		t.Fatal(err)
	}
	if n := len(h.hop.Messages()); n != 0 {
		t.Errorf("%d message(s) from a stalled client reached the next hop", n)
	}
}

// TestLongLine: a line longer than go-smtp's limit is refused with a clear
// permanent reply (Postfix folds long lines, so this is not its mail).
func TestLongLine(t *testing.T) {
	t.Parallel()
	h := start(t)
	msg := simpleMessage("long") + strings.Repeat("x", maxLineLength+10) + "\r\n"
	err := h.send("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(msg))
	wantReply(t, err, 554, smtp.EnhancedCode{5, 6, 0})
	if n := len(h.hop.Messages()); n != 0 {
		t.Errorf("next hop got %d message(s)", n)
	}
}

// TestBDAT: CHUNKING (which go-smtp always offers) goes through the same
// checks as DATA.
func TestBDAT(t *testing.T) {
	t.Parallel()
	h := start(t)
	rc := dialRaw(t, h.addr)
	rc.cmd("EHLO client.test", 250)
	msg := simpleMessage("chunked")
	first, second := msg[:40], msg[40:]
	rc.cmd("MAIL FROM:<clerk@example.org>", 250)
	rc.cmd("RCPT TO:<citizen@example.net>", 250)
	rc.write("BDAT " + strconv.Itoa(len(first)) + "\r\n" + first)
	rc.expect(250)
	rc.write("BDAT " + strconv.Itoa(len(second)) + " LAST\r\n" + second)
	rc.expect(250)
	if got := stripTrace(t, h.messages(1)[0].Data); string(got) != msg {
		t.Errorf("got %q", got)
	}

	bad := "Subject: x\r\n\r\nhello\n.\n"
	rc.cmd("MAIL FROM:<clerk@example.org>", 250)
	rc.cmd("RCPT TO:<citizen@example.net>", 250)
	rc.write("BDAT " + strconv.Itoa(len(bad)) + " LAST\r\n" + bad)
	rc.expect(554)
	rc.cmd("QUIT", 221)
	if n := len(h.hop.Messages()); n != 1 {
		t.Errorf("%d messages at the next hop, want 1", n)
	}
}

// TestPoolBound: with smtp connections to the next hop bounded, a second
// message waits for the first one's connection (and gets 451 if it waits
// longer than the next-hop timeout).
func TestPoolBound(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *Config, _ *smtptest.Options) {
		c.MaxNextHopConns = 1
		c.NextHopTimeout = 5 * time.Second
	})
	a := dialRaw(t, h.addr)
	a.cmd("EHLO a.test", 250)
	a.cmd("MAIL FROM:<clerk@example.org>", 250)
	a.cmd("RCPT TO:<citizen@example.net>", 250)

	b := dialRaw(t, h.addr)
	b.cmd("EHLO b.test", 250)
	b.write("MAIL FROM:<clerk@example.org>\r\n") // waits for a's connection

	a.cmd("DATA", 354)
	a.write("Subject: a\r\n\r\na\r\n.\r\n")
	a.expect(250)
	b.expect(250)
	b.cmd("RCPT TO:<citizen@example.net>", 250)
	b.cmd("DATA", 354)
	b.write("Subject: b\r\n\r\nb\r\n.\r\n")
	b.expect(250)
	if st := h.hop.Stats(); st.Conns != 1 {
		t.Errorf("%d next-hop connections, want 1", st.Conns)
	}

	h2 := start(t, func(c *Config, _ *smtptest.Options) {
		c.MaxNextHopConns = 1
		c.NextHopTimeout = 300 * time.Millisecond
	})
	a = dialRaw(t, h2.addr)
	a.cmd("EHLO a.test", 250)
	a.cmd("MAIL FROM:<clerk@example.org>", 250)
	b = dialRaw(t, h2.addr)
	b.cmd("EHLO b.test", 250)
	msg := b.cmd("MAIL FROM:<clerk@example.org>", 451)
	if !strings.HasPrefix(msg, "4.3.0 ") {
		t.Errorf("reply %q", msg)
	}
	a.cmd("QUIT", 221)
	b.cmd("QUIT", 221)
}

// TestShutdownHard: a message still arriving when the shutdown bound ends
// is cut off; its stored files are removed and nothing reaches the next hop.
func TestShutdownHard(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *Config, _ *smtptest.Options) { c.ShutdownTimeout = 200 * time.Millisecond })
	rc := dialRaw(t, h.addr)
	rc.cmd("EHLO client.test", 250)
	rc.cmd("MAIL FROM:<clerk@example.org>", 250)
	rc.cmd("RCPT TO:<citizen@example.net>", 250)
	rc.cmd("DATA", 354)
	// The first attachment is complete (and stored), the second has begun.
	msg := &taggedMessage{subject: "[secure1] Bescheid", files: threeFiles(64 << 10)}
	b := msg.bytes()
	rc.write(string(b[:bytes.Index(b, []byte("scan.bin"))]))
	// Wait until a blob exists, so that the cut-off has something to
	// remove (the vault offers no event to wait on).
	for deadline := time.Now().Add(10 * time.Second); !h.hasBlob(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no blob stored")
		}
	}
	h.stop()
	if n := len(h.hop.Messages()); n != 0 {
		t.Errorf("next hop got %d message(s)", n)
	}
	h.assertNothingStored()
}
