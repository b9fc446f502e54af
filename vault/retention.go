package vault

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Revoke withdraws a transfer at once: blobs and key packets are deleted,
// its links then report ErrRevoked until retention removes the record, and
// the database is compacted so that the deleted key packets are gone from
// the disk too (see compact).
//
// The file records stay (name, size, hash: what the sender's status page
// shows) and so do the download records and the sender token, but nothing
// from which the content could be recovered; the sealed link token is
// dropped too. Revoking twice is not an error.
func (v *Vault) Revoke(ctx context.Context, transferID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id := normalizeTransferID(transferID)
	now := v.now()
	var blobs []string
	err := v.update(func(tx *bolt.Tx) error {
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
	if len(blobs) > 0 {
		if err := v.compact(); err != nil {
			return fmt.Errorf("vault: revoking %s: %w", id, err)
		}
	}
	return nil
}

// PurgeReport says what Purge removed (or, in a dry run, would remove).
type PurgeReport struct {
	Transfers  []string // references of the transfers removed
	Files      int      // files removed with them
	Accounts   []string // addresses of the idle accounts removed
	Sessions   int      // sessions removed (ended ones, and those of removed accounts)
	LoginCodes int      // sign-in codes removed (expired ones, and those of removed accounts)
	Keys       []string // retired gateway keys deleted (key IDs)
	Orphans    int      // blobs without a record that were swept
	// Compacted reports that the database was rewritten so that the
	// deleted records are gone from the disk (see compact).
	Compacted bool
}

// Purge applies retention as of asOf:
//   - every transfer whose expiry is not after asOf is deleted with
//     everything it holds, whatever its state: records, token, access-code
//     and sender-token indexes, key packets, blobs, download records,
//     failed-code counter and warning marks;
//   - every account idle for Config.AccountInactiveDays (no sign-in or
//     download) is deleted with its keys, sessions and sign-in code;
//   - ended sessions and expired sign-in codes are deleted;
//   - retired gateway keys that no key packet names any more are deleted;
//   - blobs without a record are swept;
//   - and if anything left the database since the last compaction (in
//     this run, or before: an aborted draft, an ended session), the
//     database is compacted, so that a byte scan of storage.dir finds
//     nothing of what went.
//
// With dryRun nothing changes and the report lists what would go.
//
// Purge sends no mail: warnings come first, from AccountsToWarn and
// TransfersExpiredUnread, because a transfer that expired unread is deleted
// by the same run that finds it expired.
//
// Each transfer and account is deleted in its own transaction, so a long
// purge never holds the database for long.
func (v *Vault) Purge(ctx context.Context, asOf time.Time, dryRun bool) (PurgeReport, error) {
	var rep PurgeReport
	asOf = asOf.UTC().Round(0)
	if err := v.purgeTransfers(ctx, asOf, dryRun, &rep); err != nil {
		return rep, err
	}
	if err := v.purgeAccounts(ctx, asOf, dryRun, &rep); err != nil {
		return rep, err
	}
	if err := v.purgeSessionsAndCodes(ctx, asOf, dryRun, &rep); err != nil {
		return rep, err
	}
	keys, err := v.purgeRetiredKeys(ctx, dryRun, rep.Transfers)
	rep.Keys = keys
	if err != nil {
		return rep, err
	}
	if dryRun {
		return rep, nil
	}
	n, err := v.SweepOrphans(ctx)
	rep.Orphans = n
	if err != nil {
		return rep, err
	}
	var pending bool
	err = v.view(func(tx *bolt.Tx) error {
		pending = tx.Bucket(bucketMeta).Get(keyCompactPending) != nil
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("vault: purge: %w", err)
	}
	if pending {
		if err := v.compact(); err != nil {
			return rep, fmt.Errorf("vault: purge: %w", err)
		}
		rep.Compacted = true
	}
	return rep, nil
}

func (v *Vault) purgeTransfers(ctx context.Context, asOf time.Time, dryRun bool, rep *PurgeReport) error {
	var due []string
	err := v.view(func(tx *bolt.Tx) error {
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
		return fmt.Errorf("vault: purge: %w", err)
	}
	for _, id := range due {
		if err := ctx.Err(); err != nil {
			return err
		}
		var blobs []string
		var files int
		err := v.view(func(tx *bolt.Tx) error {
			fs, err := transferFiles(tx, id)
			files = len(fs)
			return err
		})
		if err != nil {
			return fmt.Errorf("vault: purge: %w", err)
		}
		if !dryRun {
			err = v.update(func(tx *bolt.Tx) error {
				rec, ok, err := getTransfer(tx, id)
				if err != nil || !ok || !rec.expired(asOf) {
					return err
				}
				blobs, err = deleteTransfer(tx, rec)
				return err
			})
			if err != nil {
				return fmt.Errorf("vault: purging %s: %w", id, err)
			}
			if err := v.deleteBlobs(ctx, blobs); err != nil {
				return fmt.Errorf("vault: purging %s: %w", id, err)
			}
		}
		rep.Transfers = append(rep.Transfers, id)
		rep.Files += files
	}
	return nil
}

// accountDeleteAt is when an account last active at lastActive is deleted.
func (v *Vault) accountDeleteAt(lastActive time.Time) time.Time {
	return lastActive.AddDate(0, 0, v.inactiveDays)
}

func (v *Vault) purgeAccounts(ctx context.Context, asOf time.Time, dryRun bool, rep *PurgeReport) error {
	idle := func(rec accountRecord) bool { return !asOf.Before(v.accountDeleteAt(rec.LastActive)) }
	var due []string
	err := v.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAccounts).ForEach(func(k, data []byte) error {
			var rec accountRecord
			if err := decodeJSON(k, data, &rec); err != nil {
				return err
			}
			if idle(rec) {
				due = append(due, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("vault: purge: %w", err)
	}
	for _, e := range due {
		if err := ctx.Err(); err != nil {
			return err
		}
		if dryRun {
			rep.Accounts = append(rep.Accounts, e)
			continue
		}
		var found bool
		var sessions, codes int
		err := v.update(func(tx *bolt.Tx) error {
			// Check again: a sign-in since the listing keeps it.
			var rec accountRecord
			ok, err := getJSON(tx.Bucket(bucketAccounts), []byte(e), &rec)
			if err != nil || !ok || !idle(rec) {
				return err
			}
			found, sessions, codes, err = v.deleteAccount(tx, e)
			return err
		})
		if err != nil {
			return fmt.Errorf("vault: purging an account: %w", err)
		}
		if found {
			rep.Accounts = append(rep.Accounts, e)
			rep.Sessions += sessions
			rep.LoginCodes += codes
		}
	}
	return nil
}

func (v *Vault) purgeSessionsAndCodes(ctx context.Context, asOf time.Time, dryRun bool, rep *PurgeReport) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var sessions, codes [][]byte
	find := func(tx *bolt.Tx) error {
		sessions, codes = nil, nil
		err := tx.Bucket(bucketSessions).ForEach(func(k, data []byte) error {
			var s sessionRecord
			if err := decodeJSON(k, data, &s); err != nil {
				return err
			}
			if s.expired(asOf) {
				sessions = append(sessions, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketLoginCodes).ForEach(func(k, data []byte) error {
			var c loginRecord
			if err := decodeJSON(k, data, &c); err != nil {
				return err
			}
			if !asOf.Before(c.ExpiresAt) {
				codes = append(codes, bytes.Clone(k))
			}
			return nil
		})
	}
	var err error
	if dryRun {
		err = v.view(find)
	} else {
		err = v.update(func(tx *bolt.Tx) error {
			if err := find(tx); err != nil {
				return err
			}
			if len(sessions)+len(codes) > 0 {
				if err := markDeleted(tx); err != nil {
					return err
				}
			}
			for _, k := range sessions {
				if err := tx.Bucket(bucketSessions).Delete(k); err != nil {
					return err
				}
			}
			for _, k := range codes {
				if err := tx.Bucket(bucketLoginCodes).Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("vault: purging sessions and codes: %w", err)
	}
	rep.Sessions += len(sessions)
	rep.LoginCodes += len(codes)
	return nil
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
	inflight, _ := v.inflightSnapshot()
	referenced := make(map[string]struct{})
	err = v.view(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketFiles).ForEach(func(k, data []byte) error {
			var f fileRecord
			if err := decodeJSON(k, data, &f); err != nil {
				return err
			}
			if f.BlobID != "" {
				referenced[f.BlobID] = struct{}{}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := uploadBlobs(tx, referenced); err != nil {
			return err
		}
		return outboxBlobs(tx, referenced)
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
