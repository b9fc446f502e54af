package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binary is the sealgate built for this run; buildErr says why there is none.
var (
	binary   string
	buildErr error
)

// binaryEnv names a prebuilt binary to test instead of building one (a
// release build, or the installed /usr/local/bin/sealgate).
const binaryEnv = "SEALGATE_E2E_BINARY"

func TestMain(m *testing.M) {
	if bin := os.Getenv(binaryEnv); bin != "" {
		binary = bin
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "sealgate-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binary, buildErr = build(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles ./cmd/sealgate into dir. A failure is kept for the tests
// that need the binary to report, so that the others still run.
func build(dir string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("go command not found: %w", err)
	}
	out := filepath.Join(dir, "sealgate")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", out, "./cmd/sealgate")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sealgate: %w\n%s", err, msg)
	}
	return out, nil
}

// sealgateBinary returns the built binary or fails t with the build error.
func sealgateBinary(t testing.TB) string {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("sealgate binary not built: %v", buildErr)
	}
	return binary
}

// repoRoot walks up from the package directory to sealgate's go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module sealgate\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("sealgate's go.mod not found above the working directory")
		}
		dir = parent
	}
}
