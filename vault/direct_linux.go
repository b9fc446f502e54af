package vault

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Blobs are written with O_DIRECT where the file system supports it: the
// ciphertext is needed on disk, not in the page cache, and copying it into
// the cache costs the kernel more CPU than encrypting it costs us. Two
// aligned buffers let encryption fill one while the other goes to disk.
const (
	directAlign   = 4096
	directBufSize = 512 << 10
)

func alignedBuf(n int) []byte {
	b := make([]byte, n+directAlign)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (directAlign - 1))
	if off != 0 {
		off = directAlign - off
	}
	return b[off : off+n : off+n]
}

// bufferPool recycles aligned buffers between blobs; it keeps at most its
// capacity and lets the rest go to the garbage collector.
type bufferPool chan []byte

func newDirectPool() bufferPool { return make(bufferPool, 8) }

func (p bufferPool) get() []byte {
	select {
	case b := <-p:
		return b
	default:
		return alignedBuf(directBufSize)
	}
}

func (p bufferPool) put(b []byte) {
	select {
	case p <- b[:cap(b)]:
	default:
	}
}

// directFile writes a new file with O_DIRECT through a writer goroutine.
type directFile struct {
	f    *os.File
	pool bufferPool
	cur  []byte // buffer being filled
	free chan []byte
	work chan []byte
	done chan struct{}
	size int64

	mu  sync.Mutex
	err error // first error of the writer goroutine
}

// openDirect creates path for O_DIRECT writing, or returns nil, nil when
// the file system does not support it.
func openDirect(path string, pool bufferPool) (*directFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_DIRECT, 0o600)
	if errors.Is(err, unix.EINVAL) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d := &directFile{f: f, pool: pool, free: make(chan []byte, 2), work: make(chan []byte, 2), done: make(chan struct{})}
	d.free <- pool.get()
	d.cur = pool.get()[:0]
	go d.writer()
	return d, nil
}

func (d *directFile) writer() {
	defer close(d.done)
	for b := range d.work {
		if d.failed() == nil {
			if _, err := d.f.Write(b); err != nil {
				d.mu.Lock()
				d.err = err
				d.mu.Unlock()
			}
		}
		d.free <- b
	}
}

func (d *directFile) failed() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

func (d *directFile) Write(p []byte) (int, error) {
	if err := d.failed(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		c := copy(d.cur[len(d.cur):cap(d.cur)], p)
		d.cur = d.cur[:len(d.cur)+c]
		p = p[c:]
		n += c
		if len(d.cur) == cap(d.cur) {
			d.work <- d.cur
			d.cur = (<-d.free)[:0]
		}
	}
	d.size += int64(n)
	return n, nil
}

// finish writes the tail (padded to the alignment, then truncated off) and
// waits for the writer; syncing is the caller's.
func (d *directFile) finish() error {
	if tail := len(d.cur); tail > 0 {
		padded := (tail + directAlign - 1) &^ (directAlign - 1)
		b := d.cur[:padded]
		clear(b[tail:])
		d.work <- b
	} else {
		d.free <- d.cur
	}
	d.stop()
	if err := d.failed(); err != nil {
		return fmt.Errorf("writing blob: %w", err)
	}
	if err := d.f.Truncate(d.size); err != nil {
		return fmt.Errorf("writing blob: %w", err)
	}
	return nil
}

// abandon stops the writer, discarding what was not written yet.
func (d *directFile) abandon() {
	if d.cur != nil {
		d.free <- d.cur
		d.stop()
	}
}

// stop ends the writer goroutine and returns both buffers to the pool.
func (d *directFile) stop() {
	d.cur = nil
	close(d.work)
	<-d.done
	for range 2 {
		d.pool.put(<-d.free)
	}
}
