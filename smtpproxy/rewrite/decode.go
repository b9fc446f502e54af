package rewrite

import (
	"bytes"
	"encoding/base64"
	"io"
	"strings"
)

// normCTE returns the Content-Transfer-Encoding value in lower case, without
// quotes or comments that broken mailers add.
func normCTE(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if i := strings.IndexAny(v, " \t;("); i >= 0 {
		v = v[:i]
	}
	return strings.Trim(v, `"'`)
}

// identityCTE reports whether the encoding leaves the bytes as they are.
func identityCTE(cte string) bool {
	return cte == "" || cte == "7bit" || cte == "8bit" || cte == "binary"
}

// knownCTE reports whether decoder can decode cte.
func knownCTE(cte string) bool {
	return identityCTE(cte) || cte == "base64" || cte == "quoted-printable"
}

// decoder returns a reader decoding the transfer encoding cte from r, or r
// itself for the identity encodings and for encodings it does not know
// (uuencode, x-anything): those parts are taken out raw.
//
// The decoders never fail on bad input. A mail reader shows what it can of
// a broken base64 or quoted-printable body, and so must the stored file:
// refusing the whole mail over one broken attachment would lose it.
func decoder(cte string, r io.Reader) io.Reader {
	switch cte {
	case "base64":
		return &base64Reader{r: r}
	case "quoted-printable":
		return &qpReader{r: r}
	default:
		return r
	}
}

var b64Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// base64Reader decodes base64 leniently: bytes outside the alphabet are
// skipped, and '=' ends a group wherever it stands, so bodies made of
// several padded blocks one after another decode as a mail reader would.
type base64Reader struct {
	r    io.Reader
	in   [8192]byte
	out  [6144 + 3]byte
	buf  []byte // decoded, not yet returned
	quad [4]byte
	nq   int
	err  error
}

func (b *base64Reader) Read(p []byte) (int, error) {
	for len(b.buf) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		n, err := b.r.Read(b.in[:])
		o := 0
		in := b.in[:n]
		for len(in) > 0 {
			// Fast path: a whole well-formed line, as nearly every line is.
			if j := bytes.IndexByte(in, '\n'); j >= 0 {
				line := bytes.TrimSuffix(in[:j], []byte{'\r'})
				if b.nq == 0 && len(line) > 0 && len(line)%4 == 0 {
					if k, derr := base64.StdEncoding.Decode(b.out[o:], line); derr == nil {
						o += k
						in = in[j+1:]
						continue
					}
				}
				o += b.slow(in[:j+1], b.out[o:])
				in = in[j+1:]
				continue
			}
			o += b.slow(in, b.out[o:])
			break
		}
		if err != nil {
			if err == io.EOF {
				o += b.flush(b.out[o:])
			}
			b.err = err
		}
		b.buf = b.out[:o]
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

// slow decodes in byte by byte into out, skipping what is not base64.
func (b *base64Reader) slow(in, out []byte) int {
	o := 0
	for _, c := range in {
		v := b64Value[c]
		if v == 0xff {
			if c == '=' {
				o += b.flush(out[o:])
			}
			continue
		}
		b.quad[b.nq] = v
		b.nq++
		if b.nq == 4 {
			out[o] = b.quad[0]<<2 | b.quad[1]>>4
			out[o+1] = b.quad[1]<<4 | b.quad[2]>>2
			out[o+2] = b.quad[2]<<6 | b.quad[3]
			o += 3
			b.nq = 0
		}
	}
	return o
}

// flush decodes an incomplete group (as padding would) into out.
func (b *base64Reader) flush(out []byte) int {
	n := 0
	switch b.nq {
	case 2:
		out[0] = b.quad[0]<<2 | b.quad[1]>>4
		n = 1
	case 3:
		out[0] = b.quad[0]<<2 | b.quad[1]>>4
		out[1] = b.quad[1]<<4 | b.quad[2]>>2
		n = 2
	}
	b.nq = 0
	return n
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// qpReader decodes quoted-printable leniently (mime/quotedprintable stops
// at the first control character or a line over 4 KiB): "=XX" is a byte,
// "=" before the line end (with or without trailing blanks) is a soft line
// break, any other "=" is itself, blanks before a line end are dropped, and
// every other byte passes through.
type qpReader struct {
	r     io.Reader
	in    [8192]byte
	out   []byte
	buf   []byte
	state int // 0 text, 1 after '=', 2 after '=' and a hex digit, 3 after '=' and blanks, 4 after "=\r"
	hex   byte
	ws    []byte // blanks held until we know whether a line end follows
	err   error
}

const maxHeldBlanks = 1024

func (q *qpReader) Read(p []byte) (int, error) {
	for len(q.buf) == 0 {
		if q.err != nil {
			return 0, q.err
		}
		n, err := q.r.Read(q.in[:])
		q.out = q.out[:0]
		for _, c := range q.in[:n] {
			q.step(c)
		}
		if err != nil {
			if err == io.EOF {
				q.end()
			}
			q.err = err
		}
		q.buf = q.out
	}
	n := copy(p, q.buf)
	q.buf = q.buf[n:]
	return n, nil
}

func (q *qpReader) flushBlanks() {
	q.out = append(q.out, q.ws...)
	q.ws = q.ws[:0]
}

func (q *qpReader) step(c byte) {
	switch q.state {
	case 1:
		if _, ok := unhex(c); ok {
			q.hex, q.state = c, 2
			return
		}
		switch c {
		case '\r':
			q.state = 4
			return
		case '\n':
			q.state = 0
			return
		case ' ', '\t':
			q.state = 3
			return
		}
		q.out = append(q.out, '=')
		q.state = 0
	case 2:
		if lo, ok := unhex(c); ok {
			hi, _ := unhex(q.hex)
			q.out = append(q.out, hi<<4|lo)
			q.state = 0
			return
		}
		q.out = append(q.out, '=', q.hex)
		q.state = 0
	case 3:
		switch c {
		case ' ', '\t':
			return
		case '\r':
			q.state = 4
			return
		case '\n':
			q.state = 0
			return
		}
		q.out = append(q.out, '=')
		q.state = 0
	case 4:
		q.state = 0
		if c == '\n' {
			return
		}
	}
	switch c {
	case '=':
		q.flushBlanks()
		q.state = 1
	case ' ', '\t':
		q.ws = append(q.ws, c)
		if len(q.ws) > maxHeldBlanks {
			q.flushBlanks()
		}
	case '\r', '\n':
		q.ws = q.ws[:0]
		q.out = append(q.out, c)
	default:
		q.flushBlanks()
		q.out = append(q.out, c)
	}
}

// end finishes at the end of input: a lone '=' is a soft break, "=X" is text.
func (q *qpReader) end() {
	if q.state == 2 {
		q.out = append(q.out, '=', q.hex)
	}
	q.state = 0
	q.flushBlanks()
}
