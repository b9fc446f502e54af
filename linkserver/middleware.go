package linkserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

type nonceKey struct{}

// nonceFrom returns the CSP nonce of the request, for templates that need an
// inline style.
func nonceFrom(ctx context.Context) string {
	n, _ := ctx.Value(nonceKey{}).(string)
	return n
}

// securityHeaders sets the headers every response carries, errors and assets
// included. Handlers may tighten the CSP (downloads add a sandbox); the only
// page that loosens it is a level-3/4 transfer page shown to its recipient,
// which runs our scripts (see e2eCSP).
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [16]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		nonce := base64.RawStdEncoding.EncodeToString(b[:])
		h := w.Header()
		h.Set("Content-Security-Policy", pageCSP(nonce))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("X-Robots-Tag", "noindex, nofollow")
		// Also behind a TLS-terminating proxy (public URL https): browsers
		// ignore the header on plain HTTP, so it cannot lock anyone out.
		if r.TLS != nil || s.cfg.secure() {
			h.Set("Strict-Transport-Security", "max-age=63072000")
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), nonceKey{}, nonce)))
	})
}

// pageCSP is the Content-Security-Policy of every response but downloads
// and the level-3/4 pages that run scripts: no script at all, and styles
// only from the stylesheet and the page's own nonce'd style element (the
// organisation's colour, see theme).
func pageCSP(nonce string) string {
	return "default-src 'none'; style-src 'self' 'nonce-" + nonce +
		"'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}

// statusWriter records what the access log needs. Unwrap keeps
// http.ResponseController working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog logs one line per request. It must sit inside every middleware
// that copies the request (WithContext), so that it sees the Pattern the mux
// sets on it. The path is rebuilt from the matched
// route with the token replaced by "…", so no token reaches the log; query
// strings are never logged.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		aborted := true
		defer func() {
			// Runs on panics too: an aborted download (http.ErrAbortHandler)
			// is logged, then the panic continues to net/http.
			status, level := sw.status, slog.LevelInfo
			switch {
			case aborted:
				level = slog.LevelWarn
			case status == 0:
				status = http.StatusOK
			case status >= 500:
				level = slog.LevelWarn
			}
			s.log.LogAttrs(r.Context(), level, "http request",
				slog.String("method", r.Method), slog.String("path", redactedPath(r)),
				slog.Int("status", status), slog.Int64("bytes", sw.bytes),
				slog.Bool("aborted", aborted), slog.Duration("duration", time.Since(start)))
		}()
		next.ServeHTTP(sw, r)
		aborted = false
	})
}

// redactedPath returns the matched route with wildcards filled in, except
// the token. Requests that matched no route show only the pattern "/": their
// path could be a mistyped token.
func redactedPath(r *http.Request) string {
	pat := r.Pattern
	if i := strings.IndexByte(pat, ' '); i >= 0 {
		pat = pat[i+1:]
	}
	if i := strings.IndexByte(pat, '/'); i > 0 {
		pat = pat[i:] // drop a host part
	}
	if pat == "" {
		return "?"
	}
	segs := strings.Split(pat, "/")
	for i, seg := range segs {
		if !strings.HasPrefix(seg, "{") || !strings.HasSuffix(seg, "}") {
			continue
		}
		name := strings.TrimSuffix(strings.TrimSuffix(seg[1:len(seg)-1], "..."), "$")
		switch name {
		case "":
			segs[i] = ""
		case "token":
			segs[i] = "…"
		default:
			segs[i] = r.PathValue(name)
		}
	}
	return strings.Join(segs, "/")
}
