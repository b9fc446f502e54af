// Package vault stores everything sealgate keeps: transfers, their encrypted
// files, tokens and access codes, recipients' accounts, sign-in codes,
// sessions, download records, the gateway's keys and the receipt signing key,
// and upload links (uploadlinks.go). File bodies are OpenPGP messages in a
// BlobStore; metadata and session-key packets live in bbolt.
//
// A transfer is written in two phases, like an SMTP delivery target:
// BeginTransfer, AddFile for each attachment (streaming, encrypting as it
// reads), then Commit after the next hop accepted the mail, or Abort, which
// leaves nothing behind.
//
// Layout of storage.dir (directories 0700, files 0600):
//
//	sealgate.db       bbolt: transfers, token and access-code indexes (hashes
//	                  only), file records, session-key packets, accounts,
//	                  sign-in codes (HMAC only), sessions (hashes only),
//	                  download records, upload links and clerk page
//	                  tokens (hashes only), uploads and their files, the
//	                  outbox of mail waiting for the next hop
//	gateway-key.asc   the gateway's current OpenPGP secret key, made at first
//	                  start (v6, for encrypting files)
//	keys/             retired gateway keys, one file each, kept while a
//	                  transfer's key packet still names them (see
//	                  RotateGatewayKey)
//	receipt-key.asc   the receipt signing key (v4 EdDSA, so that GnuPG 2.2
//	                  verifies receipts), made at first start
//	blobs/            one encrypted blob per stored file, per part of an
//	                  uploaded file, per upload message and per queued
//	                  mail (DirStore)
//	spool/            short-lived encrypted spool files (see Spool)
//
// Deletion is meant literally: whenever something was deleted from the
// database (purge, revocation, account deletion), the database is compacted
// into a fresh file and the old file is overwritten before it is released,
// because bbolt leaves deleted records readable in freed pages (see
// Vault.compact).
//
// Concatenating a file's key packets and its blob gives a standard OpenPGP
// message (RFC 9580: v6 PKESK, SEIPDv2 with AES-256-GCM) that any
// implementation holding the key opens; the vault itself decrypts it with
// go-crypto's ordinary openpgp.ReadMessage.
//
// Uploads and secure replies (uploads.go, uploadfiles.go) come back from a
// transfer's recipient: files arrive in resumable pieces, each piece a
// standard SEIPDv2 message under the file's one session key, wrapped for
// the gateway's key; they belong to their transfer and go with it. They are
// not end-to-end encrypted, whatever the transfer's level: the clerk reads
// them in an ordinary mail client. Mail that sealgate must not lose waits,
// encrypted the same way, in the outbox (outbox.go) until package mailqueue
// has delivered it.
//
// Levels 3–4 are end-to-end encrypted: a recipient's key lives on their
// account (SetAccountKey: the public key and two copies of the secret key
// locked in the browser, nothing that opens it), each file is encrypted
// once and its session key wrapped for every recipient's key, and for the
// gateway's only while a recipient has no key yet; when that key arrives
// the gateway adds a key packet for it and drops its own (wrap.go).
// OpenMessage serves one recipient's key packet and the blob as the
// message their key opens, in the browser or with GnuPG; the server never
// decrypts these files for anyone.
package vault

import (
	"errors"
	"time"
)

// Errors returned by look-ups. Callers must not reveal to a visitor which of
// them occurred beyond "not available" (404) versus "gone" (410).
var (
	// ErrNotFound means no transfer, file or code matches.
	ErrNotFound = errors.New("vault: not found")
	// ErrExpired means the transfer existed but is past its retention time.
	ErrExpired = errors.New("vault: expired")
	// ErrRevoked means the transfer was withdrawn by the clerk or the admin.
	ErrRevoked = errors.New("vault: revoked")
	// ErrEndToEnd means a file is end-to-end encrypted (levels 3–4): the
	// server does not hand out its plaintext, only the OpenPGP message.
	ErrEndToEnd = errors.New("vault: file is end-to-end encrypted")
	// ErrLocked means the transfer was locked after too many wrong sign-in
	// codes by its recipients (see RecordFailedCode); an admin unlocks it.
	ErrLocked = errors.New("vault: locked after too many wrong codes")
	// ErrInvalidAddress means a string is not usable as an e-mail address.
	ErrInvalidAddress = errors.New("vault: invalid e-mail address")
	// ErrNoCode means no sign-in code is pending for the address, or it
	// has expired: the visitor must ask for a new one.
	ErrNoCode = errors.New("vault: no valid sign-in code")
	// ErrTooManyTries means the pending sign-in code has been tried too
	// often; it no longer signs anyone in, even when right, and a new code
	// must be requested.
	ErrTooManyTries = errors.New("vault: too many tries for this sign-in code")
	// ErrBadReceipt means a receipt's signature does not verify, or the
	// receipt was altered after signing.
	ErrBadReceipt = errors.New("vault: receipt signature does not verify")
)

// Config is what the vault needs from the configuration file.
type Config struct {
	// Dir is storage.dir: bbolt database, blobs and the gateway key live here.
	Dir string
	// TransferDays is retention.transfer_days: a transfer expires this many
	// days after it was sent. 0 means 60.
	TransferDays int
	// AccountInactiveDays is retention.account_inactive_days: an account
	// without sign-in or download for this many days is deleted, and
	// warned a week before. 0 means 90.
	AccountInactiveDays int
	// Now is the clock; nil means time.Now. Every time the vault records or
	// compares (expiry, sessions, codes, key and signature creation) comes
	// from it, so tests can jump days ahead.
	Now func() time.Time
	// Blobs stores the encrypted file bodies; nil means a DirStore in
	// Dir/blobs. Other implementations (S3-compatible) plug in here.
	Blobs BlobStore
}

// NewTransfer describes a transfer at BeginTransfer time.
type NewTransfer struct {
	Level      int      // 1..4
	Sender     string   // envelope or From address of the clerk
	Recipients []string // external recipients (To, Cc, Bcc), lower-cased addresses
	Upload     bool     // an upload link was requested
}

// File describes one stored file of a transfer.
type File struct {
	ID          string // random, URL-safe, unique within the transfer
	Name        string // sanitised display file name
	ContentType string // sanitised media type, e.g. "application/pdf"
	Size        int64  // plaintext size in bytes
	SHA256      string // lower-case hex SHA-256 of the plaintext
	// Kind is empty for an attachment and KindText for the message text
	// of a level-4 transfer (see Draft.AddText): pages show it rather
	// than offer it as a download.
	Kind string
}

// Transfer is the committed view of a transfer.
type Transfer struct {
	ID         string // reference shown to clerks and admins, e.g. "SG-7K3M-XQ2P"
	Level      int
	Sender     string
	Recipients []string
	Upload     bool
	CreatedAt  time.Time
	ExpiresAt  time.Time
	// Files are the files that can still be downloaded. In the sender's
	// and the admin's views (TransferBySenderToken, TransferByID,
	// ListTransfers) a revoked transfer's withdrawn files are listed too.
	Files []File
	// RevokedAt is when the transfer was withdrawn; zero if it was not.
	RevokedAt time.Time
	// LockedAt is when too many wrong sign-in codes locked the transfer;
	// zero if it is not locked.
	LockedAt time.Time
	// Committed is false for a draft whose Commit never ran (for instance
	// after a crash once the mail had gone out); see Draft for why such a
	// transfer is still served.
	Committed bool
}
