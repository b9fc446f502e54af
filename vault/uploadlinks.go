package vault

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrUploadClosed means the clerk closed an upload link (CloseUploadLink):
// the page says so and accepts nothing more through it.
var ErrUploadClosed = errors.New("vault: upload link closed by the sender")

// UploadLink is a personal upload link /u/{token}: one external recipient
// of a transfer may upload files and a message through it, as often as
// they like, until the transfer expires, is revoked or the clerk closes
// the link.
type UploadLink struct {
	TransferID string
	// Email is the recipient the link was made for (normalised): at
	// level ≥2 only they may sign in to use it.
	Email string
	// Level is the transfer's level; Sender is the clerk who will receive
	// the uploads (shown on the page).
	Level  int
	Sender string
	// CreatedAt is when the link was made; ExpiresAt is the transfer's
	// expiry.
	CreatedAt time.Time
	ExpiresAt time.Time
	// Closed is true once the clerk closed the link, at ClosedAt.
	Closed   bool
	ClosedAt time.Time
}

// uploadLinkRecord is stored under transferID/email in bucketUploadLinks.
type uploadLinkRecord struct {
	V          int       `json:"v"`
	TransferID string    `json:"transfer_id"`
	Email      string    `json:"email"`
	TokenHash  []byte    `json:"token_hash"`
	CreatedAt  time.Time `json:"created_at"`
	ClosedAt   time.Time `json:"closed_at,omitzero"`
}

func uploadLinkKey(transferID, email string) []byte {
	return []byte(transferID + "/" + email)
}

func (l uploadLinkRecord) link(rec transferRecord) UploadLink {
	return UploadLink{
		TransferID: l.TransferID,
		Email:      l.Email,
		Level:      rec.Level,
		Sender:     rec.Sender,
		CreatedAt:  l.CreatedAt,
		ExpiresAt:  rec.ExpiresAt,
		Closed:     !l.ClosedAt.IsZero(),
		ClosedAt:   l.ClosedAt,
	}
}

// UploadToken makes the personal upload link of one recipient of the
// transfer and returns its token for /u/{token} (32 random bytes,
// base64url; only its SHA-256 is stored, so this is the only time it is
// known). The link is valid until the transfer expires and may be used any
// number of times until then.
//
// email must be one of the transfer's recipients (ErrInvalidAddress for
// something that is no address, ErrNotFound for an address that is not a
// recipient). Asking again for the same recipient makes a new token that
// replaces the earlier one (the earlier link stops working); uploads made
// through it stay.
func (d *Draft) UploadToken(ctx context.Context, email string) (string, error) {
	if d.done {
		return "", errDraftDone
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return "", err
	}
	found := false
	for _, r := range d.recipients {
		if r == e {
			found = true
			break
		}
	}
	if !found {
		return "", fmt.Errorf("vault: upload link for %s: %w", d.rec.ID, ErrNotFound)
	}
	token, err := newToken()
	if err != nil {
		return "", err
	}
	rec := uploadLinkRecord{V: 1, TransferID: d.rec.ID, Email: e, TokenHash: secretHash(token), CreatedAt: d.v.now()}
	err = d.v.update(func(tx *bolt.Tx) error {
		cur, ok, err := getTransfer(tx, d.rec.ID)
		if err != nil {
			return err
		}
		if !ok || !cur.RevokedAt.IsZero() {
			return errors.New("transfer was removed or revoked meanwhile")
		}
		lb, ib := tx.Bucket(bucketUploadLinks), tx.Bucket(bucketUploadTokens)
		if ib.Get(rec.TokenHash) != nil {
			return errors.New("token collision") // 2^-128: a broken RNG
		}
		key := uploadLinkKey(d.rec.ID, e)
		var old uploadLinkRecord
		had, err := getJSON(lb, key, &old)
		if err != nil {
			return err
		}
		if had {
			if err := deleteIndex(ib, old.TokenHash, string(key)); err != nil {
				return err
			}
			if err := markDeleted(tx); err != nil {
				return err
			}
		}
		if err := putJSON(lb, key, rec); err != nil {
			return err
		}
		return ib.Put(rec.TokenHash, key)
	})
	if err != nil {
		return "", fmt.Errorf("vault: making upload link for %s: %w", d.rec.ID, err)
	}
	return token, nil
}

// UploadByToken returns the upload link that token opens. Errors:
// ErrNotFound for an unknown token, and for the transfer's state
// ErrExpired, ErrRevoked or ErrLocked as TransferByToken gives them.
// A link the clerk closed gives ErrUploadClosed together with the link
// (Closed set), so that the page can still name the clerk.
func (v *Vault) UploadByToken(ctx context.Context, token string) (UploadLink, error) {
	if err := ctx.Err(); err != nil {
		return UploadLink{}, err
	}
	if !wellFormedToken(token) {
		return UploadLink{}, ErrNotFound
	}
	h := secretHash(token)
	var link UploadLink
	err := v.view(func(tx *bolt.Tx) error {
		key := tx.Bucket(bucketUploadTokens).Get(h)
		if key == nil {
			return ErrNotFound
		}
		var l uploadLinkRecord
		ok, err := getJSON(tx.Bucket(bucketUploadLinks), key, &l)
		if err != nil {
			return err
		}
		if !ok || !sameHash(l.TokenHash, h) {
			return ErrNotFound
		}
		rec, ok, err := getTransfer(tx, l.TransferID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if err := v.usable(rec); err != nil {
			return err
		}
		link = l.link(rec)
		if link.Closed {
			return ErrUploadClosed
		}
		return nil
	})
	if errors.Is(err, ErrUploadClosed) {
		return link, err
	}
	if err != nil {
		return UploadLink{}, err
	}
	return link, nil
}

// CloseUploadLink closes one recipient's upload link (the clerk's button on
// the status page): from then on UploadByToken gives ErrUploadClosed and
// nothing more can be uploaded through it. Uploads already made stay and
// are still delivered. Closing twice is not an error; an unknown transfer
// or a recipient without a link gives ErrNotFound.
func (v *Vault) CloseUploadLink(ctx context.Context, transferID, email string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	id := normalizeTransferID(transferID)
	err = v.update(func(tx *bolt.Tx) error {
		lb := tx.Bucket(bucketUploadLinks)
		key := uploadLinkKey(id, e)
		var l uploadLinkRecord
		ok, err := getJSON(lb, key, &l)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if !l.ClosedAt.IsZero() {
			return nil
		}
		l.ClosedAt = v.now()
		return putJSON(lb, key, l)
	})
	if err != nil {
		return fmt.Errorf("vault: closing upload link of %s: %w", id, err)
	}
	return nil
}

// UploadLinks lists a transfer's upload links, ordered by address, for
// the clerk's status page (whose close button calls CloseUploadLink).
// A transfer without links gives an empty list; an unknown one
// ErrNotFound.
func (v *Vault) UploadLinks(ctx context.Context, transferID string) ([]UploadLink, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := normalizeTransferID(transferID)
	var links []UploadLink
	err := v.view(func(tx *bolt.Tx) error {
		rec, ok, err := getTransfer(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		lb := tx.Bucket(bucketUploadLinks)
		for _, k := range prefixKeys(lb, transferPrefix(id)) {
			var l uploadLinkRecord
			if _, err := getJSON(lb, k, &l); err != nil {
				return err
			}
			links = append(links, l.link(rec))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(links, func(i, j int) bool { return links[i].Email < links[j].Email })
	return links, nil
}

// deleteUploadLinks removes a transfer's upload links and their token
// index entries.
func deleteUploadLinks(tx *bolt.Tx, transferID string) error {
	lb, ib := tx.Bucket(bucketUploadLinks), tx.Bucket(bucketUploadTokens)
	for _, k := range prefixKeys(lb, transferPrefix(transferID)) {
		var l uploadLinkRecord
		if _, err := getJSON(lb, k, &l); err != nil {
			return err
		}
		if err := deleteIndex(ib, l.TokenHash, string(k)); err != nil {
			return err
		}
		if err := lb.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
