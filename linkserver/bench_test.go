package linkserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// benchSize is the file both download benchmarks serve. The ratio
// BenchmarkDownloadLevel1 / BenchmarkDownloadNetHTTPFile (MB/s) is the
// SPEC's performance target for levels 1–2 (at least 0.7).
const benchSize = 64 << 20

var benchFile = testFile{name: "bench.bin", contentType: "application/octet-stream", size: benchSize, seed: 42}

// BenchmarkDownloadLevel1 downloads a level-1 file through the link server
// over a loopback connection: vault look-up, decryption, streaming.
func BenchmarkDownloadLevel1(b *testing.B) {
	e := newEnv(b)
	st := e.add(1, benchFile)
	benchGet(b, e.http.URL+"/t/"+st.token+"/f/"+st.files[0].ID)
}

// BenchmarkDownloadNetHTTPFile is the baseline: the same plaintext served
// from disk by http.ServeFile (sendfile where the kernel offers it).
func BenchmarkDownloadNetHTTPFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.bin")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, benchFile.reader()); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, path)
	}))
	defer hs.Close()
	benchGet(b, hs.URL+"/bench.bin")
}

func benchGet(b *testing.B, url string) {
	b.Helper()
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer c.CloseIdleConnections()
	buf := make([]byte, 256<<10)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
		resp.Body.Close()
		if err != nil || n != benchSize || resp.StatusCode != http.StatusOK {
			b.Fatalf("download: %s, %d bytes, %v", resp.Status, n, err)
		}
	}
}
