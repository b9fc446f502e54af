package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// spoolRecord is the plaintext size of one sealed spool record.
const spoolRecord = 64 << 10

const spoolPrefix = "spool-"

// Spool holds a message (or any stream) temporarily, encrypted, for callers
// that must see all of it before deciding what to do (a policy that needs
// the whole message). Write it, then replay the plaintext with Reader as
// often as needed, then Close.
//
// The bytes go to a file under storage.dir/spool, encrypted with AES-256-GCM
// under a random key that exists only in this process's memory, in records
// of 64 KiB sealed with a counter nonce and a last-record flag, so that
// records can be neither reordered nor cut off unnoticed. The file is
// unlinked right after it is created: it lives exactly as long as the
// Spool, and a crash leaves nothing readable behind (and, after Open's
// cleanup, nothing at all).
//
// A Spool is used by one goroutine; its readers may run concurrently once
// writing is finished.
type Spool struct {
	f        *os.File
	path     string // set only if the file could not be unlinked at once
	aead     cipher.AEAD
	buf      []byte // pending plaintext, less than one record
	sealed   []byte // scratch for a sealed record
	seq      uint64
	size     int64
	finished bool
	closed   bool
	err      error // sticky write error
}

// NewSpool creates an empty Spool.
func (v *Vault) NewSpool(ctx context.Context) (*Spool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key, err := randomBytes(32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("vault: spool cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("vault: spool cipher: %w", err)
	}
	f, err := os.CreateTemp(v.spoolDir, spoolPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("vault: creating spool file: %w", err)
	}
	s := &Spool{f: f, aead: aead, buf: make([]byte, 0, spoolRecord)}
	if err := os.Remove(f.Name()); err != nil {
		s.path = f.Name() // Close removes it instead
	}
	return s, nil
}

// resetSpoolDir creates the spool directory and removes what a previous
// process left in it.
func resetSpoolDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("vault: creating spool directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("vault: reading spool directory: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), spoolPrefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("vault: removing old spool file: %w", err)
			}
		}
	}
	return nil
}

var errSpoolDone = errors.New("vault: spool already being read or closed")

// Write encrypts p into the spool.
func (s *Spool) Write(p []byte) (int, error) {
	if s.closed || s.finished {
		return 0, errSpoolDone
	}
	if s.err != nil {
		return 0, s.err
	}
	total := 0
	for len(p) > 0 {
		n := copy(s.buf[len(s.buf):cap(s.buf)], p)
		s.buf = s.buf[:len(s.buf)+n]
		p = p[n:]
		total += n
		s.size += int64(n)
		if len(s.buf) == spoolRecord {
			if err := s.seal(false); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// Size returns how many plaintext bytes were written.
func (s *Spool) Size() int64 { return s.size }

func spoolNonce(seq uint64, final bool) []byte {
	var n [12]byte
	binary.BigEndian.PutUint64(n[:8], seq)
	if final {
		n[11] = 1
	}
	return n[:]
}

func (s *Spool) seal(final bool) error {
	s.sealed = s.aead.Seal(s.sealed[:0], spoolNonce(s.seq, final), s.buf, nil)
	if _, err := s.f.Write(s.sealed); err != nil {
		s.err = fmt.Errorf("vault: writing spool: %w", err)
		return s.err
	}
	s.seq++
	s.buf = s.buf[:0]
	return nil
}

// Reader finishes writing (no Write is accepted afterwards) and returns a
// reader of the plaintext from its start. It may be called again for
// another pass; each reader is closed by the caller and is valid until the
// Spool is closed.
func (s *Spool) Reader(ctx context.Context) (io.ReadCloser, error) {
	if s.closed {
		return nil, errSpoolDone
	}
	if s.err != nil {
		return nil, s.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !s.finished {
		if err := s.seal(true); err != nil {
			return nil, err
		}
		s.finished = true
		s.sealed = nil
	}
	return &spoolReader{s: s, ctx: ctx, full: uint64(s.size / spoolRecord), last: int(s.size % spoolRecord)}, nil
}

// Close deletes the spool file. Readers stop working.
func (s *Spool) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.f.Close()
	if s.path != "" {
		if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	if err != nil {
		return fmt.Errorf("vault: closing spool: %w", err)
	}
	return nil
}

type spoolReader struct {
	s       *Spool
	ctx     context.Context
	full    uint64 // records of spoolRecord bytes before the final one
	last    int    // plaintext bytes in the final record
	seq     uint64 // next record to read
	off     int64  // its offset in the file
	pending []byte // decrypted, not yet returned
	rec     []byte // scratch for a sealed record
	done    bool
	err     error
}

func (r *spoolReader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		if err := r.next(); err != nil {
			r.err = err
			return 0, err
		}
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

func (r *spoolReader) next() error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	final := r.seq == r.full
	n := spoolRecord
	if final {
		n = r.last
	}
	n += r.s.aead.Overhead()
	if cap(r.rec) < n {
		r.rec = make([]byte, spoolRecord+r.s.aead.Overhead())
	}
	rec := r.rec[:n]
	if _, err := r.s.f.ReadAt(rec, r.off); err != nil {
		return fmt.Errorf("vault: reading spool: %w", err)
	}
	pt, err := r.s.aead.Open(rec[:0], spoolNonce(r.seq, final), rec, nil)
	if err != nil {
		return fmt.Errorf("vault: spool record %d failed authentication: %w", r.seq, err)
	}
	r.pending = pt
	r.off += int64(n)
	r.seq++
	r.done = final
	return nil
}

func (r *spoolReader) Close() error {
	r.err = errSpoolDone
	r.pending = nil
	return nil
}
