package vault

import (
	"bytes"
	"io"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// TestLiteralWriter: go-crypto's packet reader parses what literalWriter
// frames, for sizes around every length-encoding boundary and with writes
// of assorted sizes.
func TestLiteralWriter(t *testing.T) {
	t.Parallel()
	sizes := []int{0, 1, 185, 186, 191, 192, 193, 8377, 8378, 8383, 8384, literalPart - 6, literalPart - 5, literalPart, 3*literalPart + 100, 2 << 20}
	for _, size := range sizes {
		for _, step := range []int{1 << 30, readChunk, 1000, 7} {
			if step == 7 && size > 100_000 {
				continue
			}
			content, _ := io.ReadAll(pseudoRandom(uint64(size), int64(size)))
			var buf bytes.Buffer
			lw, err := newLiteralWriter(nopCloser{&buf})
			if err != nil {
				t.Fatal(err)
			}
			for rest := content; len(rest) > 0; {
				n := min(step, len(rest))
				if m, err := lw.Write(rest[:n]); err != nil || m != n {
					t.Fatalf("Write: %d, %v", m, err)
				}
				rest = rest[n:]
			}
			if err := lw.Close(); err != nil {
				t.Fatal(err)
			}
			p, err := packet.Read(&buf)
			if err != nil {
				t.Fatalf("size %d step %d: %v", size, step, err)
			}
			lit, ok := p.(*packet.LiteralData)
			if !ok || !lit.IsBinary || lit.FileName != "" || lit.Time != 0 {
				t.Fatalf("size %d: packet %#v", size, p)
			}
			got, err := io.ReadAll(lit.Body)
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("size %d step %d: body %d bytes, %v", size, step, len(got), err)
			}
			if buf.Len() != 0 {
				t.Fatalf("size %d: %d bytes after the packet", size, buf.Len())
			}
		}
	}
}
