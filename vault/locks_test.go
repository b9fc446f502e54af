package vault

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestFailedCodeLock(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	ctx := context.Background()
	d, f := storeOne(t, v, 2, "a.pdf", []byte("a"))
	other, _ := storeOne(t, v, 2, "b.pdf", []byte("b"))

	for i := 1; i < lockAfterFailedCodes; i++ {
		locked, just, err := v.RecordFailedCode(ctx, d.ID())
		if err != nil || locked || just {
			t.Fatalf("wrong code %d: %v %v %v", i, locked, just, err)
		}
	}
	if _, err := v.TransferByToken(ctx, d.Token()); err != nil {
		t.Fatalf("before the lock: %v", err)
	}
	locked, just, err := v.RecordFailedCode(ctx, d.ID())
	if err != nil || !locked || !just {
		t.Fatalf("wrong code %d: %v %v %v; want locked just now", lockAfterFailedCodes, locked, just, err)
	}
	locked, just, err = v.RecordFailedCode(ctx, d.ID())
	if err != nil || !locked || just {
		t.Fatalf("after the lock: %v %v %v; want locked, not just now", locked, just, err)
	}

	if _, err := v.TransferByToken(ctx, d.Token()); !errors.Is(err, ErrLocked) {
		t.Errorf("TransferByToken of a locked transfer: %v", err)
	}
	if _, err := v.TokenForAccessCode(ctx, d.AccessCode()); !errors.Is(err, ErrLocked) {
		t.Errorf("TokenForAccessCode of a locked transfer: %v", err)
	}
	if _, _, err := v.OpenFile(ctx, d.ID(), f.ID); !errors.Is(err, ErrLocked) {
		t.Errorf("OpenFile of a locked transfer: %v", err)
	}
	// The clerk still sees it, marked.
	tr, err := v.TransferBySenderToken(ctx, d.SenderToken())
	if err != nil || tr.LockedAt.IsZero() {
		t.Errorf("sender view of a locked transfer: %+v, %v", tr, err)
	}
	if info, err := v.TransferByID(ctx, d.ID()); err != nil || info.State != StateLocked || info.FailedCodes != lockAfterFailedCodes {
		t.Errorf("admin view: %s, %d, %v", info.State, info.FailedCodes, err)
	}
	// Other transfers are not affected.
	if _, err := v.TransferByToken(ctx, other.Token()); err != nil {
		t.Errorf("other transfer: %v", err)
	}

	if err := v.Unlock(ctx, " "+d.ID()+" "); err != nil {
		t.Fatal(err)
	}
	if _, err := v.TransferByToken(ctx, d.Token()); err != nil {
		t.Errorf("after Unlock: %v", err)
	}
	if locked, _, _ := v.RecordFailedCode(ctx, d.ID()); locked {
		t.Error("count not reset by Unlock")
	}
	if err := v.Unlock(ctx, "SG-0000-0000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unlock unknown: %v", err)
	}
	if _, _, err := v.RecordFailedCode(ctx, "SG-0000-0000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RecordFailedCode unknown: %v", err)
	}
}

// TestFailedCodeLockOnce: with wrong codes arriving in parallel, exactly
// one call reports that it locked the transfer.
func TestFailedCodeLockOnce(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	d, _ := storeOne(t, v, 2, "a.pdf", []byte("a"))
	var just atomic.Int32
	var wg sync.WaitGroup
	for range 3 * lockAfterFailedCodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, j, err := v.RecordFailedCode(context.Background(), d.ID())
			if err != nil {
				t.Error(err)
			}
			if j {
				just.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := just.Load(); n != 1 {
		t.Errorf("%d calls locked the transfer, want 1", n)
	}
}
