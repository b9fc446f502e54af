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

// readHeaderBlock reads the top-level header up to and including the blank
// line that ends it (or to the end of a message without a body), at most max
// bytes.
func readHeaderBlock(r *bufio.Reader, max int64) ([]byte, error) {
	var buf bytes.Buffer
	atLineStart := true
	for {
		line, err := r.ReadSlice('\n')
		buf.Write(line)
		if int64(buf.Len()) > max {
			return nil, errHeaderTooLarge
		}
		switch {
		case err == nil:
			if atLineStart && len(line) == 2 { // "\r\n": input guarantees CRLF
				return buf.Bytes(), nil
			}
			atLineStart = true
		case err == io.EOF:
			return buf.Bytes(), nil
		case err == bufio.ErrBufferFull:
			atLineStart = false
		default:
			return nil, err
		}
	}
}
