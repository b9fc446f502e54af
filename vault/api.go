// Package vault stores everything sealgate keeps: transfers, their encrypted
// files, tokens and access codes (and, later, accounts, keys, sessions,
// sign-in codes, upload requests and audit records). File bodies are OpenPGP
// messages in a BlobStore; metadata and session-key packets live in bbolt.
//
// A transfer is written in two phases, like an SMTP delivery target:
// BeginTransfer, AddFile for each attachment (streaming, encrypting as it
// reads), then Commit after the next hop accepted the mail, or Abort, which
// leaves nothing behind.
//
// Layout of storage.dir (directories 0700, files 0600):
//
//	sealgate.db       bbolt: transfers, token and access-code indexes (hashes
//	                  only), file records, session-key packets
//	gateway-key.asc   the gateway's OpenPGP secret key(s), made at first start
//	blobs/            one encrypted blob per stored file (DirStore)
//	spool/            short-lived encrypted spool files (see Spool)
//
// Concatenating a file's key packets and its blob gives a standard OpenPGP
// message (RFC 9580: v6 PKESK, SEIPDv2 with AES-256-GCM) that any
// implementation holding the key opens; the vault itself decrypts it with
// go-crypto's ordinary openpgp.ReadMessage.
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
)

// Config is what the vault needs from the configuration file.
type Config struct {
	// Dir is storage.dir: bbolt database, blobs and the gateway key live here.
	Dir string
	// TransferDays is retention.transfer_days: a transfer expires this many
	// days after it was sent.
	TransferDays int
	// Now is the clock; nil means time.Now. Tests move it.
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
	Files      []File
	// Committed is false for a draft whose Commit never ran (for instance
	// after a crash once the mail had gone out); see Draft for why such a
	// transfer is still served.
	Committed bool
}
