package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sealgate/internal/postfixtest"
	"sealgate/smtpproxy/dkimsign"
)

const (
	startTimeout = 30 * time.Second
	// stopTimeout bounds graceful shutdown after SIGTERM.
	stopTimeout = 30 * time.Second
)

// gateOptions configure one sealgate process.
type gateOptions struct {
	// SMTPListen is smtp.listen; "" picks a free loopback port.
	SMTPListen string
	// NextHop is smtp.next_hop (Postfix's reinjection smtpd).
	NextHop string
	// DKIM, when set, becomes smtp.dkim.
	DKIM *dkimKey
	// StorageDir is storage.dir; "" makes a fresh one.
	StorageDir string
}

// gate is a running `sealgate serve` process.
type gate struct {
	SMTPAddr  string
	WebURL    string // web.public_url (plain HTTP on loopback)
	AdminAddr string

	cmd      *exec.Cmd
	logs     *syncBuffer
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// startGate writes a configuration, starts sealgate and waits until its SMTP
// listener greets. t.Cleanup stops it with SIGTERM.
func startGate(t *testing.T, opts gateOptions) *gate {
	t.Helper()
	bin := sealgateBinary(t)
	dir := t.TempDir()
	if opts.SMTPListen == "" {
		opts.SMTPListen = postfixtest.FreeAddr(t)
	}
	if opts.StorageDir == "" {
		opts.StorageDir = filepath.Join(dir, "storage")
	}
	g := &gate{
		SMTPAddr:  opts.SMTPListen,
		WebURL:    "http://" + postfixtest.FreeAddr(t),
		AdminAddr: postfixtest.FreeAddr(t),
		logs:      &syncBuffer{},
		exited:    make(chan struct{}),
	}
	cfg := filepath.Join(dir, "sealgate.yaml")
	if err := os.WriteFile(cfg, []byte(g.config(opts)), 0o600); err != nil {
		t.Fatal(err)
	}
	g.cmd = exec.Command(bin, "serve", "--config", cfg)
	g.cmd.Stdout = g.logs
	g.cmd.Stderr = g.logs
	// Keep the environment from overriding the file (SEALGATE_* variables).
	g.cmd.Env = cleanEnv()
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start sealgate: %v", err)
	}
	go func() {
		g.waitErr = g.cmd.Wait()
		close(g.exited)
	}()
	t.Cleanup(func() {
		g.Stop(t)
		if t.Failed() {
			t.Logf("sealgate log:\n%s", g.Logs())
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := g.waitReady(ctx); err != nil {
		t.Fatalf("sealgate did not start: %v\nlog:\n%s", err, g.Logs())
	}
	return g
}

func (g *gate) config(o gateOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "smtp:\n  listen: %q\n  hostname: gate.sealgate.test\n  next_hop: %q\n  next_hop_tls: none\n", o.SMTPListen, o.NextHop)
	fmt.Fprintf(&b, "  read_timeout: 1m\n  next_hop_timeout: 1m\n")
	if o.DKIM != nil {
		fmt.Fprintf(&b, "  dkim:\n    domain: %q\n    selector: %q\n    private_key_file: %q\n", o.DKIM.Domain, o.DKIM.Selector, o.DKIM.File)
	}
	fmt.Fprintf(&b, "web:\n  listen: %q\n  public_url: %q\n", strings.TrimPrefix(g.WebURL, "http://"), g.WebURL)
	fmt.Fprintf(&b, "storage:\n  dir: %q\n", o.StorageDir)
	fmt.Fprintf(&b, "admin:\n  listen: %q\n", g.AdminAddr)
	fmt.Fprintf(&b, "branding:\n  name: Landratsamt Test\n")
	fmt.Fprintf(&b, "notify:\n  from: %q\n", "Landratsamt Test <noreply@gate.sealgate.test>")
	fmt.Fprintf(&b, "log:\n  format: json\n  level: debug\n")
	return b.String()
}

// waitReady dials the SMTP listener until it greets with 220, and gives up
// at once if the process exits.
func (g *gate) waitReady(ctx context.Context) error {
	for {
		select {
		case <-g.exited:
			return fmt.Errorf("sealgate exited: %v", g.waitErr)
		default:
		}
		if err := greets(ctx, g.SMTPAddr); err == nil {
			return nil
		}
		select {
		case <-g.exited:
			return fmt.Errorf("sealgate exited: %v", g.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM and expects a clean exit (status 0) within
// stopTimeout: that is sealgate's graceful shutdown.
func (g *gate) Stop(t *testing.T) {
	t.Helper()
	g.stopOnce.Do(func() {
		select {
		case <-g.exited:
			t.Errorf("sealgate exited before it was stopped: %v", g.waitErr)
			return
		default:
		}
		if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM: %v", err)
		}
		select {
		case <-g.exited:
			if g.waitErr != nil {
				t.Errorf("sealgate did not exit cleanly after SIGTERM: %v", g.waitErr)
			}
		case <-time.After(stopTimeout):
			_ = g.cmd.Process.Kill()
			<-g.exited
			t.Errorf("sealgate did not stop within %s of SIGTERM", stopTimeout)
		}
	})
}

// Logs returns what sealgate wrote to stdout and stderr so far.
func (g *gate) Logs() string { return g.logs.String() }

// cleanEnv is the environment without SEALGATE_* variables, which would
// override the test's configuration file.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SEALGATE_") {
			env = append(env, kv)
		}
	}
	return env
}

func greets(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "220") {
		return fmt.Errorf("greeting %q", strings.TrimSpace(line))
	}
	_, _ = c.Write([]byte("QUIT\r\n"))
	return nil
}

// syncBuffer collects a subprocess's output while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dkimKey is a signing key on disk and the DNS record that publishes it.
type dkimKey struct {
	Domain, Selector, File string
	// Records maps the DNS name to the TXT value, for the verifiers.
	Records map[string]string
}

var (
	keyOnce sync.Once
	keyPEM  []byte
	keyTXT  string
	keyErr  error
)

// newDKIMKey writes this run's RSA key (generated once: it takes a moment)
// into a fresh file.
func newDKIMKey(t *testing.T) *dkimKey {
	t.Helper()
	keyOnce.Do(func() { keyPEM, keyTXT, keyErr = dkimsign.GenerateKey(0) })
	if keyErr != nil {
		t.Fatalf("dkim key: %v", keyErr)
	}
	k := &dkimKey{Domain: "sealgate.test", Selector: "e2e", File: filepath.Join(t.TempDir(), "dkim.pem")}
	if err := os.WriteFile(k.File, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	k.Records = map[string]string{dkimsign.RecordName(k.Selector, k.Domain): keyTXT}
	return k
}
