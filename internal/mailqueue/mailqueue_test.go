package mailqueue

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"sealgate/internal/smtptest"
	"sealgate/smtpproxy"
	"sealgate/vault"
)

// events records what the queue told its observer, and lets a test wait
// for an outcome without sleeping.
type events struct {
	mu                                  sync.Mutex
	queued, delivered, deferred, failed int
	changed                             chan struct{}
}

func newEvents() *events { return &events{changed: make(chan struct{}, 100)} }

func (e *events) note(f func()) {
	e.mu.Lock()
	f()
	e.mu.Unlock()
	e.changed <- struct{}{}
}
func (e *events) MailQueued(string)    { e.note(func() { e.queued++ }) }
func (e *events) MailDelivered(string) { e.note(func() { e.delivered++ }) }
func (e *events) MailDeferred(string)  { e.note(func() { e.deferred++ }) }
func (e *events) MailFailed(string)    { e.note(func() { e.failed++ }) }

func (e *events) counts() (queued, delivered, deferred, failed int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.queued, e.delivered, e.deferred, e.failed
}

// waitFor waits until done reports true after an event.
func (e *events) waitFor(t *testing.T, what string, done func() bool) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for !done() {
		select {
		case <-e.changed:
		case <-timeout:
			q, d, df, f := e.counts()
			t.Fatalf("timed out waiting for %s (queued %d, delivered %d, deferred %d, failed %d)", what, q, d, df, f)
		}
	}
}

type rig struct {
	v      *vault.Vault
	hop    *smtptest.Server
	out    *smtpproxy.Outbound
	q      *Queue
	ev     *events
	cancel context.CancelFunc
	done   chan error
}

func openVault(t *testing.T, dir string) *vault.Vault {
	t.Helper()
	v, err := vault.Open(context.Background(), vault.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// newRig starts a fake next hop, a vault, an Outbound client and a queue
// with short backoffs; run starts the worker.
func newRig(t *testing.T, hop *smtptest.Server, v *vault.Vault, cfg Config) *rig {
	t.Helper()
	out, err := smtpproxy.NewOutbound(smtpproxy.OutboundConfig{Hop: hop.Addr, Hostname: "sealgate.test", Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Close)
	ev := newEvents()
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = time.Millisecond
		cfg.MaxBackoff = 4 * time.Millisecond
	}
	cfg.IsTemporary = smtpproxy.IsTemporary
	cfg.Observer = ev
	q, err := New(v, out, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{v: v, hop: hop, out: out, q: q, ev: ev}
}

func (r *rig) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.q.Run(ctx) }()
	t.Cleanup(r.stop)
}

func (r *rig) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
}

const testMsg = "From: noreply@example.org\r\nTo: clerk@example.org\r\nSubject: Upload\r\n\r\nHello clerk.\r\n"

// uploadToSend makes a transfer with an upload link and an upload holding
// a message, ready to be sent.
func uploadToSend(t *testing.T, v *vault.Vault) vault.Upload {
	t.Helper()
	ctx := context.Background()
	d, err := v.BeginTransfer(ctx, vault.NewTransfer{Level: 2, Sender: "clerk@example.org", Recipients: []string{"citizen@example.net"}, Upload: true})
	if err != nil {
		t.Fatal(err)
	}
	token, err := d.UploadToken(ctx, "citizen@example.net")
	if err != nil {
		t.Fatal(err)
	}
	d.Commit(ctx)
	up, err := v.StartUpload(ctx, token, "citizen@example.net")
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SetUploadMessage(ctx, up.ID, "Guten Tag"); err != nil {
		t.Fatal(err)
	}
	up, _ = v.Upload(ctx, up.ID)
	return up
}

func mailFor(up vault.Upload) vault.OutgoingMail {
	return vault.OutgoingMail{Kind: "upload", From: "noreply@example.org", To: []string{"clerk@example.org"}, UploadID: up.ID, UploadVersion: up.Version}
}

// TestRetryAfterTemporaryRefusal: the next hop answers 451 three times;
// the queue waits, tries again and delivers exactly one copy; the upload
// shows the pending state on the way and "delivered" at the end.
func TestRetryAfterTemporaryRefusal(t *testing.T) {
	t.Parallel()
	hop := smtptest.Start(t, smtptest.Options{})
	v := openVault(t, t.TempDir())
	defer v.Close()
	hop.Inject(smtptest.Fault{Stage: smtptest.StageData, Reply: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}, Times: 3})
	r := newRig(t, hop, v, Config{})
	up := uploadToSend(t, v)
	ctx := context.Background()
	if _, err := r.q.Enqueue(ctx, mailFor(up), []byte(testMsg)); err != nil {
		t.Fatal(err)
	}
	got, _ := v.Upload(ctx, up.ID)
	if got.State != vault.UploadQueued {
		t.Fatalf("after Enqueue: %s", got.State)
	}
	r.run(t)
	r.ev.waitFor(t, "delivery", func() bool { _, d, _, _ := r.ev.counts(); return d == 1 })
	if _, _, deferred, failed := r.ev.counts(); deferred != 3 || failed != 0 {
		t.Fatalf("deferred %d, failed %d; want 3, 0", deferred, failed)
	}
	msgs := hop.Messages()
	if len(msgs) != 1 || string(msgs[0].Data) != testMsg || msgs[0].From != "noreply@example.org" || msgs[0].To[0] != "clerk@example.org" {
		t.Fatalf("next hop got %+v", msgs)
	}
	got, _ = v.Upload(ctx, up.ID)
	if got.State != vault.UploadDelivered {
		t.Fatalf("after delivery: %+v", got)
	}
	if list, _ := v.ListOutgoing(ctx); len(list) != 0 {
		t.Fatalf("still queued: %+v", list)
	}
}

// TestPermanentRefusal: a 5xx ends the attempts at once, and the upload
// records the next hop's answer.
func TestPermanentRefusal(t *testing.T) {
	t.Parallel()
	hop := smtptest.Start(t, smtptest.Options{})
	v := openVault(t, t.TempDir())
	defer v.Close()
	hop.Inject(smtptest.Fault{Stage: smtptest.StageRcpt, Reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}})
	r := newRig(t, hop, v, Config{})
	up := uploadToSend(t, v)
	ctx := context.Background()
	if _, err := r.q.Enqueue(ctx, mailFor(up), []byte(testMsg)); err != nil {
		t.Fatal(err)
	}
	r.run(t)
	r.ev.waitFor(t, "failure", func() bool { _, _, _, f := r.ev.counts(); return f == 1 })
	got, _ := v.Upload(ctx, up.ID)
	if got.State != vault.UploadFailed || !strings.Contains(got.Delivery.LastError, "550") || got.Delivery.FailedAt.IsZero() {
		t.Fatalf("failed upload: %+v", got)
	}
	if list, _ := v.ListOutgoing(ctx); len(list) != 0 {
		t.Fatalf("still queued: %+v", list)
	}
	// A failed upload may be sent again once the cause is fixed.
	hop.Clear()
	if _, err := r.q.Enqueue(ctx, mailFor(got), []byte(testMsg)); err != nil {
		t.Fatalf("sending again: %v", err)
	}
	r.ev.waitFor(t, "delivery", func() bool { _, d, _, _ := r.ev.counts(); return d == 1 })
}

// TestGiveUpAfter: temporary refusals that last longer than GiveUpAfter
// end in failure too.
func TestGiveUpAfter(t *testing.T) {
	t.Parallel()
	hop := smtptest.Start(t, smtptest.Options{})
	v := openVault(t, t.TempDir())
	defer v.Close()
	hop.Inject(smtptest.Fault{Stage: smtptest.StageMail, Reply: &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "busy"}})
	var mu sync.Mutex
	now := time.Now().Add(time.Second) // the vault stamps the mail with the real time
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r := newRig(t, hop, v, Config{Now: clock, GiveUpAfter: time.Hour, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	ctx := context.Background()
	if _, err := r.q.Enqueue(ctx, vault.OutgoingMail{Kind: "notice", From: "noreply@example.org", To: []string{"clerk@example.org"}}, []byte(testMsg)); err != nil {
		t.Fatal(err)
	}
	// Attempts are due by the vault's clock (real time) and judged by
	// the queue's: two hours on, the mail is too old.
	if _, err := r.q.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, deferred, _ := r.ev.counts(); deferred != 1 {
		t.Fatalf("first attempt: deferred %d", deferred)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if _, err := r.q.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, _, failed := r.ev.counts(); failed != 1 {
		t.Fatalf("after GiveUpAfter: failed %d", failed)
	}
	if list, _ := v.ListOutgoing(ctx); len(list) != 0 {
		t.Fatalf("still queued: %+v", list)
	}
}

// TestSurvivesRestart: mail queued while the next hop is down stays in the
// vault across a restart and goes out from the new process.
func TestSurvivesRestart(t *testing.T) {
	t.Parallel()
	hop := smtptest.Start(t, smtptest.Options{})
	dir := t.TempDir()
	v := openVault(t, dir)
	hop.Inject(smtptest.Fault{Stage: smtptest.StageConnect, Drop: true})
	r := newRig(t, hop, v, Config{MinBackoff: time.Hour, MaxBackoff: time.Hour})
	up := uploadToSend(t, v)
	ctx := context.Background()
	if _, err := r.q.Enqueue(ctx, mailFor(up), []byte(testMsg)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.q.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, deferred, _ := r.ev.counts(); deferred != 1 {
		t.Fatalf("deferred %d", deferred)
	}
	r.out.Close()
	v.Close()

	hop.Clear()
	v = openVault(t, dir)
	defer v.Close()
	got, err := v.Upload(ctx, up.ID)
	if err != nil || got.State != vault.UploadQueued || got.Delivery.Attempts != 1 || got.Delivery.LastError == "" {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	// The new process's worker finds it due once the backoff passed.
	r2 := newRig(t, hop, v, Config{Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	if _, err := r2.q.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	if msgs := hop.Messages(); len(msgs) != 1 || string(msgs[0].Data) != testMsg {
		t.Fatalf("next hop got %d messages", len(msgs))
	}
	if got, _ := v.Upload(ctx, up.ID); got.State != vault.UploadDelivered {
		t.Fatalf("after delivery: %s", got.State)
	}
}

func TestEnqueueTooLarge(t *testing.T) {
	t.Parallel()
	hop := smtptest.Start(t, smtptest.Options{})
	v := openVault(t, t.TempDir())
	defer v.Close()
	r := newRig(t, hop, v, Config{MaxMessageSize: 10})
	_, err := r.q.Enqueue(context.Background(), vault.OutgoingMail{From: "a@example.org", To: []string{"b@example.org"}}, []byte(testMsg))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	q, _ := New(nopStore{}, nopSender{}, Config{}, nil)
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		if got := q.backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
}

type nopStore struct{ Store }
type nopSender struct{ Sender }
