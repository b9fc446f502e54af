package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// accountWarnDays is how many days before its deletion an idle account is
// warned (SPEC section 7: a week).
const accountWarnDays = 7

// AccountDeletionDate returns when a, if it stays idle, will be deleted: for
// the warning mail.
func (v *Vault) AccountDeletionDate(a Account) time.Time {
	return v.accountDeleteAt(a.LastActive)
}

// AccountsToWarn returns the accounts that are due for the inactivity
// warning as of asOf: idle for at least AccountInactiveDays minus 7 days,
// not yet due for deletion, and not yet warned for this idle period.
// The caller mails each and then calls MarkWarned, so each idle period is
// warned about once; signing in (TouchAccount) or downloading starts a new
// period.
func (v *Vault) AccountsToWarn(ctx context.Context, asOf time.Time) ([]Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	asOf = asOf.UTC()
	warnAfter := max(v.inactiveDays-accountWarnDays, 0)
	var out []Account
	err := v.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAccounts).ForEach(func(k, data []byte) error {
			var rec accountRecord
			if err := decodeJSON(k, data, &rec); err != nil {
				return err
			}
			if rec.WarnedAt.IsZero() &&
				!asOf.Before(rec.LastActive.AddDate(0, 0, warnAfter)) &&
				asOf.Before(v.accountDeleteAt(rec.LastActive)) {
				out = append(out, rec.account())
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("vault: listing accounts to warn: %w", err)
	}
	return out, nil
}

// MarkWarned records that the inactivity warning for email's current idle
// period was sent, so AccountsToWarn no longer lists it. An unknown
// address gives ErrNotFound.
//
// Should the person sign in between AccountsToWarn and MarkWarned, the mark
// falls on the new idle period and that period's warning is skipped; the
// deletion itself does not depend on the mark.
func (v *Vault) MarkWarned(ctx context.Context, email string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return ErrNotFound
	}
	now := v.now()
	err = v.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAccounts)
		var rec accountRecord
		ok, err := getJSON(b, []byte(e), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		rec.WarnedAt = now
		return putJSON(b, []byte(e), rec)
	})
	if errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("vault: marking warning: %w", err)
	}
	return nil
}

// TransfersExpiredUnread returns the transfers that have expired by asOf
// without anyone having downloaded any of their files, were not revoked,
// and whose clerk was not yet told (SPEC section 5). The caller mails the
// clerk and calls MarkExpiredUnreadWarned for each, and must do so before
// Purge, which deletes expired transfers. The Transfers list their files.
func (v *Vault) TransfersExpiredUnread(ctx context.Context, asOf time.Time) ([]Transfer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	asOf = asOf.UTC()
	var out []Transfer
	err := v.view(func(tx *bolt.Tx) error {
		dl := tx.Bucket(bucketDownloads).Cursor()
		return tx.Bucket(bucketTransfers).ForEach(func(k, data []byte) error {
			var rec transferRecord
			if err := decodeJSON(k, data, &rec); err != nil {
				return err
			}
			if !rec.expired(asOf) || !rec.RevokedAt.IsZero() || !rec.UnreadWarnedAt.IsZero() {
				return nil
			}
			prefix := transferPrefix(rec.ID)
			if k, _ := dl.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
				return nil // downloaded at least once
			}
			files, err := transferFiles(tx, rec.ID)
			if err != nil {
				return err
			}
			out = append(out, rec.transfer(files, true))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("vault: listing transfers expired unread: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ExpiresAt.Before(out[j].ExpiresAt) })
	return out, nil
}

// MarkExpiredUnreadWarned records that the clerk was told that the transfer
// expired unread, so TransfersExpiredUnread no longer lists it.
func (v *Vault) MarkExpiredUnreadWarned(ctx context.Context, transferID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := v.now()
	err := v.update(func(tx *bolt.Tx) error {
		rec, ok, err := getTransfer(tx, transferID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		rec.UnreadWarnedAt = now
		return putJSON(tx.Bucket(bucketTransfers), []byte(rec.ID), rec)
	})
	if errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("vault: marking %s: %w", transferID, err)
	}
	return nil
}
