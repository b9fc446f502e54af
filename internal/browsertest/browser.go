package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's Chromium, installed by scripts/test-deps.sh.
const ChromiumPath = "/usr/bin/chromium"

// requirePeersEnv makes a missing Chromium or axe-core a failure instead of
// a skip; `make test` sets it.
const requirePeersEnv = "SEALGATE_REQUIRE_PEERS"

const (
	// startTimeout bounds Chromium's start.
	startTimeout = 30 * time.Second
	// stopTimeout bounds the graceful close before the process is killed.
	stopTimeout = 10 * time.Second
)

// Browser is one headless Chromium process. Make one per test with New and
// open a Tab per case; tabs may be used from parallel subtests.
type Browser struct {
	ctx     context.Context // the browser's root chromedp context
	dataDir string
	output  *tailBuffer

	axeOnce sync.Once
	axeSrc  string
	axeErr  error
}

// New starts Chromium with a fresh profile in a temporary directory and
// stops it, checking that no Chromium process survives, when t ends. Without
// Chromium the test is skipped, or fails under SEALGATE_REQUIRE_PEERS=1.
func New(t testing.TB) *Browser {
	t.Helper()
	if fi, err := os.Stat(ChromiumPath); err != nil || fi.Mode()&0o111 == 0 {
		missingPeer(t, "Chromium not found at %s (Debian package chromium; `make test-deps` installs it)", ChromiumPath)
	}
	b := &Browser{dataDir: t.TempDir(), output: &tailBuffer{max: 32 << 10}}
	actx, acancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(ChromiumPath),
		chromedp.UserDataDir(b.dataDir),
		chromedp.CombinedOutput(b.output),
		// Crashpad's handlers detach from the browser and keep their
		// database under XDG_CONFIG_HOME: keep it inside the profile, so
		// that nothing is written elsewhere and the leak check sees them.
		chromedp.Env("XDG_CONFIG_HOME="+filepath.Join(b.dataDir, "config"), "XDG_CACHE_HOME="+filepath.Join(b.dataDir, "cache")),
		// The flags the brief of issue 8 fixes, plus hidden scroll bars
		// (phones overlay theirs, so a bar must not eat 15 px of a 360 px
		// layout) and muted audio.
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
	)
	bctx, bcancel := chromedp.NewContext(actx)
	b.ctx = bctx
	started := make(chan error, 1)
	// The first Do binds the browser's life to bctx, so it must not carry
	// the start timeout; the timeout watches from outside.
	go func() { started <- chromedp.Do(bctx) }()
	select {
	case err := <-started:
		if err != nil {
			bcancel()
			acancel()
			t.Fatalf("start chromium: %v\n%s", err, b.output)
		}
	case <-time.After(startTimeout):
		bcancel()
		acancel()
		t.Fatalf("chromium did not start within %s\n%s", startTimeout, b.output)
	}
	t.Cleanup(func() { b.close(t, bcancel, acancel) })
	return b
}

// close closes the browser gracefully, kills it if that fails, and fails t
// if any process of this browser is still alive afterwards.
func (b *Browser) close(t testing.TB, bcancel, acancel context.CancelFunc) {
	sctx, cancel := context.WithTimeout(b.ctx, stopTimeout)
	err := chromedp.Cancel(sctx)
	cancel()
	bcancel()
	acancel() // waits for the main process
	if err != nil && err != context.Canceled {
		t.Logf("chromium did not close gracefully: %v", err)
	}
	// Children (zygote, renderers, network service) exit on their own once
	// the main process is gone; give them a moment, then kill and complain.
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := processesUsing(b.dataDir)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Errorf("chromium left %d processes running after it was closed (killed them: %v)", len(pids), pids)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processesUsing lists the processes whose command line names this
// browser's profile directory: Chromium passes --user-data-dir to its
// children, and the crash handlers get their database inside it.
func processesUsing(dir string) []int {
	want := []byte(dir)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for _, arg := range bytes.Split(cmdline, []byte{0}) {
			if bytes.Contains(arg, want) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// missingPeer skips t, or fails it when the environment requires every peer.
func missingPeer(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(requirePeersEnv) == "1" {
		t.Fatalf("%s (%s=1 requires it)", msg, requirePeersEnv)
	}
	t.Skip(msg)
}

// tailBuffer keeps the last max bytes written to it: Chromium's output, for
// the message when it fails to start.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if len(w.b) > w.max {
		w.b = append(w.b[:0], w.b[len(w.b)-w.max:]...)
	}
	return len(p), nil
}

func (w *tailBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
