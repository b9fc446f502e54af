package vault

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
)

func readFile(t *testing.T, v *Vault, transferID, fileID string) string {
	t.Helper()
	rc, _, err := v.OpenFile(context.Background(), transferID, fileID)
	if err != nil {
		t.Fatalf("OpenFile %s/%s: %v", transferID, fileID, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s/%s: %v", transferID, fileID, err)
	}
	return string(b)
}

// TestRotateGatewayKey: after a rotation new files use the new key, old
// files still open with the old one (also after a restart), and Purge
// deletes the old key once the last transfer that needed it is gone, never
// the current one.
func TestRotateGatewayKey(t *testing.T) {
	t.Parallel()
	v, clock, dir := openTestVault(t)
	ctx := context.Background()
	old, oldFile := storeOne(t, v, 1, "old.pdf", []byte("old content"))
	oldKey := v.keys.Load().keyID

	clock.Set(clock.Now().AddDate(0, 0, 1))
	newKey, err := v.RotateGatewayKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if newKey == oldKey || v.keys.Load().keyID != newKey {
		t.Fatalf("rotation: old %s, new %s, current %s", oldKey, newKey, v.keys.Load().keyID)
	}
	retiredPath := filepath.Join(dir, retiredKeyDir, oldKey+".asc")
	if fi, err := os.Stat(retiredPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("retired key file: %v, %v", fi, err)
	}
	fresh, freshFile := storeOne(t, v, 1, "new.pdf", []byte("new content"))

	if got := readFile(t, v, old.ID(), oldFile.ID); got != "old content" {
		t.Errorf("old file reads %q", got)
	}
	if got := readFile(t, v, fresh.ID(), freshFile.ID); got != "new content" {
		t.Errorf("new file reads %q", got)
	}
	info, err := v.TransferByID(ctx, old.ID())
	if err != nil || len(info.FileKeys[oldFile.ID]) != 1 || !reflect.DeepEqual(info.FileKeys[oldFile.ID][0], KeyRef{ID: oldKey, Gateway: true}) {
		t.Errorf("old file's keys: %+v, %v", info.FileKeys, err)
	}
	info, err = v.TransferByID(ctx, fresh.ID())
	if err != nil || len(info.FileKeys[freshFile.ID]) != 1 || !reflect.DeepEqual(info.FileKeys[freshFile.ID][0], KeyRef{ID: newKey, Gateway: true, Current: true}) {
		t.Errorf("new file's keys: %+v, %v", info.FileKeys, err)
	}
	pub, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(v.GatewayPublicKey()))
	if err != nil || len(pub) != 2 {
		t.Errorf("published gateway keys: %d, %v", len(pub), err)
	}

	// While the old transfer lives, its key stays.
	if rep, err := v.Purge(ctx, clock.Now(), false); err != nil || len(rep.Keys) != 0 {
		t.Fatalf("purge with the old transfer alive: %+v, %v", rep, err)
	}
	// And across a restart.
	v.Close()
	v, err = Open(ctx, Config{Dir: dir, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.keys.Load().keyID != newKey {
		t.Errorf("current key after restart: %s, want %s", v.keys.Load().keyID, newKey)
	}
	if got := readFile(t, v, old.ID(), oldFile.ID); got != "old content" {
		t.Errorf("old file after restart reads %q", got)
	}

	// Once the old transfer has expired, the purge that removes it also
	// removes its key; a dry run only says so.
	clock.Set(old.ExpiresAt())
	rep, err := v.Purge(ctx, clock.Now(), true)
	if err != nil || strings.Join(rep.Keys, ",") != oldKey {
		t.Fatalf("dry run: %+v, %v", rep, err)
	}
	if _, err := os.Stat(retiredPath); err != nil {
		t.Fatalf("dry run deleted the key: %v", err)
	}
	rep, err = v.Purge(ctx, clock.Now(), false)
	if err != nil || strings.Join(rep.Keys, ",") != oldKey {
		t.Fatalf("purge: %+v, %v", rep, err)
	}
	if _, err := os.Stat(retiredPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("retired key file still there: %v", err)
	}
	if v.keys.Load().has(oldKey) || !v.keys.Load().has(newKey) {
		t.Error("key ring after purge")
	}
	if got := readFile(t, v, fresh.ID(), freshFile.ID); got != "new content" {
		t.Errorf("new file after purge reads %q", got)
	}
	// The current key is never purged, even with nothing left to open.
	clock.Set(fresh.ExpiresAt())
	if rep, err := v.Purge(ctx, clock.Now(), false); err != nil || len(rep.Keys) != 0 || len(rep.Transfers) != 1 {
		t.Fatalf("last purge: %+v, %v", rep, err)
	}
	if _, err := os.Stat(filepath.Join(dir, gatewayKeyName)); err != nil {
		t.Error(err)
	}
}

// TestRotationDuringAddFile: a file being written while the key rotates
// keeps the key it was wrapped for, even if a purge runs before it is
// recorded.
func TestRotationDuringAddFile(t *testing.T) {
	t.Parallel()
	v, clock, _ := openTestVault(t)
	ctx := context.Background()
	oldKey := v.keys.Load().keyID
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 1})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	type result struct {
		f   File
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := d.AddFile(ctx, "slow.bin", "", pr)
		done <- result{f, err}
	}()
	// Once this write returns, AddFile is reading: it holds the old key.
	if _, err := pw.Write([]byte("first part, ")); err != nil {
		t.Fatal(err)
	}
	if _, err := v.RotateGatewayKey(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := v.Purge(ctx, clock.Now(), false)
	if err != nil || len(rep.Keys) != 0 {
		t.Fatalf("purge during AddFile: %+v, %v", rep, err)
	}
	pw.Write([]byte("second part"))
	pw.Close()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	d.Commit(ctx)
	if got := readFile(t, v, d.ID(), r.f.ID); got != "first part, second part" {
		t.Errorf("file reads %q", got)
	}
	info, _ := v.TransferByID(ctx, d.ID())
	if k := info.FileKeys[r.f.ID]; len(k) != 1 || k[0].ID != oldKey || k[0].Current {
		t.Errorf("file keys %+v, want the retired %s", k, oldKey)
	}
}
