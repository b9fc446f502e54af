package browsertest

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// page is a minimal accessible document around body.
func page(body string) string {
	return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Test</title>
<link rel="icon" href="data:,">
<style>:focus-visible{outline:3px solid #000} .nofocus:focus{outline:none} .faint:focus-visible{outline-color:#eee}</style></head>
<body><main><h1>Test</h1>` + body + `</main></body></html>`
}

func testServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	html := func(status int, csp, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			if csp != "" {
				w.Header().Set("Content-Security-Policy", csp)
			}
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}
	}
	mux.HandleFunc("/clean", html(200, "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
		page(`<form><label for="f">Name</label><input id="f" name="f"><button>Send</button></form>`)))
	mux.HandleFunc("/lang", func(w http.ResponseWriter, r *http.Request) {
		html(200, "", page(`<p id="al">`+r.Header.Get("Accept-Language")+`</p>`))(w, r)
	})
	mux.HandleFunc("/throws", html(200, "", page(`<script>throw new Error("boom-from-page")</script>`)))
	mux.HandleFunc("/console", html(200, "", page(`<script>console.error("logged-by-page")</script>`)))
	mux.HandleFunc("/csp", html(200, "script-src 'none'", page(`<script>document.title = "ran"</script>`)))
	mux.HandleFunc("/notfound", html(404, "", page(`<p>No such page.</p>`)))
	mux.HandleFunc("/badcss", html(200, "", page(`<link rel="stylesheet" href="/missing.css">`)))
	mux.HandleFunc("/inaccessible", html(200, "", `<!DOCTYPE html><html><head><title>x</title><link rel="icon" href="data:,"></head><body>
<input name="q"><p style="color:#bbb;background:#fff">faint text</p></body></html>`))
	mux.HandleFunc("/wide", html(200, "", page(`<div style="width:600px">wide</div>`)))
	mux.HandleFunc("/keys", html(200, "", page(`<a href="#a">First link</a>
<label for="k">Code</label><input id="k" name="code"><button class="nofocus">Hidden focus</button>
<button class="faint">Faint focus</button>`)))
	mux.HandleFunc("GET /form", html(200, "", page(`<form method="post" action="/form">
<label for="n">Name</label><input id="n" name="n"><button id="go">Go</button></form>`)))
	mux.HandleFunc("POST /form", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/hello?n="+r.FormValue("n"), http.StatusSeeOther)
	})
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		html(200, "", page(`<p id="hi">Hello `+r.FormValue("n")+`</p>`))(w, r)
	})
	mux.HandleFunc("/setcookie", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "c", Value: "tab1", Path: "/"})
		html(200, "", page(`<p>set</p>`))(w, r)
	})
	mux.HandleFunc("/cookie", func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("c")
		v := "none"
		if c != nil {
			v = c.Value
		}
		html(200, "", page(`<p id="c">`+v+`</p>`))(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// recorder is a testing.TB that keeps errors instead of failing, for the
// cases where a failure is the expected outcome.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) joined() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errs, "\n")
}

func TestBrowser(t *testing.T) {
	srv := testServer(t)
	b := New(t)

	t.Run("clean page passes every check", func(t *testing.T) {
		t.Parallel()
		tab := b.Tab(t, 360, 800, "en")
		if st := tab.Navigate(t, srv.URL+"/clean"); st != 200 {
			t.Fatalf("status %d", st)
		}
		if vs := tab.Axe(t); len(vs) != 0 {
			t.Errorf("violations on a clean page: %v", vs)
		}
		if px := tab.Overflow(t); px != 0 {
			t.Errorf("overflow %d px", px)
		}
		path := filepath.Join(t.TempDir(), "shots", "clean.png")
		tab.Screenshot(t, path)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("screenshot is not a PNG: %v", err)
		}
		if cfg.Width != 360 {
			t.Errorf("screenshot %d px wide, want 360", cfg.Width)
		}
	})

	t.Run("accept-language reaches the server", func(t *testing.T) {
		t.Parallel()
		tab := b.Tab(t, 1280, 900, "de-DE,de;q=0.9")
		tab.Navigate(t, srv.URL+"/lang")
		if got := tab.Text(t, "#al"); !strings.HasPrefix(got, "de-DE") {
			t.Errorf("Accept-Language %q", got)
		}
	})

	for _, c := range []struct{ name, path, want string }{
		{"uncaught exception fails", "/throws", "boom-from-page"},
		{"console.error fails", "/console", "logged-by-page"},
		{"CSP violation fails", "/csp", "Content Security Policy"},
		{"missing stylesheet fails", "/badcss", "missing.css"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{TB: t}
			tab := b.Tab(rec, 1280, 900, "")
			tab.Navigate(rec, srv.URL+c.path)
			if got := rec.joined(); !strings.Contains(got, c.want) {
				t.Errorf("want a reported error containing %q, got %q", c.want, got)
			}
		})
	}

	t.Run("error status of the page itself is not a console error", func(t *testing.T) {
		t.Parallel()
		tab := b.Tab(t, 1280, 900, "")
		if st := tab.Navigate(t, srv.URL+"/notfound"); st != 404 {
			t.Errorf("status %d, want 404", st)
		}
	})

	t.Run("axe finds violations", func(t *testing.T) {
		t.Parallel()
		tab := b.Tab(t, 1280, 900, "")
		tab.Navigate(t, srv.URL+"/inaccessible")
		ids := map[string]bool{}
		for _, v := range tab.Axe(t) {
			ids[v.ID] = true
			if v.String() == "" || len(v.Nodes) == 0 {
				t.Errorf("violation without detail: %+v", v)
			}
		}
		for _, want := range []string{"html-has-lang", "label", "color-contrast"} {
			if !ids[want] {
				t.Errorf("axe did not report %s; got %v", want, ids)
			}
		}
	})

	t.Run("horizontal overflow is measured", func(t *testing.T) {
		t.Parallel()
		tab := b.Tab(t, 360, 800, "")
		tab.Navigate(t, srv.URL+"/wide")
		if px := tab.Overflow(t); px < 200 {
			t.Errorf("overflow %d px, want about 240", px)
		}
	})

	t.Run("keyboard focus order and visibility", func(t *testing.T) {
		t.Parallel()
		rec := &recorder{TB: t}
		tab := b.Tab(rec, 1280, 900, "")
		tab.Navigate(t, srv.URL+"/keys")
		seq := tab.TabThrough(rec, 10)
		var got []string
		for _, f := range seq {
			got = append(got, f.Tag+"#"+f.ID)
		}
		if want := "a#,input#k,button#,button#"; strings.Join(got, ",") != want {
			t.Errorf("focus order %v, want %s", got, want)
		}
		e := rec.joined()
		if !strings.Contains(e, `"Hidden focus" is not visible`) || !strings.Contains(e, `"Faint focus": outline contrast 1.`) ||
			strings.Contains(e, "First link") || strings.Contains(e, "input#k") {
			t.Errorf("want the hidden and the faint focus reported, and nothing else, got %q", e)
		}
		if seq[0].Contrast < 15 {
			t.Errorf("black outline on white: contrast %.2f, want 21", seq[0].Contrast)
		}
	})

	t.Run("forms: fill, submit, follow the redirect", func(t *testing.T) {
		t.Parallel()
		tab := b.Tab(t, 1280, 900, "")
		tab.Navigate(t, srv.URL+"/form")
		tab.Fill(t, "#n", "Ada")
		if st := tab.ClickAndWait(t, "#go"); st != 200 {
			t.Errorf("status %d after the redirect", st)
		}
		if got := tab.Text(t, "#hi"); got != "Hello Ada" {
			t.Errorf("got %q", got)
		}
		if loc := tab.Location(t); !strings.HasSuffix(loc, "/hello?n=Ada") {
			t.Errorf("location %s", loc)
		}
	})

	t.Run("tabs do not share cookies", func(t *testing.T) {
		t.Parallel()
		one := b.Tab(t, 1280, 900, "")
		one.Navigate(t, srv.URL+"/setcookie")
		one.Navigate(t, srv.URL+"/cookie")
		if got := one.Text(t, "#c"); got != "tab1" {
			t.Fatalf("cookie not kept within a tab: %q", got)
		}
		two := b.Tab(t, 1280, 900, "")
		two.Navigate(t, srv.URL+"/cookie")
		if got := two.Text(t, "#c"); got != "none" {
			t.Errorf("second tab sees the first tab's cookie: %q", got)
		}
	})

	t.Run("JS heap grows with what the page holds", func(t *testing.T) {
		t.Parallel()
		tab := b.Tab(t, 1280, 900, "")
		tab.Navigate(t, srv.URL+"/clean")
		before := tab.JSHeapUsed(t)
		tab.Eval(t, `window.held = new Array(4e6).fill(0).map((_, i) => i + 0.5); 1`, nil)
		after := tab.JSHeapUsed(t)
		if before <= 0 || after-before < 16<<20 {
			t.Errorf("JS heap %d -> %d bytes, want growth of at least 16 MiB for 4e6 doubles", before, after)
		}
	})
}

// TestNoLeftoverProcesses proves the process check sees Chromium while it
// runs and finds nothing once the browser's test has ended.
func TestNoLeftoverProcesses(t *testing.T) {
	var dir string
	t.Run("browser", func(t *testing.T) {
		b := New(t)
		tab := b.Tab(t, 800, 600, "")
		tab.Navigate(t, "about:blank")
		dir = b.dataDir
		if n := len(processesUsing(dir)); n < 2 {
			t.Fatalf("found %d chromium processes for this browser, want the browser, its children and its crash handlers", n)
		}
	})
	if dir == "" {
		return // skipped
	}
	if pids := processesUsing(dir); len(pids) != 0 {
		t.Errorf("chromium processes left after the test: %v", pids)
	}
}

// skipRecorder records what missingPeer asks of a test.
type skipRecorder struct {
	testing.TB
	skipped, failed string
}

func (r *skipRecorder) Helper()                           {}
func (r *skipRecorder) Skip(args ...any)                  { r.skipped = fmt.Sprint(args...) }
func (r *skipRecorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestMissingPeerSkipsOrFails(t *testing.T) {
	t.Setenv(requirePeersEnv, "")
	r := &skipRecorder{TB: t}
	missingPeer(r, "no %s", "chromium")
	if r.skipped != "no chromium" || r.failed != "" {
		t.Errorf("without %s: skipped %q, failed %q; want a skip", requirePeersEnv, r.skipped, r.failed)
	}
	t.Setenv(requirePeersEnv, "1")
	r = &skipRecorder{TB: t}
	missingPeer(r, "no %s", "chromium")
	if !strings.Contains(r.failed, "no chromium") {
		t.Errorf("with %s=1: failed %q; want a failure", requirePeersEnv, r.failed)
	}
}
