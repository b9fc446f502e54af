package vault

import (
	"context"
	"io"
	"time"
)

// BlobStore keeps encrypted file bodies, one blob per stored file. Blobs are
// never shared between files or transfers (no deduplication): deleting a
// file's blob and key packets is deleting the file.
//
// The vault names blobs with random IDs of lower-case letters and digits;
// implementations may rely on that. A local directory (DirStore) is the
// default; an S3-compatible store fits the same shape (Create as a multipart
// upload that Commit completes and Abort cancels).
type BlobStore interface {
	// Create starts writing blob id. Nothing is visible under id until
	// Commit returns nil; Abort discards what was written.
	Create(ctx context.Context, id string) (BlobWriter, error)
	// Open reads a committed blob. A missing blob is an error that
	// satisfies errors.Is(err, fs.ErrNotExist).
	Open(ctx context.Context, id string) (io.ReadCloser, error)
	// Delete removes a blob durably. Deleting a missing blob is not an
	// error.
	Delete(ctx context.Context, id string) error
	// List calls fn for every committed blob, in no particular order, so
	// that blobs without a record can be swept. An error from fn stops
	// the listing and is returned.
	List(ctx context.Context, fn func(BlobInfo) error) error
	// Ping reports whether the store can currently be written.
	Ping(ctx context.Context) error
}

// BlobWriter receives the bytes of a blob being created. Exactly one of
// Commit or Abort must be called.
type BlobWriter interface {
	io.Writer
	// Commit makes the blob durable (synced to stable storage) and
	// visible under its ID.
	Commit() error
	// Abort discards the blob; it is safe to call after a failed Commit.
	Abort() error
}

// BlobInfo describes one stored blob.
type BlobInfo struct {
	ID      string
	Size    int64
	ModTime time.Time
}

// validBlobID reports whether id has the shape the vault generates, so that
// a store never turns a malformed ID into a path or object key.
func validBlobID(id string) bool {
	if len(id) < 16 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
