package smtpproxy

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"sealgate/catalog"
	"sealgate/internal/smtptest"
	"sealgate/notify"
	"sealgate/vault"
)

// fakeObserver records what the relay reports.
type fakeObserver struct {
	mu    sync.Mutex
	calls []observed
	fails []string
}

type observed struct {
	level   int
	outcome string
	d       time.Duration
	stored  int64
}

func newFakeObserver() *fakeObserver { return &fakeObserver{} }

func (o *fakeObserver) MessageDone(level int, outcome string, d time.Duration, stored int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, observed{level, outcome, d, stored})
}

func (o *fakeObserver) RelayFailure(kind string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fails = append(o.fails, kind)
}

func (o *fakeObserver) done() []observed {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]observed(nil), o.calls...)
}

func (o *fakeObserver) failures() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.fails...)
}

// TestObserver: each message is reported once, with its level, its outcome
// and, when relayed at level ≥ 1, the plaintext bytes stored.
func TestObserver(t *testing.T) {
	t.Parallel()
	obs := newFakeObserver()
	h := start(t, func(c *Config, _ *smtptest.Options) { c.Observer = obs })
	to := []string{"citizen@example.net"}
	files := threeFiles(20 << 10)
	var want int64
	for _, f := range files {
		want += f.size
	}

	if err := h.send("clerk@example.org", to, strings.NewReader(simpleMessage("Termin"))); err != nil {
		t.Fatal(err)
	}
	if err := h.send("clerk@example.org", to, (&taggedMessage{subject: "[secure1] Bescheid", files: files}).reader()); err != nil {
		t.Fatal(err)
	}
	err := h.send("clerk@example.org", to, strings.NewReader(simpleMessage("[secure7] Falsch")))
	wantReply(t, err, 550, smtp.EnhancedCode{5, 7, 1})
	h.hop.Inject(smtptest.Fault{Stage: smtptest.StageData, Times: 1,
		Reply: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "later"}})
	err = h.send("clerk@example.org", to, strings.NewReader(simpleMessage("Noch ein Termin")))
	wantReply(t, err, 451, smtp.EnhancedCode{4, 3, 0})
	h.stop()

	got := obs.done()
	wantCalls := []observed{
		{level: 0, outcome: OutcomeRelayed},
		{level: 1, outcome: OutcomeRelayed, stored: want},
		{level: 0, outcome: OutcomeRefused},
		{level: 0, outcome: OutcomeTempfail},
	}
	if len(got) != len(wantCalls) {
		t.Fatalf("observed %d messages, want %d: %+v", len(got), len(wantCalls), got)
	}
	for i, w := range wantCalls {
		g := got[i]
		if g.level != w.level || g.outcome != w.outcome || g.stored != w.stored || g.d <= 0 {
			t.Errorf("message %d: observed %+v, want %+v (and a duration)", i, g, w)
		}
	}
	if f := obs.failures(); len(f) != 0 {
		t.Errorf("failures counted: %v", f)
	}
}

// fakeCopier records sender copies, and fails them when told to.
type fakeCopier struct {
	err   error
	mu    sync.Mutex
	calls []copied
}

type copied struct {
	t     vault.Transfer
	token string
}

func (c *fakeCopier) SenderCopy(ctx context.Context, t vault.Transfer, token string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, copied{t, token})
	return c.err
}

func (c *fakeCopier) copies() []copied {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]copied(nil), c.calls...)
}

// TestSenderCopy: a relayed message that stored a transfer is handed to the
// sender copier with the committed transfer and the status token; a tagged
// message without attachments and an untagged one are not.
func TestSenderCopy(t *testing.T) {
	t.Parallel()
	cp := &fakeCopier{}
	h := start(t, func(c *Config, _ *smtptest.Options) { c.SenderCopy = cp })
	to := []string{"citizen@example.net", "other@example.net"}
	for _, m := range []string{simpleMessage("Termin"), simpleMessage("[secure1] Ohne Anhang")} {
		if err := h.send("clerk@example.org", to, strings.NewReader(m)); err != nil {
			t.Fatal(err)
		}
	}
	files := threeFiles(20 << 10)
	if err := h.send("clerk@example.org", to, (&taggedMessage{subject: "[secure1] Bescheid", files: files}).reader()); err != nil {
		t.Fatal(err)
	}
	rw := parseRewritten(t, stripTrace(t, h.messages(3)[2].Data))
	// Serve returns only after the copies in flight ended.
	h.stop()

	got := cp.copies()
	if len(got) != 1 {
		t.Fatalf("%d sender copies, want 1", len(got))
	}
	tr := got[0].t
	want, err := h.vault.TransferByToken(context.Background(), rw.token)
	if err != nil {
		t.Fatal(err)
	}
	if tr.ID != want.ID || tr.Sender != "clerk@example.org" || len(tr.Files) != len(files) ||
		strings.Join(tr.Recipients, ",") != strings.Join(to, ",") || !tr.Committed {
		t.Errorf("sender copy of %+v, want transfer %s", tr, want.ID)
	}
	bySender, err := h.vault.TransferBySenderToken(context.Background(), got[0].token)
	if err != nil || bySender.ID != want.ID {
		t.Errorf("the status token opens %q (%v), want %s", bySender.ID, err, want.ID)
	}
}

// TestSenderCopyFailure: a copy that cannot be sent leaves the relayed
// message relayed; the failure is counted.
func TestSenderCopyFailure(t *testing.T) {
	t.Parallel()
	cp := &fakeCopier{err: errors.New("outbound down")}
	obs := newFakeObserver()
	h := start(t, func(c *Config, _ *smtptest.Options) {
		c.SenderCopy = cp
		c.Observer = obs
	})
	msg := &taggedMessage{subject: "[secure1] Bescheid", files: threeFiles(10 << 10)}
	if err := h.send("clerk@example.org", []string{"citizen@example.net"}, msg.reader()); err != nil {
		t.Fatalf("a failing sender copy must not fail the message: %v", err)
	}
	h.messages(1)
	h.stop()
	if n := len(cp.copies()); n != 1 {
		t.Errorf("%d copy attempts, want 1", n)
	}
	if f := obs.failures(); len(f) != 1 || f[0] != FailureSenderCopy {
		t.Errorf("failures counted: %v, want [%s]", f, FailureSenderCopy)
	}
	if d := obs.done(); len(d) != 1 || d[0].outcome != OutcomeRelayed {
		t.Errorf("observed %+v, want one relayed message", d)
	}
}

// TestSenderCopyThroughOutbound wires the relay as cmd does: the sender
// copy is composed by notify and sent by Outbound to the same next hop. The
// clerk receives it after the rewritten mail, and its status link opens the
// transfer.
func TestSenderCopyThroughOutbound(t *testing.T) {
	t.Parallel()
	late := &lateCopier{}
	h := start(t, func(c *Config, _ *smtptest.Options) { c.SenderCopy = late })
	out, err := NewOutbound(h.srv.cfg.Outbound(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Close)
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	late.n, err = notify.New(notify.Config{From: "sealgate@example.org", PublicURL: publicURL, OrgName: "Stadt", SenderSummary: true}, cat, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := &taggedMessage{subject: "[secure1] Bescheid", files: threeFiles(10 << 10)}
	if err := h.send("clerk@example.org", []string{"citizen@example.net"}, msg.reader()); err != nil {
		t.Fatal(err)
	}
	msgs := h.messages(2)
	relayed, cp := msgs[0], msgs[1]
	if strings.Join(relayed.To, ",") != "citizen@example.net" {
		t.Fatalf("first message to %q, want the rewritten mail to the citizen", relayed.To)
	}
	if cp.From != "sealgate@example.org" || strings.Join(cp.To, ",") != "clerk@example.org" {
		t.Errorf("sender copy %q -> %q", cp.From, cp.To)
	}
	m := regexp.MustCompile(regexp.QuoteMeta(publicURL) + `/s/([A-Za-z0-9_-]+)`).FindSubmatch(cp.Data)
	if m == nil {
		t.Fatalf("no status link in the sender copy:\n%s", cp.Data)
	}
	tr, err := h.vault.TransferBySenderToken(context.Background(), string(m[1]))
	if err != nil {
		t.Fatalf("the status link does not open the transfer: %v", err)
	}
	if rw := parseRewritten(t, stripTrace(t, relayed.Data)); rw.token == "" {
		t.Error("no link in the rewritten mail")
	} else if byLink, err := h.vault.TransferByToken(context.Background(), rw.token); err != nil || byLink.ID != tr.ID {
		t.Errorf("status link opens %s, the recipient's link %s (%v)", tr.ID, byLink.ID, err)
	}
}

// lateCopier lets a test build the notifier once the harness knows the
// next hop's address.
type lateCopier struct{ n *notify.Notifier }

func (l *lateCopier) SenderCopy(ctx context.Context, t vault.Transfer, token string) error {
	return l.n.SenderCopy(ctx, t, token)
}
