package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// schemaVersion is the layout of the database below. A binary refuses a
// database written by a newer one; a later version migrates older ones in
// openDB. Version 2 added accounts, sign-in codes, sessions, sender tokens
// and download records (new buckets only, so 1 migrates by creating them).
// Version 3 added upload links and uploads (new buckets only as well).
const schemaVersion = 3

// dbName is the bbolt file in storage.dir.
const dbName = "sealgate.db"

// Buckets. Records are JSON (small, readable with bbolt's tools, easy to
// extend: unknown fields are ignored, each record carries its version).
// Keys of per-transfer buckets start with the transfer ID and a slash, so a
// transfer's entries are one prefix scan.
var (
	// bucketMeta holds "schema" -> decimal schema version,
	// "login_secret" -> the HMAC key for sign-in codes, and
	// "compact_pending" while deleted records may linger in freed pages.
	bucketMeta = []byte("meta")
	// bucketTransfers: transfer ID -> transferRecord.
	bucketTransfers = []byte("transfers")
	// bucketTokens: SHA-256(link token) -> transfer ID.
	bucketTokens = []byte("tokens")
	// bucketCodes: SHA-256(normalised access code) -> transfer ID.
	bucketCodes = []byte("codes")
	// bucketFiles: transferID/fileID -> fileRecord.
	bucketFiles = []byte("files")
	// bucketKeyPackets: transferID/fileID/keyID -> one PKESK packet. A
	// file has one key packet per key that may open it (the gateway's
	// while it must read the file or a recipient is pending, one per
	// recipient key at levels 3–4); re-wrapping adds or removes entries
	// here and never touches the blob.
	bucketKeyPackets = []byte("keypackets")
	// bucketSenderTokens: SHA-256(sender status token) -> transfer ID.
	bucketSenderTokens = []byte("sendertokens")
	// bucketDownloads: transferID/fileID/address -> downloadRecord, one
	// per file and downloader (counted, not appended, so that repeated
	// downloads cannot grow the database).
	bucketDownloads = []byte("downloads")
	// bucketAccounts: lower-cased address -> accountRecord.
	bucketAccounts = []byte("accounts")
	// bucketLoginCodes: lower-cased address -> loginRecord (the pending
	// sign-in code, as an HMAC).
	bucketLoginCodes = []byte("logincodes")
	// bucketSessions: SHA-256(session token) -> sessionRecord.
	bucketSessions = []byte("sessions")
	// bucketUploadLinks: transferID/address -> uploadLinkRecord, one per
	// recipient who was given an upload link.
	bucketUploadLinks = []byte("uploadlinks")
	// bucketUploadTokens: SHA-256(upload token) -> transferID/address.
	bucketUploadTokens = []byte("uploadtokens")
	// bucketUploads: uploadID (transferID/random) -> uploadRecord.
	bucketUploads = []byte("uploads")
	// bucketUploadFiles: uploadID/fileID -> uploadFileRecord.
	bucketUploadFiles = []byte("uploadfiles")
	// bucketClerkTokens: SHA-256(clerk download token) -> uploadID.
	bucketClerkTokens = []byte("clerktokens")
	// bucketOutbox: mail ID -> outboxRecord, mail sealgate writes itself
	// that waits for the next hop (its key packets are under
	// "out/<id>/<keyID>" in bucketKeyPackets).
	bucketOutbox = []byte("outbox")

	allBuckets = [][]byte{bucketMeta, bucketTransfers, bucketTokens, bucketCodes, bucketFiles, bucketKeyPackets,
		bucketSenderTokens, bucketDownloads, bucketAccounts, bucketLoginCodes, bucketSessions,
		bucketUploadLinks, bucketUploadTokens, bucketUploads, bucketUploadFiles, bucketClerkTokens, bucketOutbox}
	keySchema         = []byte("schema")
	keyLoginSecret    = []byte("login_secret")
	keyCompactPending = []byte("compact_pending")
)

// Transfer states.
const (
	stateDraft     = "draft"
	stateCommitted = "committed"
)

type transferRecord struct {
	V           int       `json:"v"`
	ID          string    `json:"id"`
	State       string    `json:"state"`
	Level       int       `json:"level"`
	Sender      string    `json:"sender"`
	Recipients  []string  `json:"recipients"`
	Upload      bool      `json:"upload,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	CommittedAt time.Time `json:"committed_at,omitzero"`
	RevokedAt   time.Time `json:"revoked_at,omitzero"`
	TokenHash   []byte    `json:"token_hash"`
	CodeHash    []byte    `json:"code_hash"`
	// SealedToken is the link token encrypted under a key derived from
	// the access code (see sealToken); dropped on revocation.
	SealedToken []byte `json:"sealed_token,omitempty"`
	// SenderTokenHash is the SHA-256 of the sender status token.
	SenderTokenHash []byte `json:"sender_token_hash,omitempty"`
	// FailedCodes counts wrong sign-in codes by the transfer's recipients;
	// LockedAt is set when it reaches lockAfterFailedCodes.
	FailedCodes int       `json:"failed_codes,omitempty"`
	LockedAt    time.Time `json:"locked_at,omitzero"`
	// UnreadWarnedAt is when the clerk was told that the transfer expired
	// unread.
	UnreadWarnedAt time.Time `json:"unread_warned_at,omitzero"`
}

type fileRecord struct {
	V           int       `json:"v"`
	TransferID  string    `json:"transfer_id"`
	ID          string    `json:"id"`
	Seq         int       `json:"seq"` // order of AddFile calls
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	Format      string    `json:"format"`
	BlobID      string    `json:"blob_id,omitempty"` // empty once the blob is deleted
	CreatedAt   time.Time `json:"created_at"`
	// Kind is empty for an attachment, KindText for the message text of
	// a level-4 transfer.
	Kind string `json:"kind,omitempty"`
	// Wraps says, at levels 3–4, whom the file's key packets serve: each
	// recipient's normalised address -> the key ID of the key packet
	// made for them, or "" while they are pending (they had no key yet,
	// so the gateway holds a key packet for them). See wrap.go.
	Wraps map[string]string `json:"wraps,omitempty"`
}

func (f fileRecord) file() File {
	return File{ID: f.ID, Name: f.Name, ContentType: f.ContentType, Size: f.Size, SHA256: f.SHA256, Kind: f.Kind}
}

func transferPrefix(transferID string) []byte { return []byte(transferID + "/") }

func fileKey(transferID, fileID string) []byte { return []byte(transferID + "/" + fileID) }

func keyPacketPrefix(transferID, fileID string) []byte {
	return []byte(transferID + "/" + fileID + "/")
}

func keyPacketKey(transferID, fileID, keyID string) []byte {
	return []byte(transferID + "/" + fileID + "/" + keyID)
}

// boltOptions are the options every database file is opened with.
func boltOptions() *bolt.Options {
	return &bolt.Options{Timeout: 2 * time.Second}
}

// openDB opens the bbolt file, creates or checks the schema and returns the
// sign-in code secret (made on first use).
func openDB(path string) (*bolt.DB, []byte, error) {
	db, err := bolt.Open(path, 0o600, boltOptions())
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, nil, fmt.Errorf("vault: %s is in use by another process (is sealgate serve running?)", path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("vault: opening database: %w", err)
	}
	var secret []byte
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keySchema); v != nil {
			n, err := strconv.Atoi(string(v))
			if err != nil {
				return fmt.Errorf("unreadable schema version %q", v)
			}
			if n > schemaVersion {
				return fmt.Errorf("database schema %d is newer than this sealgate supports (%d)", n, schemaVersion)
			}
		}
		if err := meta.Put(keySchema, []byte(strconv.Itoa(schemaVersion))); err != nil {
			return err
		}
		secret = bytes.Clone(meta.Get(keyLoginSecret))
		if len(secret) == 32 {
			return nil
		}
		secret, err = randomBytes(32)
		if err != nil {
			return err
		}
		return meta.Put(keyLoginSecret, secret)
	})
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("vault: preparing database: %w", err)
	}
	return db, secret, nil
}

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	return true, decodeJSON(key, data, v)
}

func decodeJSON(key, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("vault: corrupt record %q: %w", key, err)
	}
	return nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("vault: encoding record: %w", err)
	}
	return b.Put(key, data)
}

func getTransfer(tx *bolt.Tx, id string) (transferRecord, bool, error) {
	var rec transferRecord
	ok, err := getJSON(tx.Bucket(bucketTransfers), []byte(id), &rec)
	return rec, ok, err
}

// prefixKeys returns the keys in b that start with prefix. Callers delete
// after collecting, because deleting under a cursor skips entries.
func prefixKeys(b *bolt.Bucket, prefix []byte) [][]byte {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	return keys
}

// transferFiles returns a transfer's file records in the order they were
// added.
func transferFiles(tx *bolt.Tx, transferID string) ([]fileRecord, error) {
	b := tx.Bucket(bucketFiles)
	prefix := transferPrefix(transferID)
	var files []fileRecord
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var f fileRecord
		if err := decodeJSON(k, v, &f); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	sortFiles(files)
	return files, nil
}

func sortFiles(files []fileRecord) {
	// Insertion sort: transfers hold a handful of files.
	for i := 1; i < len(files); i++ {
		for j := i; j > 0 && files[j].Seq < files[j-1].Seq; j-- {
			files[j], files[j-1] = files[j-1], files[j]
		}
	}
}

// keyPackets returns the concatenated key packets of one file.
func keyPackets(tx *bolt.Tx, transferID, fileID string) []byte {
	var out []byte
	for _, kp := range fileKeyPackets(tx, transferID, fileID) {
		out = append(out, kp.packet...)
	}
	return out
}

// keyPacket is one stored PKESK and the ID of the key it is for.
type keyPacket struct {
	keyID  string
	packet []byte
}

// fileKeyPackets returns the key packets of one file, with their key IDs.
func fileKeyPackets(tx *bolt.Tx, transferID, fileID string) []keyPacket {
	b := tx.Bucket(bucketKeyPackets)
	prefix := keyPacketPrefix(transferID, fileID)
	var out []keyPacket
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		out = append(out, keyPacket{keyID: string(k[len(prefix):]), packet: bytes.Clone(v)})
	}
	return out
}

// markDeleted notes that tx deletes records, which bbolt leaves readable in
// freed pages until the database is compacted: the next Purge compacts it
// then, even if it deletes nothing itself (an aborted draft, an ended
// session).
func markDeleted(tx *bolt.Tx) error {
	return tx.Bucket(bucketMeta).Put(keyCompactPending, []byte{1})
}

// deleteTransferData removes a transfer's files and key packets and
// returns the blob IDs that must now be deleted from the BlobStore. With
// keepFiles, the file records stay (names and sizes for the sender's view
// of a withdrawn transfer) but lose their blob reference.
func deleteTransferData(tx *bolt.Tx, transferID string, keepFiles bool) ([]string, error) {
	if err := markDeleted(tx); err != nil {
		return nil, err
	}
	kb := tx.Bucket(bucketKeyPackets)
	for _, k := range prefixKeys(kb, transferPrefix(transferID)) {
		if err := kb.Delete(k); err != nil {
			return nil, err
		}
	}
	// Uploads go with their transfer, withdrawn or expired: the mail that
	// carried a sent one to the clerk is the clerk's copy.
	blobs, err := deleteUploads(tx, transferID)
	if err != nil {
		return nil, err
	}
	files, err := transferFiles(tx, transferID)
	if err != nil {
		return nil, err
	}
	fb := tx.Bucket(bucketFiles)
	for _, f := range files {
		if f.BlobID != "" {
			blobs = append(blobs, f.BlobID)
		}
		key := fileKey(transferID, f.ID)
		if keepFiles {
			f.BlobID = ""
			err = putJSON(fb, key, f)
		} else {
			err = fb.Delete(key)
		}
		if err != nil {
			return nil, err
		}
	}
	return blobs, nil
}

// deleteTransfer removes every trace of a transfer from the database (its
// record with the failed-code counter and marks, files, key packets,
// token, access-code and sender-token indexes, download records, upload
// links) and returns the blob IDs to delete.
func deleteTransfer(tx *bolt.Tx, rec transferRecord) ([]string, error) {
	blobs, err := deleteTransferData(tx, rec.ID, false)
	if err != nil {
		return nil, err
	}
	if err := deleteUploadLinks(tx, rec.ID); err != nil {
		return nil, err
	}
	if err := deleteIndex(tx.Bucket(bucketTokens), rec.TokenHash, rec.ID); err != nil {
		return nil, err
	}
	if err := deleteIndex(tx.Bucket(bucketCodes), rec.CodeHash, rec.ID); err != nil {
		return nil, err
	}
	if err := deleteIndex(tx.Bucket(bucketSenderTokens), rec.SenderTokenHash, rec.ID); err != nil {
		return nil, err
	}
	db := tx.Bucket(bucketDownloads)
	for _, k := range prefixKeys(db, transferPrefix(rec.ID)) {
		if err := db.Delete(k); err != nil {
			return nil, err
		}
	}
	if err := tx.Bucket(bucketTransfers).Delete([]byte(rec.ID)); err != nil {
		return nil, err
	}
	return blobs, nil
}

// deleteIndex removes an index entry if it still points to transferID.
func deleteIndex(b *bolt.Bucket, hash []byte, transferID string) error {
	if len(hash) == 0 {
		return nil
	}
	if v := b.Get(hash); v != nil && string(v) == transferID {
		return b.Delete(hash)
	}
	return nil
}
