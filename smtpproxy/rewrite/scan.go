package rewrite

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// scanBufSize is the longest line the scanner sees whole. Longer lines come
// in pieces; only whole lines can be delimiter lines, and a delimiter line
// is never that long.
const scanBufSize = 64 << 10

// delim says what ended a body: a delimiter line of one of the open
// multiparts, or the end of the input.
type delim struct {
	level int  // index into scanner.bounds; -1 for the end of input
	close bool // "--boundary--" rather than "--boundary"
}

var endOfInput = delim{level: -1}

// scanner cuts the input into lines and recognises the delimiter lines of
// every open multipart, outermost first. Because a delimiter of an outer
// multipart also ends every inner one, a missing inner closing delimiter
// repairs itself, as it does in mail readers.
type scanner struct {
	ctx    context.Context
	br     *bufio.Reader
	bounds [][]byte // "--" + boundary of each open multipart, outermost first

	atLineStart bool
	eof         bool  // the underlying reader is exhausted
	err         error // sticky read error

	pushed      []byte // a line given back by unread
	pushedStart bool
}

func newScanner(ctx context.Context, r io.Reader) *scanner {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 4096 {
		br = bufio.NewReaderSize(r, scanBufSize)
	}
	return &scanner{ctx: ctx, br: br, atLineStart: true}
}

func (s *scanner) push(boundary string) int {
	s.bounds = append(s.bounds, []byte("--"+boundary))
	return len(s.bounds) - 1
}

func (s *scanner) pop() { s.bounds = s.bounds[:len(s.bounds)-1] }

// chunk returns the next piece of input: a whole line with its line ending,
// the last line without one, or a piece of a line longer than the buffer.
// line reports that the piece is a whole line. The slice is valid until the
// next call. At the end of input it returns io.EOF.
func (s *scanner) chunk() (b []byte, line bool, err error) {
	if s.pushed != nil {
		b, line = s.pushed, s.pushedStart
		s.pushed = nil
		return b, line, nil
	}
	if s.err != nil {
		return nil, false, s.err
	}
	if s.eof {
		return nil, false, io.EOF
	}
	if err := s.ctx.Err(); err != nil {
		s.err = fmt.Errorf("rewrite: %w", err)
		return nil, false, s.err
	}
	start := s.atLineStart
	b, err = s.br.ReadSlice('\n')
	switch {
	case err == nil:
		s.atLineStart = true
		return b, start, nil
	case errors.Is(err, bufio.ErrBufferFull):
		s.atLineStart = false
		return b, false, nil
	case errors.Is(err, io.EOF):
		s.eof = true
		if len(b) == 0 {
			return nil, false, io.EOF
		}
		return b, start, nil
	default:
		s.err = fmt.Errorf("rewrite: reading message: %w", err)
		return nil, false, s.err
	}
}

// unread gives back a whole line (copied) so that the next chunk returns it.
func (s *scanner) unread(b []byte) {
	s.pushed = append([]byte(nil), b...)
	s.pushedStart = true
}

// delimiter reports whether the whole line b is a delimiter line of an open
// multipart, innermost first. RFC 2046 allows only spaces and tabs after
// the boundary; like Go's and go-message's readers we also take a line
// where the boundary is followed by '-' or other text after a blank as a
// delimiter (a close delimiter if "--" follows). Readers that see a
// delimiter where we did not would split a kept part in two, so we must
// see at least every line they see.
func (s *scanner) delimiter(b []byte) (delim, bool) {
	if len(b) < 2 || b[0] != '-' || b[1] != '-' || len(s.bounds) == 0 {
		return delim{}, false
	}
	for i := len(s.bounds) - 1; i >= 0; i-- {
		d := s.bounds[i]
		if !bytes.HasPrefix(b, d) {
			continue
		}
		rest := b[len(d):]
		if len(rest) == 0 {
			return delim{level: i}, true
		}
		switch rest[0] {
		case ' ', '\t', '\r', '\n':
			return delim{level: i}, true
		case '-':
			close := len(rest) >= 2 && rest[1] == '-'
			return delim{level: i, close: close}, true
		}
	}
	return delim{}, false
}

// body streams the raw bytes of one entity body: everything up to, and not
// including, the line break before the next delimiter line of any open
// multipart, or to the end of input.
type body struct {
	s *scanner

	pre  []byte  // line break held back from the previous line, now due
	cur  []byte  // rest of the current chunk
	pend [2]byte // line break of the last line, held back in case a delimiter follows
	npen int
	hold [2]byte // storage for pre

	end  delim
	done bool
	err  error
	n    int64
}

func (s *scanner) body() *body { return &body{s: s} }

func (b *body) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(b.pre) > 0 {
			c := copy(p[n:], b.pre)
			b.pre = b.pre[c:]
			n += c
			continue
		}
		if len(b.cur) > 0 {
			c := copy(p[n:], b.cur)
			b.cur = b.cur[c:]
			n += c
			continue
		}
		if b.done {
			break
		}
		b.fill()
	}
	b.n += int64(n)
	if n > 0 {
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	return 0, io.EOF
}

// fill fetches the next chunk and decides what of it belongs to the body.
func (b *body) fill() {
	c, line, err := b.s.chunk()
	if err != nil {
		b.done = true
		if errors.Is(err, io.EOF) {
			// No delimiter follows: the last line break is body.
			b.end = endOfInput
			b.releasePending()
			return
		}
		b.err = err
		return
	}
	if line {
		if d, ok := b.s.delimiter(c); ok {
			b.done, b.end, b.npen = true, d, 0
			return
		}
	}
	b.releasePending()
	if c[len(c)-1] == '\n' {
		eol := 1
		if len(c) >= 2 && c[len(c)-2] == '\r' {
			eol = 2
		}
		b.npen = copy(b.pend[:], c[len(c)-eol:])
		c = c[:len(c)-eol]
	}
	b.cur = c
}

func (b *body) releasePending() {
	b.hold = b.pend
	b.pre = b.hold[:b.npen]
	b.npen = 0
}

// finish reads the rest of the body, discarding it, and returns what ended it.
func (b *body) finish() (delim, error) {
	if _, err := io.Copy(io.Discard, b); err != nil {
		return delim{}, err
	}
	return b.end, nil
}

// readUpTo reads the body into memory as long as it stays within max bytes.
// fits is false when the body is longer; buf then holds its first bytes and
// the rest is still to be read from b.
func (b *body) readUpTo(max int64) (buf []byte, fits bool, err error) {
	var out bytes.Buffer
	n, err := io.Copy(&out, io.LimitReader(b, max+1))
	if err != nil {
		return nil, false, err
	}
	if n > max {
		return out.Bytes(), false, nil
	}
	return out.Bytes(), true, nil
}
