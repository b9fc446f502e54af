package vault

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRecordDownloadOnce: many downloads of the same file by the same
// person finish at once; exactly one is the first (one receipt).
func TestRecordDownloadOnce(t *testing.T) {
	t.Parallel()
	v, clock, _ := openTestVault(t)
	ctx := context.Background()
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 2, Sender: "clerk@example.org", Recipients: []string{"anna@example.net", "bob@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	f1, _ := d.AddFile(ctx, "a.pdf", "", strings.NewReader("a"))
	f2, _ := d.AddFile(ctx, "b.pdf", "", strings.NewReader("b"))
	if err := d.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := clock.Now()

	const workers = 32
	var firsts atomic.Int32
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, err := v.RecordDownload(ctx, d.ID(), f1.ID, "Anna@example.net", t0.Add(time.Duration(i)*time.Second))
			if err != nil {
				t.Error(err)
			}
			if first {
				firsts.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := firsts.Load(); n != 1 {
		t.Fatalf("%d downloads were first, want exactly 1", n)
	}
	// Another person, another file, and an anonymous download are each
	// first once.
	for _, c := range []struct{ file, email string }{{f1.ID, "bob@example.org"}, {f2.ID, "anna@example.net"}, {f1.ID, ""}} {
		for i := range 2 {
			first, err := v.RecordDownload(ctx, d.ID(), c.file, c.email, time.Time{})
			if err != nil || first != (i == 0) {
				t.Errorf("%s by %q, download %d: first=%v, %v", c.file, c.email, i+1, first, err)
			}
		}
	}
	dl, err := v.Downloads(ctx, d.ID())
	if err != nil || len(dl) != 4 {
		t.Fatalf("Downloads = %+v, %v", dl, err)
	}
	var a Download
	for _, r := range dl {
		if r.FileID == f1.ID && r.Email == "anna@example.net" {
			a = r
		}
	}
	if a.FileID != f1.ID || a.Email != "anna@example.net" || a.Count != workers || !a.First.Equal(t0) || !a.Last.Equal(t0.Add((workers-1)*time.Second)) {
		t.Errorf("Anna's record %+v", a)
	}

	if _, err := v.RecordDownload(ctx, d.ID(), "nope", "anna@example.net", time.Time{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown file: %v", err)
	}
	if _, err := v.RecordDownload(ctx, "SG-0000-0000", f1.ID, "anna@example.net", time.Time{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown transfer: %v", err)
	}
	if _, err := v.Downloads(ctx, "SG-0000-0000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Downloads of unknown transfer: %v", err)
	}
}

// TestDownloadIsActivity: a download moves the downloader's account's last
// activity and ends a pending warning, but makes no account.
func TestDownloadIsActivity(t *testing.T) {
	t.Parallel()
	v, clock, _ := openTestVault(t)
	ctx := context.Background()
	if _, err := v.TouchAccount(ctx, "anna@example.net", "de"); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkWarned(ctx, "anna@example.net"); err != nil {
		t.Fatal(err)
	}
	d, f := storeOne(t, v, 2, "a.pdf", []byte("a"))
	clock.Set(clock.Now().AddDate(0, 0, 3))
	for _, e := range []string{"anna@example.net", "stranger@example.com"} {
		if _, err := v.RecordDownload(ctx, d.ID(), f.ID, e, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	a, err := v.Account(ctx, "anna@example.net")
	if err != nil || !a.LastActive.Equal(clock.Now()) || !a.WarnedAt.IsZero() {
		t.Errorf("account after download: %+v, %v", a, err)
	}
	if _, err := v.Account(ctx, "stranger@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a download made an account: %v", err)
	}
}
