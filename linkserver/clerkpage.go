package linkserver

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"sealgate/vault"
)

// The clerk's page /r/{token}, linked from the mail that delivers an upload
// or a reply: the clerk signs in by code as the transfer's sender and reads
// the message and downloads the files (the mail links here instead of
// attaching files above uploads.attach_max_size, and at levels 3–4).

type clerkView struct {
	Token     string
	Reference string
	From      string // the recipient who uploaded
	Reply     bool
	Sent      string
	SentISO   string
	Message   string
	Files     []clerkFileView
}

type clerkFileView struct {
	Name, Size, SHA256, URL string
}

// findClerkUpload looks up an upload by its clerk page token and checks
// that the visitor is its clerk; signIn means: show the sign-in form.
func (s *Server) findClerkUpload(r *http.Request) (up vault.Upload, signIn bool, p *problem) {
	token := r.PathValue("token")
	p = s.guarded(r, "clerk token", func() error {
		if !plausibleToken(token) {
			return vault.ErrNotFound
		}
		var err error
		up, err = s.uploads.store.UploadByClerkToken(r.Context(), token)
		return err
	})
	if p != nil {
		return up, false, p
	}
	email, err := s.signedIn(r)
	switch {
	case err != nil:
		s.logErr(r, "session look-up", err)
		return up, false, problemInternal
	case email == "":
		return up, true, nil
	case vault.IsSender(vault.Transfer{Sender: up.Sender}, email):
		return up, false, nil
	}
	if d := s.guesses.take(s.clients.of(r), s.now()); d > 0 {
		return up, false, rateLimited(d)
	}
	return up, false, problemNotFound
}

// clerkPage shows an upload's message and files to the clerk.
func (s *Server) clerkPage(w http.ResponseWriter, r *http.Request) {
	up, signIn, p := s.findClerkUpload(r)
	if p != nil {
		s.problemPage(w, r, p)
		return
	}
	token := r.PathValue("token")
	v := s.newView(w, r)
	if signIn {
		v.SignIn = &signInView{CSRF: s.csrf.token(w, r), Next: clerkPath(token)}
		s.render(w, r, http.StatusOK, "clerk", v)
		return
	}
	at := up.QueuedAt
	if at.IsZero() {
		at = up.CreatedAt
	}
	at = at.Local()
	cv := &clerkView{Token: token, Reference: up.TransferID, From: up.Email, Reply: up.Kind == vault.UploadKindReply,
		Sent: s.text.DateTime(v.Lang, at), SentISO: at.Format(time.RFC3339)}
	if up.MessageSize > 0 {
		msg, err := s.uploads.store.UploadMessage(r.Context(), up.ID)
		if err != nil {
			s.internalError(w, r, "reading an upload message", err)
			return
		}
		cv.Message = msg
	}
	for _, f := range up.Files {
		if f.State != vault.FileAccepted {
			continue
		}
		cv.Files = append(cv.Files, clerkFileView{Name: f.Name, Size: s.text.Size(v.Lang, f.Size), SHA256: f.SHA256,
			URL: clerkPath(token) + "/files/" + url.PathEscape(f.ID)})
	}
	v.Clerk = cv
	s.render(w, r, http.StatusOK, "clerk", v)
}

// clerkFile serves one accepted file of an upload to its clerk, as a
// download like the recipients' (attachment, sandboxed).
func (s *Server) clerkFile(w http.ResponseWriter, r *http.Request) {
	up, signIn, p := s.findClerkUpload(r)
	if p != nil {
		s.problemPage(w, r, p)
		return
	}
	if signIn {
		s.errorPage(w, r, http.StatusForbidden, "page.error.signin")
		return
	}
	f, ok := up.File(r.PathValue("fileID"))
	if !ok || f.State != vault.FileAccepted {
		s.problemPage(w, r, problemNotFound)
		return
	}
	if r.Method == http.MethodHead {
		s.clerkFileHeaders(w, f)
		w.WriteHeader(http.StatusOK)
		return
	}
	rc := http.NewResponseController(w)
	if err := extendDeadlines(rc); err != nil {
		s.internalError(w, r, "clerk download", err)
		return
	}
	body, _, err := s.uploads.store.OpenUploadFile(r.Context(), up.ID, f.ID)
	if err != nil {
		s.fileError(w, r, err, "")
		return
	}
	defer body.Close()
	s.clerkFileHeaders(w, f)
	w.WriteHeader(http.StatusOK)
	if err := copyOut(w, rc, body, f.Size, true); err != nil {
		// Headers are out: all that is left is to break the connection,
		// so the browser sees a failed download, not a short file.
		s.logErr(r, "clerk download", err)
		panic(http.ErrAbortHandler)
	}
}

func (s *Server) clerkFileHeaders(w http.ResponseWriter, f vault.UploadFile) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox; frame-ancestors 'none'")
	h.Set("Content-Type", downloadType(f.ContentType))
	h.Set("Content-Disposition", contentDisposition(f.Name))
	h.Set("Content-Length", strconv.FormatInt(f.Size, 10))
	if f.SHA256 != "" {
		h.Set("ETag", `"`+f.SHA256+`"`)
	}
}

// clerkPath is the root-relative address of a clerk's upload page.
func clerkPath(token string) string { return "/r/" + url.PathEscape(token) }
