package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// lockAfterFailedCodes is how many wrong sign-in codes by a transfer's
// recipients lock it. Each code allows 5 tries, so this is two codes' worth
// of guessing: more than typing mistakes, far less than a search.
const lockAfterFailedCodes = 10

// RecordFailedCode counts one wrong sign-in code typed on a transfer's pages
// and reports whether the transfer is now locked, and whether this very call
// locked it (true exactly once per lock, so the clerk is told exactly once).
// Counting, checking and locking are one transaction. A locked transfer
// answers ErrLocked to every recipient look-up until Unlock.
func (v *Vault) RecordFailedCode(ctx context.Context, transferID string) (locked, justLocked bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, false, err
	}
	now := v.now()
	err = v.update(func(tx *bolt.Tx) error {
		rec, ok, err := getTransfer(tx, transferID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if !rec.LockedAt.IsZero() {
			locked = true
			return nil
		}
		rec.FailedCodes++
		if rec.FailedCodes >= lockAfterFailedCodes {
			rec.LockedAt = now
			locked, justLocked = true, true
		}
		return putJSON(tx.Bucket(bucketTransfers), []byte(rec.ID), rec)
	})
	if errors.Is(err, ErrNotFound) {
		return false, false, err
	}
	if err != nil {
		return false, false, fmt.Errorf("vault: counting a wrong code for %s: %w", transferID, err)
	}
	return locked, justLocked, nil
}

// Unlock lifts a lock set by RecordFailedCode and resets the count (an
// admin's command). Unlocking a transfer that is not
// locked is not an error; an unknown one gives ErrNotFound.
func (v *Vault) Unlock(ctx context.Context, transferID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id := normalizeTransferID(transferID)
	err := v.update(func(tx *bolt.Tx) error {
		rec, ok, err := getTransfer(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if rec.FailedCodes == 0 && rec.LockedAt.IsZero() {
			return nil
		}
		rec.FailedCodes = 0
		rec.LockedAt = time.Time{}
		return putJSON(tx.Bucket(bucketTransfers), []byte(id), rec)
	})
	if errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("vault: unlocking %s: %w", id, err)
	}
	return nil
}
