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
	ID     string `json:"id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
	// Kind is "text" for the message text of a level-4 transfer (IDs
	// "text" and "html"), which pages show instead of offering it as a
	// file; empty for attachments.
	Kind        string `json:"kind,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	DownloadURL string `json:"download_url"`
}

// apiErrors are the messages of the JSON error bodies, by problem key.
var apiErrors = map[string]string{
	"not_found":    "this link is not valid or has expired",
	"gone":         "this transfer is no longer available: it expired or was withdrawn",
	"rate_limited": "too many attempts; retry later",
	"internal":     "internal error; retry later",
	"withdrawn":    "this transfer was withdrawn by its sender",
	"locked":       "this transfer is locked after too many wrong sign-in codes; its sender was told",

	"invalid_address":  "this is not a valid e-mail address",
	"mail_unavailable": "sign-in is not available: this server cannot send mail",
	"send_failed":      "the code could not be sent; retry later",
	"wrong_code":       "the code is not right",
	"no_code":          "no valid code for this address; request a new one",
	"too_many_tries":   "this code was tried too often; request a new one",
	"bad_json":         "the body must be a JSON object with the documented fields",
	"bad_type":         "the body must be sent as Content-Type: application/json",
	"too_large":        "the body is too large",
	"cross_origin":     "cross-origin requests are refused",
	"no_route":         "no such API address",

	"sign_in":    "sign in first",
	"no_key":     "no key is set for this account",
	"key_exists": "this account already has a different key; replacing it makes earlier level-3/4 files unreadable, so send \"reset\": true to do so",
	"key_needed": "set a key first: this file is encrypted for the recipient's key",
	"unreadable": "this file was encrypted for an earlier key of this account and can no longer be opened",
}

// signInReasons are the problems whose key the API also gives as "reason",
// so that scripts can tell them apart: sign-in and key problems.
var signInReasons = map[string]bool{
	"invalid_address": true, "mail_unavailable": true, "send_failed": true,
	"wrong_code": true, "no_code": true, "too_many_tries": true,
	"sign_in": true, "no_key": true, "key_exists": true, "key_needed": true, "unreadable": true,
}

// manifest serves a transfer's manifest. Level 2 and above, until the
// visitor is signed in as a recipient, get only the level, the expiry and
// "sign_in_required": true; signed in as anyone else, what a wrong token
// gets.
func (s *Server) manifest(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	tr, p := s.findTransfer(r, token)
	var signIn bool
	if p == nil {
		_, signIn, p = s.recipientGate(r, tr)
	}
	if p != nil {
		s.apiProblem(w, r, p)
		return
	}
	m := manifestJSON{Level: tr.Level, ExpiresAt: tr.ExpiresAt.UTC()}
	if signIn {
		m.SignInRequired = true
	} else {
		m.Sender = tr.Sender
		m.Files = make([]fileJSON, 0, len(tr.Files))
		for _, f := range tr.Files {
			m.Files = append(m.Files, fileJSON{
				ID: f.ID, Name: f.Name, Size: f.Size, SHA256: f.SHA256, Kind: f.Kind,
				ContentType: downloadType(f.ContentType),
				DownloadURL: s.cfg.PublicURL + fileURL(token, f.ID),
			})
		}
	}
	s.writeJSON(w, r, http.StatusOK, m)
}

// apiProblem answers p in JSON: {"error": sentence}, plus "reason" for
// sign-in problems, and Retry-After when rate limited.
func (s *Server) apiProblem(w http.ResponseWriter, r *http.Request, p *problem) {
	if p.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(p.retry)))
	}
	body := map[string]string{"error": apiErrors[p.key]}
	if signInReasons[p.key] {
		body["reason"] = p.key
	}
	s.writeJSON(w, r, p.status, body)
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
	s.writeJSON(w, r, http.StatusNotFound, map[string]string{"error": apiErrors["no_route"]})
}
