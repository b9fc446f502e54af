package linkserver

import (
	"errors"
	"fmt"
	"io"
)

// readAheadDepth is how many chunks may be decrypted before the socket took
// them: two keep both the CPU and the socket busy; more only cost memory.
const readAheadDepth = 2

type readChunk struct {
	buf  *[]byte
	data []byte
	err  error
}

// readAhead reads src into pooled buffers in its own goroutine and hands
// them over through full; buffers come back through free.
type readAhead struct {
	full chan readChunk
	free chan *[]byte
	quit chan struct{}
	done chan struct{}
}

func startReadAhead(src io.Reader, n int64, toEOF bool) *readAhead {
	ra := &readAhead{
		full: make(chan readChunk, readAheadDepth),
		free: make(chan *[]byte, readAheadDepth),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range readAheadDepth {
		ra.free <- chunkPool.Get().(*[]byte)
	}
	go ra.run(src, n, toEOF)
	return ra
}

func (ra *readAhead) run(src io.Reader, n int64, toEOF bool) {
	defer close(ra.done)
	defer close(ra.full)
	for n > 0 {
		var buf *[]byte
		select {
		case buf = <-ra.free:
		case <-ra.quit:
			return
		}
		k, err := io.ReadFull(src, (*buf)[:min(int64(len(*buf)), n)])
		n -= int64(k)
		c := readChunk{buf: buf, data: (*buf)[:k]}
		switch {
		case err != nil && n > 0:
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			c.err = fmt.Errorf("reading plaintext: %w", err)
		case n == 0 && toEOF:
			// The last chunk is held back until the end checks out: once
			// the client has every byte, aborting no longer shows.
			if err := checkEOF(src); err != nil {
				c.data, c.err = nil, err
			}
		}
		ra.full <- c // never blocks: only readAheadDepth buffers exist
		if c.err != nil {
			return
		}
	}
}

// checkEOF reads src to its end: the decryptor verifies the message's final
// authentication tag only there.
func checkEOF(src io.Reader) error {
	var one [1]byte
	switch k, err := io.ReadFull(src, one[:]); {
	case err == io.EOF:
		return nil
	case k > 0:
		return errors.New("plaintext is longer than its recorded size")
	default:
		return fmt.Errorf("reading plaintext end: %w", err)
	}
}

// stop ends the reader and waits for it, so that the source may be closed
// afterwards, and returns the buffers to the pool.
func (ra *readAhead) stop() {
	close(ra.quit)
	<-ra.done
	for c := range ra.full {
		if c.buf != nil {
			chunkPool.Put(c.buf)
		}
	}
	for {
		select {
		case b := <-ra.free:
			chunkPool.Put(b)
		default:
			return
		}
	}
}
