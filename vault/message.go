package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Level-4 message text (Draft.AddText) is stored as items of the transfer
// with these fixed IDs and KindText. Random file IDs are 12 characters, so
// they never collide with these.
const (
	KindText    = "text"
	TextPlainID = "text" // the plain-text part, text/plain; charset=utf-8
	TextHTMLID  = "html" // the HTML part, if the mail had one, text/html; charset=utf-8
)

// AddText stores the message text of a level-4 transfer as encrypted
// items of the transfer (File.Kind KindText), wrapped exactly like its
// files and served the same way (OpenMessage with TextPlainID or
// TextHTMLID). plain is always stored, even when empty (level 4 always
// stores the text); html only when not empty. Both must be the decoded
// text in UTF-8; invalid UTF-8 sequences are stored as U+FFFD, because the
// page shows what is stored. AddText may be called once per draft.
func (d *Draft) AddText(ctx context.Context, plain, html []byte) ([]File, error) {
	if d.rec.Level != 4 {
		return nil, fmt.Errorf("vault: message text is stored at level 4 only, not %d", d.rec.Level)
	}
	if d.text {
		return nil, errors.New("vault: message text already stored")
	}
	if d.done {
		return nil, errDraftDone
	}
	d.text = true
	var out []File
	f, err := d.addItem(ctx, TextPlainID, KindText, "message.txt", "text/plain; charset=utf-8", bytes.NewReader(bytes.ToValidUTF8(plain, []byte("\uFFFD"))))
	if err != nil {
		return nil, err
	}
	out = append(out, f)
	if len(html) > 0 {
		f, err := d.addItem(ctx, TextHTMLID, KindText, "message.html", "text/html; charset=utf-8", bytes.NewReader(bytes.ToValidUTF8(html, []byte("\uFFFD"))))
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// OpenMessage returns one file (or text item) of a level-3/4 transfer as
// the complete OpenPGP message for one recipient: the key packet made for
// that recipient's key, followed by the blob. It is a standard message
// that the recipient's secret key opens in OpenPGP.js or GnuPG (`.pgp`
// downloads). Only that recipient's key packet is included: the message
// reveals no other recipient's key ID. The caller closes the reader.
//
// Errors: ErrNotFound for an unknown transfer or file, a level 1–2
// transfer (see OpenFile), or an address that is not a recipient;
// ErrExpired, ErrRevoked, ErrLocked as for the transfer's links; ErrNoKey
// when the recipient has no key packet yet (they have not set a key);
// ErrUnreadable when the file was wrapped for a key the recipient has since
// replaced or lost.
func (v *Vault) OpenMessage(ctx context.Context, transferID, fileID, recipientEmail string) (io.ReadCloser, File, error) {
	if err := ctx.Err(); err != nil {
		return nil, File{}, err
	}
	e, err := NormalizeEmail(recipientEmail)
	if err != nil {
		return nil, File{}, ErrNotFound
	}
	var (
		fr  fileRecord
		pkt []byte
	)
	err = v.view(func(tx *bolt.Tx) error {
		rec, ok, err := getTransfer(tx, transferID)
		if err != nil {
			return err
		}
		if !ok || rec.Level < 3 {
			return ErrNotFound
		}
		if err := v.usable(rec); err != nil {
			return err
		}
		if !slices.Contains(normalizeRecipients(rec.Recipients), e) {
			return ErrNotFound
		}
		ok, err = getJSON(tx.Bucket(bucketFiles), fileKey(transferID, fileID), &fr)
		if err != nil {
			return err
		}
		if !ok || fr.BlobID == "" {
			return ErrNotFound
		}
		kid := fileWraps(fr, rec)[e]
		if kid == "" {
			return ErrNoKey
		}
		var acct accountRecord
		if _, err := getJSON(tx.Bucket(bucketAccounts), []byte(e), &acct); err != nil {
			return err
		}
		if acct.KeyID != kid {
			return ErrUnreadable
		}
		pkt = bytes.Clone(tx.Bucket(bucketKeyPackets).Get(keyPacketKey(transferID, fileID, kid)))
		if pkt == nil {
			return ErrUnreadable
		}
		return nil
	})
	if err != nil {
		return nil, File{}, err
	}
	blob, err := v.blobs.Open(ctx, fr.BlobID)
	if err != nil {
		return nil, File{}, fmt.Errorf("vault: file %s/%s: %w", transferID, fileID, err)
	}
	return &messageReader{Reader: io.MultiReader(bytes.NewReader(pkt), blob), blob: blob}, fr.file(), nil
}

type messageReader struct {
	io.Reader
	blob io.Closer
}

func (m *messageReader) Close() error { return m.blob.Close() }

// UnreadableFile names a file that one recipient can no longer open: it was
// wrapped for a key they have since replaced (ResetAccountKey) or lost with
// their account, and the gateway no longer holds a key packet from which to
// re-wrap it.
type UnreadableFile struct {
	FileID string
	Email  string
}

// UnreadableFiles lists, for the clerk's status page, which recipients can
// no longer open which files of a level-3/4 transfer, ordered as the files
// were added, then by address. Pending recipients are not listed: their
// files become readable when they set a key. A level 1–2 transfer, or one
// whose files were withdrawn, gives an empty list; an unknown one
// ErrNotFound.
func (v *Vault) UnreadableFiles(ctx context.Context, transferID string) ([]UnreadableFile, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := normalizeTransferID(transferID)
	var out []UnreadableFile
	err := v.view(func(tx *bolt.Tx) error {
		rec, ok, err := getTransfer(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		out, err = unreadableFiles(tx, rec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func unreadableFiles(tx *bolt.Tx, rec transferRecord) ([]UnreadableFile, error) {
	if rec.Level < 3 {
		return nil, nil
	}
	files, err := transferFiles(tx, rec.ID)
	if err != nil {
		return nil, err
	}
	current := make(map[string]string) // address -> current key ID
	keyOf := func(e string) (string, error) {
		if k, ok := current[e]; ok {
			return k, nil
		}
		var acct accountRecord
		if _, err := getJSON(tx.Bucket(bucketAccounts), []byte(e), &acct); err != nil {
			return "", err
		}
		current[e] = acct.KeyID
		return acct.KeyID, nil
	}
	var out []UnreadableFile
	for _, f := range files {
		if f.BlobID == "" {
			continue
		}
		wraps := fileWraps(f, rec)
		emails := make([]string, 0, len(wraps))
		for e := range wraps {
			emails = append(emails, e)
		}
		slices.Sort(emails)
		for _, e := range emails {
			kid := wraps[e]
			if kid == "" {
				continue
			}
			cur, err := keyOf(e)
			if err != nil {
				return nil, err
			}
			if cur != kid || tx.Bucket(bucketKeyPackets).Get(keyPacketKey(rec.ID, f.ID, kid)) == nil {
				out = append(out, UnreadableFile{FileID: f.ID, Email: e})
			}
		}
	}
	return out, nil
}
