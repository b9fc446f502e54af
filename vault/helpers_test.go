package vault

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// testClock is a settable clock for Config.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// openTestVault opens a vault in a fresh directory and closes it when the
// test ends.
func openTestVault(t testing.TB) (*Vault, *testClock, string) {
	t.Helper()
	dir := t.TempDir()
	clock := newTestClock()
	v, err := Open(context.Background(), Config{Dir: dir, Now: clock.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v, clock, dir
}

// pseudoRandom returns a deterministic, incompressible stream of n bytes
// that costs no memory.
func pseudoRandom(seed uint64, n int64) io.Reader {
	return io.LimitReader(&chachaReader{r: rand.NewChaCha8(seedBytes(seed))}, n)
}

type chachaReader struct{ r *rand.ChaCha8 }

func (c *chachaReader) Read(p []byte) (int, error) { return c.r.Read(p) }

func seedBytes(seed uint64) [32]byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return s
}

func sha256Hex(t testing.TB, r io.Reader) (string, int64) {
	t.Helper()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("hashing: %v", err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

func randomMarker(t testing.TB) []byte {
	t.Helper()
	b := make([]byte, 24)
	if _, err := cryptorand.Read(b); err != nil {
		t.Fatal(err)
	}
	return []byte(hex.EncodeToString(b))
}

// storeOne begins a transfer, stores one file, commits, and returns the
// draft and the file.
func storeOne(t testing.TB, v *Vault, level int, name string, content []byte) (*Draft, File) {
	t.Helper()
	ctx := context.Background()
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: level, Sender: "clerk@example.org", Recipients: []string{"citizen@example.net"}})
	if err != nil {
		t.Fatalf("BeginTransfer: %v", err)
	}
	f, err := d.AddFile(ctx, name, "application/pdf", bytes.NewReader(content))
	if err != nil {
		t.Fatalf("AddFile: %v", err)
	}
	if err := d.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return d, f
}
