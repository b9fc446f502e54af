package vault

import (
	"context"
	"errors"
	"io"
	"time"
)

// errTODO marks the contract stubs that the vault implementation replaces.
var errTODO = errors.New("vault: not implemented yet")

// Vault is the open store. It is safe for concurrent use.
type Vault struct{}

// Open opens (creating on first use) the store in cfg.Dir, including the
// gateway's OpenPGP key (made at first start, file mode 0600).
func Open(ctx context.Context, cfg Config) (*Vault, error) { return nil, errTODO }

// Close closes the database. In-flight drafts must be finished first.
func (v *Vault) Close() error { return errTODO }

// Draft is a transfer being written. Exactly one of Commit or Abort must be
// called. A Draft is used by one goroutine.
type Draft struct{}

// BeginTransfer starts a transfer. Its token, access code and expiry are
// known from now on so the notice can be composed while files stream in.
func (v *Vault) BeginTransfer(ctx context.Context, nt NewTransfer) (*Draft, error) {
	return nil, errTODO
}

// ID returns the transfer's reference.
func (d *Draft) ID() string { return "" }

// Token returns the raw link token (43 characters, base64url of 32 random
// bytes). Only its SHA-256 is stored; this is the only time it is known.
func (d *Draft) Token() string { return "" }

// AccessCode returns the access code grouped for typing, e.g.
// "ABCD-EFGH-JKMN-PQRS" (80 bits, Crockford base32).
func (d *Draft) AccessCode() string { return "" }

// ExpiresAt returns when the transfer will expire.
func (d *Draft) ExpiresAt() time.Time { return time.Time{} }

// AddFile streams r into the store, encrypting as it reads; no plaintext byte
// reaches the disk. name and contentType are sanitised by the vault. The blob
// is synced to disk before AddFile returns.
func (d *Draft) AddFile(ctx context.Context, name, contentType string, r io.Reader) (File, error) {
	return File{}, errTODO
}

// Commit makes the transfer final. Call it only after the next hop accepted
// the mail carrying its links.
func (d *Draft) Commit(ctx context.Context) error { return errTODO }

// Abort deletes everything the draft stored: blobs, key packets, records.
func (d *Draft) Abort(ctx context.Context) error { return errTODO }

// TransferByToken returns the transfer a link token opens, or ErrNotFound,
// ErrExpired or ErrRevoked. The token is compared by its SHA-256 only.
func (v *Vault) TransferByToken(ctx context.Context, token string) (Transfer, error) {
	return Transfer{}, errTODO
}

// TokenForAccessCode returns the link token that an access code stands for
// (case-insensitive, dashes and spaces ignored, O/0 I/L/1 confusions
// forgiven), or ErrNotFound/ErrExpired/ErrRevoked.
func (v *Vault) TokenForAccessCode(ctx context.Context, code string) (string, error) {
	return "", errTODO
}

// OpenFile returns the decrypted plaintext of one file of a level 1–2
// transfer as a stream. The caller closes it. A reader that ends early
// because the stored ciphertext fails authentication returns an error, never
// silently truncated data.
func (v *Vault) OpenFile(ctx context.Context, transferID, fileID string) (io.ReadCloser, File, error) {
	return nil, File{}, errTODO
}

// Revoke withdraws a transfer at once: blobs and key packets are deleted, its
// links then report ErrRevoked until retention removes the record.
func (v *Vault) Revoke(ctx context.Context, transferID string) error { return errTODO }
