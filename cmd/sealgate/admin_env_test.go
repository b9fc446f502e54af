package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sealgate/vault"
)

// adminEnv is a sealgate installation for admin command tests: a config
// file with fixed loopback ports and a storage directory, and a server that
// can be started and stopped (run() in-process, as sealgate serve does).
type adminEnv struct {
	t                    *testing.T
	dir, cfg             string
	smtp, web, adminAddr string
	stop                 func()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	base := t.TempDir()
	e := &adminEnv{t: t, dir: filepath.Join(base, "storage"), cfg: filepath.Join(base, "sealgate.yaml"),
		smtp: freePort(t), web: freePort(t), adminAddr: freePort(t)}
	if err := os.MkdirAll(e.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	e.writeConfig()
	t.Cleanup(func() {
		if e.stop != nil {
			e.stop()
		}
	})
	return e
}

// writeConfig writes e's addresses and storage directory to e.cfg.
func (e *adminEnv) writeConfig() {
	yaml := fmt.Sprintf(`dev:
  outbox: true
smtp:
  listen: %s
  hostname: sealgate.test
  internal_domains: [example.org]
web:
  listen: %s
  public_url: http://%s
storage:
  dir: %s
admin:
  listen: %s
notify:
  from: noreply@sealgate.test
log:
  format: text
`, e.smtp, e.web, e.web, e.dir, e.adminAddr)
	if err := os.WriteFile(e.cfg, []byte(yaml), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *adminEnv) settings() settings {
	e.t.Helper()
	s, err := loadSettings(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// withVault opens the stopped installation's vault directly.
func (e *adminEnv) withVault(fn func(ctx context.Context, v *vault.Vault)) {
	e.t.Helper()
	if e.stop != nil {
		e.t.Fatal("withVault while the server runs")
	}
	ctx := context.Background()
	v, err := vault.Open(ctx, e.settings().Vault)
	if err != nil {
		e.t.Fatal(err)
	}
	defer v.Close()
	fn(ctx, v)
}

// start runs the server and returns once its first retention sweep is
// done, so that nothing it does at start races with the test.
func (e *adminEnv) start() {
	e.t.Helper()
	s := e.settings()
	lns, err := listen(s)
	if err != nil {
		e.t.Fatal(err)
	}
	swept := make(chan bool, 1)
	log := slog.New(&logSignal{Handler: slog.NewTextHandler(io.Discard, nil), swept: swept, n: new(atomic.Int32)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		defer lns.close()
		done <- run(ctx, s, lns, log)
	}()
	e.stop = func() {
		e.stop = nil
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			e.t.Error("run did not stop within 30 s of cancellation")
		}
	}
	select {
	case ok := <-swept:
		if !ok {
			e.t.Fatal("the first retention sweep failed")
		}
	case err := <-done:
		e.stop = nil
		e.t.Fatalf("run ended at start: %v", err)
	}
}

// logSignal reports the end of the first retention sweep.
type logSignal struct {
	slog.Handler
	swept chan bool
	n     *atomic.Int32
}

func (h *logSignal) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "retention sweep finished" || r.Message == "retention sweep failed" {
		if h.n.Add(1) == 1 {
			h.swept <- r.Message == "retention sweep finished"
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *logSignal) WithAttrs(as []slog.Attr) slog.Handler {
	return &logSignal{Handler: h.Handler.WithAttrs(as), swept: h.swept, n: h.n}
}

func (h *logSignal) WithGroup(name string) slog.Handler {
	return &logSignal{Handler: h.Handler.WithGroup(name), swept: h.swept, n: h.n}
}

// cli runs a sealgate command against this installation's configuration.
func (e *adminEnv) cli(args ...string) (string, error) {
	e.t.Helper()
	return runCLI(e.t, append(args, "--config", e.cfg)...)
}

// mustCLI is cli that fails the test on an error.
func (e *adminEnv) mustCLI(args ...string) string {
	e.t.Helper()
	out, err := e.cli(args...)
	if err != nil {
		e.t.Fatalf("sealgate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// addTransfer stores a committed transfer with one file and returns its
// reference and link token.
func addTransfer(t *testing.T, ctx context.Context, v *vault.Vault, nt vault.NewTransfer, name string, content []byte) (id, token string) {
	t.Helper()
	d, err := v.BeginTransfer(ctx, nt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddFile(ctx, name, "application/pdf", strings.NewReader(string(content))); err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return d.ID(), d.Token()
}

// copyDir copies a stopped installation's storage, modes included.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// scanDir returns which of needles occur anywhere in the files under dir.
func scanDir(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	found := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if strings.Contains(string(b), n) {
				found[n+" in "+strings.TrimPrefix(p, dir)] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range found {
		out = append(out, k)
	}
	return out
}
