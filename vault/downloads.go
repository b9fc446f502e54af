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

// Download says who downloaded one file of a transfer, when and how often.
type Download struct {
	FileID string
	// Email is the signed-in downloader; empty for downloads without
	// sign-in (level 1), which are counted together.
	Email string
	First time.Time // first complete download
	Last  time.Time // latest complete download
	Count int
}

// downloadRecord is a Download as stored: one per file and downloader, so
// that repeated downloads update a record instead of growing the database.
type downloadRecord struct {
	V      int       `json:"v"`
	FileID string    `json:"file_id"`
	Email  string    `json:"email,omitempty"`
	First  time.Time `json:"first"`
	Last   time.Time `json:"last"`
	Count  int       `json:"count"`
}

func downloadKey(transferID, fileID, email string) []byte {
	return []byte(transferID + "/" + fileID + "/" + email)
}

// RecordDownload records that email (empty when nobody is signed in) has
// received every byte of one file, at at (zero means now), and reports
// whether it was that person's first complete download of the file: the
// moment for a receipt. The check and the update are one transaction, so
// however many downloads finish at once, exactly one of them is first.
//
// Call it only after the last byte was delivered (not for HEAD, ranges or
// aborted downloads). A download that finishes after the transfer was
// revoked or expired still counts (the bytes went out); one whose transfer
// or file record is gone gives ErrNotFound. A download by the owner of an
// account counts as activity for it (see TouchAccount), without making an
// account for anyone.
func (v *Vault) RecordDownload(ctx context.Context, transferID, fileID, email string, at time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	e := ""
	if email != "" {
		var err error
		if e, err = NormalizeEmail(email); err != nil {
			return false, err
		}
	}
	if at.IsZero() {
		at = v.now()
	}
	at = at.UTC().Round(0)
	first := false
	err := v.update(func(tx *bolt.Tx) error {
		if _, ok, err := getTransfer(tx, transferID); err != nil || !ok {
			if err == nil {
				err = ErrNotFound
			}
			return err
		}
		if tx.Bucket(bucketFiles).Get(fileKey(transferID, fileID)) == nil {
			return ErrNotFound
		}
		b := tx.Bucket(bucketDownloads)
		key := downloadKey(transferID, fileID, e)
		var rec downloadRecord
		ok, err := getJSON(b, key, &rec)
		if err != nil {
			return err
		}
		if !ok {
			first = true
			rec = downloadRecord{V: 1, FileID: fileID, Email: e, First: at}
		}
		if at.Before(rec.First) {
			rec.First = at
		}
		if at.After(rec.Last) {
			rec.Last = at
		}
		rec.Count++
		if err := putJSON(b, key, rec); err != nil {
			return err
		}
		if e != "" {
			return touchActivity(tx, e, v.now())
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return false, err
	}
	if err != nil {
		return false, fmt.Errorf("vault: recording download of %s: %w", transferID, err)
	}
	return first, nil
}

// Downloads returns a transfer's download records, ordered by first
// download (then by address), for the clerk's status page. A transfer without downloads gives
// an empty list; an unknown one ErrNotFound.
func (v *Vault) Downloads(ctx context.Context, transferID string) ([]Download, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Download
	err := v.view(func(tx *bolt.Tx) error {
		if _, ok, err := getTransfer(tx, transferID); err != nil || !ok {
			if err == nil {
				err = ErrNotFound
			}
			return err
		}
		var err error
		out, err = transferDownloads(tx, transferID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func transferDownloads(tx *bolt.Tx, transferID string) ([]Download, error) {
	prefix := transferPrefix(transferID)
	var out []Download
	c := tx.Bucket(bucketDownloads).Cursor()
	for k, data := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, data = c.Next() {
		var r downloadRecord
		if err := decodeJSON(k, data, &r); err != nil {
			return nil, err
		}
		out = append(out, Download{FileID: r.FileID, Email: r.Email, First: r.First, Last: r.Last, Count: r.Count})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].First.Equal(out[j].First) {
			return out[i].First.Before(out[j].First)
		}
		return out[i].Email < out[j].Email
	})
	return out, nil
}
