// Package postfixtest runs a private Postfix instance for tests: its own
// configuration directory, queue, log file and loopback ports, started with
// `postfix -c DIR` and stopped at the end of the test. It never reads or
// changes the system's Postfix (/etc/postfix stays as it is, and no command
// runs without -c).
//
// Postfix must run as root, so tests that use it skip when not root or when
// Postfix is not installed, and fail instead under SEALGATE_REQUIRE_PEERS=1
// (as `make test` sets it).
package postfixtest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	postfixCmd  = "/usr/sbin/postfix"
	postqueue   = "/usr/sbin/postqueue"
	startupWait = 30 * time.Second
	// pollEvery paces the waits on Postfix's queue and log: Postfix offers
	// no notification a test could block on.
	pollEvery = 100 * time.Millisecond
)

// Options describe where the instance delivers.
type Options struct {
	// RelayHost is host:port of the server that receives everything the
	// instance delivers (a capture server in tests). Required.
	RelayHost string
	// ContentFilter is host:port of sealgate: with it, every message leaves
	// the queue through the after-queue content filter and comes back
	// through ReinjectAddr. "" means no filter.
	ContentFilter string
}

// Instance is a running private Postfix.
type Instance struct {
	// SubmitAddr is where clients (swaks) submit mail; mail from loopback
	// may relay.
	SubmitAddr string
	// ReinjectAddr is the after-filter smtpd that sealgate's smtp.next_hop
	// points at (content_filter= and the usual receive overrides).
	ReinjectAddr string
	// Dir holds conf/, queue/, data/ and the maillog.
	Dir string

	conf    string
	started bool // postfix start was attempted: stop must run
}

// RequirePeers skips t with msg, or fails it when SEALGATE_REQUIRE_PEERS=1
// says the real peers must be there.
func RequirePeers(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("SEALGATE_REQUIRE_PEERS") == "1" {
		t.Fatal(msg + " (SEALGATE_REQUIRE_PEERS=1; `make test-deps` installs the test peers)")
	}
	t.Skip(msg)
}

// Available skips or fails t unless a private Postfix can run here.
func Available(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(postfixCmd); err != nil {
		RequirePeers(t, "Postfix is not installed (Debian package postfix); cannot test with a real Postfix")
	}
	if os.Geteuid() != 0 {
		RequirePeers(t, "a private Postfix instance needs root (its daemons switch to the postfix user); run the tests as root to include it")
	}
	if _, err := user.Lookup("postfix"); err != nil {
		RequirePeers(t, "user postfix does not exist; is Postfix installed?")
	}
	if _, err := user.LookupGroup("postdrop"); err != nil {
		RequirePeers(t, "group postdrop does not exist; is Postfix installed?")
	}
}

// Start writes a configuration on free loopback ports, checks and starts
// the instance, and waits until SubmitAddr greets. t.Cleanup stops it and,
// if the test failed, logs its maillog.
func Start(t testing.TB, opts Options) *Instance {
	t.Helper()
	Available(t)
	if opts.RelayHost == "" {
		t.Fatal("postfixtest: Options.RelayHost is required")
	}
	dir, err := privateDir()
	if err != nil {
		t.Fatalf("postfixtest: %v", err)
	}
	inst := &Instance{Dir: dir, conf: filepath.Join(dir, "conf")}
	t.Cleanup(func() { inst.stop(t) })
	if err := inst.prepare(); err != nil {
		t.Fatalf("postfixtest: %v", err)
	}
	ports, err := freePorts(2)
	if err != nil {
		t.Fatalf("postfixtest: %v", err)
	}
	inst.SubmitAddr = "127.0.0.1:" + strconv.Itoa(ports[0])
	inst.ReinjectAddr = "127.0.0.1:" + strconv.Itoa(ports[1])
	data := templateData{Dir: dir, Submit: inst.SubmitAddr, Reinject: inst.ReinjectAddr}
	if data.MainSnippet, data.MasterSnippet, err = snippets(inst.ReinjectAddr); err != nil {
		t.Fatalf("postfixtest: shipped Postfix snippets: %v", err)
	}
	if data.RelayHost, err = bracketed(opts.RelayHost); err != nil {
		t.Fatalf("postfixtest: RelayHost: %v", err)
	}
	if opts.ContentFilter != "" {
		if data.ContentFilter, err = bracketed(opts.ContentFilter); err != nil {
			t.Fatalf("postfixtest: ContentFilter: %v", err)
		}
	}
	if err := writeConfig(inst.conf, data); err != nil {
		t.Fatalf("postfixtest: %v", err)
	}
	if out, err := inst.postfix("check"); err != nil {
		t.Fatalf("postfixtest: postfix check: %v\n%s", err, out)
	}
	inst.started = true
	if out, err := inst.postfix("start"); err != nil {
		t.Fatalf("postfixtest: postfix start: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startupWait)
	defer cancel()
	for _, addr := range []string{inst.SubmitAddr, inst.ReinjectAddr} {
		if err := waitGreeting(ctx, addr); err != nil {
			t.Fatalf("postfixtest: %s does not answer: %v", addr, err)
		}
	}
	return inst
}

// privateDir makes the instance's directory. Postfix's daemons run as user
// postfix and must traverse the path, so it is 0755 (t.TempDir is 0700).
func privateDir() (string, error) {
	dir, err := os.MkdirTemp("", "sealgate-postfix-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			os.RemoveAll(dir)
			return "", fmt.Errorf("%s is not searchable by user postfix; set TMPDIR to a directory such as /tmp", p)
		}
		if p == filepath.Dir(p) {
			return dir, nil
		}
	}
}

// prepare creates conf/, queue/ (owned by root, as Postfix requires) and
// data/ (owned by postfix: master.lock lives there).
func (i *Instance) prepare() error {
	for _, d := range []string{"conf", "queue", "data"} {
		if err := os.Mkdir(filepath.Join(i.Dir, d), 0o755); err != nil {
			return err
		}
	}
	u, err := user.Lookup("postfix")
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(filepath.Join(i.Dir, "data"), uid, gid)
}

// postfix runs `postfix -c conf VERB`; -c is what keeps the system
// instance out of reach.
func (i *Instance) postfix(verb string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, postfixCmd, "-c", i.conf, verb).CombinedOutput()
	return string(out), err
}

func (i *Instance) stop(t testing.TB) {
	if !i.started {
		os.RemoveAll(i.Dir)
		return
	}
	if out, err := i.postfix("stop"); err != nil && !strings.Contains(out, "not running") {
		t.Logf("postfixtest: postfix stop: %v\n%s", err, out)
		if out, err := i.postfix("abort"); err != nil {
			t.Logf("postfixtest: postfix abort: %v\n%s", err, out)
		}
	}
	if t.Failed() {
		t.Logf("postfixtest: maillog of the private Postfix in %s:\n%s", i.Dir, i.Log())
	}
	if err := os.RemoveAll(i.Dir); err != nil {
		t.Logf("postfixtest: remove %s: %v", i.Dir, err)
	}
}

// Log returns the instance's maillog so far.
func (i *Instance) Log() string {
	b, err := os.ReadFile(filepath.Join(i.Dir, "maillog"))
	if err != nil {
		return fmt.Sprintf("(no maillog: %v)", err)
	}
	return string(b)
}

// freePorts returns n loopback ports that were free a moment ago. Postfix
// needs the numbers in its configuration, so the listeners are closed
// again; the kernel does not hand them out again soon.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for len(ports) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FreeAddr returns a 127.0.0.1:port that was free a moment ago, for a
// server that must be named in Postfix's configuration before it runs.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(ports[0])
}

// waitGreeting dials addr until it answers with a 220 greeting.
func waitGreeting(ctx context.Context, addr string) error {
	var last error
	for {
		if last = greets(ctx, addr); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(pollEvery):
		}
	}
}

func greets(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
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
