package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	bolt "go.etcd.io/bbolt"
)

// storageFiles lists every regular file under dir, relative to it.
func storageFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// dbEntries counts the keys in every data bucket (all but meta).
func dbEntries(t *testing.T, v *Vault) map[string]int {
	t.Helper()
	counts := map[string]int{}
	err := v.db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if bytes.Equal(name, bucketMeta) {
				continue
			}
			counts[string(name)] = tx.Bucket(name).Stats().KeyN
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

func assertEmptyStore(t *testing.T, v *Vault, dir string) {
	t.Helper()
	want := []string{gatewayKeyName, receiptKeyName, dbName}
	sort.Strings(want)
	if got := storageFiles(t, dir); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("storage holds %v, want only %v", got, want)
	}
	for name, n := range dbEntries(t, v) {
		if n != 0 {
			t.Errorf("bucket %s holds %d entries", name, n)
		}
	}
}

// TestAbortLeavesNothing aborts a draft with files, including one whose
// AddFile failed half-way, and checks that storage.dir holds nothing but
// the database and the key, and the database no entry.
func TestAbortLeavesNothing(t *testing.T) {
	t.Parallel()
	v, _, dir := openTestVault(t)
	ctx := context.Background()
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 1, Sender: "a@example.org", Recipients: []string{"b@example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := d.AddFile(ctx, fmt.Sprintf("f%d.txt", i), "text/plain", pseudoRandom(uint64(i), 300_000)); err != nil {
			t.Fatal(err)
		}
	}
	boom := errors.New("connection reset")
	if _, err := d.AddFile(ctx, "broken.bin", "", io.MultiReader(pseudoRandom(9, 2*mib), iotest.ErrReader(boom))); !errors.Is(err, boom) {
		t.Fatalf("AddFile with failing reader: %v, want %v", err, boom)
	}
	if err := d.Abort(ctx); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	assertEmptyStore(t, v, dir)
	if _, err := v.TransferByToken(ctx, d.Token()); !errors.Is(err, ErrNotFound) {
		t.Errorf("aborted transfer: %v, want ErrNotFound", err)
	}
	if err := d.Commit(ctx); err == nil {
		t.Error("Commit after Abort succeeded")
	}
}

// TestAbortWithCancelledContext: the SMTP session's context is often
// already cancelled when it aborts; cleaning up must still happen.
func TestAbortWithCancelledContext(t *testing.T) {
	t.Parallel()
	v, _, dir := openTestVault(t)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddFile(ctx, "a", "", strings.NewReader("data")); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := d.AddFile(ctx, "b", "", strings.NewReader("data")); !errors.Is(err, context.Canceled) {
		t.Fatalf("AddFile after cancel: %v", err)
	}
	if err := d.Abort(ctx); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	assertEmptyStore(t, v, dir)
}

// TestNoPlaintextAtRest stores a file carrying a random marker and scans
// every byte of every file under storage.dir, the database included.
func TestNoPlaintextAtRest(t *testing.T) {
	t.Parallel()
	v, _, dir := openTestVault(t)
	ctx := context.Background()
	marker := randomMarker(t)
	content := bytes.Join([][]byte{bytes.Repeat([]byte("a"), 100_000), marker, bytes.Repeat([]byte("b"), 100_000)}, nil)

	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddFile(ctx, "notes.txt", "text/plain", bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	small := append([]byte(nil), marker...) // a file that is only the marker
	if _, err := d.AddFile(ctx, "tiny.txt", "text/plain", bytes.NewReader(small)); err != nil {
		t.Fatal(err)
	}
	sp, err := v.NewSpool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if _, err := sp.Write(content); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Reader(ctx); err != nil { // seals the last record
		t.Fatal(err)
	}
	if err := d.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Close so that bbolt's pages are all on disk, then scan.
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	files := storageFiles(t, dir)
	if len(files) < 4 {
		t.Fatalf("expected database, key and two blobs, found %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, marker) {
			t.Errorf("%s contains the plaintext marker", f)
		}
		if bytes.Contains(b, []byte(d.Token())) {
			t.Errorf("%s contains the link token", f)
		}
		if bytes.Contains(b, []byte(d.code)) {
			t.Errorf("%s contains the access code", f)
		}
	}
	// And the spool, whose file has no name: read it through its handle.
	raw, err := io.ReadAll(io.NewSectionReader(sp.f, 0, 1<<30))
	if err != nil || len(raw) < len(content) {
		t.Fatalf("reading spool file: %d bytes, %v", len(raw), err)
	}
	if bytes.Contains(raw, marker) {
		t.Error("spool file contains the plaintext marker")
	}
}

// TestConcurrentAddFile writes several drafts at once (run with -race).
func TestConcurrentAddFile(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	ctx := context.Background()
	const drafts, files = 6, 3
	var wg sync.WaitGroup
	errs := make(chan error, drafts)
	for i := range drafts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				d, err := v.BeginTransfer(ctx, NewTransfer{Level: 1, Sender: fmt.Sprintf("c%d@example.org", i)})
				if err != nil {
					return err
				}
				want := map[string]string{}
				for j := range files {
					seed := uint64(i*100 + j)
					sum, _ := sha256Hex(t, pseudoRandom(seed, 700_000))
					f, err := d.AddFile(ctx, fmt.Sprintf("f%d", j), "", pseudoRandom(seed, 700_000))
					if err != nil {
						return err
					}
					if f.SHA256 != sum {
						return fmt.Errorf("draft %d file %d: sha mismatch", i, j)
					}
					want[f.ID] = sum
				}
				if i%2 == 1 {
					return d.Abort(ctx)
				}
				if err := d.Commit(ctx); err != nil {
					return err
				}
				tr, err := v.TransferByToken(ctx, d.Token())
				if err != nil {
					return err
				}
				if len(tr.Files) != files {
					return fmt.Errorf("draft %d: %d files", i, len(tr.Files))
				}
				for k, f := range tr.Files {
					if f.Name != fmt.Sprintf("f%d", k) {
						return fmt.Errorf("draft %d: file %d is %q, order lost", i, k, f.Name)
					}
					rc, _, err := v.OpenFile(ctx, tr.ID, f.ID)
					if err != nil {
						return err
					}
					sum, _ := sha256Hex(t, rc)
					rc.Close()
					if sum != want[f.ID] {
						return fmt.Errorf("draft %d: %s read back differently", i, f.Name)
					}
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	n, err := v.SweepOrphans(ctx)
	if err != nil || n != 0 {
		t.Errorf("SweepOrphans after clean run: %d, %v", n, err)
	}
}

// TestCrashRecovery simulates a crash after the mail went out but before
// Commit, with a blob written but never recorded: reopening sweeps the
// orphan and still serves the draft.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	clock := newTestClock()
	v, err := Open(ctx, Config{Dir: dir, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 1})
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.AddFile(ctx, "kept.txt", "text/plain", strings.NewReader("kept"))
	if err != nil {
		t.Fatal(err)
	}
	// A blob whose AddFile died before recording it, and the leftovers of
	// an unfinished blob and a spool file.
	orphan, _ := newBlobID()
	bw, err := v.blobs.Create(ctx, orphan)
	if err != nil {
		t.Fatal(err)
	}
	bw.Write([]byte("ciphertext"))
	if err := bw.Commit(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "blobs", tmpPrefix+"abc"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, "spool", spoolPrefix+"123"), []byte("x"), 0o600)
	v.Close() // the "crash": no Commit, no Abort

	v, err = Open(ctx, Config{Dir: dir, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	files := storageFiles(t, dir)
	if len(files) != 4 { // database, two keys, the recorded blob
		t.Errorf("after reopen storage holds %v", files)
	}
	tr, err := v.TransferByToken(ctx, d.Token())
	if err != nil {
		t.Fatalf("draft after crash: %v", err)
	}
	if tr.Committed || len(tr.Files) != 1 || tr.Files[0].ID != f.ID {
		t.Fatalf("draft after crash: %+v", tr)
	}
	rc, _, err := v.OpenFile(ctx, tr.ID, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(b) != "kept" {
		t.Fatalf("read %q, %v", b, err)
	}
}

// TestSweepSparesInflight: a blob being written is not an orphan.
func TestSweepSparesInflight(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	ctx := context.Background()
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 1})
	if err != nil {
		t.Fatal(err)
	}
	// AddFile blocks on this reader half-way; sweep meanwhile.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := d.AddFile(ctx, "slow", "", pr)
		done <- err
	}()
	if _, err := pw.Write(make([]byte, 2*readChunk)); err != nil { // ensures a blob exists
		t.Fatal(err)
	}
	n, err := v.SweepOrphans(ctx)
	if err != nil || n != 0 {
		t.Fatalf("SweepOrphans during AddFile: %d, %v", n, err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("AddFile: %v", err)
	}
	if err := d.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestBeginTransferValidates(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	for _, level := range []int{0, 5, -1} {
		if _, err := v.BeginTransfer(context.Background(), NewTransfer{Level: level}); err == nil {
			t.Errorf("level %d accepted", level)
		}
	}
	d, err := v.BeginTransfer(context.Background(), NewTransfer{Level: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !referencePattern(d.ID()) {
		t.Errorf("reference %q", d.ID())
	}
	if len(d.Token()) != 43 {
		t.Errorf("token %q", d.Token())
	}
	if _, ok := normalizeAccessCode(d.AccessCode()); !ok || len(d.AccessCode()) != 19 {
		t.Errorf("access code %q", d.AccessCode())
	}
	d.Abort(context.Background())
}

func referencePattern(id string) bool {
	if len(id) != 12 || !strings.HasPrefix(id, "SG-") || id[7] != '-' {
		return false
	}
	for _, c := range id[3:7] + id[8:] {
		if !strings.ContainsRune(crockford, c) {
			return false
		}
	}
	return true
}

// TestEmptyAndOddFiles: an empty attachment and one fed a byte at a time
// store and read back exactly.
func TestEmptyAndOddFiles(t *testing.T) {
	t.Parallel()
	v, _, _ := openTestVault(t)
	ctx := context.Background()
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 1})
	if err != nil {
		t.Fatal(err)
	}
	odd, _ := io.ReadAll(pseudoRandom(7, aeadChunkSize+3))
	for _, content := range [][]byte{nil, odd} {
		f, err := d.AddFile(ctx, "f", "", iotest.OneByteReader(bytes.NewReader(content)))
		if err != nil {
			t.Fatal(err)
		}
		if f.Size != int64(len(content)) {
			t.Errorf("size %d, want %d", f.Size, len(content))
		}
		if len(content) == 0 && f.SHA256 != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
			t.Errorf("empty file sha %s", f.SHA256)
		}
		rc, _, err := v.OpenFile(ctx, d.ID(), f.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
	}
	if err := d.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}
