package linkserver

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// maxLogoBytes bounds branding.logo_file, which is held in memory.
const maxLogoBytes = 256 << 10

// logo is the organisation's logo, read once at start.
type logo struct {
	data        []byte
	contentType string
}

func loadLogo(path string) (*logo, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("branding.logo_file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxLogoBytes+1))
	if err != nil {
		return nil, fmt.Errorf("branding.logo_file: %w", err)
	}
	if len(b) > maxLogoBytes {
		return nil, fmt.Errorf("branding.logo_file: larger than %d KiB", maxLogoBytes>>10)
	}
	ct := http.DetectContentType(b)
	switch {
	case strings.EqualFold(filepath.Ext(path), ".svg") && bytes.Contains(b, []byte("<svg")):
		// Served as an image under a CSP without scripts: an SVG can show
		// but never run anything.
		ct = "image/svg+xml"
	case ct == "image/png", ct == "image/jpeg", ct == "image/gif", ct == "image/webp":
	default:
		return nil, fmt.Errorf("branding.logo_file: %s is not a PNG, JPEG, GIF, WebP or SVG image", ct)
	}
	return &logo{data: b, contentType: ct}, nil
}

// serveLogo answers GET /static/logo.
func (s *Server) serveLogo(w http.ResponseWriter, r *http.Request) {
	if s.logo == nil {
		s.notFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", s.logo.contentType)
	h.Set("Content-Length", strconv.Itoa(len(s.logo.data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(s.logo.data)
	}
}
