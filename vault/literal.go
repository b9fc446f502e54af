package vault

import (
	"encoding/binary"
	"errors"
	"io"
)

// literalWriter frames plaintext as an OpenPGP literal data packet (RFC 9580
// section 5.9: binary, no file name, no date) using partial body lengths of
// literalPart bytes. It does what packet.SerializeLiteral does, except that
// it hands the plaintext straight to the encrypter instead of first copying
// all of it into a buffer: with 256 KiB writes only a few bytes per part are
// copied. That copy was a tenth of the CPU time of storing a file.
type literalWriter struct {
	w      io.WriteCloser // the SEIPD encrypter; closed by Close
	pend   []byte         // bytes of the current part not yet written
	part   [1]byte        // the partial-length octet, kept here to avoid allocating
	closed bool
}

// literalPart is the partial body length used: a power of two (as partial
// lengths must be), at least 512 (the minimum for the first part).
const literalPart = 1 << 18

// packetTagLiteral is the new-format header octet of a literal data packet.
const packetTagLiteral = 0xC0 | 11

func newLiteralWriter(w io.WriteCloser) (*literalWriter, error) {
	if _, err := w.Write([]byte{packetTagLiteral}); err != nil {
		return nil, err
	}
	lw := &literalWriter{w: w, pend: make([]byte, 0, 512), part: [1]byte{224 + 18}} // 2^18
	// Format 'b' (binary), empty file name, date zero: the name and dates
	// live in the database, not in the blob.
	lw.pend = append(lw.pend, 'b', 0, 0, 0, 0, 0)
	return lw, nil
}

func (lw *literalWriter) Write(p []byte) (int, error) {
	if lw.closed {
		return 0, errors.New("vault: write to closed literal packet")
	}
	n := 0
	for len(lw.pend)+len(p) >= literalPart {
		take := literalPart - len(lw.pend)
		if _, err := lw.w.Write(lw.part[:]); err != nil {
			return n, err
		}
		if len(lw.pend) > 0 {
			if _, err := lw.w.Write(lw.pend); err != nil {
				return n, err
			}
			lw.pend = lw.pend[:0]
		}
		if _, err := lw.w.Write(p[:take]); err != nil {
			return n, err
		}
		p = p[take:]
		n += take
	}
	lw.pend = append(lw.pend, p...)
	return n + len(p), nil
}

// Close writes the last part with a definite length and closes the
// encrypter beneath.
func (lw *literalWriter) Close() error {
	if lw.closed {
		return nil
	}
	lw.closed = true
	var hdr []byte
	switch l := len(lw.pend); {
	case l < 192:
		hdr = []byte{byte(l)}
	case l < 8384:
		l -= 192
		hdr = []byte{byte(l>>8) + 192, byte(l)}
	default:
		hdr = binary.BigEndian.AppendUint32([]byte{255}, uint32(l))
	}
	if _, err := lw.w.Write(hdr); err != nil {
		return err
	}
	if _, err := lw.w.Write(lw.pend); err != nil {
		return err
	}
	lw.pend = nil
	return lw.w.Close()
}
