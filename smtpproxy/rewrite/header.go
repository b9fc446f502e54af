package rewrite

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/emersion/go-message/textproto"
)

// ReadHeader reads a message's top-level header block from br, bounded by
// maxBytes (DefaultMaxHeaderBytes when 0 or less), with the same repairs
// Rewrite applies to part headers (see readHeader). It returns the header
// and the body that follows it: usually br itself, but when the header
// ended without a blank line at a line that is not a header field, that
// line is the body's first line. A header block over the bound is a
// *BadMessageError.
func ReadHeader(br *bufio.Reader, maxBytes int64) (textproto.Header, io.Reader, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxHeaderBytes
	}
	s := newScanner(context.Background(), br)
	h, err := s.readHeader(maxBytes)
	if err != nil {
		return textproto.Header{}, nil, err
	}
	if s.pushed != nil {
		return h, io.MultiReader(bytes.NewReader(s.pushed), s.br), nil
	}
	return h, s.br, nil
}

// readHeader reads one header block and its terminating blank line.
//
// Mail in the wild has broken headers, and a reader that gave up on them
// would bounce mail that every mail client shows. So:
//   - line endings become CRLF, and a bare CR inside a line becomes a space;
//   - a folded line before the first field is unfolded into a field;
//   - a line that is neither a field nor a continuation continues the field
//     before it if that field ends in ';' (a parameter list folded without
//     indentation); otherwise it is the first line of the body, which then
//     begins without the blank line;
//   - a delimiter line of an open multipart ends the block, leaving the part
//     with an empty body;
//   - the end of input ends the block.
//
// The block is bounded by max bytes as read; past it: *BadMessageError.
func (s *scanner) readHeader(max int64) (textproto.Header, error) {
	var (
		block bytes.Buffer // repaired fields, CRLF line endings
		line  []byte       // the line being assembled from chunks
		size  int64
		last  []byte // the last field line written, to tell continuations
	)
	for {
		c, whole, err := s.chunk()
		if errors.Is(err, io.EOF) {
			if len(line) > 0 && isHeaderLine(line, last) {
				addHeaderLine(&block, line, last)
			}
			break
		}
		if err != nil {
			return textproto.Header{}, err
		}
		size += int64(len(c))
		if size > max {
			return textproto.Header{}, errHeaderTooLarge(max)
		}
		if whole {
			if _, ok := s.delimiter(c); ok {
				s.unread(c)
				break
			}
		}
		line = append(line, c...)
		if line[len(line)-1] != '\n' && !s.eof {
			continue // a piece of a long line
		}
		if isBlankLine(line) {
			break
		}
		if !isHeaderLine(line, last) {
			s.unread(line)
			break
		}
		last = addHeaderLine(&block, line, last)
		line = line[:0]
	}
	block.WriteString("\r\n")
	h, err := textproto.ReadHeader(bufio.NewReader(&block))
	if err != nil {
		// addHeaderLine only lets well-formed lines through; this is a bug
		// guard, not a path mail can take.
		return textproto.Header{}, &BadMessageError{Reason: "a header section of the message could not be read"}
	}
	return h, nil
}

func isBlankLine(b []byte) bool {
	return len(b) == 0 || (len(b) == 1 && b[0] == '\n') || (len(b) == 2 && b[0] == '\r' && b[1] == '\n')
}

// isHeaderLine reports whether line belongs to the header block, given the
// last field line accepted (nil if none).
func isHeaderLine(line, last []byte) bool {
	if line[0] == ' ' || line[0] == '\t' {
		return true
	}
	if fieldNameEnd(line) > 0 {
		return true
	}
	return last != nil && bytes.HasSuffix(bytes.TrimRight(last, " \t\r\n"), []byte(";"))
}

// fieldNameEnd returns the index of the colon after a valid field name, or
// -1. Spaces between the name and the colon are tolerated.
func fieldNameEnd(line []byte) int {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return -1
	}
	name := bytes.TrimRight(line[:i], " \t")
	if len(name) == 0 {
		return -1
	}
	for _, c := range name {
		if c < '!' || c > '~' {
			return -1
		}
	}
	return i
}

// addHeaderLine writes one repaired line to block and returns the line to
// remember as the last one.
func addHeaderLine(block *bytes.Buffer, line, last []byte) []byte {
	l := bytes.TrimRight(line, "\r\n")
	l = bytes.ReplaceAll(l, []byte("\r"), []byte(" "))
	switch {
	case l[0] == ' ' || l[0] == '\t':
		if last == nil {
			l = bytes.TrimLeft(l, " \t")
			if fieldNameEnd(l) < 0 {
				return nil // stray continuation before any field
			}
		}
	case fieldNameEnd(l) < 0:
		if last == nil {
			return nil
		}
		l = append([]byte{' '}, l...) // unindented parameter continuation
	}
	block.Write(l)
	block.WriteString("\r\n")
	return l
}
