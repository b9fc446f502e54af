package linkserver

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// manifestJSON is the body of GET /api/v1/transfers/{token} (SPEC section 11).
type manifestJSON struct {
	Level          int        `json:"level"`
	ExpiresAt      time.Time  `json:"expires_at"`
	Sender         string     `json:"sender,omitempty"`
	SignInRequired bool       `json:"sign_in_required,omitempty"`
	Files          []fileJSON `json:"files,omitzero"`
}

type fileJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256,omitempty"`
	DownloadURL string `json:"download_url"`
}

// apiErrors are the messages of the JSON error bodies, by problem key.
var apiErrors = map[string]string{
	"not_found":    "this link is not valid or has expired",
	"gone":         "this transfer is no longer available: it expired or was withdrawn",
	"rate_limited": "too many attempts; retry later",
	"internal":     "internal error; retry later",
}

// manifest serves a transfer's manifest. Level 2 and above without a
// session get only the level, the expiry and "sign_in_required": true.
func (s *Server) manifest(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	tr, p := s.findTransfer(r, token)
	if p != nil {
		if p.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(p.retry)))
		}
		s.writeJSON(w, r, p.status, map[string]string{"error": apiErrors[p.key]})
		return
	}
	m := manifestJSON{Level: tr.Level, ExpiresAt: tr.ExpiresAt.UTC()}
	if tr.Level >= 2 {
		m.SignInRequired = true
	} else {
		m.Sender = tr.Sender
		m.Files = make([]fileJSON, 0, len(tr.Files))
		for _, f := range tr.Files {
			m.Files = append(m.Files, fileJSON{
				ID: f.ID, Name: f.Name, Size: f.Size, SHA256: f.SHA256,
				DownloadURL: s.cfg.PublicURL + fileURL(token, f.ID),
			})
		}
	}
	s.writeJSON(w, r, http.StatusOK, m)
}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encoding JSON", "err", err)
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// apiNotFound answers unknown API addresses in JSON, as scripts expect.
func (s *Server) apiNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusNotFound, map[string]string{"error": "no such API address"})
}
