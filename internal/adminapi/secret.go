package adminapi

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SecretFile is the admin secret's file name in storage.dir.
const SecretFile = "admin.secret"

// secretBytes is the length of a new secret; shorter ones written by an
// admin are refused below minSecretBytes.
const (
	secretBytes    = 32
	minSecretBytes = 16
)

// EnsureSecret returns the admin secret stored at path, making it first if
// there is none: 32 random bytes, base64, in a file of mode 0600 owned by
// the calling process's user (the service's user, since `sealgate serve`
// calls it). A secret file that others may read is refused: whoever reads
// it can revoke transfers and delete accounts.
func EnsureSecret(path string) (string, error) {
	s, err := ReadSecret(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	raw := make([]byte, secretBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("admin secret: %w", err)
	}
	secret := base64.StdEncoding.EncodeToString(raw)
	if err := writeNew(path, []byte(secret+"\n")); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Made by someone else in the meantime: use theirs.
			return ReadSecret(path)
		}
		return "", fmt.Errorf("admin secret: %w", err)
	}
	return secret, nil
}

// ReadSecret reads the admin secret at path. It refuses a file that group
// or others can read or write, and a secret shorter than 16 bytes.
func ReadSecret(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("admin secret: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("admin secret: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("admin secret %s has mode %04o: only the service's user may read it (chmod 600 %s)", path, perm, path)
	}
	buf := make([]byte, 1024)
	n, _ := f.Read(buf)
	secret := strings.TrimSpace(string(buf[:n]))
	raw, err := base64.StdEncoding.DecodeString(secret)
	if err != nil || len(raw) < minSecretBytes {
		return "", fmt.Errorf("admin secret %s: want at least %d random bytes in base64 (delete the file and restart sealgate serve to make a new one)", path, minSecretBytes)
	}
	return secret, nil
}

// writeNew writes data to path, which must not exist, durably: a crash
// leaves either no file or the whole secret, never a truncated one.
func writeNew(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".admin-secret-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Link, unlike rename, fails when path exists.
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
