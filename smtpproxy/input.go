package smtpproxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"time"
)

// input is the message as it arrives from the client, checked before any of
// it may go on. go-smtp's DATA reader ends the message only at CRLF.CRLF, but
// passes a bare LF or CR through as data; a next hop that reads those as line
// endings could then see a second, smuggled message. input refuses the
// message at the first bare CR or LF, and never releases a CR before it has
// seen the LF after it, so no byte of a bad line reaches the next hop.
//
// It also refreshes the connection's read deadline for every chunk: go-smtp
// sets it only when it reads a command, which would make ReadTimeout a bound
// on the whole transfer of a large message instead of on each stall.
//
// input reads in bulk, so it is the place where go-smtp's byte-wise DATA
// reader can later be replaced without touching the rest of the data path.
type input struct {
	src     io.Reader
	conn    net.Conn // nil: no deadlines
	timeout time.Duration

	buf  []byte
	r, w int   // buf[r:w] is checked and may be read
	cr   bool  // a CR is held back at the end of the last chunk
	err  error // sticky; io.EOF once the message is complete
	n    int64 // bytes released
}

const inputBufSize = 64 << 10

func newInput(src io.Reader, conn net.Conn, timeout time.Duration, buf []byte) *input {
	return &input{src: src, conn: conn, timeout: timeout, buf: buf}
}

// dataBufs are the buffers of one DATA, reused across messages: a fresh
// 128 KiB per small message costs more than relaying it.
type dataBufs struct {
	in []byte
	br *bufio.Reader
}

func newDataBufs() any {
	return &dataBufs{in: make([]byte, inputBufSize), br: bufio.NewReaderSize(nil, inputBufSize)}
}

func (in *input) Read(p []byte) (int, error) {
	for in.r == in.w {
		if in.err != nil {
			return 0, in.err
		}
		in.fill()
	}
	n := copy(p, in.buf[in.r:in.w])
	in.r += n
	in.n += int64(n)
	return n, nil
}

// fill reads the next chunk and checks its line endings.
func (in *input) fill() {
	if in.conn != nil && in.timeout > 0 {
		_ = in.conn.SetReadDeadline(time.Now().Add(in.timeout))
	}
	start := 0
	if in.cr {
		in.buf[0] = '\r'
		start = 1
	}
	m, err := in.src.Read(in.buf[start:])
	chunk := in.buf[:start+m]
	in.r, in.w = 0, 0
	in.cr = false
	if !lineEndingsOK(chunk, start) {
		in.err = errBareLineEnding
		return
	}
	end := len(chunk)
	if end > 0 && chunk[end-1] == '\r' {
		if err == io.EOF {
			in.err = errBareLineEnding
			return
		}
		in.cr = true
		end--
	}
	in.w = end
	if err != nil {
		in.err = err
	}
}

// lineEndingsOK reports whether every LF in b is preceded by a CR and every
// CR but a final one is followed by an LF. The bytes before from were checked
// before (only a held-back CR).
func lineEndingsOK(b []byte, from int) bool {
	for i := from; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		if i+j == 0 || b[i+j-1] != '\r' {
			return false
		}
		i += j + 1
	}
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\r')
		if j < 0 {
			return true
		}
		k := i + j
		if k == len(b)-1 {
			return true
		}
		if b[k+1] != '\n' {
			return false
		}
		i = k + 1
	}
}

// readHeaderBlock reads the top-level header: its field lines and the blank
// line that ends it, at most max bytes. Like Postfix and mail readers, it
// also ends the header at the first line that is not a header field (a
// message without the blank line, or without any header); that line is left
// to the body. The caller sees the header bytes exactly as they came.
func readHeaderBlock(br *bufio.Reader, max int64) ([]byte, error) {
	var buf bytes.Buffer
	for first := true; ; first = false {
		switch nextLineKind(br, first) {
		case lineBlank:
			line, err := br.ReadSlice('\n')
			buf.Write(line)
			return buf.Bytes(), err
		case lineBody:
			return buf.Bytes(), nil
		}
		for {
			line, err := br.ReadSlice('\n')
			buf.Write(line)
			if int64(buf.Len()) > max {
				return nil, errHeaderTooLarge
			}
			if err == nil {
				break
			}
			if err == io.EOF {
				return buf.Bytes(), nil
			}
			if err != bufio.ErrBufferFull {
				return nil, err
			}
		}
	}
}

type lineKind int

const (
	lineField lineKind = iota // a header field or its continuation
	lineBlank                 // the blank line that ends the header
	lineBody                  // anything else, or the end of the message
)

// nextLineKind looks at the next line without consuming it. A field line is
// a name of printable ASCII characters (blanks before the colon are
// tolerated, as go-message does) followed by a colon; a line starting with
// a blank continues the field before it.
func nextLineKind(br *bufio.Reader, first bool) lineKind {
	b, _ := br.Peek(2)
	switch {
	case len(b) == 0:
		return lineBody
	case b[0] == '\r' && len(b) == 2 && b[1] == '\n':
		return lineBlank
	case b[0] == ' ' || b[0] == '\t':
		if first {
			return lineBody
		}
		return lineField
	}
	for n := 64; ; n *= 2 {
		b, err := br.Peek(min(n, br.Size()))
		blanks := false
		for i, c := range b {
			switch {
			case c == ':':
				if i == 0 {
					return lineBody
				}
				return lineField
			case c == ' ' || c == '\t':
				blanks = true
			case blanks || c < 33 || c > 126:
				return lineBody
			}
		}
		if err != nil || len(b) == br.Size() {
			return lineBody
		}
	}
}
