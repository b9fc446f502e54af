package linkserver

import (
	"embed"
	"net/http"
	"path"
	"strconv"
)

//go:embed assets/static
var staticFS embed.FS

var assetTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
	".png": "image/png",
	".ico": "image/x-icon",
}

// asset serves an embedded static file by name. There are no directory
// listings, and unknown names get the ordinary not-found page.
func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ct, ok := assetTypes[path.Ext(name)]
	if !ok {
		s.notFound(w, r)
		return
	}
	b, err := staticFS.ReadFile("assets/static/" + name)
	if err != nil {
		s.notFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
