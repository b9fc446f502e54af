package linkserver

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"sealgate/vault"
)

// uploadTarget is what an upload page works on: an upload link (/u/{token})
// or a transfer's secure reply (/t/{token}/reply), for one signed-in (or,
// through a level-1 upload link, known) address.
type uploadTarget struct {
	reply      bool
	token      string // the upload link's token, or the transfer's
	base       string // the page's address
	transferID string
	email      string
	clerk      string
	expires    time.Time
	closed     bool
}

// maxMessageForm bounds the message form: the message, URL-encoded (up to
// three bytes per byte of UTF-8), and the CSRF token.
const maxMessageForm = 3*vault.MaxUploadMessage + 1024

// uploadRoutes mounts the upload pages when WithUploads was given.
func (s *Server) uploadRoutes() {
	if s.uploads == nil {
		return
	}
	s.mux.HandleFunc("GET /u/{token}", s.uploadPage)
	s.mux.Handle("POST /u/{token}/message", s.csrf.protectUpTo(s, maxMessageForm, http.HandlerFunc(s.uploadMessage)))
	s.mux.Handle("POST /u/{token}/send", s.csrf.protect(s, http.HandlerFunc(s.uploadSend)))
	s.mux.Handle("/u/{token}/files/", s.uploads.files)
	s.mux.HandleFunc("GET /t/{token}/reply", s.uploadPage)
	s.mux.Handle("POST /t/{token}/reply/message", s.csrf.protectUpTo(s, maxMessageForm, http.HandlerFunc(s.uploadMessage)))
	s.mux.Handle("POST /t/{token}/reply/send", s.csrf.protect(s, http.HandlerFunc(s.uploadSend)))
	s.mux.Handle("/t/{token}/reply/files/", s.uploads.reply)
	s.mux.HandleFunc("GET /r/{token}", s.clerkPage)
	s.mux.HandleFunc("GET /r/{token}/files/{fileID}", s.clerkFile)
	s.mux.Handle("POST /s/{token}/close", s.csrf.protect(s, http.HandlerFunc(s.closeLink)))
}

// isReply tells the reply routes from the upload link's.
func isReply(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/t/") }

// findUploadLink looks up an upload link under the guessing limit. A link
// the clerk closed comes back with Closed set and no problem, so that the
// page can say so and name the clerk.
func (s *Server) findUploadLink(r *http.Request, token string) (vault.UploadLink, *problem) {
	var link vault.UploadLink
	p := s.guarded(r, "upload token", func() error {
		if !plausibleToken(token) {
			return vault.ErrNotFound
		}
		var err error
		link, err = s.uploads.store.UploadByToken(r.Context(), token)
		if errors.Is(err, vault.ErrUploadClosed) {
			link.Closed = true
			return nil
		}
		return err
	})
	return link, p
}

// resolveTarget finds what the request's page is about and who uses it.
// At level 1 an upload link needs no sign-in (its own address is used); at
// level 2 and above, and for every reply, the visitor must be signed in as
// the link's address or a recipient of the transfer. Anyone else signed in
// gets what a wrong token gets. signIn means: show the sign-in form.
func (s *Server) resolveTarget(r *http.Request) (t uploadTarget, signIn bool, p *problem) {
	token := r.PathValue("token")
	t.token = token
	var level int
	var allowed func(string) bool
	if isReply(r) {
		tr, p := s.findTransfer(r, token)
		if p != nil {
			return t, false, p
		}
		t.reply, t.base, t.transferID = true, transferPath(token)+"/reply", tr.ID
		t.clerk, t.expires, level = tr.Sender, tr.ExpiresAt, 4 // a reply always needs a sign-in
		allowed = func(e string) bool { return vault.IsRecipient(tr, e) }
	} else {
		link, p := s.findUploadLink(r, token)
		if p != nil {
			return t, false, p
		}
		t.base, t.transferID = uploadPath(token), link.TransferID
		t.clerk, t.expires, t.closed, level = link.Sender, link.ExpiresAt, link.Closed, link.Level
		t.email = link.Email
		allowed = func(e string) bool { return strings.EqualFold(strings.TrimSpace(e), link.Email) }
	}
	if level < 2 {
		return t, false, nil
	}
	email, err := s.signedIn(r)
	switch {
	case err != nil:
		s.logErr(r, "session look-up", err)
		return t, false, problemInternal
	case email == "":
		return t, true, nil
	case allowed(email):
		t.email = email
		return t, false, nil
	}
	if d := s.guesses.take(s.clients.of(r), s.now()); d > 0 {
		return t, false, rateLimited(d)
	}
	return t, false, problemNotFound
}

// authorizeUpload is the tus handler's Authorize for upload links.
func (s *Server) authorizeUpload(r *http.Request) (string, string, bool) {
	t, signIn, p := s.resolveTarget(r)
	return t.token, t.email, p == nil && !signIn && !t.reply
}

// authorizeReply is the tus handler's Authorize for secure replies.
func (s *Server) authorizeReply(r *http.Request) (string, string, bool) {
	t, signIn, p := s.resolveTarget(r)
	return t.token, t.email, p == nil && !signIn && t.reply
}

// current returns the open upload or reply without making one.
func (s *Server) current(ctx context.Context, t uploadTarget) (vault.Upload, error) {
	if t.reply {
		return s.uploads.store.CurrentReply(ctx, t.token, t.email)
	}
	return s.uploads.store.CurrentUpload(ctx, t.token, t.email)
}

// start returns the open upload or reply, making one when there is none.
func (s *Server) start(ctx context.Context, t uploadTarget) (vault.Upload, error) {
	if t.reply {
		return s.uploads.store.StartReply(ctx, t.token, t.email)
	}
	return s.uploads.store.StartUpload(ctx, t.token, t.email)
}

// history lists what the visitor sent through this page, newest first.
func (s *Server) history(ctx context.Context, t uploadTarget) ([]vault.Upload, error) {
	if !t.reply {
		return s.uploads.store.LinkUploads(ctx, t.token, t.email)
	}
	all, err := s.uploads.store.Uploads(ctx, t.transferID)
	if err != nil {
		return nil, err
	}
	var mine []vault.Upload
	for i := len(all) - 1; i >= 0; i-- { // oldest first in the vault
		if u := all[i]; u.Kind == vault.UploadKindReply && strings.EqualFold(u.Email, t.email) {
			mine = append(mine, u)
		}
	}
	return mine, nil
}

// uploadPage shows the upload (or reply) page: the clerk, the limits, the
// open upload's files and message, and what was sent before.
func (s *Server) uploadPage(w http.ResponseWriter, r *http.Request) {
	t, signIn, p := s.resolveTarget(r)
	if p != nil {
		s.problemPage(w, r, p)
		return
	}
	if signIn {
		v := s.newView(w, r)
		v.Upload = &uploadView{Reply: t.reply}
		v.SignIn = &signInView{CSRF: s.csrf.token(w, r), Next: t.base}
		s.render(w, r, http.StatusOK, "upload", v)
		return
	}
	s.renderUpload(w, r, t, http.StatusOK, r.URL.Query().Get("done"))
}

// uploadMessage stores the message of the open upload, making the upload
// when there is none yet, then shows the page again (303).
func (s *Server) uploadMessage(w http.ResponseWriter, r *http.Request) {
	t, ok := s.postTarget(w, r)
	if !ok {
		return
	}
	text := strings.ReplaceAll(r.PostForm.Get("message"), "\r\n", "\n")
	if len(text) > vault.MaxUploadMessage {
		s.renderUpload(w, r, t, http.StatusRequestEntityTooLarge, "too_long")
		return
	}
	up, err := s.current(r.Context(), t)
	if err == nil && up.ID == "" && strings.TrimSpace(text) != "" {
		up, err = s.start(r.Context(), t)
	}
	if err == nil && up.ID != "" {
		err = s.uploads.store.SetUploadMessage(r.Context(), up.ID, text)
	}
	if err != nil {
		s.uploadError(w, r, t, err)
		return
	}
	http.Redirect(w, r, t.base+"?done=saved", http.StatusSeeOther)
}

// uploadSend queues the mail to the clerk for the open upload, or again
// for an earlier one whose delivery failed (form field "upload").
func (s *Server) uploadSend(w http.ResponseWriter, r *http.Request) {
	t, ok := s.postTarget(w, r)
	if !ok {
		return
	}
	if d := s.takeUpload(r, s.uploads.sends, s.uploads.sendLinks); d > 0 {
		s.problemPage(w, r, rateLimited(d))
		return
	}
	id := ""
	if again := r.PostForm.Get("upload"); again != "" {
		past, err := s.history(r.Context(), t)
		if err != nil {
			s.uploadError(w, r, t, err)
			return
		}
		for _, u := range past {
			if u.ID == again && u.State == vault.UploadFailed {
				id = u.ID
			}
		}
	} else {
		up, err := s.current(r.Context(), t)
		if err != nil {
			s.uploadError(w, r, t, err)
			return
		}
		id = up.ID
	}
	if id == "" {
		s.renderUpload(w, r, t, http.StatusConflict, "not_ready")
		return
	}
	send := s.uploads.mailer.UploadDelivery
	if t.reply {
		send = s.uploads.mailer.SecureReply
	}
	if err := send(r.Context(), id); err != nil {
		s.uploadError(w, r, t, err)
		return
	}
	s.log.Info("upload sent to the clerk", "upload", id)
	http.Redirect(w, r, t.base+"?done=sent", http.StatusSeeOther)
}

// postTarget resolves the target of a form post; a visitor whose session
// ended meanwhile goes back to the page to sign in again.
func (s *Server) postTarget(w http.ResponseWriter, r *http.Request) (uploadTarget, bool) {
	t, signIn, p := s.resolveTarget(r)
	switch {
	case p != nil:
		s.problemPage(w, r, p)
		return t, false
	case signIn:
		http.Redirect(w, r, t.base, http.StatusSeeOther)
		return t, false
	}
	return t, true
}

// uploadError answers a failed message or send in words for the visitor.
func (s *Server) uploadError(w http.ResponseWriter, r *http.Request, t uploadTarget, err error) {
	switch {
	case errors.Is(err, vault.ErrUploadNotReady):
		s.renderUpload(w, r, t, http.StatusConflict, "not_ready")
	case errors.Is(err, vault.ErrUploadSent):
		s.renderUpload(w, r, t, http.StatusConflict, "already_sent")
	case errors.Is(err, vault.ErrMessageTooLong):
		s.renderUpload(w, r, t, http.StatusRequestEntityTooLarge, "too_long")
	case errors.Is(err, vault.ErrUploadClosed):
		t.closed = true
		s.renderUpload(w, r, t, http.StatusGone, "")
	default:
		s.fileError(w, r, err, t.clerk)
	}
}

// uploadPath is the root-relative address of an upload page.
func uploadPath(token string) string { return "/u/" + url.PathEscape(token) }

// uploadView is the upload or reply page.
type uploadView struct {
	Reply      bool
	Base       string // the page's address; forms post below it
	Clerk      string
	Expires    string
	ExpiresISO string
	Closed     bool
	MaxSize    string // formatted; empty: no limit
	MaxSizeN   string // exact bytes, for the script
	MaxFiles   int
	Scanned    bool
	CSRF       string
	Message    string // the open upload's message
	Files      []uploadFileView
	HasUpload  bool // an open upload exists (something to send)
	Sent       []sentView
	// Notice is the suffix of a page.upload.notice.* text: what just
	// happened, or what went wrong.
	Notice string
	Script string // the integrity of upload.js
}

type uploadFileView struct {
	Name, Size string
	Accepted   bool
}

// sentView is one upload sent earlier, with how its delivery goes.
type sentView struct {
	ID       string
	When     string
	WhenISO  string
	Files    int
	State    string // suffix of page.upload.state.*
	Retrying bool   // queued, and the mail server refused it for now
	Again    bool   // failed: can be sent again
}

func (s *Server) renderUpload(w http.ResponseWriter, r *http.Request, t uploadTarget, status int, notice string) {
	ctx := r.Context()
	v := s.newView(w, r)
	exp := t.expires.Local()
	uv := &uploadView{
		Reply: t.reply, Base: t.base, Clerk: t.clerk, Closed: t.closed,
		Expires: s.text.DateTime(v.Lang, exp), ExpiresISO: exp.Format(time.RFC3339),
		MaxFiles: s.uploads.cfg.MaxFiles, Scanned: s.uploads.cfg.Scanner != nil,
		CSRF: s.csrf.token(w, r), Script: s.scripts[uploadJSPath].integrity,
	}
	switch notice {
	case "saved", "sent", "not_ready", "already_sent", "too_long":
		uv.Notice = notice
	}
	if m := s.uploads.cfg.MaxSize; m > 0 {
		uv.MaxSize, uv.MaxSizeN = s.text.Size(v.Lang, m), strconv.FormatInt(m, 10)
	}
	if !t.closed {
		up, err := s.current(ctx, t)
		if err != nil {
			s.uploadError(w, r, t, err)
			return
		}
		if up.ID != "" {
			uv.HasUpload = true
			for _, f := range up.Files {
				uv.Files = append(uv.Files, uploadFileView{Name: f.Name, Size: s.text.Size(v.Lang, f.Size), Accepted: f.State == vault.FileAccepted})
			}
			if up.MessageSize > 0 {
				if uv.Message, err = s.uploads.store.UploadMessage(ctx, up.ID); err != nil {
					s.senderInternalError(w, r, "reading an upload message", err, t.clerk)
					return
				}
			}
		}
	}
	past, err := s.history(ctx, t)
	if err != nil {
		s.senderInternalError(w, r, "listing uploads", err, t.clerk)
		return
	}
	for _, u := range past {
		if u.State == vault.UploadOpen {
			continue
		}
		at := u.QueuedAt.Local()
		sv := sentView{ID: u.ID, When: s.text.DateTime(v.Lang, at), WhenISO: at.Format(time.RFC3339), Files: len(u.Files), State: u.State}
		sv.Retrying = u.State == vault.UploadQueued && u.Delivery.LastError != ""
		sv.Again = u.State == vault.UploadFailed
		uv.Sent = append(uv.Sent, sv)
	}
	v.Upload = uv
	s.render(w, r, status, "upload", v)
}
