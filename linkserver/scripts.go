package linkserver

import (
	"embed"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"

	"sealgate/internal/assetcheck"
)

// The scripts of the level-3/4 pages: our ES modules (assets/js) and
// OpenPGP.js, copied unchanged from npm into assets/vendor by
// scripts/assets.sh. Levels 1–2 load none of them.
//
//go:embed assets/js/*.js assets/vendor/openpgp.min.mjs assets/vendor/SRI.txt
var scriptFS embed.FS

// Addresses of the scripts. The service worker must sit at exactly
// /assets/js/sw.js: its scope is the directory it is served from, and
// e2e.js registers it beside itself.
const (
	openpgpPath = "/assets/vendor/openpgp.min.mjs"
	e2ePath     = "/assets/js/e2e.js"
	pagePath    = "/assets/js/page.js"
	swPath      = "/assets/js/sw.js"
	// uploadJSPath is the upload page's tus client.
	uploadJSPath = "/assets/js/upload.js"
)

// script is one embedded script, with its Subresource Integrity computed
// from the very bytes served.
type script struct {
	body      []byte
	integrity string
}

type scripts map[string]script // by address

// loadScripts reads the embedded scripts and computes their integrity. The
// vendored OpenPGP.js must match the integrity scripts/assets.sh recorded
// in SRI.txt: a copy edited by hand is refused at start.
func loadScripts() (scripts, error) {
	sc := scripts{}
	files := map[string]string{
		openpgpPath:  "assets/vendor/openpgp.min.mjs",
		e2ePath:      "assets/js/e2e.js",
		pagePath:     "assets/js/page.js",
		swPath:       "assets/js/sw.js",
		uploadJSPath: "assets/js/upload.js",
	}
	for addr, name := range files {
		b, err := scriptFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("script %s: %w", name, err)
		}
		sc[addr] = script{body: b, integrity: assetcheck.Integrity(b)}
	}
	sri, err := scriptFS.ReadFile("assets/vendor/SRI.txt")
	if err != nil {
		return nil, fmt.Errorf("SRI.txt: %w", err)
	}
	entries, err := assetcheck.ParseSRI(sri)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		got, ok := sc["/assets/vendor/"+e.File]
		if ok && got.integrity != e.Integrity {
			return nil, fmt.Errorf("assets/vendor/%s does not match its integrity in SRI.txt: vendored files must come unchanged from scripts/assets.sh", e.File)
		}
	}
	return sc, nil
}

// serveScript serves an embedded script. Browsers revalidate (no-cache)
// instead of refetching: the ETag is the integrity, so an unchanged script
// costs a 304. The service worker needs revalidation above all: a stale
// worker would keep serving downloads after an update.
func (s *Server) serveScript(w http.ResponseWriter, r *http.Request) {
	sc, ok := s.scripts[r.URL.Path]
	if !ok || path.Clean(r.URL.Path) != r.URL.Path {
		s.notFound(w, r)
		return
	}
	h := w.Header()
	etag := `"` + sc.integrity + `"`
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(sc.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(sc.body)
	}
}

// etagMatches reports whether an If-None-Match list names etag.
func etagMatches(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// scriptTags is what a level-3/4 page puts in its head: the modules it
// needs, each with its integrity, so that the browser refuses any byte that
// differs from what this server embedded.
type scriptTags struct {
	OpenPGP, E2E, Page string // integrity values
}

func (s *Server) scriptTags() *scriptTags {
	return &scriptTags{
		OpenPGP: s.scripts[openpgpPath].integrity,
		E2E:     s.scripts[e2ePath].integrity,
		Page:    s.scripts[pagePath].integrity,
	}
}

// e2eCSP is the Content-Security-Policy of the pages that run the level-3/4
// scripts, in place of the script-free default:
//   - script-src 'self' loads our modules; 'wasm-unsafe-eval' lets
//     OpenPGP.js compile its Argon2 WebAssembly (nothing else is evaluated);
//   - worker-src 'self' allows the download service worker, frame-src 'self'
//     the hidden frame that starts its downloads, connect-src 'self' the API;
//   - style-src allows inline styles because the decrypted level-4 HTML is
//     shown in a sandboxed srcdoc frame, which inherits this policy on top of
//     its own: mails style themselves inline. The page itself has none; it
//     is server-rendered with every value escaped, and default-src 'none'
//     leaves CSS no way to load anything from elsewhere.
const e2eCSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; " +
	"frame-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// uploadCSP is the Content-Security-Policy of the upload and reply pages:
// the default policy plus our own scripts (upload.js, by integrity) and
// connections to this server only (the tus requests).
func uploadCSP(nonce string) string {
	return "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'nonce-" + nonce +
		"'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}
