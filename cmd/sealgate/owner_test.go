package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckOwner(t *testing.T) {
	dir := t.TempDir()
	if err := checkOwner(dir); err != nil {
		t.Errorf("own directory refused: %v", err)
	}
	if err := checkOwner(filepath.Join(dir, "new")); err != nil {
		t.Errorf("missing directory refused: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("not root: cannot make a directory owned by someone else to check the refusal")
	}
	other := filepath.Join(dir, "service")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(other, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	err := checkOwner(other)
	if err == nil || !strings.Contains(err.Error(), "run sealgate as that user") {
		t.Errorf("root working on another user's storage.dir: %v", err)
	}
}
