// Package mailqueue delivers mail that sealgate writes itself and must not
// lose, above all uploads and secure replies delivered to the clerk (SPEC
// section 8: such mail "is kept and retried until the next hop takes it").
//
// The relay itself never queues: it answers 250 only after the next hop did.
// This queue is for mail nobody waits for on an SMTP connection: the
// citizen pressed "send" on a web page, and the page can only say
// "delivery pending" and later "delivered".
//
// Messages live in the vault's outbox (vault.PutOutgoing): encrypted to the
// gateway's key at rest, with the envelope, the attempts and the next try in
// bbolt, so a restart loses nothing. One worker (Run) sends what is due
// through a Sender (*smtpproxy.Outbound) and:
//   - deletes the message once the next hop accepted it (the upload it
//     carries becomes "delivered");
//   - on a temporary failure (4xx, next hop unreachable) records the
//     next hop's answer and tries again after a backoff that doubles from
//     MinBackoff up to MaxBackoff (1 minute to 1 hour by default);
//   - on a permanent failure (5xx), or when temporary failures have lasted
//     GiveUpAfter (5 days by default), gives up: the message is deleted,
//     the upload marked "failed" with the answer, and the failure is logged
//     at error level and counted, for the admin.
//
// Delivery is at least once: if the process dies between the next hop's
// 250 and the record's deletion, the mail goes out again after the restart.
package mailqueue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"sealgate/vault"
)

// Store is where queued mail is kept; *vault.Vault implements it.
type Store interface {
	PutOutgoing(ctx context.Context, m vault.OutgoingMail, msg io.Reader) (vault.OutgoingMail, error)
	ListOutgoing(ctx context.Context) ([]vault.OutgoingMail, error)
	OpenOutgoing(ctx context.Context, id string) (io.ReadCloser, vault.OutgoingMail, error)
	RecordOutgoingAttempt(ctx context.Context, id, lastError string, next time.Time) error
	FinishOutgoing(ctx context.Context, id, failure string) error
}

// Sender delivers a finished message; *smtpproxy.Outbound implements it.
type Sender interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// Observer is told what happened to each message, for metrics. kind is
// vault.OutgoingMail.Kind (a small fixed set chosen by sealgate).
type Observer interface {
	MailQueued(kind string)
	MailDelivered(kind string)
	MailDeferred(kind string)
	MailFailed(kind string)
}

// Defaults for zero Config fields.
const (
	DefaultMinBackoff     = time.Minute
	DefaultMaxBackoff     = time.Hour
	DefaultGiveUpAfter    = 5 * 24 * time.Hour
	DefaultAttemptTimeout = 10 * time.Minute
	// DefaultMaxMessageSize bounds a queued message: Sender takes the
	// message as bytes, so each attempt holds one in memory.
	DefaultMaxMessageSize = 64 << 20
)

// Config tunes the queue; the zero value takes the defaults.
type Config struct {
	MinBackoff  time.Duration
	MaxBackoff  time.Duration
	GiveUpAfter time.Duration
	// AttemptTimeout bounds one delivery attempt.
	AttemptTimeout time.Duration
	// MaxMessageSize refuses larger messages at Enqueue.
	MaxMessageSize int64
	// IsTemporary tells a failure worth retrying from a permanent one
	// (smtpproxy.IsTemporary); nil treats every failure as temporary.
	IsTemporary func(error) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observer is told about each message; nil means nobody.
	Observer Observer
}

// Queue is the persistent mail queue. Enqueue is safe for concurrent use;
// exactly one Run may work at a time.
type Queue struct {
	store  Store
	sender Sender
	cfg    Config
	log    *slog.Logger
	wake   chan struct{}
}

// New makes a queue over store that delivers through sender.
func New(store Store, sender Sender, cfg Config, logger *slog.Logger) (*Queue, error) {
	if store == nil || sender == nil {
		return nil, errors.New("mailqueue: store and sender are required")
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.GiveUpAfter <= 0 {
		cfg.GiveUpAfter = DefaultGiveUpAfter
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.IsTemporary == nil {
		cfg.IsTemporary = func(error) bool { return true }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Queue{store: store, sender: sender, cfg: cfg, log: logger, wake: make(chan struct{}, 1)}, nil
}

// ErrTooLarge means a message exceeds Config.MaxMessageSize.
var ErrTooLarge = errors.New("mailqueue: message too large")

// Enqueue stores msg for delivery (durably, encrypted) and wakes the
// worker, which tries it at once. m carries the envelope and, for an
// upload, its ID and version (see vault.PutOutgoing: the upload is marked
// queued in the same step). It returns when the message is stored; the
// errors of vault.PutOutgoing pass through (ErrUploadChanged: compose
// again).
func (q *Queue) Enqueue(ctx context.Context, m vault.OutgoingMail, msg []byte) (vault.OutgoingMail, error) {
	if int64(len(msg)) > q.cfg.MaxMessageSize {
		return vault.OutgoingMail{}, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(msg), q.cfg.MaxMessageSize)
	}
	stored, err := q.store.PutOutgoing(ctx, m, bytes.NewReader(msg))
	if err != nil {
		return vault.OutgoingMail{}, fmt.Errorf("mailqueue: %w", err)
	}
	q.cfg.Observer.MailQueued(stored.Kind)
	q.log.Info("mailqueue: mail queued", "mail", stored.ID, "kind", stored.Kind, "size", stored.Size)
	q.Kick()
	return stored, nil
}

// Kick makes the worker look for due mail now.
func (q *Queue) Kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run delivers due mail until ctx ends, sleeping until the next message is
// due or Enqueue (or Kick) wakes it. It returns ctx's error. A storage
// failure is logged and retried after MinBackoff.
func (q *Queue) Run(ctx context.Context) error {
	for {
		next, err := q.RunDue(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := q.cfg.MaxBackoff
		if err != nil {
			q.log.Error("mailqueue: cannot read the queue", "err", err)
			wait = q.cfg.MinBackoff
		} else if !next.IsZero() {
			wait = max(next.Sub(q.cfg.Now()), 0)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-q.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// RunDue tries every message that is due now, one after another, and
// returns when the earliest remaining one is due (zero when the queue is
// empty).
func (q *Queue) RunDue(ctx context.Context) (time.Time, error) {
	list, err := q.store.ListOutgoing(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	for _, m := range list {
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		if m.NextTry.After(q.cfg.Now()) {
			next = earliest(next, m.NextTry)
			continue
		}
		retry, err := q.attempt(ctx, m)
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		if err != nil {
			q.log.Error("mailqueue: cannot record a delivery attempt", "mail", m.ID, "err", err)
			retry = q.cfg.Now().Add(q.cfg.MinBackoff)
		}
		if !retry.IsZero() {
			next = earliest(next, retry)
		}
	}
	return next, nil
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// attempt tries one message and records the outcome. It returns when to
// try again, or zero when the message is gone (delivered or given up).
func (q *Queue) attempt(ctx context.Context, m vault.OutgoingMail) (time.Time, error) {
	sendErr := q.send(ctx, m)
	if ctx.Err() != nil {
		// Shutting down: not the next hop's fault, nothing to record.
		return time.Time{}, ctx.Err()
	}
	attempts := m.Attempts + 1
	if sendErr == nil {
		if err := q.store.FinishOutgoing(ctx, m.ID, ""); err != nil {
			return time.Time{}, err
		}
		q.cfg.Observer.MailDelivered(m.Kind)
		q.log.Info("mailqueue: mail delivered", "mail", m.ID, "kind", m.Kind, "attempts", attempts)
		return time.Time{}, nil
	}
	now := q.cfg.Now()
	reason := sendErr.Error()
	if !q.temporary(sendErr) || now.Sub(m.CreatedAt) >= q.cfg.GiveUpAfter {
		if err := q.store.FinishOutgoing(ctx, m.ID, reason); err != nil {
			return time.Time{}, err
		}
		q.cfg.Observer.MailFailed(m.Kind)
		q.log.Error("mailqueue: gave up delivering mail", "mail", m.ID, "kind", m.Kind, "upload", m.UploadID,
			"attempts", attempts, "queued_since", m.CreatedAt, "err", sendErr)
		return time.Time{}, nil
	}
	next := now.Add(q.backoff(attempts))
	if err := q.store.RecordOutgoingAttempt(ctx, m.ID, reason, next); err != nil {
		return time.Time{}, err
	}
	q.cfg.Observer.MailDeferred(m.Kind)
	q.log.Warn("mailqueue: delivery deferred", "mail", m.ID, "kind", m.Kind, "attempts", attempts, "next_try", next, "err", sendErr)
	return next, nil
}

// temporary classifies a failed attempt: the queue's own errors by what
// they are, the Sender's by Config.IsTemporary.
func (q *Queue) temporary(err error) bool {
	var se *storeError
	switch {
	case errors.Is(err, ErrTooLarge):
		return false
	case errors.As(err, &se):
		return true // the disk may come back; the message is not at fault
	}
	return q.cfg.IsTemporary(err)
}

// storeError is a failure to read a queued message.
type storeError struct{ err error }

func (e *storeError) Error() string { return "mailqueue: reading queued mail: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// send reads the message from the store and hands it to the Sender.
func (q *Queue) send(ctx context.Context, m vault.OutgoingMail) error {
	ctx, cancel := context.WithTimeout(ctx, q.cfg.AttemptTimeout)
	defer cancel()
	r, _, err := q.store.OpenOutgoing(ctx, m.ID)
	if err != nil {
		return &storeError{err}
	}
	msg, err := io.ReadAll(io.LimitReader(r, q.cfg.MaxMessageSize+1))
	r.Close()
	if err != nil {
		return &storeError{err}
	}
	if int64(len(msg)) > q.cfg.MaxMessageSize {
		return fmt.Errorf("mailqueue: queued mail: %w", ErrTooLarge)
	}
	return q.sender.Send(ctx, m.From, m.To, msg)
}

// backoff is the wait after the given number of failed attempts:
// MinBackoff doubled for each failure after the first, at most MaxBackoff.
func (q *Queue) backoff(attempts int) time.Duration {
	d := q.cfg.MinBackoff
	for i := 1; i < attempts && d < q.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, q.cfg.MaxBackoff)
}

type nopObserver struct{}

func (nopObserver) MailQueued(string)    {}
func (nopObserver) MailDelivered(string) {}
func (nopObserver) MailDeferred(string)  {}
func (nopObserver) MailFailed(string)    {}
