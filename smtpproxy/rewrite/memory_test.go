package rewrite

import (
	"context"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

// b64Stream produces a base64 body of n pseudo-random bytes in 76-column
// lines, without holding it.
type b64Stream struct {
	src  io.Reader
	left int64
	buf  []byte
}

func (s *b64Stream) Read(p []byte) (int, error) {
	if len(s.buf) == 0 {
		if s.left == 0 {
			return 0, io.EOF
		}
		raw := make([]byte, min(57*64, s.left))
		io.ReadFull(s.src, raw)
		s.left -= int64(len(raw))
		for len(raw) > 0 {
			k := min(57, len(raw))
			s.buf = base64.StdEncoding.AppendEncode(s.buf, raw[:k])
			s.buf = append(s.buf, '\r', '\n')
			raw = raw[k:]
		}
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

// heapSink reads each file and records the live heap once half of it has
// gone through, when a rewrite that buffered the attachment would hold it.
type heapSink struct{ heap uint64 }

func (s *heapSink) AddFile(ctx context.Context, name, ct string, r io.Reader) (Stored, error) {
	var n int64
	buf := make([]byte, 32<<10)
	sampled := false
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if !sampled && n > 32<<20 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			s.heap, sampled = ms.HeapAlloc, true
		}
		if err == io.EOF {
			return Stored{Name: name, ContentType: ct, Size: n}, nil
		}
		if err != nil {
			return Stored{}, err
		}
	}
}

// TestRewriteStreamsAttachment sends a 64 MiB attachment through and checks
// that the heap stays small while it streams. It does not run in parallel,
// so no other test's memory is counted.
func TestRewriteStreamsAttachment(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 86 MB")
	}
	const size = 64 << 20
	head := crlf("--b\nContent-Type: text/plain\n\nHallo\n" +
		"--b\nContent-Type: application/octet-stream; name=big.bin\nContent-Transfer-Encoding: base64\n\n")
	body := io.MultiReader(strings.NewReader(head),
		&b64Stream{src: rand.NewChaCha8([32]byte{1}), left: size},
		strings.NewReader("--b--\r\n"))
	var hdr textproto.Header
	hdr.Set("Content-Type", "multipart/mixed; boundary=b")
	sink := &heapSink{}
	res, err := Rewrite(context.Background(), hdr, body, Limits{}, sink, testNotice{}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 1 || res.Files[0].Size != size {
		t.Fatalf("files = %+v", res.Files)
	}
	if sink.heap == 0 || sink.heap > 16<<20 {
		t.Fatalf("live heap %d MiB while the attachment streamed", sink.heap>>20)
	}
	t.Logf("live heap while streaming: %.1f MiB", float64(sink.heap)/(1<<20))
}
