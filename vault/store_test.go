package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDirStore(t *testing.T) {
	t.Parallel()
	for _, direct := range []bool{true, false} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			t.Parallel()
			testDirStore(t, direct)
		})
	}
}

func testDirStore(t *testing.T, direct bool) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "blobs")
	s, err := NewDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.noDirect = !direct

	// Sizes around the alignment and buffer boundaries read back exactly.
	for _, size := range []int64{0, 1, 4095, 4096, 4097, 512<<10 - 1, 512 << 10, 3<<20 + 123} {
		id, _ := newBlobID()
		w, err := s.Create(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if direct && size == 0 && w.(*dirBlobWriter).direct == nil {
			t.Log("file system refuses O_DIRECT; testing the fallback instead")
		}
		if _, err := io.Copy(w, pseudoRandom(uint64(size), size)); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		r, err := s.Open(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got, n := sha256Hex(t, r)
		r.Close()
		want, _ := sha256Hex(t, pseudoRandom(uint64(size), size))
		if got != want || n != size {
			t.Errorf("size %d: read back %d bytes, hash match %v", size, n, got == want)
		}
		s.Delete(ctx, id)
	}

	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("blob directory mode %#o", fi.Mode().Perm())
	}
	id, _ := newBlobID()
	w, err := s.Create(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(w, pseudoRandom(1, 9<<20)) // past writebackEvery
	if _, err := s.Open(ctx, id); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("blob visible before Commit: %v", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, id)); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 9<<20 {
		t.Errorf("committed blob: %v, %v", fi, err)
	}
	var listed []BlobInfo
	s.List(ctx, func(b BlobInfo) error { listed = append(listed, b); return nil })
	if len(listed) != 1 || listed[0].ID != id || listed[0].Size != 9<<20 {
		t.Errorf("List = %+v", listed)
	}

	// An aborted blob leaves nothing.
	id2, _ := newBlobID()
	w2, _ := s.Create(ctx, id2)
	w2.Write([]byte("partial"))
	if err := w2.Abort(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("after abort the directory holds %d entries", len(entries))
	}

	if err := s.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, id); err != nil {
		t.Errorf("deleting a missing blob: %v", err)
	}
	for _, bad := range []string{"../x", "", "ABCDEFGHJKMNPQRSTV", strings.Repeat("a", 65), "aaaaaaaaaaaaaaaa/"} {
		if _, err := s.Create(ctx, bad); err == nil {
			t.Errorf("Create(%q) accepted", bad)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// A crash leaves a temporary file; the next NewDirStore removes it.
	os.WriteFile(filepath.Join(dir, tmpPrefix+"leftover"), []byte("x"), 0o600)
	if _, err := NewDirStore(dir); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("leftovers survive: %v", entries)
	}
}

// TestStorageModes: everything the vault creates is private to its user.
func TestStorageModes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "storage")
	v, err := Open(context.Background(), Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	storeOne(t, v, 1, "a", []byte("a"))
	// Files made later: a retired key, and a compacted database.
	if _, err := v.RotateGatewayKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := v.compact(); err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		fi, _ := d.Info()
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %#o, want %#o", p, fi.Mode().Perm(), want)
		}
		return nil
	})
}

// TestGatewayKey: made once, kept across restarts, refused when others
// can read it, advertising AES-256 and SEIPDv2 with GCM.
func TestGatewayKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	v, err := Open(ctx, Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	fp := v.keys.Load().keyID
	pub := v.GatewayPublicKey()
	d, f := storeOne(t, v, 1, "a", []byte("before restart"))
	v.Close()

	v, err = Open(ctx, Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if v.keys.Load().keyID != fp {
		t.Error("gateway key changed across restart")
	}
	if !strings.Contains(string(pub), "BEGIN PGP PUBLIC KEY BLOCK") || strings.Contains(string(pub), "PRIVATE") {
		t.Errorf("public key export:\n%s", pub)
	}
	rc, _, err := v.OpenFile(ctx, d.ID(), f.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "before restart" {
		t.Errorf("read %q after restart", b)
	}

	e := v.keys.Load().ring[0]
	if e.PrimaryKey.Version != 6 {
		t.Errorf("key version %d, want 6", e.PrimaryKey.Version)
	}
	sig := e.SelfSignature
	if sig == nil || !sig.SEIPDv2 || len(sig.PreferredSymmetric) == 0 || sig.PreferredSymmetric[0] != 9 /* AES-256 */ ||
		len(sig.PreferredCipherSuites) == 0 || sig.PreferredCipherSuites[0] != [2]uint8{9, 3} /* AES-256, GCM */ {
		t.Errorf("key preferences: %+v", sig)
	}
	v.Close()

	os.Chmod(filepath.Join(dir, gatewayKeyName), 0o644)
	if _, err := Open(ctx, Config{Dir: dir}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("Open with a world-readable key: %v", err)
	}
}

// TestSecondOpenRefused: bbolt's lock keeps a second process (here a second
// Open) out, with a message that says why.
func TestSecondOpenRefused(t *testing.T) {
	t.Parallel()
	v, _, dir := openTestVault(t)
	_ = v
	if _, err := Open(context.Background(), Config{Dir: dir}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Open: %v", err)
	}
}
