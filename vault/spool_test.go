package vault

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"
)

func TestSpoolRoundTrip(t *testing.T) {
	t.Parallel()
	v, _, dir := openTestVault(t)
	ctx := context.Background()
	for _, size := range []int{0, 1, spoolRecord - 1, spoolRecord, spoolRecord + 1, 3*spoolRecord + 17, 5 << 20} {
		content, _ := io.ReadAll(pseudoRandom(uint64(size), int64(size)))
		sp, err := v.NewSpool(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Odd write sizes exercise the record boundaries.
		for rest := content; len(rest) > 0; {
			n := min(len(rest), 7777)
			if _, err := sp.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if sp.Size() != int64(size) {
			t.Errorf("Size %d, want %d", sp.Size(), size)
		}
		for pass := range 2 { // replay twice
			r, err := sp.Reader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("size %d pass %d: read %d bytes, %v", size, pass, len(got), err)
			}
		}
		if _, err := sp.Write([]byte("late")); err == nil {
			t.Error("Write after Reader succeeded")
		}
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if entries, _ := os.ReadDir(dir + "/spool"); len(entries) != 0 {
		t.Errorf("spool directory holds %d entries", len(entries))
	}
}

// TestSpoolTamper: changed, reordered or truncated records are errors.
func TestSpoolTamper(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		damage func(f *os.File, size int64)
	}{
		{"flip", func(f *os.File, _ int64) {
			b := make([]byte, 1)
			f.ReadAt(b, 100)
			f.WriteAt([]byte{b[0] ^ 1}, 100)
		}},
		{"truncate to records", func(f *os.File, _ int64) { f.Truncate(2 * (spoolRecord + 16)) }},
		{"swap records", func(f *os.File, _ int64) {
			a, b := make([]byte, spoolRecord+16), make([]byte, spoolRecord+16)
			f.ReadAt(a, 0)
			f.ReadAt(b, spoolRecord+16)
			f.WriteAt(b, 0)
			f.WriteAt(a, spoolRecord+16)
		}},
	} {
		sp, err := v.NewSpool(ctx)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(sp, pseudoRandom(5, 3*spoolRecord+5))
		r, err := sp.Reader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tc.damage(sp.f, sp.Size())
		if _, err := io.ReadAll(r); err == nil {
			t.Errorf("%s: read without error", tc.name)
		}
		sp.Close()
	}
}

func TestSpoolCancelled(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	ctx, cancel := context.WithCancel(context.Background())
	sp, err := v.NewSpool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	io.Copy(sp, pseudoRandom(6, 3*spoolRecord))
	r, err := sp.Reader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.ReadAll(r); err == nil {
		t.Error("read after cancel succeeded")
	}
}
