package linkserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"sealgate/vault"
)

// testClock is the vault's clock, moved by tests.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects log output from concurrent handlers.
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

// env is a real vault in a temporary directory behind a link server on a
// loopback port.
type env struct {
	t     testing.TB
	dir   string
	clock *testClock
	v     *vault.Vault
	srv   *Server
	http  *httptest.Server
	logs  *syncBuffer
	notes *fakeNotifier
	// done receives, for each download request that ended, whether it
	// was counted (see Server.downloadDone).
	done chan bool
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), clock: &testClock{t: time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)}, logs: &syncBuffer{},
		notes: &fakeNotifier{}, done: make(chan bool, 1024)}
	v, err := vault.Open(context.Background(), vault.Config{Dir: e.dir, TransferDays: 60, Now: e.clock.now})
	if err != nil {
		t.Fatalf("opening vault: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	e.v = v
	e.start(v)
	return e
}

// start serves s over a loopback listener, with receipts on and the fake
// notifier. PublicURL is only known once the listener exists, so the server
// is built after it.
func (e *env) start(v Vault) {
	e.startWith(v, func(*Config) {}, WithNotifier(e.notes))
}

// startWith is start with changes to the configuration and other options.
func (e *env) startWith(v Vault, change func(*Config), opts ...Option) {
	t := e.t
	hs := httptest.NewUnstartedServer(nil)
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := Config{PublicURL: "http://" + hs.Listener.Addr().String(), BrandingName: "Stadt Musterhausen", Receipts: true}
	change(&cfg)
	srv, err := New(cfg, v, nil, log, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// The vault's clock drives the rate limits too: they refill only
	// when a test moves the clock.
	srv.now = e.clock.now
	srv.downloadDone = func(counted bool) {
		select {
		case e.done <- counted:
		default: // nobody is counting (benchmarks)
		}
	}
	hs.Config.Handler = srv.Handler()
	hs.Start()
	t.Cleanup(hs.Close)
	e.srv, e.http = srv, hs
}

type testFile struct {
	name, contentType string
	data              []byte // or, when nil, size bytes from a seeded generator
	size              int64
	seed              uint64
}

func (f testFile) reader() io.Reader {
	if f.data != nil {
		return bytes.NewReader(f.data)
	}
	return io.LimitReader(rand.NewChaCha8(seed32(f.seed)), f.size)
}

func seed32(s uint64) [32]byte {
	var b [32]byte
	for i := range 8 {
		b[i] = byte(s >> (8 * i))
	}
	return b
}

// sum returns the SHA-256 of the file's content.
func (f testFile) sum() string {
	h := sha256.New()
	io.Copy(h, f.reader())
	return hex.EncodeToString(h.Sum(nil))
}

type stored struct {
	id, token, code string
	sender          string // the sender status token
	files           []vault.File
}

// Addresses of the transfers that add stores.
const (
	clerk   = "sachbearbeitung@musterhausen.example"
	citizen = "buerger@example.org"
)

// add stores and commits a transfer from clerk to citizen.
func (e *env) add(level int, files ...testFile) stored {
	e.t.Helper()
	return e.addFor(level, []string{citizen}, files...)
}

// addFor stores and commits a transfer from clerk to recipients.
func (e *env) addFor(level int, recipients []string, files ...testFile) stored {
	e.t.Helper()
	ctx := context.Background()
	d, err := e.v.BeginTransfer(ctx, vault.NewTransfer{Level: level, Sender: clerk, Recipients: recipients})
	if err != nil {
		e.t.Fatalf("BeginTransfer: %v", err)
	}
	st := stored{id: d.ID(), token: d.Token(), code: d.AccessCode(), sender: d.SenderToken()}
	for _, f := range files {
		vf, err := d.AddFile(ctx, f.name, f.contentType, f.reader())
		if err != nil {
			e.t.Fatalf("AddFile: %v", err)
		}
		st.files = append(st.files, vf)
	}
	if err := d.Commit(ctx); err != nil {
		e.t.Fatalf("Commit: %v", err)
	}
	return st
}

// client returns an HTTP client with a cookie jar that does not follow
// redirects.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get performs a request with optional header pairs and returns the
// response with its body read.
func (e *env) do(c *http.Client, method, path string, body io.Reader, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if c == nil {
		c = e.client()
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, b
}

func (e *env) get(path string, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	return e.do(nil, http.MethodGet, path, nil, header...)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// formToken loads the home page with c and returns its CSRF token.
func (e *env) formToken(c *http.Client) string {
	e.t.Helper()
	resp, body := e.do(c, http.MethodGet, "/", nil)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /: %s", resp.Status)
	}
	m := csrfRE.FindSubmatch(body)
	if m == nil {
		e.t.Fatalf("no CSRF token in home page")
	}
	return string(m[1])
}

// postCode submits the access-code form with a fresh token.
func (e *env) postCode(c *http.Client, code string) (*http.Response, []byte) {
	e.t.Helper()
	tok := e.formToken(c)
	form := "csrf=" + tok + "&code=" + strings.ReplaceAll(code, " ", "+")
	return e.do(c, http.MethodPost, "/", strings.NewReader(form), "Content-Type", "application/x-www-form-urlencoded")
}

// snapshot hashes every file under the storage directory, names and
// contents, so tests can show that requests changed nothing.
func (e *env) snapshot() string {
	e.t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		io.WriteString(h, p+"\x00"+info.Mode().String()+"\x00")
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		e.t.Fatalf("snapshot: %v", err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// hashBody reads and closes a response body and returns its SHA-256.
func hashBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
