package linkserver

import (
	"errors"
	"net/http"
	"time"

	"sealgate/vault"
)

// The upload part of the clerk's status page: each recipient's upload link
// with a button to close it, and the uploads and replies with their state.

type statusLink struct {
	Email  string
	Closed string // when it was closed; empty while open
}

type statusUpload struct {
	From    string
	Reply   bool
	When    string
	WhenISO string
	Files   int
	State   string // suffix of page.upload.state.*
}

// addUploadStatus fills the status page's upload part, if uploads are on.
func (s *Server) addUploadStatus(r *http.Request, v *view, sv *statusView, tr vault.Transfer) error {
	if s.uploads == nil {
		return nil
	}
	links, err := s.uploads.store.UploadLinks(r.Context(), tr.ID)
	if err != nil {
		return err
	}
	ups, err := s.uploads.store.Uploads(r.Context(), tr.ID)
	if err != nil {
		return err
	}
	when := func(t time.Time) string { return s.text.DateTime(v.Lang, t.Local()) }
	for _, l := range links {
		sl := statusLink{Email: l.Email}
		if l.Closed {
			sl.Closed = when(l.ClosedAt)
		}
		sv.Links = append(sv.Links, sl)
	}
	for _, u := range ups {
		at := u.QueuedAt
		if at.IsZero() {
			at = u.CreatedAt
		}
		sv.Uploads = append(sv.Uploads, statusUpload{From: u.Email, Reply: u.Kind == vault.UploadKindReply,
			When: when(at), WhenISO: at.UTC().Format(time.RFC3339), Files: len(u.Files), State: u.State})
	}
	return nil
}

// closeLink closes one recipient's upload link (POST with CSRF token and
// the address), then shows the status page again (303).
func (s *Server) closeLink(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	tr, p := s.findSenderTransfer(r, token)
	if p != nil {
		s.problemPage(w, r, p)
		return
	}
	signIn, p := s.senderGate(r, tr)
	switch {
	case p != nil:
		s.problemPage(w, r, p)
		return
	case signIn:
		http.Redirect(w, r, statusPath(token), http.StatusSeeOther)
		return
	}
	err := s.uploads.store.CloseUploadLink(r.Context(), tr.ID, r.PostForm.Get("email"))
	switch {
	case err == nil:
		s.log.Info("upload link closed by the sender", "transfer", tr.ID)
	case errors.Is(err, vault.ErrNotFound):
		s.renderStatus(w, r, token, tr, http.StatusBadRequest, "")
		return
	default:
		s.internalError(w, r, "closing an upload link", err)
		return
	}
	http.Redirect(w, r, statusPath(token), http.StatusSeeOther)
}
