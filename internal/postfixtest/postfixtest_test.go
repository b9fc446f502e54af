package postfixtest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"sealgate/internal/smtptest"
)

// TestRelaysToRelayHost: mail submitted to the instance reaches the relay
// host with its envelope, and the instance leaves /etc/postfix alone.
func TestRelaysToRelayHost(t *testing.T) {
	t.Parallel()
	before := snapshotEtcPostfix(t)
	capture := smtptest.Start(t, smtptest.Options{})
	pf := Start(t, Options{RelayHost: capture.Addr})

	id := pf.Submit(t, "--from", "clerk@sealgate.test", "--to", "citizen@example.net",
		"--header", "Subject: plain relay", "--body", "hello from postfixtest")
	if id == "" {
		t.Fatal("no queue ID")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := capture.WaitMessages(ctx, 1)
	if err != nil {
		t.Fatalf("nothing delivered: %v", err)
	}
	m := msgs[0]
	if m.From != "clerk@sealgate.test" || len(m.To) != 1 || m.To[0] != "citizen@example.net" {
		t.Errorf("envelope %q -> %v", m.From, m.To)
	}
	if !bytes.Contains(m.Data, []byte("hello from postfixtest")) {
		t.Errorf("body lost:\n%s", m.Data)
	}
	pf.WaitLog(ctx, t, regexp.MustCompile(regexp.QuoteMeta(id)+`: to=<citizen@example.net>.*status=sent`))
	if q := pf.Queue(t); len(q) != 0 {
		t.Errorf("queue not empty after delivery: %+v", q)
	}
	if after := snapshotEtcPostfix(t); after != before {
		t.Error("/etc/postfix changed during the test")
	}
}

// TestContentFilterDeferFlushReinject walks the after-queue filter path with
// a capture server standing in for sealgate: a filter that answers 451 makes
// Postfix keep the mail, a flush delivers it to the filter, and mail
// submitted to the reinjection port bypasses the filter.
func TestContentFilterDeferFlushReinject(t *testing.T) {
	t.Parallel()
	final := smtptest.Start(t, smtptest.Options{})
	filter := smtptest.Start(t, smtptest.Options{})
	filter.Inject(smtptest.Fault{Stage: smtptest.StageMail, Reply: &smtp.SMTPError{
		Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "filter not ready"}})
	pf := Start(t, Options{RelayHost: final.Addr, ContentFilter: filter.Addr})

	id := pf.Submit(t, "--from", "clerk@sealgate.test", "--to", "citizen@example.net",
		"--header", "Subject: via filter")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q := pf.WaitQueue(ctx, t, func(q []QueuedMessage) bool {
		return len(q) == 1 && q[0].QueueName == "deferred"
	})
	if q[0].QueueID != id || len(q[0].Recipients) != 1 || !strings.Contains(q[0].Recipients[0].DelayReason, "filter not ready") {
		t.Fatalf("deferred entry does not carry the filter's answer: %+v", q[0])
	}
	if n := len(filter.Messages()) + len(final.Messages()); n != 0 {
		t.Fatalf("%d messages delivered while the filter refused", n)
	}

	filter.Clear()
	pf.Flush(t)
	msgs, err := filter.WaitMessages(ctx, 1)
	if err != nil {
		t.Fatalf("flushed mail never reached the filter: %v", err)
	}
	if msgs[0].From != "clerk@sealgate.test" || !bytes.Contains(msgs[0].Data, []byte("Subject: via filter")) {
		t.Errorf("filter got %q:\n%s", msgs[0].From, msgs[0].Data)
	}
	pf.WaitQueue(ctx, t, func(q []QueuedMessage) bool { return len(q) == 0 })

	// What the filter sends back to the reinjection port goes straight out.
	Swaks(t, "--server", pf.ReinjectAddr, "--from", "clerk@sealgate.test", "--to", "citizen@example.net",
		"--header", "Subject: reinjected")
	out, err := final.WaitMessages(ctx, 1)
	if err != nil {
		t.Fatalf("reinjected mail not delivered: %v", err)
	}
	if !bytes.Contains(out[0].Data, []byte("Subject: reinjected")) {
		t.Errorf("final hop got the wrong message:\n%s", out[0].Data)
	}
	if n := len(filter.Messages()); n != 1 {
		t.Errorf("reinjected mail went through the filter again (%d messages there)", n)
	}
}

// snapshotEtcPostfix fingerprints the system configuration's files.
func snapshotEtcPostfix(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, name := range []string{"main.cf", "master.cf"} {
		p := filepath.Join("/etc/postfix", name)
		fi, err := os.Stat(p)
		if err != nil {
			b.WriteString(name + ": absent\n")
			continue
		}
		data, _ := os.ReadFile(p)
		b.WriteString(name + ": " + fi.ModTime().String() + " " + string(data) + "\n")
	}
	return b.String()
}
