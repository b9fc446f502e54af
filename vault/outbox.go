package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The outbox keeps mail that sealgate writes itself and must not lose (an
// upload delivered to the clerk) until the next hop has taken it: the
// message is stored like a file, encrypted to the gateway's key (one blob,
// its key packet under "out/<id>/<keyID>"), and its record holds the
// envelope and the delivery attempts. The worker that sends it is package
// mailqueue; the vault only keeps the state, so a restart loses nothing.

// outboxKeyPrefix is the first segment of outgoing mails' key packets; it
// never equals a transfer reference.
const outboxKeyPrefix = "out"

// OutgoingMail is one queued message.
type OutgoingMail struct {
	ID   string // set by PutOutgoing
	Kind string // what it is, for logs and metrics ("upload", "reply", …)
	From string // envelope sender
	To   []string
	// UploadID, when set, is the upload the mail carries: PutOutgoing
	// marks it queued (refusing with ErrUploadChanged when its Version is
	// no longer UploadVersion), FinishOutgoing delivered or failed.
	UploadID      string
	UploadVersion int
	CreatedAt     time.Time
	Size          int64 // bytes of the message
	Attempts      int
	NextTry       time.Time
	LastError     string
}

type outboxRecord struct {
	V         int       `json:"v"`
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	From      string    `json:"from"`
	To        []string  `json:"to"`
	UploadID  string    `json:"upload_id,omitempty"`
	BlobID    string    `json:"blob_id"`
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"created_at"`
	Attempts  int       `json:"attempts"`
	NextTry   time.Time `json:"next_try"`
	LastError string    `json:"last_error,omitempty"`
}

func (r outboxRecord) mail() OutgoingMail {
	return OutgoingMail{ID: r.ID, Kind: r.Kind, From: r.From, To: append([]string(nil), r.To...), UploadID: r.UploadID,
		CreatedAt: r.CreatedAt, Size: r.Size, Attempts: r.Attempts, NextTry: r.NextTry, LastError: r.LastError}
}

// PutOutgoing stores a message for delivery, encrypted, due at once, and
// returns its record. With m.UploadID the upload must be ready to send
// (open, or failed and being sent again; at least a message or a file;
// every file accepted; its link not closed and its transfer usable) and
// unchanged since m.UploadVersion, and it is marked queued in the same
// transaction that records the mail: an upload is never marked sent
// without its mail, nor sent twice.
func (v *Vault) PutOutgoing(ctx context.Context, m OutgoingMail, msg io.Reader) (OutgoingMail, error) {
	if err := ctx.Err(); err != nil {
		return OutgoingMail{}, err
	}
	if len(m.To) == 0 || m.From == "" {
		return OutgoingMail{}, errors.New("vault: outgoing mail needs a sender and a recipient")
	}
	if m.UploadID != "" {
		// Checked before and again after storing: the first check saves
		// writing a message that cannot go.
		if err := v.view(func(tx *bolt.Tx) error {
			_, err := v.sendableUpload(tx, m.UploadID, m.UploadVersion)
			return err
		}); err != nil {
			return OutgoingMail{}, err
		}
	}
	id, err := newBlobID()
	if err != nil {
		return OutgoingMail{}, err
	}
	item, packets, err := v.sealItem(ctx, outboxKeyPrefix, id, msg)
	if err != nil {
		return OutgoingMail{}, fmt.Errorf("vault: storing outgoing mail: %w", err)
	}
	defer v.endWrite(item.BlobID)
	now := v.now()
	rec := outboxRecord{V: 1, ID: id, Kind: m.Kind, From: m.From, To: append([]string(nil), m.To...), UploadID: m.UploadID,
		BlobID: item.BlobID, Size: item.Size, CreatedAt: now, NextTry: now}
	err = v.update(func(tx *bolt.Tx) error {
		if m.UploadID != "" {
			u, err := v.sendableUpload(tx, m.UploadID, m.UploadVersion)
			if err != nil {
				return err
			}
			u.State, u.QueuedAt, u.OutboxID = UploadQueued, now, id
			u.LastError, u.FailedAt = "", time.Time{}
			if err := putJSON(tx.Bucket(bucketUploads), []byte(u.ID), u); err != nil {
				return err
			}
		}
		if err := v.putItemPackets(tx, outboxKeyPrefix, id, packets); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketOutbox), []byte(id), rec)
	})
	if err != nil {
		err = errors.Join(err, v.deleteBlobs(ctx, []string{item.BlobID}))
		if errors.Is(err, ErrUploadChanged) || errors.Is(err, ErrUploadNotReady) || errors.Is(err, ErrUploadSent) {
			return OutgoingMail{}, err
		}
		return OutgoingMail{}, fmt.Errorf("vault: queueing mail: %w", err)
	}
	return rec.mail(), nil
}

// sendableUpload checks that an upload may be sent now.
func (v *Vault) sendableUpload(tx *bolt.Tx, id string, version int) (uploadRecord, error) {
	u, ok, err := getUpload(tx, id)
	if err != nil {
		return uploadRecord{}, err
	}
	if !ok {
		return uploadRecord{}, ErrNotFound
	}
	if u.State != UploadOpen && u.State != UploadFailed {
		return uploadRecord{}, ErrUploadSent
	}
	if _, err := v.uploadUsable(tx, u); err != nil {
		return uploadRecord{}, err
	}
	if u.Version != version {
		return uploadRecord{}, ErrUploadChanged
	}
	files, err := uploadFiles(tx, id)
	if err != nil {
		return uploadRecord{}, err
	}
	if len(files) == 0 && u.Message == nil {
		return uploadRecord{}, ErrUploadNotReady
	}
	for _, f := range files {
		if f.State != FileAccepted {
			return uploadRecord{}, ErrUploadNotReady
		}
	}
	return u, nil
}

// ListOutgoing returns every queued mail, the one due first first.
func (v *Vault) ListOutgoing(ctx context.Context) ([]OutgoingMail, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []OutgoingMail
	err := v.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).ForEach(func(k, data []byte) error {
			var r outboxRecord
			if err := decodeJSON(k, data, &r); err != nil {
				return err
			}
			out = append(out, r.mail())
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("vault: listing outgoing mail: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].NextTry.Before(out[j].NextTry) })
	return out, nil
}

// OpenOutgoing returns a queued message's bytes, decrypted. The caller
// closes the reader.
func (v *Vault) OpenOutgoing(ctx context.Context, id string) (io.ReadCloser, OutgoingMail, error) {
	if err := ctx.Err(); err != nil {
		return nil, OutgoingMail{}, err
	}
	var (
		rec     outboxRecord
		packets []keyPacket
	)
	err := v.view(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketOutbox), []byte(id), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		packets = fileKeyPackets(tx, outboxKeyPrefix, id)
		return nil
	})
	if err != nil {
		return nil, OutgoingMail{}, err
	}
	r, err := v.openParts(ctx, packets, []uploadPart{{BlobID: rec.BlobID, Size: rec.Size}})
	if err != nil {
		return nil, OutgoingMail{}, fmt.Errorf("vault: outgoing mail %s: %w", id, err)
	}
	return r, rec.mail(), nil
}

// RecordOutgoingAttempt records a failed attempt that is worth retrying:
// the next hop's answer (for the uploader's page; no content) and when to
// try again.
func (v *Vault) RecordOutgoingAttempt(ctx context.Context, id, lastError string, next time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := v.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		var r outboxRecord
		ok, err := getJSON(b, []byte(id), &r)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		r.Attempts++
		r.LastError = truncateError(lastError)
		r.NextTry = next.UTC().Round(0)
		return putJSON(b, []byte(id), r)
	})
	if err != nil {
		return fmt.Errorf("vault: recording delivery attempt: %w", err)
	}
	return nil
}

// FinishOutgoing removes a queued mail, its key packet and its blob: it
// was delivered (failure == "") or will never be (failure says why).
// The upload it carried becomes delivered or failed in the same
// transaction; a failed upload may be sent again. The database is
// compacted by the next Purge.
func (v *Vault) FinishOutgoing(ctx context.Context, id, failure string) error {
	var blob string
	now := v.now()
	err := v.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		var r outboxRecord
		ok, err := getJSON(b, []byte(id), &r)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		blob = r.BlobID
		if err := deleteItemPackets(tx, outboxKeyPrefix, id); err != nil {
			return err
		}
		if err := b.Delete([]byte(id)); err != nil {
			return err
		}
		if r.UploadID == "" {
			return nil
		}
		u, ok, err := getUpload(tx, r.UploadID)
		if err != nil || !ok || u.OutboxID != id {
			return err // the upload went with its transfer: nothing to mark
		}
		u.OutboxID = ""
		if failure == "" {
			u.State, u.DeliveredAt = UploadDelivered, now
		} else {
			u.State, u.FailedAt, u.LastError = UploadFailed, now, truncateError(failure)
		}
		return putJSON(tx.Bucket(bucketUploads), []byte(u.ID), u)
	})
	if err != nil {
		return fmt.Errorf("vault: finishing outgoing mail: %w", err)
	}
	// A cancelled caller must not leave the message behind.
	return v.deleteBlobs(context.WithoutCancel(ctx), []string{blob})
}

// truncateError bounds a stored error text.
func truncateError(s string) string {
	const max = 500
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "")
	}
	return s
}

// outboxBlobs adds the blobs of queued mail to set, for the orphan sweep.
func outboxBlobs(tx *bolt.Tx, set map[string]struct{}) error {
	return tx.Bucket(bucketOutbox).ForEach(func(k, data []byte) error {
		var r outboxRecord
		if err := decodeJSON(k, data, &r); err != nil {
			return err
		}
		set[r.BlobID] = struct{}{}
		return nil
	})
}
