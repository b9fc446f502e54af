package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sealgate/vault"
)

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// hashTree returns the SHA-256 of every file under dir, by relative path.
func hashTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(p, dir)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func statusOf(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPurgeRemovesEveryTrace is the retention proof: `sealgate purge
// --as-of <sent + 61 days>` removes a transfer whose file name, recipient
// address and content marker are known, so that a byte scan of storage.dir
// finds none of them, its link is gone and `transfers list` no longer shows
// it; `--dry-run` before changes nothing and lists what would go.
func TestPurgeRemovesEveryTrace(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	name := "Steuerakte-" + randomHex(t, 8) + ".pdf"
	rcpt := "r" + randomHex(t, 8) + "@example.net"
	marker := "MARKER-" + randomHex(t, 16)
	var id, token string
	var expires time.Time
	e.withVault(func(ctx context.Context, v *vault.Vault) {
		id, token = addTransfer(t, ctx, v, vault.NewTransfer{Level: 1, Sender: "clerk@example.org", Recipients: []string{rcpt}},
			name, []byte(strings.Repeat(marker+"\n", 2000)))
		info, err := v.TransferByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		expires = info.ExpiresAt
	})
	asOf := expires.Add(24 * time.Hour).Format(time.RFC3339) // sent + 61 days
	// The scan sees what is stored: the name and the address are in the
	// database until the purge (the content is encrypted from the start).
	if found := scanDir(t, e.dir, name, rcpt); len(found) != 2 {
		t.Fatalf("before the purge the scan finds %v; want the name and the address", found)
	}

	// A dry run while stopped: listed, nothing changed but the database's
	// transaction counter (opening a bbolt file writes its meta page).
	listBefore := e.mustCLI("transfers", "list", "--json")
	blobsBefore := hashTree(t, filepath.Join(e.dir, "blobs"))
	out := e.mustCLI("purge", "--dry-run", "--as-of", asOf)
	if !strings.Contains(out, "Would delete 1 transfer (1 file)") || !strings.Contains(out, id) {
		t.Errorf("dry run (stopped) printed:\n%s", out)
	}
	if e.mustCLI("transfers", "list", "--json") != listBefore {
		t.Error("dry run (stopped) changed the transfers")
	}
	if after := hashTree(t, filepath.Join(e.dir, "blobs")); len(after) != 1 || !maps.Equal(after, blobsBefore) {
		t.Errorf("dry run (stopped) changed the blobs: %v -> %v", blobsBefore, after)
	}

	e.start()
	link := "http://" + e.web + "/t/" + token
	if code := statusOf(t, link); code != http.StatusOK {
		t.Fatalf("link before the purge: %d", code)
	}
	// A dry run through the running server leaves every byte as it was.
	before := hashTree(t, e.dir)
	out = e.mustCLI("purge", "--dry-run", "--as-of", asOf, "--json")
	if !strings.Contains(out, `"dry_run": true`) || !strings.Contains(out, id) {
		t.Errorf("dry run (running) printed:\n%s", out)
	}
	if after := hashTree(t, e.dir); !maps.Equal(before, after) {
		t.Errorf("dry run (running) changed storage.dir:\nbefore %v\nafter  %v", before, after)
	}
	if code := statusOf(t, link); code != http.StatusOK {
		t.Fatalf("link after the dry run: %d", code)
	}

	out = e.mustCLI("purge", "--as-of", asOf)
	if !strings.Contains(out, "Deleted 1 transfer (1 file)") || !strings.Contains(out, id) || !strings.Contains(out, "compacted") {
		t.Errorf("purge printed:\n%s", out)
	}
	if code := statusOf(t, link); code != http.StatusNotFound && code != http.StatusGone {
		t.Errorf("link after the purge: %d, want 404 or 410", code)
	}
	if out := e.mustCLI("transfers", "list"); out != "No transfers.\n" {
		t.Errorf("transfers list after the purge:\n%s", out)
	}
	e.stop()
	if found := scanDir(t, e.dir, name, rcpt, marker); len(found) != 0 {
		t.Errorf("after the purge storage.dir still holds %v", found)
	}
	if out := e.mustCLI("transfers", "list"); out != "No transfers.\n" {
		t.Errorf("transfers list (stopped) after the purge:\n%s", out)
	}
}
