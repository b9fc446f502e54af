package browsertest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAllowDownloads: a download the page starts lands in the directory,
// under Chromium's ID, with the page's name and every byte; one that the
// server breaks off ends with an error.
func TestAllowDownloads(t *testing.T) {
	b := New(t)
	body := bytes.Repeat([]byte("sealgate "), 100_000)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page(`<a id="ok" href="/file">File</a> <a id="broken" href="/broken">Broken</a>`)))
	})
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="Bericht.txt"`)
		w.Write(body)
	})
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="kaputt.txt"`)
		w.Header().Set("Content-Length", "1000000")
		w.Write(body[:1000])
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler) // the connection breaks before the end
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tab := b.Tab(t, 1024, 768, "en")
	dir := t.TempDir()
	downloads := tab.AllowDownloads(t, dir)
	tab.Navigate(t, srv.URL+"/")
	next := func() Download {
		t.Helper()
		select {
		case d := <-downloads:
			return d
		case <-time.After(opTimeout):
			t.Fatal("no download ended")
			return Download{}
		}
	}

	tab.Click(t, "#ok")
	d := next()
	if d.Err != nil || d.Name != "Bericht.txt" || filepath.Dir(d.Path) != dir || d.Bytes != int64(len(body)) {
		t.Fatalf("download: %+v, want Bericht.txt in %s with %d bytes", d, dir, len(body))
	}
	if got, err := os.ReadFile(d.Path); err != nil || !bytes.Equal(got, body) {
		t.Errorf("saved file: %d bytes, %v; want the %d bytes sent", len(got), err, len(body))
	}

	tab.Click(t, "#broken")
	if d := next(); d.Err == nil || !strings.Contains(d.Err.Error(), "kaputt.txt") {
		t.Errorf("broken download: %+v, want an error naming it", d)
	}
	tab.TakeConsoleErrors()
}

// TestMemory: a page that keeps 64 MiB in typed arrays shows them as array
// buffers and in the renderers' resident memory, not in the JavaScript
// heap.
func TestMemory(t *testing.T) {
	b := New(t)
	srv := testServer(t)
	tab := b.Tab(t, 1024, 768, "en")
	tab.Navigate(t, srv.URL+"/clean")
	before := tab.Memory(t)
	if before.JSHeap <= 0 || before.RendererRSS <= 0 {
		t.Fatalf("memory of an empty page: %+v", before)
	}
	tab.Eval(t, `(window.kept = Array.from({ length: 64 }, () => new Uint8Array(1 << 20).fill(1)), true)`, nil)
	after := tab.Memory(t)
	if grew := after.ArrayBuffers - before.ArrayBuffers; grew < 64<<20 {
		t.Errorf("array buffers grew by %d bytes for 64 MiB kept", grew)
	}
	if grew := after.RendererRSS - before.RendererRSS; grew < 60<<20 {
		t.Errorf("renderers' RSS grew by %d bytes for 64 MiB kept", grew)
	}
	if grew := after.JSHeap - before.JSHeap; grew > 16<<20 {
		t.Errorf("JavaScript heap grew by %d bytes: array buffers are counted there after all", grew)
	}
}
