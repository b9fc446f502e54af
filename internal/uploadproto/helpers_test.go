package uploadproto

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sealgate/internal/clamd"
	"sealgate/vault"
)

const citizen = "buerger@example.net"

// testClock is a settable clock for the vault.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// env is a vault with a transfer that has an upload link, and an HTTP
// server that mounts the handlers as linkserver would.
type env struct {
	dir    string
	clock  *testClock
	v      *vault.Vault
	d      *vault.Draft
	token  string // upload link token
	srv    *httptest.Server
	deny   bool // the authorisation callback refuses
	mu     sync.Mutex
	handle *Handler
}

func newEnv(t *testing.T, level int, cfg Config) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{dir: t.TempDir(), clock: &testClock{t: time.Now().UTC()}}
	var err error
	e.v, err = vault.Open(ctx, vault.Config{Dir: e.dir, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.v.Close() })
	e.d, err = e.v.BeginTransfer(ctx, vault.NewTransfer{Level: level, Sender: "clerk@musterstadt.example", Recipients: []string{citizen}, Upload: true})
	if err != nil {
		t.Fatal(err)
	}
	if e.token, err = e.d.UploadToken(ctx, citizen); err != nil {
		t.Fatal(err)
	}
	if err := e.d.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	auth := func(r *http.Request) (string, string, bool) {
		e.mu.Lock()
		defer e.mu.Unlock()
		return r.PathValue("token"), citizen, !e.deny
	}
	up, err := NewUploadHandler(e.v, cfg, auth)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := NewReplyHandler(e.v, cfg, auth)
	if err != nil {
		t.Fatal(err)
	}
	e.handle = up
	mux := http.NewServeMux()
	mux.Handle("/u/{token}/files/", up)
	mux.Handle("/t/{token}/reply/files/", reply)
	e.srv = httptest.NewUnstartedServer(mux)
	// linkserver's servers have these; a long upload must not hit them.
	e.srv.Config.ReadTimeout = 5 * time.Second
	e.srv.Config.WriteTimeout = 5 * time.Second
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) filesURL() string { return e.srv.URL + "/u/" + e.token + "/files/" }

// tusResp is what a test looks at in an answer.
type tusResp struct {
	status   int
	location string
	offset   int64
	length   int64
	body     apiError
	raw      []byte
}

func do(t *testing.T, req *http.Request) tusResp {
	t.Helper()
	if req.Header.Get("Tus-Resumable") == "" && req.Method != http.MethodOptions {
		req.Header.Set("Tus-Resumable", "1.0.0")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := tusResp{status: resp.StatusCode, location: resp.Header.Get("Location"), raw: raw}
	r.offset, _ = strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	r.length, _ = strconv.ParseInt(resp.Header.Get("Upload-Length"), 10, 64)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && resp.StatusCode >= 400 && len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("error body %q: %v", raw, err)
		}
	}
	return r
}

func meta(name, ctype string) string {
	return "filename " + base64.StdEncoding.EncodeToString([]byte(name)) + ",filetype " + base64.StdEncoding.EncodeToString([]byte(ctype))
}

// create starts a file upload and returns the answer.
func create(t *testing.T, collection, name string, size int64) tusResp {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, collection, nil)
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", meta(name, "application/pdf"))
	return do(t, req)
}

// patch sends body from offset; length -1 means unknown (chunked).
func patch(t *testing.T, url string, offset int64, body io.Reader, length int64) tusResp {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPatch, url, body)
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	req.ContentLength = length
	return do(t, req)
}

func head(t *testing.T, url string) tusResp {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, url, nil)
	return do(t, req)
}

// absolute turns a Location into a URL.
func (e *env) absolute(loc string) string {
	if strings.HasPrefix(loc, "/") {
		return e.srv.URL + loc
	}
	return loc
}

// upload sends a whole small file and returns its URL.
func (e *env) upload(t *testing.T, name string, data []byte) string {
	t.Helper()
	r := create(t, e.filesURL(), name, int64(len(data)))
	if r.status != http.StatusCreated {
		t.Fatalf("create %q: %d %s", name, r.status, r.raw)
	}
	url := e.absolute(r.location)
	if len(data) == 0 {
		return url
	}
	if p := patch(t, url, 0, bytes.NewReader(data), int64(len(data))); p.status != http.StatusNoContent || p.offset != int64(len(data)) {
		t.Fatalf("patch %q: %d %d %s", name, p.status, p.offset, p.raw)
	}
	return url
}

// markedStream is n deterministic, incompressible bytes with marker at
// the start of every MiB.
func markedStream(seed uint64, n int64, marker []byte) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	src := rand.NewChaCha8(s)
	return io.LimitReader(&markedReader{src: src, marker: marker}, n)
}

type markedReader struct {
	src    *rand.ChaCha8
	marker []byte
	pos    int64
}

func (m *markedReader) Read(p []byte) (int, error) {
	n, _ := m.src.Read(p)
	for i := 0; i < n; i++ {
		at := (m.pos + int64(i)) % (1 << 20)
		if at < int64(len(m.marker)) {
			p[i] = m.marker[at]
		}
	}
	m.pos += int64(n)
	return n, nil
}

// scanStorage returns the files under dir that contain needle, reading
// each file as a stream (blobs may be hundreds of MiB).
func scanStorage(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			if os.IsNotExist(err) {
				return nil // deleted while we walked
			}
			return err
		}
		defer f.Close()
		br := bufio.NewReaderSize(f, 1<<20)
		buf := make([]byte, 0, 2<<20)
		chunk := make([]byte, 1<<20)
		for {
			n, rerr := io.ReadFull(br, chunk)
			buf = append(buf, chunk[:n]...)
			if bytes.Contains(buf, needle) {
				hits = append(hits, p)
				return nil
			}
			if rerr != nil {
				return nil
			}
			// Keep an overlap so a needle across chunks is found.
			keep := min(len(needle), len(buf))
			buf = append(buf[:0], buf[len(buf)-keep:]...)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func blobFiles(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// fakeClamd speaks clamd's INSTREAM (as internal/clamd's tests do) and
// finds the EICAR test string anywhere in a stream.
func fakeClamd(t *testing.T) *clamd.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveClamd(conn)
		}
	}()
	c, err := clamd.New(ln.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func serveClamd(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	if cmd, err := br.ReadString(0); err != nil || cmd != "zINSTREAM\x00" {
		return
	}
	var tail []byte
	found := false
	for {
		var size [4]byte
		if _, err := io.ReadFull(br, size[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(size[:])
		if n == 0 {
			break
		}
		chunk := make([]byte, n)
		if _, err := io.ReadFull(br, chunk); err != nil {
			return
		}
		tail = append(tail, chunk...)
		if bytes.Contains(tail, []byte(eicar)) {
			found = true
		}
		if len(tail) > len(eicar) {
			tail = tail[len(tail)-len(eicar):]
		}
	}
	if found {
		conn.Write([]byte("stream: Win.Test.EICAR_HDB-1 FOUND\x00"))
		return
	}
	conn.Write([]byte("stream: OK\x00"))
}
