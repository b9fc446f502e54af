package vault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Draft is a transfer being written. Exactly one of Commit or Abort must be
// called. A Draft is used by one goroutine.
//
// What look-ups see of a draft: the draft record and its token and code
// indexes are written by BeginTransfer, and each file record only after its
// blob is synced, so a draft is always consistent and look-ups serve it
// with the files recorded so far. That matters after a crash: the proxy
// sends the mail carrying the links before it can call Commit, so a process
// that dies in between leaves a draft whose links are already out. Such a
// draft stays, and stays usable, until it expires like any transfer; it is
// only marked as never committed (Transfer.Committed). A draft whose mail
// never left cannot be reached, because nobody else has its token. Abort
// removes a draft completely; at Open, only blobs without a record are
// swept as orphans.
type Draft struct {
	v           *Vault
	rec         transferRecord
	token       string
	senderToken string
	code        string
	nfiles      int
	done        bool
	text        bool // AddText ran

	// recipients are the distinct normalised recipient addresses; keys
	// caches their parsed keys (levels 3–4).
	recipients []string
	keys       keyCache
}

var errDraftDone = errors.New("vault: draft already committed or aborted")

// BeginTransfer starts a transfer. Its token, access code, sender token and
// expiry are known from now on so the notice can be composed while files
// stream in.
func (v *Vault) BeginTransfer(ctx context.Context, nt NewTransfer) (*Draft, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if nt.Level < 1 || nt.Level > 4 {
		return nil, fmt.Errorf("vault: level %d cannot be stored", nt.Level)
	}
	recipients := normalizeRecipients(nt.Recipients)
	if nt.Level >= 3 && len(recipients) == 0 {
		// Nobody could ever open such a file.
		return nil, fmt.Errorf("vault: level %d needs at least one recipient address", nt.Level)
	}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	senderToken, err := newToken()
	if err != nil {
		return nil, err
	}
	code, err := newAccessCode()
	if err != nil {
		return nil, err
	}
	now := v.now()
	rec := transferRecord{
		V:          1,
		State:      stateDraft,
		Level:      nt.Level,
		Sender:     nt.Sender,
		Recipients: append([]string(nil), nt.Recipients...),
		Upload:     nt.Upload,
		CreatedAt:  now,
		ExpiresAt:  now.AddDate(0, 0, v.days),
		TokenHash:  secretHash(token),
		CodeHash:   secretHash(code),

		SenderTokenHash: secretHash(senderToken),
	}
	err = v.update(func(tx *bolt.Tx) error {
		tb := tx.Bucket(bucketTransfers)
		// 40 random bits make collisions rare, not impossible.
		for range 16 {
			id, err := newReference()
			if err != nil {
				return err
			}
			if tb.Get([]byte(id)) == nil {
				rec.ID = id
				break
			}
		}
		if rec.ID == "" {
			return errors.New("vault: no free transfer reference")
		}
		if tx.Bucket(bucketTokens).Get(rec.TokenHash) != nil || tx.Bucket(bucketCodes).Get(rec.CodeHash) != nil ||
			tx.Bucket(bucketSenderTokens).Get(rec.SenderTokenHash) != nil {
			return errors.New("vault: token collision") // 2^-128: a broken RNG
		}
		sealed, err := sealToken(code, rec.ID, token)
		if err != nil {
			return err
		}
		rec.SealedToken = sealed
		if err := putJSON(tb, []byte(rec.ID), rec); err != nil {
			return err
		}
		if err := tx.Bucket(bucketTokens).Put(rec.TokenHash, []byte(rec.ID)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSenderTokens).Put(rec.SenderTokenHash, []byte(rec.ID)); err != nil {
			return err
		}
		return tx.Bucket(bucketCodes).Put(rec.CodeHash, []byte(rec.ID))
	})
	if err != nil {
		return nil, fmt.Errorf("vault: beginning transfer: %w", err)
	}
	return &Draft{v: v, rec: rec, token: token, senderToken: senderToken, code: code, recipients: recipients, keys: make(keyCache)}, nil
}

// ID returns the transfer's reference.
func (d *Draft) ID() string { return d.rec.ID }

// Token returns the raw link token (43 characters, base64url of 32 random
// bytes). Only its SHA-256 is stored; this is the only time it is known.
func (d *Draft) Token() string { return d.token }

// SenderToken returns the raw token of the sender's status page /s/{token}
// (same form as Token). Only its SHA-256 is stored; this is the only time it
// is known.
func (d *Draft) SenderToken() string { return d.senderToken }

// AccessCode returns the access code grouped for typing, e.g.
// "ABCD-EFGH-JKMN-PQRS" (80 bits, Crockford base32).
func (d *Draft) AccessCode() string { return groupCode(d.code) }

// ExpiresAt returns when the transfer will expire.
func (d *Draft) ExpiresAt() time.Time { return d.rec.ExpiresAt }

// readChunk is how much plaintext AddFile holds at a time: the file is
// never buffered beyond this (plus the encryption's own chunk buffers).
const readChunk = 256 << 10

// AddFile streams r into the store, encrypting as it reads; no plaintext byte
// reaches the disk. name and contentType are sanitised by the vault. The blob
// is synced to disk before AddFile returns.
//
// At levels 1–2 the file's session key is wrapped for the gateway's key.
// At levels 3–4 it is wrapped for every recipient who has a key, and for
// the gateway's key while any recipient is pending (see wrap.go for this
// and for the choice between SEIPDv2 and SEIPDv1).
func (d *Draft) AddFile(ctx context.Context, name, contentType string, r io.Reader) (File, error) {
	fileID, err := newFileID()
	if err != nil {
		return File{}, err
	}
	return d.addItem(ctx, fileID, "", sanitizeName(name), sanitizeContentType(contentType), r)
}

// addItem stores one item (an attachment, or a level-4 text part) under
// fileID; name and contentType are already safe.
func (d *Draft) addItem(ctx context.Context, fileID, kind, name, contentType string, r io.Reader) (File, error) {
	if d.done {
		return File{}, errDraftDone
	}
	if err := ctx.Err(); err != nil {
		return File{}, err
	}
	blobID, err := newBlobID()
	if err != nil {
		return File{}, err
	}
	e2e := d.rec.Level >= 3
	format := formatSEIPDv2
	if e2e {
		if format, err = d.v.planFormat(d.recipients, d.keys); err != nil {
			return File{}, err
		}
	}
	rec := fileRecord{
		V:           1,
		TransferID:  d.rec.ID,
		ID:          fileID,
		Seq:         d.nfiles,
		Name:        name,
		ContentType: contentType,
		Format:      format,
		BlobID:      blobID,
		CreatedAt:   d.v.now(),
		Kind:        kind,
	}

	keys := d.v.keys.Load()
	d.v.beginWrite(blobID, keys.keyID)
	defer d.v.endWrite(blobID)

	sk, err := newSessionKey()
	if err != nil {
		return File{}, err
	}
	// The session key stays in memory until the file is recorded: at
	// levels 3–4 it is wrapped then, for the keys known at that moment.
	defer clear(sk)
	packets := make(map[string][]byte)
	if !e2e {
		p, err := keys.wrap(sk, format)
		if err != nil {
			return File{}, err
		}
		packets[keys.keyID] = p
	}
	size, sum, err := d.v.writeBlob(ctx, blobID, sk, format, r)
	if err != nil {
		return File{}, fmt.Errorf("vault: storing %s: %w", d.rec.ID, err)
	}
	rec.Size, rec.SHA256 = size, sum

	err = d.v.update(func(tx *bolt.Tx) error {
		cur, ok, err := getTransfer(tx, d.rec.ID)
		if err != nil {
			return err
		}
		if !ok || !cur.RevokedAt.IsZero() {
			return errors.New("transfer was removed or revoked meanwhile")
		}
		if e2e {
			rec.Wraps, packets, err = wrapNew(tx, d.v.now(), keys, d.recipients, format, sk, d.keys)
			if err != nil {
				return err
			}
		}
		// See purgeRetiredKeys: a key packet is recorded only for a
		// key that is still kept.
		if _, gw := packets[keys.keyID]; gw && !d.v.keys.Load().has(keys.keyID) {
			return errors.New("gateway key was retired and deleted meanwhile")
		}
		if err := putJSON(tx.Bucket(bucketFiles), fileKey(d.rec.ID, fileID), rec); err != nil {
			return err
		}
		for keyID, p := range packets {
			if err := tx.Bucket(bucketKeyPackets).Put(keyPacketKey(d.rec.ID, fileID, keyID), p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		derr := d.v.deleteBlobs(ctx, []string{blobID})
		return File{}, errors.Join(fmt.Errorf("vault: recording file of %s: %w", d.rec.ID, err), derr)
	}
	d.nfiles++
	return rec.file(), nil
}

// writeBlob encrypts r under the session key sk in the given format into
// a new committed blob and returns the plaintext size and its SHA-256.
func (v *Vault) writeBlob(ctx context.Context, blobID string, sk []byte, format string, r io.Reader) (size int64, sum string, err error) {
	bw, err := v.blobs.Create(ctx, blobID)
	if err != nil {
		return 0, "", err
	}
	size, sum, err = encryptStream(ctx, bw, sk, format, r)
	if err == nil {
		err = bw.Commit()
	}
	if err != nil {
		return 0, "", errors.Join(err, bw.Abort())
	}
	return size, sum, nil
}

// encryptStream reads r to the end, encrypting into w and hashing the
// plaintext. SHA-256 costs more than AES-GCM here, so hashing runs on a
// second goroutine and may lag up to hashDepth-1 buffers behind: reading,
// encrypting and writing the next buffer overlap with hashing the earlier
// ones, instead of both stages waiting for each other on every buffer.
func encryptStream(ctx context.Context, w io.Writer, sessionKey []byte, format string, r io.Reader) (int64, string, error) {
	enc, err := encryptTo(w, sessionKey, format)
	if err != nil {
		return 0, "", err
	}
	h := newLaggingHasher(sha256.New())
	defer h.stop()
	var size int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, "", err
		}
		buf := h.next()
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			h.push(buf[:n])
			if _, werr := enc.Write(buf[:n]); werr != nil {
				return 0, "", fmt.Errorf("encrypting: %w", werr)
			}
			size += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return 0, "", fmt.Errorf("reading attachment: %w", rerr)
		}
	}
	if err := enc.Close(); err != nil {
		return 0, "", fmt.Errorf("encrypting: %w", err)
	}
	return size, hex.EncodeToString(h.sum()), nil
}

// hashDepth is how many buffers are in use at once: one being read and
// encrypted, the others queued for or being hashed.
const hashDepth = 3

// laggingHasher hashes buffers in order on its own goroutine and hands out
// a buffer for reuse only once the hasher is done with it.
type laggingHasher struct {
	h        hash.Hash
	bufs     [hashDepth][]byte
	i        int // next buffer to hand out
	inflight int // buffers pushed and not yet hashed, oldest first
	in       chan []byte
	done     chan struct{}
	stopped  bool
}

func newLaggingHasher(h hash.Hash) *laggingHasher {
	p := &laggingHasher{h: h, in: make(chan []byte, hashDepth), done: make(chan struct{}, hashDepth)}
	for i := range p.bufs {
		p.bufs[i] = make([]byte, readChunk)
	}
	go func() {
		for b := range p.in {
			p.h.Write(b)
			p.done <- struct{}{}
		}
	}()
	return p
}

// next returns a buffer to read into. Buffers are handed out in turn; the
// one returned was pushed hashDepth calls ago at the latest, and since the
// hasher works in order, waiting for one completion frees it.
func (p *laggingHasher) next() []byte {
	if p.inflight == hashDepth {
		<-p.done
		p.inflight--
	}
	b := p.bufs[p.i]
	p.i = (p.i + 1) % hashDepth
	return b
}

// push queues b (a prefix of the buffer from next) for hashing; b must not
// change until a later next hands its buffer out again.
func (p *laggingHasher) push(b []byte) {
	p.in <- b
	p.inflight++
}

// sum waits for every pushed buffer and returns the digest.
func (p *laggingHasher) sum() []byte {
	for ; p.inflight > 0; p.inflight-- {
		<-p.done
	}
	return p.h.Sum(nil)
}

// stop ends the goroutine once it has hashed what was pushed.
func (p *laggingHasher) stop() {
	if !p.stopped {
		p.stopped = true
		close(p.in)
	}
}

// Commit makes the transfer final. Call it only after the next hop accepted
// the mail carrying its links.
func (d *Draft) Commit(ctx context.Context) error {
	if d.done {
		return errDraftDone
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := d.v.now()
	err := d.v.update(func(tx *bolt.Tx) error {
		rec, ok, err := getTransfer(tx, d.rec.ID)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("transfer no longer exists")
		}
		if rec.State == stateCommitted {
			return nil
		}
		rec.State, rec.CommittedAt = stateCommitted, now
		return putJSON(tx.Bucket(bucketTransfers), []byte(rec.ID), rec)
	})
	if err != nil {
		return fmt.Errorf("vault: committing %s: %w", d.rec.ID, err)
	}
	d.done = true
	return nil
}

// Abort deletes everything the draft stored: blobs, key packets, records.
func (d *Draft) Abort(ctx context.Context) error {
	if d.done {
		return errDraftDone
	}
	// Abort runs on failure paths, often with a context that has just been
	// cancelled; it must still clean up.
	var blobs []string
	err := d.v.update(func(tx *bolt.Tx) error {
		rec, ok, err := getTransfer(tx, d.rec.ID)
		if err != nil || !ok {
			return err
		}
		blobs, err = deleteTransfer(tx, rec)
		return err
	})
	if err != nil {
		return fmt.Errorf("vault: aborting %s: %w", d.rec.ID, err)
	}
	d.done = true
	if err := d.v.deleteBlobs(ctx, blobs); err != nil {
		return fmt.Errorf("vault: aborting %s: %w", d.rec.ID, err)
	}
	return nil
}

// normalizeTransferID accepts a reference as an admin might type it.
func normalizeTransferID(id string) string {
	return strings.ToUpper(strings.TrimSpace(id))
}
