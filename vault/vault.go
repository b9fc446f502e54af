package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// defaultTransferDays is retention.transfer_days when the config says 0.
const defaultTransferDays = 60

// Vault is the open store. It is safe for concurrent use.
type Vault struct {
	dir      string
	days     int
	clock    func() time.Time
	db       *bolt.DB
	blobs    BlobStore
	keys     *gatewayKeys
	spoolDir string

	// inflight holds the blob IDs that AddFile is writing and has not yet
	// recorded, so that an orphan sweep leaves them alone.
	mu       sync.Mutex
	inflight map[string]struct{}
}

// Open opens (creating on first use) the store in cfg.Dir, including the
// gateway's OpenPGP key (made at first start, file mode 0600).
//
// Open also cleans up after a crash: blobs that no file record refers to
// (an AddFile interrupted between writing the blob and recording it) and
// leftover spool files are deleted. Drafts that have records are kept and
// served until they expire: their mail may already have gone out (see
// Draft).
func Open(ctx context.Context, cfg Config) (*Vault, error) {
	if cfg.Dir == "" {
		return nil, errors.New("vault: storage directory not set")
	}
	if cfg.TransferDays < 0 {
		return nil, fmt.Errorf("vault: transfer retention of %d days is negative", cfg.TransferDays)
	}
	v := &Vault{
		dir:      cfg.Dir,
		days:     cfg.TransferDays,
		clock:    cfg.Now,
		blobs:    cfg.Blobs,
		spoolDir: filepath.Join(cfg.Dir, "spool"),
		inflight: make(map[string]struct{}),
	}
	if v.days == 0 {
		v.days = defaultTransferDays
	}
	if v.clock == nil {
		v.clock = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: creating storage directory: %w", err)
	}
	// The database lock comes first: it is what keeps a second process
	// from touching the key file, blobs and spool at the same time.
	db, err := openDB(filepath.Join(cfg.Dir, dbName))
	if err != nil {
		return nil, err
	}
	v.db = db
	if err := v.init(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return v, nil
}

func (v *Vault) init(ctx context.Context) error {
	keys, err := loadOrCreateGatewayKeys(v.dir)
	if err != nil {
		return err
	}
	v.keys = keys
	if v.blobs == nil {
		ds, err := NewDirStore(filepath.Join(v.dir, "blobs"))
		if err != nil {
			return err
		}
		v.blobs = ds
	}
	if err := resetSpoolDir(v.spoolDir); err != nil {
		return err
	}
	if _, err := v.SweepOrphans(ctx); err != nil {
		return err
	}
	return nil
}

// Close closes the database. In-flight drafts must be finished first.
func (v *Vault) Close() error {
	if err := v.db.Close(); err != nil {
		return fmt.Errorf("vault: closing database: %w", err)
	}
	return nil
}

// Ping reports whether storage is usable: the database answers and the
// blob store accepts writes. It is meant for readiness checks.
func (v *Vault) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := v.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta).Get(keySchema) == nil {
			return errors.New("schema version missing")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault: database: %w", err)
	}
	return v.blobs.Ping(ctx)
}

// GatewayPublicKey returns the gateway's public key(s), ASCII-armoured, as
// published for verifying receipts.
func (v *Vault) GatewayPublicKey() []byte {
	return append([]byte(nil), v.keys.public...)
}

// now returns the vault clock's time, in UTC and without a monotonic
// reading, as it is stored.
func (v *Vault) now() time.Time {
	return v.clock().UTC().Round(0)
}

func (v *Vault) beginWrite(blobID string) {
	v.mu.Lock()
	v.inflight[blobID] = struct{}{}
	v.mu.Unlock()
}

func (v *Vault) endWrite(blobID string) {
	v.mu.Lock()
	delete(v.inflight, blobID)
	v.mu.Unlock()
}

func (v *Vault) inflightSnapshot() map[string]struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	m := make(map[string]struct{}, len(v.inflight))
	for id := range v.inflight {
		m[id] = struct{}{}
	}
	return m
}

// deleteBlobs deletes blobs whose records are already gone. A failure
// leaves an orphan that the next sweep removes; it is still reported.
func (v *Vault) deleteBlobs(ctx context.Context, ids []string) error {
	var errs []error
	for _, id := range ids {
		// A cancelled caller must not leave blobs behind.
		if err := v.blobs.Delete(context.WithoutCancel(ctx), id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
