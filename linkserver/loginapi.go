package linkserver

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
)

// loginRequest is the body of POST /api/v1/login/start ({"email"}) and
// /api/v1/login/verify ({"email", "code"}, and "transfer", the link token
// of the transfer the sign-in is for, so that wrong codes count against it).
type loginRequest struct {
	Email    string `json:"email"`
	Code     string `json:"code"`
	Transfer string `json:"transfer"`
}

// codeSentMessage is the answer to every accepted login/start: it must not
// tell whether the address has an account or receives anything.
const codeSentMessage = "if this address may sign in, a code is on its way; it is valid for 10 minutes"

// jsonPost guards the JSON API's POSTs against cross-site requests in place
// of a CSRF token: the body must be declared application/json, which a
// browser sends cross-origin only after a CORS preflight that this server
// never answers, and http.CrossOriginProtection (see Handler) refuses
// requests that the browser marks as cross-site (Sec-Fetch-Site) or whose
// Origin is another host. Forms (urlencoded, multipart, text/plain) are
// refused with 415. The body is bounded like a form's.
func (s *Server) jsonPost(next http.HandlerFunc) http.Handler {
	return s.jsonBody(maxFormBytes, next)
}

// jsonBody is jsonPost with another bound on the body (a key upload holds
// three keys).
func (s *Server) jsonBody(limit int64, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			s.writeJSON(w, r, http.StatusUnsupportedMediaType, map[string]string{"error": apiErrors["bad_type"]})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next(w, r)
	})
}

// decodeLogin reads a loginRequest, answering 400 itself when it cannot.
func (s *Server) decodeLogin(w http.ResponseWriter, r *http.Request) (loginRequest, bool) {
	var req loginRequest
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		s.writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": apiErrors["bad_json"]})
		return req, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		s.writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": apiErrors["bad_json"]})
		return req, false
	}
	return req, true
}

// loginStartAPI is POST /api/v1/login/start: 202 and the same message for
// every well-formed address.
func (s *Server) loginStartAPI(w http.ResponseWriter, r *http.Request) {
	req, ok := s.decodeLogin(w, r)
	if !ok {
		return
	}
	if _, p := s.startLogin(r, req.Email, s.pickLang(w, r)); p != nil {
		s.apiProblem(w, r, p)
		return
	}
	s.writeJSON(w, r, http.StatusAccepted, map[string]string{"message": codeSentMessage})
}

// loginVerifyAPI is POST /api/v1/login/verify: 200 with the session cookie
// and {"email"} when the code is right.
func (s *Server) loginVerifyAPI(w http.ResponseWriter, r *http.Request) {
	req, ok := s.decodeLogin(w, r)
	if !ok {
		return
	}
	email, p := s.verifyLogin(w, r, req.Email, req.Code, req.Transfer, s.pickLang(w, r))
	if p != nil {
		s.apiProblem(w, r, p)
		return
	}
	s.writeJSON(w, r, http.StatusOK, map[string]string{"email": email})
}

// logoutAPI is POST /api/v1/logout: 204, the session ended.
func (s *Server) logoutAPI(w http.ResponseWriter, r *http.Request) {
	if err := s.endSession(w, r); err != nil {
		s.logErr(r, "signing out", err)
		s.apiProblem(w, r, problemInternal)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
