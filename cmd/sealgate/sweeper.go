package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"sealgate/internal/metrics"
	"sealgate/vault"
)

// Warner sends the mails retention owes people before it deletes (SPEC
// sections 5 and 7). The notify package implements it; a nil Warner means
// no warnings are sent (and none is recorded as sent).
type Warner interface {
	// AccountWarning tells an idle account's owner that the account will
	// be deleted on deleteOn unless they sign in before.
	AccountWarning(ctx context.Context, a vault.Account, deleteOn time.Time) error
	// ExpiredUnread tells the clerk that a transfer expired without any
	// of its files having been downloaded.
	ExpiredUnread(ctx context.Context, t vault.Transfer) error
}

// retentionStore is what the sweeper needs from the vault.
type retentionStore interface {
	AccountsToWarn(ctx context.Context, asOf time.Time) ([]vault.Account, error)
	AccountDeletionDate(a vault.Account) time.Time
	MarkWarned(ctx context.Context, email string) error
	TransfersExpiredUnread(ctx context.Context, asOf time.Time) ([]vault.Transfer, error)
	MarkExpiredUnreadWarned(ctx context.Context, transferID string) error
	Purge(ctx context.Context, asOf time.Time, dryRun bool) (vault.PurgeReport, error)
}

// warnGrace is how long past its expiry a transfer is kept when its
// clerk could not be told that it expired unread, so that the next sweeps
// can retry the mail. Its links answer "expired" all the same (the vault
// checks expiry on every request); after the grace, deletion wins.
const warnGrace = 24 * time.Hour

// sweeper applies retention inside sealgate serve: at start and then every
// interval it sends the warnings that are due, marks what it sent, and
// purges. Admin purges go through it too, so two runs never overlap.
type sweeper struct {
	store    retentionStore
	warner   Warner
	metrics  *metrics.Metrics
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu sync.Mutex // one retention run at a time
}

func newSweeper(store retentionStore, w Warner, m *metrics.Metrics, log *slog.Logger, interval time.Duration) *sweeper {
	if interval <= 0 {
		interval = time.Hour
	}
	return &sweeper{store: store, warner: w, metrics: m, log: log, interval: interval, now: time.Now}
}

// run sweeps at once and then every interval until ctx ends. Failures are
// logged and counted, never fatal: the next sweep tries again.
func (s *sweeper) run(ctx context.Context) error {
	if s.warner == nil {
		s.log.Warn("retention warnings are not configured: idle accounts and the clerks of transfers that expire unread are not told before deletion")
	}
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.sweepOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *sweeper) sweepOnce(ctx context.Context) {
	now := s.now()
	rep, err := s.sweep(ctx, now)
	if ctx.Err() != nil {
		return // shutting down: the next start sweeps again
	}
	if err != nil {
		s.metrics.SweepDone(false, now)
		s.log.Error("retention sweep failed", "err", err)
		return
	}
	s.metrics.SweepDone(true, now)
	s.log.Info("retention sweep finished", "transfers", len(rep.Transfers), "files", rep.Files,
		"accounts", len(rep.Accounts), "sessions", rep.Sessions, "login_codes", rep.LoginCodes,
		"keys", len(rep.Keys), "orphans", rep.Orphans, "compacted", rep.Compacted)
}

// sweep sends the warnings due at now, then purges. A warning that could
// not be sent is not marked, so the next sweep sends it again.
func (s *sweeper) sweep(ctx context.Context, now time.Time) (vault.PurgeReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	asOf := now
	var errs []error
	if s.warner != nil {
		if err := s.warnAccounts(ctx, now); err != nil {
			errs = append(errs, err)
		}
		held, err := s.warnExpiredUnread(ctx, now)
		if err != nil {
			errs = append(errs, err)
		}
		asOf = held
	}
	rep, err := s.purgeLocked(ctx, asOf, false)
	if err != nil {
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}

func (s *sweeper) warnAccounts(ctx context.Context, now time.Time) error {
	due, err := s.store.AccountsToWarn(ctx, now)
	if err != nil {
		return err
	}
	var failed int
	for _, a := range due {
		if err := s.warner.AccountWarning(ctx, a, s.store.AccountDeletionDate(a)); err != nil {
			failed++
			s.metrics.WarningFailed(metrics.WarningAccountInactive)
			s.log.Warn("inactivity warning not sent; retried at the next sweep", "err", err)
			continue
		}
		s.metrics.WarningSent(metrics.WarningAccountInactive)
		if err := s.store.MarkWarned(ctx, a.Email); err != nil && !errors.Is(err, vault.ErrNotFound) {
			s.log.Error("inactivity warning sent but not recorded; it may be sent again", "err", err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d inactivity warnings not sent", failed, len(due))
	}
	return nil
}

// warnExpiredUnread tells the clerks of transfers that expired unread and
// returns the time to purge as of: now, or just before the expiry of the
// earliest transfer whose clerk could not be told (no earlier than
// warnGrace before now), so that its purge waits for the next attempt.
func (s *sweeper) warnExpiredUnread(ctx context.Context, now time.Time) (time.Time, error) {
	floor := now.Add(-warnGrace)
	due, err := s.store.TransfersExpiredUnread(ctx, now)
	if err != nil {
		// Without the list nobody knows which transfers still need
		// their warning: hold back every deletion inside the grace.
		return floor, err
	}
	asOf := now
	var failed int
	for _, t := range due {
		if err := s.warner.ExpiredUnread(ctx, t); err != nil {
			failed++
			s.metrics.WarningFailed(metrics.WarningExpiredUnread)
			s.log.Warn("expired-unread warning not sent; retried at the next sweep", "transfer", t.ID, "err", err)
			if hold := t.ExpiresAt.Add(-time.Nanosecond); hold.Before(asOf) {
				asOf = hold
			}
			continue
		}
		s.metrics.WarningSent(metrics.WarningExpiredUnread)
		if err := s.store.MarkExpiredUnreadWarned(ctx, t.ID); err != nil && !errors.Is(err, vault.ErrNotFound) {
			s.log.Error("expired-unread warning sent but not recorded; it may be sent again", "transfer", t.ID, "err", err)
		}
	}
	if asOf.Before(floor) {
		asOf = floor
	}
	if failed > 0 {
		return asOf, fmt.Errorf("%d of %d expired-unread warnings not sent", failed, len(due))
	}
	return asOf, nil
}

// purge is an admin's purge: it sends no mail, but waits for a running
// sweep and is counted like one.
func (s *sweeper) purge(ctx context.Context, asOf time.Time, dryRun bool) (vault.PurgeReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.purgeLocked(ctx, asOf, dryRun)
}

func (s *sweeper) purgeLocked(ctx context.Context, asOf time.Time, dryRun bool) (vault.PurgeReport, error) {
	rep, err := s.store.Purge(ctx, asOf, dryRun)
	if !dryRun {
		// A failed purge may have deleted some things before it stopped:
		// count what the report says went.
		s.metrics.Purged(len(rep.Transfers), rep.Files, len(rep.Accounts), rep.Sessions, rep.LoginCodes, len(rep.Keys), rep.Orphans)
	}
	return rep, err
}
