package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	bolt "go.etcd.io/bbolt"
)

// TransferByToken returns the transfer a link token opens, or ErrNotFound,
// ErrExpired, ErrRevoked or ErrLocked. The token is compared by its SHA-256
// only.
//
// The returned Transfer carries all Recipients (To, Cc and Bcc): pages must
// show a visitor no recipient but the visitor (see IsRecipient).
func (v *Vault) TransferByToken(ctx context.Context, token string) (Transfer, error) {
	if err := ctx.Err(); err != nil {
		return Transfer{}, err
	}
	if !wellFormedToken(token) {
		return Transfer{}, ErrNotFound
	}
	h := secretHash(token)
	var t Transfer
	err := v.view(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketTokens).Get(h)
		if id == nil {
			return ErrNotFound
		}
		rec, ok, err := getTransfer(tx, string(id))
		if err != nil {
			return err
		}
		if !ok || !sameHash(rec.TokenHash, h) {
			return ErrNotFound
		}
		if err := v.usable(rec); err != nil {
			return err
		}
		files, err := transferFiles(tx, rec.ID)
		if err != nil {
			return err
		}
		t = rec.transfer(files, false)
		return nil
	})
	if err != nil {
		return Transfer{}, err
	}
	return t, nil
}

// TransferBySenderToken returns the transfer whose sender status token
// (Draft.SenderToken) is token, for the clerk's status page /s/{token}. A
// revoked or locked transfer is returned, not refused, with RevokedAt or
// LockedAt set and, when revoked, its withdrawn files still listed: the clerk
// sees what happened. A transfer past its expiry gives ErrExpired, an
// unknown token ErrNotFound.
func (v *Vault) TransferBySenderToken(ctx context.Context, token string) (Transfer, error) {
	if err := ctx.Err(); err != nil {
		return Transfer{}, err
	}
	if !wellFormedToken(token) {
		return Transfer{}, ErrNotFound
	}
	h := secretHash(token)
	var t Transfer
	err := v.view(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketSenderTokens).Get(h)
		if id == nil {
			return ErrNotFound
		}
		rec, ok, err := getTransfer(tx, string(id))
		if err != nil {
			return err
		}
		if !ok || !sameHash(rec.SenderTokenHash, h) {
			return ErrNotFound
		}
		if rec.expired(v.now()) {
			return ErrExpired
		}
		files, err := transferFiles(tx, rec.ID)
		if err != nil {
			return err
		}
		t = rec.transfer(files, true)
		return nil
	})
	if err != nil {
		return Transfer{}, err
	}
	return t, nil
}

// IsRecipient reports whether email is one of t's recipients (To, Cc or
// Bcc), ignoring case and surrounding space.
func IsRecipient(t Transfer, email string) bool {
	e, err := NormalizeEmail(email)
	if err != nil {
		return false
	}
	for _, r := range t.Recipients {
		if n, err := NormalizeEmail(r); err == nil && n == e {
			return true
		}
	}
	return false
}

// IsSender reports whether email is t's sender, ignoring case and
// surrounding space.
func IsSender(t Transfer, email string) bool {
	e, err := NormalizeEmail(email)
	if err != nil {
		return false
	}
	s, err := NormalizeEmail(t.Sender)
	return err == nil && s == e
}

// TokenForAccessCode returns the link token that an access code stands for
// (case-insensitive, dashes and spaces ignored, O/0 I/L/1 confusions
// forgiven), or ErrNotFound/ErrExpired/ErrRevoked/ErrLocked.
func (v *Vault) TokenForAccessCode(ctx context.Context, code string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	norm, ok := normalizeAccessCode(code)
	if !ok {
		return "", ErrNotFound
	}
	h := secretHash(norm)
	var rec transferRecord
	err := v.view(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketCodes).Get(h)
		if id == nil {
			return ErrNotFound
		}
		r, ok, err := getTransfer(tx, string(id))
		if err != nil {
			return err
		}
		if !ok || !sameHash(r.CodeHash, h) {
			return ErrNotFound
		}
		rec = r
		return v.usable(rec)
	})
	if err != nil {
		return "", err
	}
	token, err := openSealedToken(norm, rec.ID, rec.SealedToken)
	if err != nil {
		return "", err
	}
	return token, nil
}

// OpenFile returns the decrypted plaintext of one file of a level 1–2
// transfer as a stream. The caller closes it. A reader that ends early
// because the stored ciphertext fails authentication returns an error, never
// silently truncated data.
//
// A download already streaming when the transfer is revoked may finish: the
// open blob stays readable until it is closed.
//
// The file is opened with whichever gateway key its key packets name, the
// current one or a retired one (see RotateGatewayKey).
func (v *Vault) OpenFile(ctx context.Context, transferID, fileID string) (io.ReadCloser, File, error) {
	if err := ctx.Err(); err != nil {
		return nil, File{}, err
	}
	var (
		fr      fileRecord
		packets []keyPacket
	)
	err := v.view(func(tx *bolt.Tx) error {
		rec, ok, err := getTransfer(tx, transferID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if err := v.usable(rec); err != nil {
			return err
		}
		if rec.Level > 2 {
			return ErrEndToEnd
		}
		ok, err = getJSON(tx.Bucket(bucketFiles), fileKey(transferID, fileID), &fr)
		if err != nil {
			return err
		}
		if !ok || fr.BlobID == "" {
			return ErrNotFound
		}
		packets = fileKeyPackets(tx, transferID, fileID)
		return nil
	})
	if err != nil {
		return nil, File{}, err
	}
	if fr.Format != formatSEIPDv2 {
		return nil, File{}, fmt.Errorf("vault: file %s/%s has unknown format %q", transferID, fileID, fr.Format)
	}
	keys := v.keys.Load()
	var (
		key    *openpgp.Entity
		packet []byte
	)
	for _, kp := range packets {
		if e, ok := keys.byID[kp.keyID]; ok {
			key, packet = e, kp.packet
			break
		}
	}
	if key == nil {
		return nil, File{}, fmt.Errorf("vault: file %s/%s: no key packet for a gateway key that is still kept", transferID, fileID)
	}
	blob, err := v.blobs.Open(ctx, fr.BlobID)
	if err != nil {
		return nil, File{}, fmt.Errorf("vault: file %s/%s: %w", transferID, fileID, err)
	}
	pt, err := decrypt(key, packet, blob)
	if err != nil {
		blob.Close()
		return nil, File{}, fmt.Errorf("vault: file %s/%s: %w", transferID, fileID, err)
	}
	return &plainReader{r: pt, blob: blob, want: fr.Size, name: transferID + "/" + fileID}, fr.file(), nil
}

// usable says whether a transfer's links still work at the vault's current
// time. Expiry is checked here on every look-up, so it holds even if no
// retention sweep has run yet.
func (v *Vault) usable(rec transferRecord) error {
	if !rec.RevokedAt.IsZero() {
		return ErrRevoked
	}
	if rec.expired(v.now()) {
		return ErrExpired
	}
	if !rec.LockedAt.IsZero() {
		return ErrLocked
	}
	return nil
}

// transfer returns the public view of rec. With all, files whose blob is
// gone (withdrawn) are listed too.
func (rec transferRecord) transfer(files []fileRecord, all bool) Transfer {
	t := Transfer{
		ID:         rec.ID,
		Level:      rec.Level,
		Sender:     rec.Sender,
		Recipients: append([]string(nil), rec.Recipients...),
		Upload:     rec.Upload,
		CreatedAt:  rec.CreatedAt,
		ExpiresAt:  rec.ExpiresAt,
		RevokedAt:  rec.RevokedAt,
		LockedAt:   rec.LockedAt,
		Committed:  rec.State == stateCommitted,
	}
	for _, f := range files {
		if all || f.BlobID != "" {
			t.Files = append(t.Files, f.file())
		}
	}
	return t
}

// plainReader streams a decrypted file and checks its length against the
// record, so that even a well-formed but different stored message cannot
// pass for the file.
type plainReader struct {
	r    io.Reader
	blob io.Closer
	want int64
	got  int64
	name string
	err  error
}

var errLength = errors.New("vault: stored file does not match its recorded size")

func (p *plainReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.r.Read(b)
	p.got += int64(n)
	switch {
	case p.got > p.want:
		err = errLength
	case err == io.EOF && p.got != p.want:
		err = errLength
	case err != nil && err != io.EOF:
		err = fmt.Errorf("vault: reading file %s: %w", p.name, err)
	}
	if err != nil {
		p.err = err
	}
	return n, err
}

func (p *plainReader) Close() error {
	return p.blob.Close()
}

// expired reports whether rec is past its retention at t.
func (rec transferRecord) expired(t time.Time) bool {
	return !t.Before(rec.ExpiresAt)
}
