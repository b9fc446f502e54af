package linkserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sealgate/vault"
)

func TestDownloadLargeFileAndRanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := testFile{name: "Akte.pdf", contentType: "application/pdf", size: 50 << 20, seed: 7}
	st := e.add(1, big)
	f := st.files[0]
	path := "/t/" + st.token + "/f/" + f.ID

	// The whole file, hashed as it streams.
	resp, err := e.http.Client().Get(e.http.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading download: %v", err)
	}
	if resp.StatusCode != http.StatusOK || n != big.size || hex.EncodeToString(h.Sum(nil)) != big.sum() {
		t.Fatalf("download: %s, %d bytes, sha256 mismatch=%v", resp.Status, n, hex.EncodeToString(h.Sum(nil)) != big.sum())
	}
	for k, v := range map[string]string{
		"Content-Length":         strconv.FormatInt(big.size, 10),
		"Content-Type":           "application/pdf",
		"ETag":                   `"` + f.SHA256 + `"`,
		"Accept-Ranges":          "bytes",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if f.SHA256 != big.sum() {
		t.Errorf("vault recorded sha256 %s, want %s", f.SHA256, big.sum())
	}

	whole, _ := io.ReadAll(big.reader())
	size := big.size
	etag := `"` + f.SHA256 + `"`
	cases := []struct {
		name, rng, ifRange string
		status             int
		from, to           int64 // expected slice of the file, to exclusive
	}{
		{"first bytes", "bytes=0-99", "", 206, 0, 100},
		{"middle", "bytes=20000000-20999999", "", 206, 20000000, 21000000},
		{"open end", "bytes=52428000-", "", 206, 52428000, size},
		{"suffix", "bytes=-100", "", 206, size - 100, size},
		{"end past size", "bytes=52428700-99999999", "", 206, 52428700, size},
		{"if-range matches", "bytes=10-19", etag, 206, 10, 20},
		{"if-range stale", "bytes=10-19", `"0000"`, 200, 0, size},
		{"if-range date", "bytes=10-19", "Tue, 10 Mar 2026 09:30:00 GMT", 200, 0, size},
		{"several ranges", "bytes=0-1,5-6", "", 200, 0, size},
		{"malformed", "bytes=abc", "", 200, 0, size},
		{"unsatisfiable", fmt.Sprintf("bytes=%d-", size), "", 416, 0, 0},
		{"zero suffix", "bytes=-0", "", 416, 0, 0},
	}
	for _, c := range cases {
		hdr := []string{"Range", c.rng}
		if c.ifRange != "" {
			hdr = append(hdr, "If-Range", c.ifRange)
		}
		resp, body := e.get(path, hdr...)
		if resp.StatusCode != c.status {
			t.Errorf("%s: %s, want %d", c.name, resp.Status, c.status)
			continue
		}
		switch c.status {
		case 206:
			want := fmt.Sprintf("bytes %d-%d/%d", c.from, c.to-1, size)
			if got := resp.Header.Get("Content-Range"); got != want {
				t.Errorf("%s: Content-Range %q, want %q", c.name, got, want)
			}
			fallthrough
		case 200:
			if hashOf(body) != hashOf(whole[c.from:c.to]) {
				t.Errorf("%s: %d bytes, not bytes %d..%d of the file", c.name, len(body), c.from, c.to)
			}
			if resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
				t.Errorf("%s: Content-Length %q for %d bytes", c.name, resp.Header.Get("Content-Length"), len(body))
			}
		case 416:
			if got := resp.Header.Get("Content-Range"); got != fmt.Sprintf("bytes */%d", size) {
				t.Errorf("%s: Content-Range %q", c.name, got)
			}
		}
	}
}

func TestHeadDescribesWithoutBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	file := testFile{name: "x.bin", contentType: "application/x-unknown", size: 1 << 20, seed: 3}
	st := e.add(1, file)
	before := e.snapshot()
	resp, body := e.do(nil, http.MethodHead, "/t/"+st.token+"/f/"+st.files[0].ID, nil)
	if resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Fatalf("HEAD: %s with %d body bytes", resp.Status, len(body))
	}
	if resp.ContentLength != file.size || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("HEAD: length %d, type %q", resp.ContentLength, resp.Header.Get("Content-Type"))
	}
	resp, _ = e.do(nil, http.MethodHead, "/t/"+st.token+"/f/"+st.files[0].ID, nil, "Range", "bytes=-10")
	if resp.StatusCode != http.StatusPartialContent || resp.ContentLength != 10 {
		t.Errorf("HEAD with range: %s, length %d", resp.Status, resp.ContentLength)
	}
	if e.snapshot() != before {
		t.Error("HEAD changed the storage directory")
	}
}

// countingVault counts OpenFile calls and can break the plaintext stream.
type countingVault struct {
	Vault
	opens   atomic.Int32
	breakAt int64 // when positive, the plaintext fails after this many bytes
}

func (c *countingVault) OpenFile(ctx context.Context, tid, fid string) (io.ReadCloser, vault.File, error) {
	c.opens.Add(1)
	rc, f, err := c.Vault.OpenFile(ctx, tid, fid)
	if err != nil || c.breakAt <= 0 {
		return rc, f, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, c.breakAt), errReader{}), rc}, f, nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("message authentication failed") }

func TestHeadDoesNotDecrypt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(1, testFile{name: "x.pdf", contentType: "application/pdf", size: 1000, seed: 1})
	cv := &countingVault{Vault: e.v}
	e.start(cv)
	resp, _ := e.do(nil, http.MethodHead, "/t/"+st.token+"/f/"+st.files[0].ID, nil)
	if resp.StatusCode != 200 || cv.opens.Load() != 0 {
		t.Errorf("HEAD: %s, %d OpenFile calls, want none", resp.Status, cv.opens.Load())
	}
}

func TestBrokenStreamAbortsDownload(t *testing.T) {
	t.Parallel()
	const size = 3 << 20
	// Failing in the middle, and failing only at the very end, where the
	// decryptor checks the final authentication tag after the last byte.
	for _, breakAt := range []int64{1 << 20, size} {
		e := newEnv(t)
		st := e.add(1, testFile{name: "x.pdf", contentType: "application/pdf", size: size, seed: 1})
		e.start(&countingVault{Vault: e.v, breakAt: breakAt})
		resp, err := e.http.Client().Get(e.http.URL + "/t/" + st.token + "/f/" + st.files[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Errorf("break at %d: a broken plaintext stream ended as a clean download of %d bytes", breakAt, n)
		}
		if !strings.Contains(e.logs.String(), "download interrupted") {
			t.Errorf("break at %d: the broken download was not logged", breakAt)
		}
	}
}

func TestContentDisposition(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, want string }{
		{"Bescheid.pdf", "Bescheid.pdf"},
		{`say "hi".pdf`, `say "hi".pdf`},
		{`back\slash.txt`, "back_slash.txt"},
		{"../../etc/passwd", ".._.._etc_passwd"},
		{"Übersicht – März 2026.pdf", "Übersicht – März 2026.pdf"},
		{"日本語.txt", "日本語.txt"},
		{"evil\r\nSet-Cookie: x=y.pdf", "evilSet-Cookie: x=y.pdf"},
		{"rtl\u202Efdp.exe", "rtlfdp.exe"},
		{"100%.txt", "100%.txt"},
		{"a;b=c, d.pdf", "a;b=c, d.pdf"},
		{"\x00\x01", "download"},
		{"", "download"},
		{"bad\xffutf8.txt", "bad_utf8.txt"},
	}
	for _, c := range cases {
		h := contentDisposition(c.name)
		if strings.ContainsAny(h, "\r\n\x00") {
			t.Errorf("%q: header %q has control characters", c.name, h)
		}
		for i := 0; i < len(h); i++ {
			if h[i] >= 0x80 {
				t.Errorf("%q: header %q is not ASCII", c.name, h)
				break
			}
		}
		disp, params, err := mime.ParseMediaType(h)
		if err != nil || disp != "attachment" {
			t.Errorf("%q: %q does not parse: %v", c.name, h, err)
			continue
		}
		// Go's parser prefers filename* like browsers do.
		if params["filename"] != c.want {
			t.Errorf("%q: filename* decodes to %q, want %q (header %q)", c.name, params["filename"], c.want, h)
		}
		_, fallback, _ := strings.Cut(h, `filename="`)
		fallback, _, _ = strings.Cut(fallback, `"`)
		if strings.ContainsAny(fallback, `\%`) {
			t.Errorf("%q: ASCII fallback %q has escapes", c.name, fallback)
		}
	}
}

func TestHostileNamesOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	names := []string{`a"b\c.pdf`, "Zeugnis für Jörg.pdf", "x\r\ny.txt", "<script>alert(1)</script>.html"}
	var files []testFile
	for _, n := range names {
		files = append(files, testFile{name: n, contentType: "text/html", data: []byte(n)})
	}
	st := e.add(1, files...)
	for i, f := range st.files {
		resp, body := e.get("/t/" + st.token + "/f/" + f.ID)
		if resp.StatusCode != 200 || string(body) != names[i] {
			t.Errorf("%q: %s %q", names[i], resp.Status, body)
			continue
		}
		_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
		if err != nil || params["filename"] == "" || strings.ContainsAny(params["filename"], "\r\n\"\\/") {
			t.Errorf("%q: Content-Disposition %q (%v)", names[i], resp.Header.Get("Content-Disposition"), err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("%q: stored as text/html, served as %q", names[i], ct)
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("%q: download CSP %q lacks sandbox", names[i], resp.Header.Get("Content-Security-Policy"))
		}
	}
}

func TestDownloadType(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"application/pdf":           "application/pdf",
		"APPLICATION/PDF; name=x":   "application/pdf",
		"text/plain; charset=utf-8": "text/plain",
		"text/html":                 "application/octet-stream",
		"image/svg+xml":             "application/octet-stream",
		"application/xhtml+xml":     "application/octet-stream",
		"":                          "application/octet-stream",
		"garbage/":                  "application/octet-stream",
		"application/x-msdownload":  "application/octet-stream",
	} {
		if got := downloadType(in); got != want {
			t.Errorf("downloadType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRange(t *testing.T) {
	t.Parallel()
	cases := []struct {
		h       string
		size    int64
		want    byteRange
		outcome rangeOutcome
	}{
		{"bytes=0-0", 10, byteRange{0, 1}, rangePartial},
		{"bytes=0-", 10, byteRange{0, 10}, rangePartial},
		{"bytes=9-", 10, byteRange{9, 1}, rangePartial},
		{"bytes=10-", 10, byteRange{}, rangeUnsatisfiable},
		{"bytes=3-100", 10, byteRange{3, 7}, rangePartial},
		{"bytes=-3", 10, byteRange{7, 3}, rangePartial},
		{"bytes=-30", 10, byteRange{0, 10}, rangePartial},
		{"bytes=-0", 10, byteRange{}, rangeUnsatisfiable},
		{"BYTES = 2-3", 10, byteRange{2, 2}, rangePartial},
		{"bytes=5-4", 10, byteRange{}, rangeIgnore},
		{"bytes=0-1,3-4", 10, byteRange{}, rangeIgnore},
		{"items=0-1", 10, byteRange{}, rangeIgnore},
		{"bytes=+1-2", 10, byteRange{}, rangeIgnore},
		{"bytes=-", 10, byteRange{}, rangeIgnore},
		{"bytes=99999999999999999999-", 10, byteRange{}, rangeIgnore},
		{"bytes=0-", 0, byteRange{}, rangeIgnore},
		{"bytes=-5", 0, byteRange{}, rangeIgnore},
	}
	for _, c := range cases {
		got, o := parseRange(c.h, c.size)
		if o != c.outcome || o == rangePartial && got != c.want {
			t.Errorf("parseRange(%q, %d) = %v, %v; want %v, %v", c.h, c.size, got, o, c.want, c.outcome)
		}
	}
}

// closeSignalVault reports when a download's plaintext stream is closed,
// which the handler does only once it has finished.
type closeSignalVault struct {
	Vault
	closed chan struct{}
}

type signalCloser struct {
	io.ReadCloser
	once   sync.Once
	closed chan struct{}
}

func (s *signalCloser) Close() error {
	err := s.ReadCloser.Close()
	s.once.Do(func() { close(s.closed) })
	return err
}

func (c *closeSignalVault) OpenFile(ctx context.Context, tid, fid string) (io.ReadCloser, vault.File, error) {
	rc, f, err := c.Vault.OpenFile(ctx, tid, fid)
	if err != nil {
		return nil, f, err
	}
	return &signalCloser{ReadCloser: rc, closed: c.closed}, f, nil
}

func TestClientGoneEndsDownload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(1, testFile{name: "x.bin", contentType: "application/octet-stream", size: 32 << 20, seed: 4})
	cv := &closeSignalVault{Vault: e.v, closed: make(chan struct{})}
	e.start(cv)
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+"/t/"+st.token+"/f/"+st.files[0].ID, nil)
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
		t.Fatal(err)
	}
	cancel() // the client hangs up mid-download
	resp.Body.Close()
	select {
	case <-cv.closed:
	case <-time.After(30 * time.Second):
		t.Fatal("the handler did not finish after the client went away")
	}
}
