package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tmpPrefix marks blobs still being written; they are never listed and a
// new DirStore removes any left by a crash.
const tmpPrefix = ".tmp-"

// writebackEvery is how many bytes a blob writer lets accumulate before it
// asks the kernel to start writing them out, so that the final fsync waits
// for little more than the tail instead of the whole file.
const writebackEvery = 4 << 20

// DirStore is a BlobStore in a local directory: one file per blob, mode
// 0600, written under a temporary name, fsync'd, renamed into place, and the
// directory fsync'd, so a committed blob survives a crash and a partial one
// is never visible. On Linux blobs are written with O_DIRECT where the file
// system allows it, otherwise through the page cache with early writeback.
//
// A DirStore must be used by one process at a time (the vault's database
// lock guarantees that for the default store).
type DirStore struct {
	dir      string
	noDirect bool       // tests: force buffered writes
	bufs     bufferPool // aligned buffers for O_DIRECT writers
}

// NewDirStore opens (creating with mode 0700) the blob directory dir and
// removes temporary files that a crashed writer left behind.
func NewDirStore(dir string) (*DirStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: creating blob directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("vault: reading blob directory: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("vault: removing unfinished blob: %w", err)
			}
		}
	}
	return &DirStore{dir: dir, bufs: newDirectPool()}, nil
}

func (s *DirStore) path(id string) (string, error) {
	if !validBlobID(id) {
		return "", fmt.Errorf("vault: invalid blob id %q", id)
	}
	return filepath.Join(s.dir, id), nil
}

// Create implements BlobStore.
func (s *DirStore) Create(ctx context.Context, id string) (BlobWriter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	final, err := s.path(id)
	if err != nil {
		return nil, err
	}
	suffix, err := randomBytes(8)
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(s.dir, fmt.Sprintf("%s%s-%x", tmpPrefix, id, suffix))
	w := &dirBlobWriter{tmp: tmp, final: final, dir: s.dir}
	if !s.noDirect {
		w.direct, err = openDirect(tmp, s.bufs)
		if err != nil {
			return nil, fmt.Errorf("vault: creating blob: %w", err)
		}
	}
	if w.direct != nil {
		w.f = w.direct.f
	} else {
		w.f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("vault: creating blob: %w", err)
		}
	}
	return w, nil
}

// Open implements BlobStore.
func (s *DirStore) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := s.path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("vault: opening blob: %w", err)
	}
	return f, nil
}

// Delete implements BlobStore.
func (s *DirStore) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("vault: deleting blob: %w", err)
	}
	// Without this a crash could bring the unlinked file back; the orphan
	// sweep would catch it, but revocation should mean it at once.
	return syncDir(s.dir)
}

// List implements BlobStore.
func (s *DirStore) List(ctx context.Context, fn func(BlobInfo) error) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("vault: listing blobs: %w", err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.Type().IsRegular() || !validBlobID(e.Name()) {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("vault: listing blobs: %w", err)
		}
		if err := fn(BlobInfo{ID: e.Name(), Size: info.Size(), ModTime: info.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// Ping implements BlobStore by creating and removing a small file, which
// fails on a read-only or full file system.
func (s *DirStore) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, tmpPrefix+"ping-*")
	if err != nil {
		return fmt.Errorf("vault: blob directory not writable: %w", err)
	}
	_, werr := f.Write([]byte{0})
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	if err := errors.Join(werr, cerr, rerr); err != nil {
		return fmt.Errorf("vault: blob directory not writable: %w", err)
	}
	return nil
}

type dirBlobWriter struct {
	f       *os.File
	direct  *directFile // nil: buffered writes with early writeback
	tmp     string
	final   string
	dir     string
	off     int64 // bytes written
	flushed int64 // bytes handed to writeback
	done    bool
}

func (w *dirBlobWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("vault: write to finished blob")
	}
	if w.direct != nil {
		n, err := w.direct.Write(p)
		if err != nil {
			return n, fmt.Errorf("vault: writing blob: %w", err)
		}
		return n, nil
	}
	n, err := w.f.Write(p)
	w.off += int64(n)
	if err != nil {
		return n, fmt.Errorf("vault: writing blob: %w", err)
	}
	if w.off-w.flushed >= writebackEvery {
		startWriteback(w.f, w.flushed, w.off-w.flushed)
		w.flushed = w.off
	}
	return n, nil
}

func (w *dirBlobWriter) Commit() error {
	if w.done {
		return errors.New("vault: blob already finished")
	}
	w.done = true
	tmp := w.tmp
	if w.direct != nil {
		if err := w.direct.finish(); err != nil {
			w.f.Close()
			os.Remove(tmp)
			return fmt.Errorf("vault: %w", err)
		}
	}
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		os.Remove(tmp)
		return fmt.Errorf("vault: syncing blob: %w", err)
	}
	if err := w.f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("vault: closing blob: %w", err)
	}
	if err := os.Rename(tmp, w.final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("vault: publishing blob: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		// The data is synced but the name may not be; a record pointing
		// to it must not be written, so undo.
		os.Remove(w.final)
		return err
	}
	return nil
}

func (w *dirBlobWriter) Abort() error {
	if w.done {
		// After a failed Commit the temporary file is already gone.
		return nil
	}
	w.done = true
	if w.direct != nil {
		w.direct.abandon()
	}
	cerr := w.f.Close()
	rerr := os.Remove(w.tmp)
	if errors.Is(rerr, fs.ErrNotExist) {
		rerr = nil
	}
	if err := errors.Join(cerr, rerr); err != nil {
		return fmt.Errorf("vault: discarding blob: %w", err)
	}
	return nil
}

// syncDir makes renames and unlinks in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("vault: syncing directory: %w", err)
	}
	serr := d.Sync()
	cerr := d.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return fmt.Errorf("vault: syncing directory: %w", err)
	}
	return nil
}
