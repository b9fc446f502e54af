package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Uploads are what a transfer's recipient sends back to the clerk: files and
// a message, through a personal upload link (Kind UploadKindUpload) or as a
// secure reply from the transfer page (UploadKindReply). They are stored
// like a transfer's files, encrypted to the gateway's key as they arrive,
// and belong to their transfer: revocation and retention delete them with
// it.
//
// An upload is open while the recipient adds files and writes the message;
// at most one is open per link (or, for replies, per recipient and
// transfer). Sending it (PutOutgoing with its ID) queues the mail to the
// clerk in the same transaction that closes it to changes; the mail queue
// then marks it delivered or failed. The next upload through the same
// link starts a new one.
//
// Files arrive in pieces and may resume after a broken connection: see
// uploadfiles.go.

// Upload kinds.
const (
	UploadKindUpload = "upload" // through an upload link /u/{token}
	UploadKindReply  = "reply"  // a secure reply from the transfer page
)

// Upload states.
const (
	UploadOpen      = "open"      // files and message may change
	UploadQueued    = "queued"    // sent; the mail to the clerk waits for the next hop
	UploadDelivered = "delivered" // the next hop accepted the mail
	UploadFailed    = "failed"    // the next hop refused the mail for good, or it could not be delivered in time
)

// MaxUploadMessage bounds the message a recipient writes with an upload,
// in bytes of UTF-8.
const MaxUploadMessage = 100 << 10

var (
	// ErrUploadSent means the upload was sent and no longer changes.
	ErrUploadSent = errors.New("vault: upload was already sent")
	// ErrUploadNotReady means an upload cannot be sent yet: it has
	// neither a message nor a file, or a file is not completely
	// received and checked (FinishUploadFile).
	ErrUploadNotReady = errors.New("vault: upload is not complete")
	// ErrUploadChanged means the upload changed after it was read for
	// composing its mail (PutOutgoing with an older UploadVersion):
	// compose again.
	ErrUploadChanged = errors.New("vault: upload changed meanwhile")
	// ErrMessageTooLong means an upload message exceeds MaxUploadMessage.
	ErrMessageTooLong = errors.New("vault: message is too long")
)

// Upload is one upload or secure reply, with its files.
type Upload struct {
	// ID names the upload ("SG-7K3M-XQ2P/…"); it is not secret and
	// not a credential.
	ID         string
	TransferID string
	Kind       string // UploadKindUpload or UploadKindReply
	// Email is the recipient who uploads (normalised): the mail to the
	// clerk carries it as Reply-To.
	Email string
	// Sender is the clerk who receives it, Level the transfer's level
	// and ExpiresAt the transfer's expiry, when the upload goes too.
	Sender    string
	Level     int
	ExpiresAt time.Time
	State     string // one of the Upload… states
	// Version counts changes (files, message); PutOutgoing checks it,
	// so that a mail never leaves without a file added meanwhile.
	Version     int
	CreatedAt   time.Time
	QueuedAt    time.Time // zero while open
	DeliveredAt time.Time // zero until delivered
	// MessageSize is the length of the recipient's message in bytes;
	// 0 when there is none (UploadMessage reads it).
	MessageSize int
	Files       []UploadFile
	// Delivery is the state of the mail to the clerk while it is queued
	// or after it failed.
	Delivery Delivery
}

// Delivery is what the mail queue knows about the mail that carries an
// upload to the clerk.
type Delivery struct {
	Attempts  int
	NextTry   time.Time // while queued: when the next attempt is due
	LastError string    // the next hop's last refusal, or why it failed
	FailedAt  time.Time // when the queue gave up
}

// AcceptedSize returns the total size of the upload's accepted files.
func (u Upload) AcceptedSize() int64 {
	var n int64
	for _, f := range u.Files {
		if f.State == FileAccepted {
			n += f.Size
		}
	}
	return n
}

// File returns the file with the given ID.
func (u Upload) File(id string) (UploadFile, bool) {
	for _, f := range u.Files {
		if f.ID == id {
			return f, true
		}
	}
	return UploadFile{}, false
}

type uploadRecord struct {
	V              int       `json:"v"`
	ID             string    `json:"id"`
	TransferID     string    `json:"transfer_id"`
	Kind           string    `json:"kind"`
	Email          string    `json:"email"`
	State          string    `json:"state"`
	Version        int       `json:"version"`
	CreatedAt      time.Time `json:"created_at"`
	QueuedAt       time.Time `json:"queued_at,omitzero"`
	DeliveredAt    time.Time `json:"delivered_at,omitzero"`
	FailedAt       time.Time `json:"failed_at,omitzero"`
	LastError      string    `json:"last_error,omitempty"`
	OutboxID       string    `json:"outbox_id,omitempty"` // the queued mail while queued
	NextSeq        int       `json:"next_seq"`
	ClerkTokenHash []byte    `json:"clerk_token_hash,omitempty"`
	// Message is the recipient's message, encrypted like a file (one
	// part, its own session key); nil when there is none.
	Message *sealedItem `json:"message,omitempty"`
}

// sealedItem is a small encrypted item (an upload's message): one blob,
// whose key packets are stored under item in bucketKeyPackets.
type sealedItem struct {
	Item   string `json:"item"`
	BlobID string `json:"blob_id"`
	Size   int64  `json:"size"`
}

// uploadKey is the key of an upload record: its ID, which starts with the
// transfer ID and a slash, so a transfer's uploads are one prefix scan.
func newUploadID(transferID string) (string, error) {
	r, err := newBlobID()
	if err != nil {
		return "", err
	}
	return transferID + "/" + r[:16], nil
}

// splitUploadID returns the transfer ID and the random part.
func splitUploadID(id string) (transferID, rnd string, ok bool) {
	t, r, ok := strings.Cut(id, "/")
	if !ok || t == "" || r == "" || strings.Contains(r, "/") {
		return "", "", false
	}
	return t, r, true
}

func getUpload(tx *bolt.Tx, id string) (uploadRecord, bool, error) {
	var u uploadRecord
	ok, err := getJSON(tx.Bucket(bucketUploads), []byte(id), &u)
	return u, ok, err
}

// uploadView joins an upload's record with its transfer, files and queued
// mail.
func uploadView(tx *bolt.Tx, u uploadRecord, rec transferRecord) (Upload, error) {
	up := Upload{
		ID: u.ID, TransferID: u.TransferID, Kind: u.Kind, Email: u.Email,
		Sender: rec.Sender, Level: rec.Level, ExpiresAt: rec.ExpiresAt,
		State: u.State, Version: u.Version, CreatedAt: u.CreatedAt, QueuedAt: u.QueuedAt, DeliveredAt: u.DeliveredAt,
		Delivery: Delivery{LastError: u.LastError, FailedAt: u.FailedAt},
	}
	if u.Message != nil {
		up.MessageSize = int(u.Message.Size)
	}
	files, err := uploadFiles(tx, u.ID)
	if err != nil {
		return Upload{}, err
	}
	for _, f := range files {
		up.Files = append(up.Files, f.file())
	}
	if u.OutboxID != "" {
		var m outboxRecord
		ok, err := getJSON(tx.Bucket(bucketOutbox), []byte(u.OutboxID), &m)
		if err != nil {
			return Upload{}, err
		}
		if ok {
			up.Delivery.Attempts, up.Delivery.NextTry = m.Attempts, m.NextTry
			if m.LastError != "" {
				up.Delivery.LastError = m.LastError
			}
		}
	}
	return up, nil
}

// uploadLinkFor resolves an upload token for the address email, checking
// that the link is usable and the address is the one it was made for.
func (v *Vault) uploadLinkFor(tx *bolt.Tx, token, email string) (uploadLinkRecord, transferRecord, error) {
	return v.resolveUploadLink(tx, token, email, false)
}

// resolveUploadLink is uploadLinkFor; with allowClosed a link the clerk
// closed is resolved too (for reading what was sent through it).
func (v *Vault) resolveUploadLink(tx *bolt.Tx, token, email string, allowClosed bool) (uploadLinkRecord, transferRecord, error) {
	if !wellFormedToken(token) {
		return uploadLinkRecord{}, transferRecord{}, ErrNotFound
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return uploadLinkRecord{}, transferRecord{}, err
	}
	h := secretHash(token)
	key := tx.Bucket(bucketUploadTokens).Get(h)
	if key == nil {
		return uploadLinkRecord{}, transferRecord{}, ErrNotFound
	}
	var l uploadLinkRecord
	ok, err := getJSON(tx.Bucket(bucketUploadLinks), key, &l)
	if err != nil {
		return uploadLinkRecord{}, transferRecord{}, err
	}
	if !ok || !sameHash(l.TokenHash, h) {
		return uploadLinkRecord{}, transferRecord{}, ErrNotFound
	}
	rec, ok, err := getTransfer(tx, l.TransferID)
	if err != nil {
		return uploadLinkRecord{}, transferRecord{}, err
	}
	if !ok {
		return uploadLinkRecord{}, transferRecord{}, ErrNotFound
	}
	if err := v.usable(rec); err != nil {
		return uploadLinkRecord{}, transferRecord{}, err
	}
	if !l.ClosedAt.IsZero() && !allowClosed {
		return uploadLinkRecord{}, transferRecord{}, ErrUploadClosed
	}
	if l.Email != e {
		return uploadLinkRecord{}, transferRecord{}, fmt.Errorf("upload link of another recipient: %w", ErrNotFound)
	}
	return l, rec, nil
}

// replyTransferFor resolves a transfer link token for a reply by email,
// which must be one of the transfer's recipients.
func (v *Vault) replyTransferFor(tx *bolt.Tx, token, email string) (transferRecord, string, error) {
	if !wellFormedToken(token) {
		return transferRecord{}, "", ErrNotFound
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return transferRecord{}, "", err
	}
	h := secretHash(token)
	id := tx.Bucket(bucketTokens).Get(h)
	if id == nil {
		return transferRecord{}, "", ErrNotFound
	}
	rec, ok, err := getTransfer(tx, string(id))
	if err != nil {
		return transferRecord{}, "", err
	}
	if !ok || !sameHash(rec.TokenHash, h) {
		return transferRecord{}, "", ErrNotFound
	}
	if err := v.usable(rec); err != nil {
		return transferRecord{}, "", err
	}
	if !IsRecipient(rec.transfer(nil, false), e) {
		return transferRecord{}, "", fmt.Errorf("reply by someone who is not a recipient: %w", ErrNotFound)
	}
	return rec, e, nil
}

// uploadsOf returns the uploads of one kind by one address on a transfer,
// newest first.
func uploadsOf(tx *bolt.Tx, transferID, kind, email string) ([]uploadRecord, error) {
	b := tx.Bucket(bucketUploads)
	var out []uploadRecord
	for _, k := range prefixKeys(b, transferPrefix(transferID)) {
		var u uploadRecord
		if _, err := getJSON(b, k, &u); err != nil {
			return nil, err
		}
		if u.Kind == kind && u.Email == email {
			out = append(out, u)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

// CurrentUpload returns the open upload of the upload link token for the
// address email (which must be the one the link was made for), without
// making one: when there is none yet, the Upload has an empty ID and only
// the link's facts (transfer, clerk, level, expiry). A GET can call it.
// Errors as UploadByToken, and ErrNotFound for another address.
func (v *Vault) CurrentUpload(ctx context.Context, token, email string) (Upload, error) {
	return v.currentUpload(ctx, token, email, false)
}

// StartUpload returns the open upload of the upload link token for email,
// making one when there is none (for the first file or message).
func (v *Vault) StartUpload(ctx context.Context, token, email string) (Upload, error) {
	return v.currentUpload(ctx, token, email, true)
}

func (v *Vault) currentUpload(ctx context.Context, token, email string, create bool) (Upload, error) {
	if err := ctx.Err(); err != nil {
		return Upload{}, err
	}
	var up Upload
	fn := func(tx *bolt.Tx) error {
		l, rec, err := v.uploadLinkFor(tx, token, email)
		if err != nil {
			return err
		}
		up, err = v.openUploadIn(tx, rec, UploadKindUpload, l.Email, create)
		return err
	}
	var err error
	if create {
		err = v.update(fn)
	} else {
		err = v.view(fn)
	}
	if err != nil {
		return Upload{}, err
	}
	return up, nil
}

// CurrentReply is CurrentUpload for a secure reply from the transfer page:
// token is the transfer's link token and email a signed-in recipient.
func (v *Vault) CurrentReply(ctx context.Context, transferToken, email string) (Upload, error) {
	return v.currentReply(ctx, transferToken, email, false)
}

// StartReply is StartUpload for a secure reply from the transfer page.
func (v *Vault) StartReply(ctx context.Context, transferToken, email string) (Upload, error) {
	return v.currentReply(ctx, transferToken, email, true)
}

func (v *Vault) currentReply(ctx context.Context, token, email string, create bool) (Upload, error) {
	if err := ctx.Err(); err != nil {
		return Upload{}, err
	}
	var up Upload
	fn := func(tx *bolt.Tx) error {
		rec, e, err := v.replyTransferFor(tx, token, email)
		if err != nil {
			return err
		}
		up, err = v.openUploadIn(tx, rec, UploadKindReply, e, create)
		return err
	}
	var err error
	if create {
		err = v.update(fn)
	} else {
		err = v.view(fn)
	}
	if err != nil {
		return Upload{}, err
	}
	return up, nil
}

// openUploadIn finds (or with create, makes) the open upload of kind by
// email on rec.
func (v *Vault) openUploadIn(tx *bolt.Tx, rec transferRecord, kind, email string, create bool) (Upload, error) {
	ups, err := uploadsOf(tx, rec.ID, kind, email)
	if err != nil {
		return Upload{}, err
	}
	for _, u := range ups {
		if u.State == UploadOpen {
			return uploadView(tx, u, rec)
		}
	}
	u := uploadRecord{V: 1, TransferID: rec.ID, Kind: kind, Email: email, State: UploadOpen, CreatedAt: v.now()}
	if !create {
		up, err := uploadView(tx, u, rec)
		up.State = UploadOpen
		return up, err
	}
	if u.ID, err = newUploadID(rec.ID); err != nil {
		return Upload{}, err
	}
	if tx.Bucket(bucketUploads).Get([]byte(u.ID)) != nil {
		return Upload{}, errors.New("vault: upload ID collision")
	}
	if err := putJSON(tx.Bucket(bucketUploads), []byte(u.ID), u); err != nil {
		return Upload{}, err
	}
	return uploadView(tx, u, rec)
}

// LinkUploads lists every upload made through the upload link token by
// email, newest first, with its delivery state: for the upload page, also
// after the clerk closed the link.
func (v *Vault) LinkUploads(ctx context.Context, token, email string) ([]Upload, error) {
	return v.listUploads(ctx, func(tx *bolt.Tx) (transferRecord, string, string, error) {
		l, rec, err := v.resolveUploadLink(tx, token, email, true)
		return rec, UploadKindUpload, l.Email, err
	})
}

// TransferReplies lists the secure replies that email sent from the
// transfer page of token, newest first, with their delivery state.
func (v *Vault) TransferReplies(ctx context.Context, transferToken, email string) ([]Upload, error) {
	return v.listUploads(ctx, func(tx *bolt.Tx) (transferRecord, string, string, error) {
		rec, e, err := v.replyTransferFor(tx, transferToken, email)
		return rec, UploadKindReply, e, err
	})
}

func (v *Vault) listUploads(ctx context.Context, resolve func(*bolt.Tx) (transferRecord, string, string, error)) ([]Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Upload
	err := v.view(func(tx *bolt.Tx) error {
		rec, kind, email, err := resolve(tx)
		if err != nil {
			return err
		}
		ups, err := uploadsOf(tx, rec.ID, kind, email)
		if err != nil {
			return err
		}
		for _, u := range ups {
			up, err := uploadView(tx, u, rec)
			if err != nil {
				return err
			}
			out = append(out, up)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Upload returns one upload by its ID, whatever its state, or ErrNotFound.
// It does not check the transfer's state: the mail queue and the clerk's
// page use it.
func (v *Vault) Upload(ctx context.Context, id string) (Upload, error) {
	if err := ctx.Err(); err != nil {
		return Upload{}, err
	}
	var up Upload
	err := v.view(func(tx *bolt.Tx) error {
		u, ok, err := getUpload(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		rec, ok, err := getTransfer(tx, u.TransferID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		up, err = uploadView(tx, u, rec)
		return err
	})
	if err != nil {
		return Upload{}, err
	}
	return up, nil
}

// Uploads lists a transfer's uploads and replies, oldest first, for the
// clerk's status page. An unknown transfer gives ErrNotFound.
func (v *Vault) Uploads(ctx context.Context, transferID string) ([]Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := normalizeTransferID(transferID)
	var out []Upload
	err := v.view(func(tx *bolt.Tx) error {
		rec, ok, err := getTransfer(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		b := tx.Bucket(bucketUploads)
		for _, k := range prefixKeys(b, transferPrefix(id)) {
			var u uploadRecord
			if _, err := getJSON(b, k, &u); err != nil {
				return err
			}
			up, err := uploadView(tx, u, rec)
			if err != nil {
				return err
			}
			out = append(out, up)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// writableUpload loads an upload for a change: it must be open, its
// transfer usable and, for an upload link, the link not closed.
func (v *Vault) writableUpload(tx *bolt.Tx, id string) (uploadRecord, transferRecord, error) {
	u, ok, err := getUpload(tx, id)
	if err != nil {
		return uploadRecord{}, transferRecord{}, err
	}
	if !ok {
		return uploadRecord{}, transferRecord{}, ErrNotFound
	}
	rec, err := v.uploadUsable(tx, u)
	if err != nil {
		return uploadRecord{}, transferRecord{}, err
	}
	if u.State != UploadOpen {
		return uploadRecord{}, transferRecord{}, ErrUploadSent
	}
	return u, rec, nil
}

// uploadUsable checks that an upload's transfer is usable and, for an
// upload link, that the link is not closed, and returns the transfer.
func (v *Vault) uploadUsable(tx *bolt.Tx, u uploadRecord) (transferRecord, error) {
	rec, ok, err := getTransfer(tx, u.TransferID)
	if err != nil {
		return transferRecord{}, err
	}
	if !ok {
		return transferRecord{}, ErrNotFound
	}
	if err := v.usable(rec); err != nil {
		return transferRecord{}, err
	}
	if u.Kind == UploadKindUpload {
		var l uploadLinkRecord
		ok, err := getJSON(tx.Bucket(bucketUploadLinks), uploadLinkKey(u.TransferID, u.Email), &l)
		if err != nil {
			return transferRecord{}, err
		}
		if !ok {
			return transferRecord{}, ErrNotFound
		}
		if !l.ClosedAt.IsZero() {
			return transferRecord{}, ErrUploadClosed
		}
	}
	return rec, nil
}

// SetUploadMessage stores the recipient's message with an open upload,
// encrypted like a file, replacing any earlier one; an empty text removes
// it. It must be valid UTF-8 of at most MaxUploadMessage bytes.
func (v *Vault) SetUploadMessage(ctx context.Context, uploadID, text string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(text) > MaxUploadMessage {
		return ErrMessageTooLong
	}
	text = strings.ToValidUTF8(text, "\uFFFD")
	var u uploadRecord
	if err := v.view(func(tx *bolt.Tx) (err error) {
		u, _, err = v.writableUpload(tx, uploadID)
		return err
	}); err != nil {
		return err
	}
	var item *sealedItem
	var packets map[string][]byte
	if text != "" {
		suffix, err := newBlobID()
		if err != nil {
			return err
		}
		item, packets, err = v.sealItem(ctx, u.TransferID, "m."+randomPart(u.ID)+"."+suffix[:8], strings.NewReader(text))
		if err != nil {
			return fmt.Errorf("vault: storing message: %w", err)
		}
		defer v.endWrite(item.BlobID)
	}
	var oldBlob string
	err := v.update(func(tx *bolt.Tx) error {
		u, _, err := v.writableUpload(tx, uploadID)
		if err != nil {
			return err
		}
		if u.Message != nil {
			oldBlob = u.Message.BlobID
			if err := deleteItemPackets(tx, u.TransferID, u.Message.Item); err != nil {
				return err
			}
		}
		if item != nil {
			if err := v.putItemPackets(tx, u.TransferID, item.Item, packets); err != nil {
				return err
			}
		}
		u.Message = item
		u.Version++
		return putJSON(tx.Bucket(bucketUploads), []byte(u.ID), u)
	})
	if err != nil {
		if item != nil {
			err = errors.Join(err, v.deleteBlobs(ctx, []string{item.BlobID}))
		}
		return fmt.Errorf("vault: storing message: %w", err)
	}
	if oldBlob != "" {
		return v.deleteBlobs(ctx, []string{oldBlob})
	}
	return nil
}

// UploadMessage returns the recipient's message of an upload ("" when
// there is none), decrypted.
func (v *Vault) UploadMessage(ctx context.Context, uploadID string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	var item *sealedItem
	var transferID string
	var packets []keyPacket
	err := v.view(func(tx *bolt.Tx) error {
		u, ok, err := getUpload(tx, uploadID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		item, transferID = u.Message, u.TransferID
		if item != nil {
			packets = fileKeyPackets(tx, transferID, item.Item)
		}
		return nil
	})
	if err != nil || item == nil {
		return "", err
	}
	r, err := v.openParts(ctx, packets, []uploadPart{{BlobID: item.BlobID, Size: item.Size}})
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, MaxUploadMessage+1))
	if err != nil {
		return "", fmt.Errorf("vault: reading message: %w", err)
	}
	if int64(len(b)) != item.Size {
		return "", errLength
	}
	if !utf8.Valid(b) {
		return "", errors.New("vault: stored message is not UTF-8")
	}
	return string(b), nil
}

// sealItem encrypts r as one part under a fresh session key wrapped for
// the gateway's current key, and returns the item and its key packets to
// record. The blob is registered as in flight; the caller calls endWrite
// after recording it.
func (v *Vault) sealItem(ctx context.Context, transferID, item string, r io.Reader) (*sealedItem, map[string][]byte, error) {
	blobID, err := newBlobID()
	if err != nil {
		return nil, nil, err
	}
	keys := v.keys.Load()
	sk, err := newSessionKey()
	if err != nil {
		return nil, nil, err
	}
	defer clear(sk)
	p, err := keys.wrap(sk, formatSEIPDv2)
	if err != nil {
		return nil, nil, err
	}
	v.beginWrite(blobID, keys.keyID)
	size, _, err := v.writeBlob(ctx, blobID, sk, formatSEIPDv2, r)
	if err != nil {
		v.endWrite(blobID)
		return nil, nil, err
	}
	return &sealedItem{Item: item, BlobID: blobID, Size: size}, map[string][]byte{keys.keyID: p}, nil
}

// putItemPackets records an item's key packets, refusing a gateway key
// that was retired and deleted meanwhile (see purgeRetiredKeys).
func (v *Vault) putItemPackets(tx *bolt.Tx, transferID, item string, packets map[string][]byte) error {
	kb := tx.Bucket(bucketKeyPackets)
	g := v.keys.Load()
	for keyID, p := range packets {
		if !g.has(keyID) {
			return errors.New("gateway key was retired and deleted meanwhile")
		}
		if err := kb.Put(keyPacketKey(transferID, item, keyID), p); err != nil {
			return err
		}
	}
	return nil
}

// deleteItemPackets removes an item's key packets.
func deleteItemPackets(tx *bolt.Tx, transferID, item string) error {
	kb := tx.Bucket(bucketKeyPackets)
	for _, k := range prefixKeys(kb, keyPacketPrefix(transferID, item)) {
		if err := kb.Delete(k); err != nil {
			return err
		}
	}
	return markDeleted(tx)
}

// randomPart returns the random part of an upload ID.
func randomPart(uploadID string) string {
	_, r, _ := splitUploadID(uploadID)
	return r
}

// deleteUploads removes every upload of a transfer (records, files, key
// packets of their items, clerk-token indexes) and returns their blob
// IDs. The transfer's key packets, theirs included, are deleted by the
// caller's prefix deletion or here.
func deleteUploads(tx *bolt.Tx, transferID string) ([]string, error) {
	var blobs []string
	ub := tx.Bucket(bucketUploads)
	for _, k := range prefixKeys(ub, transferPrefix(transferID)) {
		var u uploadRecord
		if _, err := getJSON(ub, k, &u); err != nil {
			return nil, err
		}
		if u.Message != nil {
			blobs = append(blobs, u.Message.BlobID)
			if err := deleteItemPackets(tx, transferID, u.Message.Item); err != nil {
				return nil, err
			}
		}
		if len(u.ClerkTokenHash) > 0 {
			if err := deleteIndex(tx.Bucket(bucketClerkTokens), u.ClerkTokenHash, u.ID); err != nil {
				return nil, err
			}
		}
		files, err := uploadFiles(tx, u.ID)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			fb, err := deleteUploadFileRecord(tx, f)
			if err != nil {
				return nil, err
			}
			blobs = append(blobs, fb...)
		}
		if err := ub.Delete(k); err != nil {
			return nil, err
		}
	}
	if len(blobs) > 0 {
		if err := markDeleted(tx); err != nil {
			return nil, err
		}
	}
	return blobs, nil
}

// uploadBlobs adds every blob that uploads refer to to set, for the orphan
// sweep.
func uploadBlobs(tx *bolt.Tx, set map[string]struct{}) error {
	err := tx.Bucket(bucketUploads).ForEach(func(k, data []byte) error {
		var u uploadRecord
		if err := decodeJSON(k, data, &u); err != nil {
			return err
		}
		if u.Message != nil {
			set[u.Message.BlobID] = struct{}{}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketUploadFiles).ForEach(func(k, data []byte) error {
		var f uploadFileRecord
		if err := decodeJSON(k, data, &f); err != nil {
			return err
		}
		for _, p := range f.Parts {
			set[p.BlobID] = struct{}{}
		}
		return nil
	})
}
