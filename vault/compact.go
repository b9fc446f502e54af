package vault

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// view runs fn in a read-only transaction.
func (v *Vault) view(fn func(*bolt.Tx) error) error {
	v.dbMu.RLock()
	defer v.dbMu.RUnlock()
	return v.db.View(fn)
}

// update runs fn in a read-write transaction: what fn checks and what it
// changes are one atomic step.
func (v *Vault) update(fn func(*bolt.Tx) error) error {
	v.dbMu.RLock()
	defer v.dbMu.RUnlock()
	return v.db.Update(fn)
}

// compactPrefix names the database copy that compact writes; Open removes
// any that a crash left behind.
const compactPrefix = ".compact-" + dbName + "-"

// compact rewrites the database into a fresh file so that deleted records
// are really gone from storage.dir. bbolt is copy-on-write and never wipes
// a freed page: a deleted record stays readable in the file until its page
// happens to be reused. Overwriting values before deleting them does not
// help either (the overwrite goes to a new page; the old one keeps the
// data). So after a deletion the live data is copied with bbolt.Compact into
// a new file in the same directory (one transaction: only live pages are
// ever written), synced, renamed over sealgate.db and the directory synced;
// then the old file, still open, is overwritten with zeros and synced
// before it is closed, so its freed blocks do not keep the data either
// (on file systems that overwrite in place, such as ext4 and XFS; on
// copy-on-write file systems and flash storage the old blocks are out of
// the program's reach: use full-disk encryption there).
//
// Every other database access waits while the copy is made (it holds dbMu
// exclusively); the database is small (no file contents), so that is a
// short pause. The new file is opened, and so locked against other
// processes, before it takes the database's name, so no other process can
// open the database in between.
func (v *Vault) compact() error {
	path := filepath.Join(v.dir, dbName)

	v.dbMu.Lock()
	old, err := v.swapCompacted(path)
	v.dbMu.Unlock()
	if err != nil {
		return err
	}
	return wipeAndClose(old)
}

// swapCompacted does the part of compact that needs the database to itself
// and returns the old file for wiping. The caller holds dbMu exclusively.
func (v *Vault) swapCompacted(path string) (*os.File, error) {
	// A handle on the old file outlives bbolt's, to overwrite it after.
	old, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("vault: compacting database: %w", err)
	}
	f, err := os.CreateTemp(v.dir, compactPrefix+"*")
	if err != nil {
		old.Close()
		return nil, fmt.Errorf("vault: compacting database: %w", err)
	}
	tmp := f.Name()
	f.Close()
	// bbolt initialises an empty file; CreateTemp made it 0600.
	dst, err := bolt.Open(tmp, 0o600, boltOptions())
	if err == nil {
		err = bolt.Compact(dst, v.db, 0)
		if err == nil {
			// The copy holds only live records: nothing is pending.
			err = dst.Update(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketMeta).Delete(keyCompactPending)
			})
		}
		if err == nil {
			err = dst.Sync()
		}
		if err != nil {
			dst.Close()
		}
	}
	if err == nil {
		err = os.Rename(tmp, path)
		if err != nil {
			dst.Close()
		}
	}
	if err != nil {
		os.Remove(tmp)
		old.Close()
		return nil, fmt.Errorf("vault: compacting database: %w", err)
	}
	// From here on dst is the database. A failed directory sync or close
	// of the old handle no longer undoes that.
	serr := syncDir(v.dir)
	cerr := v.db.Close()
	v.db = dst
	if err := errors.Join(serr, cerr); err != nil {
		old.Close()
		return nil, fmt.Errorf("vault: compacting database: %w", err)
	}
	return old, nil
}

// deleteMarked deletes key from b if it is there, noting the deletion for
// the next compaction (see markDeleted).
func deleteMarked(tx *bolt.Tx, b *bolt.Bucket, key []byte) error {
	if b.Get(key) == nil {
		return nil
	}
	if err := markDeleted(tx); err != nil {
		return err
	}
	return b.Delete(key)
}

// wipeAndClose overwrites f with zeros, syncs and closes it.
func wipeAndClose(f *os.File) error {
	err := wipe(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("vault: overwriting %s: %w", filepath.Base(f.Name()), err)
	}
	return nil
}

func wipe(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	zeros := make([]byte, 1<<20)
	for left := fi.Size(); left > 0; {
		n := int64(len(zeros))
		if left < n {
			n = left
		}
		if _, err := f.Write(zeros[:n]); err != nil {
			return err
		}
		left -= n
	}
	return f.Sync()
}

// wipeAndRemove overwrites a file with zeros and then removes it.
func wipeAndRemove(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("vault: removing %s: %w", filepath.Base(path), err)
	}
	if err := wipeAndClose(f); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("vault: removing %s: %w", filepath.Base(path), err)
	}
	return syncDir(filepath.Dir(path))
}

// removeCompactLeftovers wipes and removes database copies that a crash
// during compact left in dir.
func removeCompactLeftovers(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("vault: reading storage directory: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), compactPrefix) {
			if err := wipeAndRemove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
