package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Defaults for zero values in Config.
const (
	defaultTransferDays        = 60
	defaultAccountInactiveDays = 90
)

// Vault is the open store. It is safe for concurrent use.
type Vault struct {
	dir          string
	days         int
	inactiveDays int
	clock        func() time.Time
	blobs        BlobStore
	spoolDir     string

	// dbMu guards db: every transaction holds it for reading, compaction
	// (which replaces the database file and handle) and Close hold it
	// exclusively. Use v.view and v.update, never v.db directly, and
	// never nest them (a waiting compaction would deadlock a nested
	// reader).
	dbMu sync.RWMutex
	db   *bolt.DB

	// keys is replaced as a whole by rotation and by Purge when it drops
	// a retired key; keyMu serialises those two.
	keys    atomic.Pointer[gatewayKeys]
	keyMu   sync.Mutex
	receipt *receiptKey

	// loginSecret keys the HMAC under which sign-in codes are stored.
	loginSecret []byte

	// inflight maps the blob IDs that AddFile is writing and has not yet
	// recorded to the gateway key ID they are wrapped for, so that an
	// orphan sweep leaves the blobs alone and Purge the keys.
	mu       sync.Mutex
	inflight map[string]string

	// uploadWrites holds the running write of each uploaded file
	// (uploadID/fileID), so that a newer request can stop it (see
	// WriteUploadFile).
	uploadMu     sync.Mutex
	uploadWrites map[string]*activeWrite
	// partSize is uploadPartSize; tests make it small.
	partSize int64
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
	if cfg.AccountInactiveDays < 0 {
		return nil, fmt.Errorf("vault: account retention of %d days is negative", cfg.AccountInactiveDays)
	}
	v := &Vault{
		dir:          cfg.Dir,
		days:         cfg.TransferDays,
		inactiveDays: cfg.AccountInactiveDays,
		clock:        cfg.Now,
		blobs:        cfg.Blobs,
		spoolDir:     filepath.Join(cfg.Dir, "spool"),
		inflight:     make(map[string]string),
		uploadWrites: make(map[string]*activeWrite),
		partSize:     uploadPartSize,
	}
	if v.days == 0 {
		v.days = defaultTransferDays
	}
	if v.inactiveDays == 0 {
		v.inactiveDays = defaultAccountInactiveDays
	}
	if v.clock == nil {
		v.clock = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: creating storage directory: %w", err)
	}
	// The database lock comes first: it is what keeps a second process
	// from touching the key files, blobs and spool at the same time.
	db, secret, err := openDB(filepath.Join(cfg.Dir, dbName))
	if err != nil {
		return nil, err
	}
	v.db, v.loginSecret = db, secret
	if err := v.init(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return v, nil
}

func (v *Vault) init(ctx context.Context) error {
	// A compaction interrupted by a crash leaves its unfinished copy,
	// which holds data that may since have been deleted.
	if err := removeCompactLeftovers(v.dir); err != nil {
		return err
	}
	keys, err := loadOrCreateGatewayKeys(v.dir, v.clock)
	if err != nil {
		return err
	}
	v.keys.Store(keys)
	rk, err := loadOrCreateReceiptKey(v.dir, v.clock)
	if err != nil {
		return err
	}
	v.receipt = rk
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
	v.dbMu.Lock()
	defer v.dbMu.Unlock()
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
	err := v.view(func(tx *bolt.Tx) error {
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

// GatewayPublicKey returns the gateway's public encryption key(s), current
// and retired, ASCII-armoured. Receipts are verified with ReceiptPublicKey,
// not with these.
func (v *Vault) GatewayPublicKey() []byte {
	return append([]byte(nil), v.keys.Load().public...)
}

// now returns the vault clock's time, in UTC and without a monotonic
// reading, as it is stored.
func (v *Vault) now() time.Time {
	return v.clock().UTC().Round(0)
}

func (v *Vault) beginWrite(blobID, keyID string) {
	v.mu.Lock()
	v.inflight[blobID] = keyID
	v.mu.Unlock()
}

func (v *Vault) endWrite(blobID string) {
	v.mu.Lock()
	delete(v.inflight, blobID)
	v.mu.Unlock()
}

// inflightSnapshot returns the blob IDs being written and the key IDs they
// are wrapped for.
func (v *Vault) inflightSnapshot() (blobs, keys map[string]struct{}) {
	v.mu.Lock()
	defer v.mu.Unlock()
	blobs = make(map[string]struct{}, len(v.inflight))
	keys = make(map[string]struct{})
	for id, key := range v.inflight {
		blobs[id] = struct{}{}
		keys[key] = struct{}{}
	}
	return blobs, keys
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
