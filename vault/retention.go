package vault

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Revoke withdraws a transfer at once: blobs and key packets are deleted, its
// links then report ErrRevoked until retention removes the record.
//
// Deletion here is logical as far as bbolt goes: a deleted key packet's bytes
// may linger in a freed database page until bbolt reuses it. Without the
// blob (deleted and unlinked at once) such a packet opens nothing; an
// offline compaction of the database removes even that.
//
// The file records stay (name, size, hash: what the sender's status page
// shows) but nothing from which the content could be recovered; the sealed
// link token is dropped too. Revoking twice is not an error.
func (v *Vault) Revoke(ctx context.Context, transferID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id := normalizeTransferID(transferID)
	now := v.now()
	var blobs []string
	err := v.db.Update(func(tx *bolt.Tx) error {
		rec, ok, err := getTransfer(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		// Records first, blobs after: a crash in between leaves orphans
		// for the sweep, never a record pointing to a missing blob.
		blobs, err = deleteTransferData(tx, id, true)
		if err != nil {
			return err
		}
		if rec.RevokedAt.IsZero() {
			rec.RevokedAt = now
		}
		rec.SealedToken = nil
		return putJSON(tx.Bucket(bucketTransfers), []byte(id), rec)
	})
	if err != nil {
		return fmt.Errorf("vault: revoking %s: %w", id, err)
	}
	if err := v.deleteBlobs(ctx, blobs); err != nil {
		return fmt.Errorf("vault: revoking %s: %w", id, err)
	}
	return nil
}

// PurgeReport says what Purge removed (or, in a dry run, would remove).
type PurgeReport struct {
	Transfers []string // references of the transfers removed
	Files     int      // files removed with them
	Orphans   int      // blobs without a record that were swept
}

// Purge applies retention as of asOf: every transfer whose expiry is not
// after asOf is deleted with everything it holds (records, indexes, key
// packets, blobs), whatever its state. With dryRun nothing changes and the
// report lists what would go. A real run also sweeps orphaned blobs.
//
// Each transfer is deleted in its own transaction, so a long purge never
// holds the database for long.
func (v *Vault) Purge(ctx context.Context, asOf time.Time, dryRun bool) (PurgeReport, error) {
	var rep PurgeReport
	var due []string
	err := v.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTransfers).ForEach(func(k, data []byte) error {
			var rec transferRecord
			if err := decodeJSON(k, data, &rec); err != nil {
				return err
			}
			if rec.expired(asOf) {
				due = append(due, rec.ID)
			}
			return nil
		})
	})
	if err != nil {
		return rep, fmt.Errorf("vault: purge: %w", err)
	}
	for _, id := range due {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		var blobs []string
		var files int
		err := v.db.View(func(tx *bolt.Tx) error {
			fs, err := transferFiles(tx, id)
			files = len(fs)
			return err
		})
		if err != nil {
			return rep, fmt.Errorf("vault: purge: %w", err)
		}
		if !dryRun {
			err = v.db.Update(func(tx *bolt.Tx) error {
				rec, ok, err := getTransfer(tx, id)
				if err != nil || !ok || !rec.expired(asOf) {
					return err
				}
				blobs, err = deleteTransfer(tx, rec)
				return err
			})
			if err != nil {
				return rep, fmt.Errorf("vault: purging %s: %w", id, err)
			}
			if err := v.deleteBlobs(ctx, blobs); err != nil {
				return rep, fmt.Errorf("vault: purging %s: %w", id, err)
			}
		}
		rep.Transfers = append(rep.Transfers, id)
		rep.Files += files
	}
	if !dryRun {
		n, err := v.SweepOrphans(ctx)
		rep.Orphans = n
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// SweepOrphans deletes blobs that no file record refers to (left by a crash
// between writing a blob and recording it, or by a failed deletion) and
// returns how many it deleted. Blobs that AddFile is writing right now are
// left alone. Open runs it; Purge runs it too.
//
// The order matters: list the blobs, then note which are in flight, then
// read the records. A blob that was listed was created before the listing;
// if its writer is no longer in flight when noted, it recorded the blob (or
// deleted it) before, so the records read afterwards include it.
func (v *Vault) SweepOrphans(ctx context.Context) (int, error) {
	var listed []string
	err := v.blobs.List(ctx, func(b BlobInfo) error {
		listed = append(listed, b.ID)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("vault: sweeping orphans: %w", err)
	}
	if len(listed) == 0 {
		return 0, nil
	}
	inflight := v.inflightSnapshot()
	referenced := make(map[string]struct{})
	err = v.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFiles).ForEach(func(k, data []byte) error {
			var f fileRecord
			if err := decodeJSON(k, data, &f); err != nil {
				return err
			}
			if f.BlobID != "" {
				referenced[f.BlobID] = struct{}{}
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("vault: sweeping orphans: %w", err)
	}
	var orphans []string
	for _, id := range listed {
		_, busy := inflight[id]
		_, used := referenced[id]
		if !busy && !used {
			orphans = append(orphans, id)
		}
	}
	if err := v.deleteBlobs(ctx, orphans); err != nil {
		return 0, fmt.Errorf("vault: sweeping orphans: %w", err)
	}
	return len(orphans), nil
}
