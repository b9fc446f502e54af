package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"sealgate/internal/metrics"
	"sealgate/vault"
)

// fakeRetention records what the sweeper asks of the vault.
type fakeRetention struct {
	toWarn       []vault.Account
	unread       []vault.Transfer
	unreadErr    error
	markedWarned []string
	markedUnread []string
	purgedAsOf   []time.Time
	log          []string // the order of calls
}

func (f *fakeRetention) AccountsToWarn(context.Context, time.Time) ([]vault.Account, error) {
	f.log = append(f.log, "accounts-to-warn")
	return f.toWarn, nil
}

func (f *fakeRetention) AccountDeletionDate(a vault.Account) time.Time {
	return a.LastActive.AddDate(0, 0, 90)
}

func (f *fakeRetention) MarkWarned(_ context.Context, email string) error {
	f.log = append(f.log, "mark-warned")
	f.markedWarned = append(f.markedWarned, email)
	return nil
}

func (f *fakeRetention) TransfersExpiredUnread(context.Context, time.Time) ([]vault.Transfer, error) {
	f.log = append(f.log, "expired-unread")
	return f.unread, f.unreadErr
}

func (f *fakeRetention) MarkExpiredUnreadWarned(_ context.Context, id string) error {
	f.log = append(f.log, "mark-unread")
	f.markedUnread = append(f.markedUnread, id)
	return nil
}

func (f *fakeRetention) Purge(_ context.Context, asOf time.Time, dryRun bool) (vault.PurgeReport, error) {
	f.log = append(f.log, "purge")
	if !dryRun {
		f.purgedAsOf = append(f.purgedAsOf, asOf)
	}
	return vault.PurgeReport{Transfers: []string{"SG-AAAA-AAAA"}, Files: 2}, nil
}

// fakeWarner fails for the addresses and transfers in fail.
type fakeWarner struct {
	fail    map[string]bool
	sent    []string
	deletes []time.Time
}

func (w *fakeWarner) AccountWarning(_ context.Context, a vault.Account, deleteOn time.Time) error {
	if w.fail[a.Email] {
		return errors.New("mail server said 451")
	}
	w.sent = append(w.sent, a.Email)
	w.deletes = append(w.deletes, deleteOn)
	return nil
}

func (w *fakeWarner) ExpiredUnread(_ context.Context, t vault.Transfer) error {
	if w.fail[t.ID] {
		return errors.New("mail server said 451")
	}
	w.sent = append(w.sent, t.ID)
	return nil
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var sweepNow = time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC)

func TestSweepWarnsMarksThenPurges(t *testing.T) {
	t.Parallel()
	last := sweepNow.AddDate(0, 0, -84)
	store := &fakeRetention{
		toWarn: []vault.Account{{Email: "idle@example.net", LastActive: last}},
		unread: []vault.Transfer{{ID: "SG-UNRD-0001", ExpiresAt: sweepNow.Add(-time.Hour)}},
	}
	w := &fakeWarner{}
	s := newSweeper(store, w, metrics.New(), quietLog(), time.Hour)
	rep, err := s.sweep(context.Background(), sweepNow)
	if err != nil || len(rep.Transfers) != 1 {
		t.Fatalf("sweep: %+v, %v", rep, err)
	}
	want := []string{"accounts-to-warn", "mark-warned", "expired-unread", "mark-unread", "purge"}
	if !slices.Equal(store.log, want) {
		t.Errorf("calls %v, want %v", store.log, want)
	}
	if !slices.Equal(w.sent, []string{"idle@example.net", "SG-UNRD-0001"}) || !w.deletes[0].Equal(last.AddDate(0, 0, 90)) {
		t.Errorf("sent %v, deletion dates %v", w.sent, w.deletes)
	}
	if len(store.purgedAsOf) != 1 || !store.purgedAsOf[0].Equal(sweepNow) {
		t.Errorf("purged as of %v, want %v", store.purgedAsOf, sweepNow)
	}
}

// A warning that was not sent is not marked (the next sweep sends it), and
// a transfer whose clerk was not told is kept past its expiry, but only
// for the grace period.
func TestSweepDoesNotMarkWhatWasNotSent(t *testing.T) {
	t.Parallel()
	recent := sweepNow.Add(-2 * time.Hour)
	store := &fakeRetention{
		toWarn: []vault.Account{{Email: "a@example.net"}, {Email: "b@example.net"}},
		unread: []vault.Transfer{{ID: "SG-OKAY-0001", ExpiresAt: sweepNow.Add(-3 * time.Hour)}, {ID: "SG-FAIL-0001", ExpiresAt: recent}},
	}
	w := &fakeWarner{fail: map[string]bool{"a@example.net": true, "SG-FAIL-0001": true}}
	s := newSweeper(store, w, metrics.New(), quietLog(), time.Hour)
	_, err := s.sweep(context.Background(), sweepNow)
	if err == nil {
		t.Error("sweep with failed warnings reported no error")
	}
	if !slices.Equal(store.markedWarned, []string{"b@example.net"}) || !slices.Equal(store.markedUnread, []string{"SG-OKAY-0001"}) {
		t.Errorf("marked %v and %v; only what was sent may be marked", store.markedWarned, store.markedUnread)
	}
	if len(store.purgedAsOf) != 1 || !store.purgedAsOf[0].Equal(recent.Add(-time.Nanosecond)) {
		t.Errorf("purged as of %v, want just before the unwarned transfer's expiry %v", store.purgedAsOf, recent)
	}

	// Past the grace, deletion wins.
	store.unread = []vault.Transfer{{ID: "SG-FAIL-0001", ExpiresAt: sweepNow.Add(-48 * time.Hour)}}
	store.purgedAsOf = nil
	_, _ = s.sweep(context.Background(), sweepNow)
	if len(store.purgedAsOf) != 1 || !store.purgedAsOf[0].Equal(sweepNow.Add(-warnGrace)) {
		t.Errorf("purged as of %v, want now minus the grace", store.purgedAsOf)
	}

	// Without the list nobody knows what is unwarned: hold back a grace.
	store.unread, store.unreadErr, store.purgedAsOf = nil, errors.New("disk"), nil
	if _, err := s.sweep(context.Background(), sweepNow); err == nil {
		t.Error("a failed listing was not reported")
	}
	if len(store.purgedAsOf) != 1 || !store.purgedAsOf[0].Equal(sweepNow.Add(-warnGrace)) {
		t.Errorf("purged as of %v after a failed listing, want now minus the grace", store.purgedAsOf)
	}
}

// Without a Warner the sweeper purges and marks nothing as warned.
func TestSweepWithoutWarner(t *testing.T) {
	t.Parallel()
	store := &fakeRetention{
		toWarn: []vault.Account{{Email: "a@example.net"}},
		unread: []vault.Transfer{{ID: "SG-UNRD-0001", ExpiresAt: sweepNow.Add(-time.Hour)}},
	}
	s := newSweeper(store, nil, nil, quietLog(), time.Hour)
	if _, err := s.sweep(context.Background(), sweepNow); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(store.log, []string{"purge"}) || !store.purgedAsOf[0].Equal(sweepNow) {
		t.Errorf("calls %v as of %v; want only a purge as of now", store.log, store.purgedAsOf)
	}
}

// run sweeps at once, and stops when its context ends.
func TestSweeperRunsAtStartAndStops(t *testing.T) {
	t.Parallel()
	store := &fakeRetention{}
	s := newSweeper(store, nil, nil, quietLog(), time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	swept := make(chan struct{})
	s.now = func() time.Time {
		defer close(swept)
		return sweepNow
	}
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	<-swept
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if len(store.purgedAsOf) != 1 {
		t.Errorf("%d purges, want the one at start", len(store.purgedAsOf))
	}
}
