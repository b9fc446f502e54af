package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	bolt "go.etcd.io/bbolt"
)

// Uploaded files arrive in pieces (tus PATCH requests) that may break off
// and resume, so they cannot be one blob written in one go like a
// transfer's file. Each uploaded file gets one fresh session key, wrapped
// for the gateway's key (a PKESK in bucketKeyPackets, like a transfer's
// file), and its body is a sequence of parts: each part is one blob holding
// a complete SEIPDv2 packet (AES-256-GCM, 256 KiB chunks, each with its own
// random salt and so its own derived key) under that session key. PKESK ||
// part is a standard OpenPGP message, and the file is the parts' plaintexts
// one after another, in the order the database lists them.
//
// A part ends where a request ends, broken off or not (what arrived up to
// then is encrypted, finished with its final authentication tag, synced
// and recorded), and at the latest after uploadPartSize bytes, so that a
// crash in the middle of a long request loses at most that much. The
// recorded offset, the sum of the recorded parts, is what HEAD reports:
// it never counts a byte that is not durably stored, and nothing
// unencrypted is ever written.
//
// When all declared bytes have arrived the file is complete but not yet
// accepted: FinishUploadFile decrypts it once, streaming, to hash it and
// to hand it to a check (the virus scan), and only then accepts it.

// uploadPartSize bounds one part (see above).
const uploadPartSize = 64 << 20

// Uploaded file states.
const (
	FileReceiving = "receiving" // bytes still missing
	FileComplete  = "complete"  // every byte stored, not yet checked and hashed
	FileAccepted  = "accepted"  // checked and hashed: part of the upload
)

// Limit names in LimitError.
const (
	LimitSize  = "max_size"  // uploads.max_size: total bytes of one upload
	LimitFiles = "max_files" // uploads.max_files: files in one upload
)

var (
	// ErrLimit is what every LimitError is (errors.Is).
	ErrLimit = errors.New("vault: upload limit exceeded")
	// ErrOffset means a write did not start at the file's stored offset
	// (tus: 409 Conflict); the caller asks for the offset again.
	ErrOffset = errors.New("vault: write does not start at the stored offset")
	// ErrFileComplete means every declared byte of the file is stored: it
	// takes no more.
	ErrFileComplete = errors.New("vault: file is complete")
	// ErrBeyondLength means more bytes were sent than the file declared;
	// the bytes up to the declared length are kept.
	ErrBeyondLength = errors.New("vault: more bytes than the declared length")
	// ErrFileIncomplete means the file still lacks bytes.
	ErrFileIncomplete = errors.New("vault: file is not complete")
	// ErrFileRefused is what a check passed to FinishUploadFile wraps to
	// refuse a file (an infected one): the file is then deleted.
	ErrFileRefused = errors.New("vault: file refused")
	// errInterrupted stops a write that a newer request for the same
	// file took over from.
	errInterrupted = errors.New("vault: write taken over by a newer request")
)

// UploadLimits are the limits of one upload; zero fields mean no limit.
type UploadLimits struct {
	MaxSize  int64 // uploads.max_size: declared bytes of all files together
	MaxFiles int   // uploads.max_files
}

// LimitError says which limit an upload would exceed.
type LimitError struct {
	Limit string // LimitSize or LimitFiles
	Max   int64  // the limit's value
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("vault: upload would exceed %s (%d)", e.Limit, e.Max)
}

// Is makes errors.Is(err, ErrLimit) true.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// UploadFile is one file of an upload.
type UploadFile struct {
	ID          string // random, URL-safe, unique within the upload
	Name        string // sanitised display file name
	ContentType string // sanitised media type
	Size        int64  // declared length in bytes
	Offset      int64  // bytes durably stored so far
	State       string // FileReceiving, FileComplete or FileAccepted
	SHA256      string // lower-case hex of the plaintext, once accepted
	CreatedAt   time.Time
}

type uploadFileRecord struct {
	V           int          `json:"v"`
	TransferID  string       `json:"transfer_id"`
	UploadID    string       `json:"upload_id"`
	ID          string       `json:"id"`
	Seq         int          `json:"seq"`
	Name        string       `json:"name"`
	ContentType string       `json:"content_type"`
	Size        int64        `json:"size"`
	Offset      int64        `json:"offset"`
	State       string       `json:"state"`
	SHA256      string       `json:"sha256,omitempty"`
	Parts       []uploadPart `json:"parts,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	AcceptedAt  time.Time    `json:"accepted_at,omitzero"`
}

type uploadPart struct {
	BlobID string `json:"blob_id"`
	Size   int64  `json:"size"` // plaintext bytes
}

func (f uploadFileRecord) file() UploadFile {
	return UploadFile{ID: f.ID, Name: f.Name, ContentType: f.ContentType, Size: f.Size, Offset: f.Offset,
		State: f.State, SHA256: f.SHA256, CreatedAt: f.CreatedAt}
}

// item names the file's key packets in bucketKeyPackets
// (transferID/item/keyID); it can never equal a transfer file's ID.
func (f uploadFileRecord) item() string { return "u." + randomPart(f.UploadID) + "." + f.ID }

func uploadFileKey(uploadID, fileID string) []byte { return []byte(uploadID + "/" + fileID) }

// uploadFiles returns an upload's files in the order they were added.
func uploadFiles(tx *bolt.Tx, uploadID string) ([]uploadFileRecord, error) {
	b := tx.Bucket(bucketUploadFiles)
	prefix := []byte(uploadID + "/")
	var files []uploadFileRecord
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var f uploadFileRecord
		if err := decodeJSON(k, v, &f); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Seq < files[j].Seq })
	return files, nil
}

func getUploadFile(tx *bolt.Tx, uploadID, fileID string) (uploadFileRecord, bool, error) {
	var f uploadFileRecord
	ok, err := getJSON(tx.Bucket(bucketUploadFiles), uploadFileKey(uploadID, fileID), &f)
	return f, ok, err
}

// deleteUploadFileRecord removes a file's record and key packets and
// returns its blobs.
func deleteUploadFileRecord(tx *bolt.Tx, f uploadFileRecord) ([]string, error) {
	if err := deleteItemPackets(tx, f.TransferID, f.item()); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bucketUploadFiles).Delete(uploadFileKey(f.UploadID, f.ID)); err != nil {
		return nil, err
	}
	blobs := make([]string, 0, len(f.Parts))
	for _, p := range f.Parts {
		blobs = append(blobs, p.BlobID)
	}
	return blobs, nil
}

// NewUploadFile describes a file about to be uploaded.
type NewUploadFile struct {
	Name        string // sanitised by the vault
	ContentType string // sanitised by the vault
	Size        int64  // the declared length (tus Upload-Length)
}

// AddUploadFile adds a file to an open upload before any of its bytes
// arrive, checking the limits against the declared size: with it the
// upload would hold more than lim.MaxFiles files or more than lim.MaxSize
// bytes (declared sizes of all its files), it is refused with a
// *LimitError and nothing is stored. Check and addition are one
// transaction, so parallel requests cannot exceed a limit together.
//
// The file gets a fresh session key, wrapped for the gateway's key; its
// bytes follow with WriteUploadFile.
func (v *Vault) AddUploadFile(ctx context.Context, uploadID string, nf NewUploadFile, lim UploadLimits) (UploadFile, error) {
	if err := ctx.Err(); err != nil {
		return UploadFile{}, err
	}
	if nf.Size < 0 {
		return UploadFile{}, fmt.Errorf("vault: negative file size %d", nf.Size)
	}
	if lim.MaxSize > 0 && nf.Size > lim.MaxSize {
		return UploadFile{}, &LimitError{Limit: LimitSize, Max: lim.MaxSize}
	}
	fileID, err := newFileID()
	if err != nil {
		return UploadFile{}, err
	}
	sk, err := newSessionKey()
	if err != nil {
		return UploadFile{}, err
	}
	defer clear(sk)
	keys := v.keys.Load()
	packet, err := keys.wrap(sk, formatSEIPDv2)
	if err != nil {
		return UploadFile{}, err
	}
	var f uploadFileRecord
	err = v.update(func(tx *bolt.Tx) error {
		u, _, err := v.writableUpload(tx, uploadID)
		if err != nil {
			return err
		}
		files, err := uploadFiles(tx, uploadID)
		if err != nil {
			return err
		}
		total := nf.Size
		for _, f := range files {
			total += f.Size
		}
		if lim.MaxFiles > 0 && len(files)+1 > lim.MaxFiles {
			return &LimitError{Limit: LimitFiles, Max: int64(lim.MaxFiles)}
		}
		if lim.MaxSize > 0 && total > lim.MaxSize {
			return &LimitError{Limit: LimitSize, Max: lim.MaxSize}
		}
		f = uploadFileRecord{
			V: 1, TransferID: u.TransferID, UploadID: u.ID, ID: fileID, Seq: u.NextSeq,
			Name: sanitizeName(nf.Name), ContentType: sanitizeContentType(nf.ContentType),
			Size: nf.Size, State: FileReceiving, CreatedAt: v.now(),
		}
		if f.Size == 0 {
			f.State = FileComplete
		}
		if err := v.putItemPackets(tx, u.TransferID, f.item(), map[string][]byte{keys.keyID: packet}); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketUploadFiles), uploadFileKey(u.ID, fileID), f); err != nil {
			return err
		}
		u.NextSeq++
		u.Version++
		return putJSON(tx.Bucket(bucketUploads), []byte(u.ID), u)
	})
	if err != nil {
		if errors.Is(err, ErrLimit) {
			return UploadFile{}, err
		}
		return UploadFile{}, fmt.Errorf("vault: adding upload file: %w", err)
	}
	return f.file(), nil
}

// UploadChunk is one request's worth of a file's bytes.
type UploadChunk struct {
	// Offset is where the bytes start; it must be the stored offset.
	Offset int64
	// Body is read until it ends, fails, or the declared length is
	// reached.
	Body io.Reader
	// Interrupt, if set, is called when a newer request for the same
	// file takes over (the client reconnected while this request still
	// waits for bytes that will never come): it must make Body's Read
	// return, for instance by setting a read deadline on the connection.
	Interrupt func()
}

// WriteUploadFile appends a chunk to a file of an open upload, encrypting
// as it reads, and returns the file's stored offset afterwards. When Body
// breaks off, what arrived is kept and the offset says how much; the
// client resumes from there. It reads at most up to the declared length:
// a body with more gives ErrBeyondLength after storing what fitted.
//
// Only one write per file runs at a time. A new write (or
// InterruptUploadWrite) for a file that is still being written stops the
// older one (its Interrupt is called), waits for it to store what it had,
// and then checks its own offset: a client that lost its connection can
// resume at once, without waiting for the server to notice.
//
// Errors: ErrOffset when Offset is not the stored offset; ErrFileComplete
// when there is nothing more to write; ErrNotFound, ErrUploadSent,
// ErrUploadClosed and the transfer's errors as for AddUploadFile.
func (v *Vault) WriteUploadFile(ctx context.Context, uploadID, fileID string, c UploadChunk) (int64, error) {
	wctx, release, err := v.acquireUploadWrite(ctx, uploadID+"/"+fileID, c.Interrupt)
	if err != nil {
		return 0, err
	}
	defer release()

	var (
		f       uploadFileRecord
		packets []keyPacket
	)
	err = v.view(func(tx *bolt.Tx) error {
		if _, _, err := v.writableUpload(tx, uploadID); err != nil {
			return err
		}
		var ok bool
		f, ok, err = getUploadFile(tx, uploadID, fileID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		packets = fileKeyPackets(tx, f.TransferID, f.item())
		return nil
	})
	if err != nil {
		return 0, err
	}
	if f.State != FileReceiving {
		return f.Offset, ErrFileComplete
	}
	if c.Offset != f.Offset {
		return f.Offset, ErrOffset
	}
	keys := v.keys.Load()
	kp, priv := keys.gatewayPacket(packets)
	if priv == nil {
		return f.Offset, fmt.Errorf("vault: upload file %s: no key packet for a gateway key that is still kept", fileID)
	}
	sk, err := unwrapKey(kp.packet, priv)
	if err != nil {
		return f.Offset, err
	}
	defer clear(sk)

	buf := make([]byte, readChunk)
	for f.Offset < f.Size {
		_, rerr := v.writeUploadPart(wctx, &f, kp.keyID, sk, c.Body, buf)
		if rerr == io.EOF {
			return f.Offset, nil
		}
		if rerr != nil {
			return f.Offset, rerr
		}
	}
	// Declared length reached: anything more is refused.
	var one [1]byte
	if n, _ := io.ReadFull(c.Body, one[:]); n > 0 {
		return f.Offset, ErrBeyondLength
	}
	return f.Offset, nil
}

// writeUploadPart encrypts up to uploadPartSize bytes of body (and no more
// than the file still lacks) into one new part, records it and advances
// f. It returns the plaintext bytes stored and why it stopped: nil when the
// part is full or the file complete, io.EOF when body ended, or the error
// that broke it off.
func (v *Vault) writeUploadPart(ctx context.Context, f *uploadFileRecord, keyID string, sk []byte, body io.Reader, buf []byte) (int64, error) {
	blobID, err := newBlobID()
	if err != nil {
		return 0, err
	}
	v.beginWrite(blobID, keyID)
	defer v.endWrite(blobID)
	// The part must be stored even when the request's context was
	// cancelled: those bytes arrived, and the client will resume after
	// them.
	sctx := context.WithoutCancel(ctx)
	bw, err := v.blobs.Create(sctx, blobID)
	if err != nil {
		return 0, fmt.Errorf("vault: storing upload part: %w", err)
	}
	enc, err := encryptTo(bw, sk, formatSEIPDv2)
	if err != nil {
		return 0, errors.Join(err, bw.Abort())
	}
	limit := min(v.partSize, f.Size-f.Offset)
	var n int64
	var stop error
	for n < limit {
		if err := context.Cause(ctx); err != nil {
			stop = err
			break
		}
		want := min(int64(len(buf)), limit-n)
		m, rerr := io.ReadFull(body, buf[:want])
		if m > 0 {
			if _, werr := enc.Write(buf[:m]); werr != nil {
				return 0, errors.Join(fmt.Errorf("vault: encrypting upload part: %w", werr), bw.Abort())
			}
			n += int64(m)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			stop = io.EOF
			break
		}
		if rerr != nil {
			stop = rerr
			break
		}
	}
	if n == 0 {
		if err := bw.Abort(); err != nil {
			return 0, fmt.Errorf("vault: discarding empty upload part: %w", err)
		}
		return 0, stop
	}
	if err := enc.Close(); err != nil {
		return 0, errors.Join(fmt.Errorf("vault: encrypting upload part: %w", err), bw.Abort())
	}
	if err := bw.Commit(); err != nil {
		return 0, errors.Join(fmt.Errorf("vault: storing upload part: %w", err), bw.Abort())
	}
	next := *f
	err = v.update(func(tx *bolt.Tx) error {
		cur, ok, err := getUploadFile(tx, f.UploadID, f.ID)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("file was deleted meanwhile")
		}
		if cur.Offset != f.Offset || cur.State != FileReceiving {
			return errors.New("file changed meanwhile")
		}
		cur.Parts = append(cur.Parts, uploadPart{BlobID: blobID, Size: n})
		cur.Offset += n
		if cur.Offset == cur.Size {
			cur.State = FileComplete
		}
		next = cur
		return putJSON(tx.Bucket(bucketUploadFiles), uploadFileKey(f.UploadID, f.ID), cur)
	})
	if err != nil {
		return 0, errors.Join(fmt.Errorf("vault: recording upload part: %w", err), v.deleteBlobs(sctx, []string{blobID}))
	}
	*f = next
	return n, stop
}

// gatewayPacket returns the first of packets made for one of these
// gateway keys, with that key's secret key.
func (g *gatewayKeys) gatewayPacket(packets []keyPacket) (keyPacket, *packet.PrivateKey) {
	for _, kp := range packets {
		if priv := g.private(kp.keyID); priv != nil {
			return kp, priv
		}
	}
	return keyPacket{}, nil
}

// activeWrite is a running WriteUploadFile.
type activeWrite struct {
	cancel    context.CancelCauseFunc
	interrupt func()
	done      chan struct{}
}

// acquireUploadWrite makes the caller the only writer of the file key,
// stopping and waiting for an older writer first. release must be called.
func (v *Vault) acquireUploadWrite(ctx context.Context, key string, interrupt func()) (context.Context, func(), error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		v.uploadMu.Lock()
		old := v.uploadWrites[key]
		if old == nil {
			wctx, cancel := context.WithCancelCause(ctx)
			w := &activeWrite{cancel: cancel, interrupt: interrupt, done: make(chan struct{})}
			v.uploadWrites[key] = w
			v.uploadMu.Unlock()
			release := func() {
				v.uploadMu.Lock()
				delete(v.uploadWrites, key)
				v.uploadMu.Unlock()
				cancel(nil)
				close(w.done)
			}
			return wctx, release, nil
		}
		v.uploadMu.Unlock()
		stopWrite(old)
		select {
		case <-old.done:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

func stopWrite(w *activeWrite) {
	w.cancel(errInterrupted)
	if w.interrupt != nil {
		w.interrupt()
	}
}

// InterruptUploadWrite stops a write to the file that is still running
// and waits until it has stored what it received, so that the offset read
// afterwards is current (tus HEAD after a reconnect). Without a running
// write it returns at once.
func (v *Vault) InterruptUploadWrite(ctx context.Context, uploadID, fileID string) error {
	_, release, err := v.acquireUploadWrite(ctx, uploadID+"/"+fileID, nil)
	if err != nil {
		return err
	}
	release()
	return nil
}

// FinishUploadFile accepts a complete file: it decrypts it once, streaming,
// computes its SHA-256 and hands the plaintext to check (nil: none), such
// as a virus scan. When check returns an error wrapping ErrFileRefused,
// the file is deleted with everything stored of it (and the database
// compacted, so that not even its key packet stays on disk), and that
// error is returned. Any other error from check leaves the file complete
// but not accepted, to be finished again later. Accepting an accepted file
// returns it unchanged.
func (v *Vault) FinishUploadFile(ctx context.Context, uploadID, fileID string, check func(context.Context, io.Reader) error) (UploadFile, error) {
	_, release, err := v.acquireUploadWrite(ctx, uploadID+"/"+fileID, nil)
	if err != nil {
		return UploadFile{}, err
	}
	defer release()
	var (
		f       uploadFileRecord
		packets []keyPacket
	)
	err = v.view(func(tx *bolt.Tx) error {
		if _, _, err := v.writableUpload(tx, uploadID); err != nil {
			return err
		}
		var ok bool
		f, ok, err = getUploadFile(tx, uploadID, fileID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		packets = fileKeyPackets(tx, f.TransferID, f.item())
		return nil
	})
	if err != nil {
		return UploadFile{}, err
	}
	switch f.State {
	case FileAccepted:
		return f.file(), nil
	case FileReceiving:
		return f.file(), ErrFileIncomplete
	}
	r, err := v.openParts(ctx, packets, f.Parts)
	if err != nil {
		return UploadFile{}, err
	}
	defer r.Close()
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(r, h)}
	if check != nil {
		if err := check(ctx, cr); err != nil {
			if errors.Is(err, ErrFileRefused) {
				return f.file(), errors.Join(err, v.deleteUploadFile(ctx, uploadID, fileID, true))
			}
			return f.file(), err
		}
	}
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return f.file(), fmt.Errorf("vault: reading upload file: %w", err)
	}
	if cr.n != f.Size {
		return f.file(), errLength
	}
	sum := hex.EncodeToString(h.Sum(nil))
	err = v.update(func(tx *bolt.Tx) error {
		u, _, err := v.writableUpload(tx, uploadID)
		if err != nil {
			return err
		}
		cur, ok, err := getUploadFile(tx, uploadID, fileID)
		if err != nil {
			return err
		}
		if !ok || cur.State != FileComplete || len(cur.Parts) != len(f.Parts) {
			return errors.New("file changed meanwhile")
		}
		cur.State, cur.SHA256, cur.AcceptedAt = FileAccepted, sum, v.now()
		f = cur
		if err := putJSON(tx.Bucket(bucketUploadFiles), uploadFileKey(uploadID, fileID), cur); err != nil {
			return err
		}
		u.Version++
		return putJSON(tx.Bucket(bucketUploads), []byte(u.ID), u)
	})
	if err != nil {
		return UploadFile{}, fmt.Errorf("vault: accepting upload file: %w", err)
	}
	return f.file(), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// DeleteUploadFile removes a file from an open upload with everything
// stored of it (a running write is stopped first). The database is
// compacted by the next Purge.
func (v *Vault) DeleteUploadFile(ctx context.Context, uploadID, fileID string) error {
	_, release, err := v.acquireUploadWrite(ctx, uploadID+"/"+fileID, nil)
	if err != nil {
		return err
	}
	defer release()
	return v.deleteUploadFile(ctx, uploadID, fileID, false)
}

// deleteUploadFile does DeleteUploadFile's work for a caller that holds
// the file's write slot; with compactNow the database is compacted before
// it returns.
func (v *Vault) deleteUploadFile(ctx context.Context, uploadID, fileID string, compactNow bool) error {
	var blobs []string
	err := v.update(func(tx *bolt.Tx) error {
		u, _, err := v.writableUpload(tx, uploadID)
		if err != nil {
			return err
		}
		f, ok, err := getUploadFile(tx, uploadID, fileID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if blobs, err = deleteUploadFileRecord(tx, f); err != nil {
			return err
		}
		u.Version++
		return putJSON(tx.Bucket(bucketUploads), []byte(u.ID), u)
	})
	if err != nil {
		return fmt.Errorf("vault: deleting upload file: %w", err)
	}
	if err := v.deleteBlobs(ctx, blobs); err != nil {
		return fmt.Errorf("vault: deleting upload file: %w", err)
	}
	if compactNow {
		return v.compact()
	}
	return nil
}

// OpenUploadFile returns the plaintext of an accepted file of an upload as
// a stream, whatever the upload's state (the mail to the clerk attaches
// it, the clerk's page serves it). The caller closes it. Authentication
// failures of the stored ciphertext are errors, never silently truncated
// data.
func (v *Vault) OpenUploadFile(ctx context.Context, uploadID, fileID string) (io.ReadCloser, UploadFile, error) {
	if err := ctx.Err(); err != nil {
		return nil, UploadFile{}, err
	}
	var (
		f       uploadFileRecord
		packets []keyPacket
	)
	err := v.view(func(tx *bolt.Tx) error {
		var ok bool
		var err error
		f, ok, err = getUploadFile(tx, uploadID, fileID)
		if err != nil {
			return err
		}
		if !ok || f.State != FileAccepted {
			return ErrNotFound
		}
		packets = fileKeyPackets(tx, f.TransferID, f.item())
		return nil
	})
	if err != nil {
		return nil, UploadFile{}, err
	}
	r, err := v.openParts(ctx, packets, f.Parts)
	if err != nil {
		return nil, UploadFile{}, err
	}
	return r, f.file(), nil
}

// openParts returns the plaintext of parts, one after another, each
// opened with the gateway key that one of packets names.
func (v *Vault) openParts(ctx context.Context, packets []keyPacket, parts []uploadPart) (io.ReadCloser, error) {
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
		return nil, errors.New("vault: no key packet for a gateway key that is still kept")
	}
	return &partsReader{ctx: ctx, v: v, key: key, packet: packet, parts: parts}, nil
}

// partsReader decrypts parts in turn, checking each part's length.
type partsReader struct {
	ctx    context.Context
	v      *Vault
	key    *openpgp.Entity
	packet []byte
	parts  []uploadPart
	cur    *plainReader
	err    error
}

func (p *partsReader) Read(b []byte) (int, error) {
	for {
		if p.err != nil {
			return 0, p.err
		}
		if p.cur == nil {
			if len(p.parts) == 0 {
				p.err = io.EOF
				continue
			}
			if err := p.open(p.parts[0]); err != nil {
				p.err = err
				continue
			}
			p.parts = p.parts[1:]
		}
		n, err := p.cur.Read(b)
		if err == io.EOF {
			err = p.cur.Close()
			p.cur = nil
			if err != nil {
				p.err = err
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			p.err = err
		}
		return n, err
	}
}

func (p *partsReader) open(part uploadPart) error {
	blob, err := p.v.blobs.Open(p.ctx, part.BlobID)
	if err != nil {
		return fmt.Errorf("vault: upload part: %w", err)
	}
	pt, err := decrypt(p.key, p.packet, blob)
	if err != nil {
		blob.Close()
		return err
	}
	p.cur = &plainReader{r: pt, blob: blob, want: part.Size, name: "upload part"}
	return nil
}

func (p *partsReader) Close() error {
	p.err = errors.New("vault: reader closed")
	if p.cur != nil {
		err := p.cur.Close()
		p.cur = nil
		return err
	}
	return nil
}
