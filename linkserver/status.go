package linkserver

import (
	"net/http"
	"strconv"
	"time"

	"sealgate/vault"
)

// The clerk's status page /s/{token} (SPEC section 5). Its token reaches
// only the clerk (in the sender copy), and the page shows something only to
// a browser signed in at the transfer's sender address; anyone else signed
// in gets what a wrong token gets.

type statusView struct {
	Token      string
	Reference  string
	Level      string
	Sent       string
	Expires    string
	ExpiresISO string
	Withdrawn  string // when it was revoked; empty if it was not
	Locked     string // when wrong codes locked it; empty if they did not
	Recipients []string
	Files      []statusFile
	// Anonymous is true when files are downloaded without sign-in (level
	// 1): those downloads are counted together.
	Anonymous bool
	CSRF      string
	Message   string // catalog key of a problem with the revoke form
	// Links and Uploads are the upload part (statusuploads.go); UploadsOn
	// says the server takes uploads at all.
	UploadsOn bool
	Links     []statusLink
	Uploads   []statusUpload
}

type statusFile struct {
	Name, Size, SHA256 string
	Rows               []statusRow
}

// statusRow says whether one downloader took one file.
type statusRow struct {
	Who         string // address; empty for "without sign-in"
	First, Last string
	FirstISO    string
	LastISO     string
	Count       int
	// Unreadable is true when this recipient can no longer open this
	// file (level 3–4): they replaced their key after it was sent.
	Unreadable bool
}

// findSenderTransfer looks up the transfer of a status token under the same
// guessing limit as link tokens.
func (s *Server) findSenderTransfer(r *http.Request, token string) (vault.Transfer, *problem) {
	var tr vault.Transfer
	p := s.guarded(r, "sender token", func() error {
		if !plausibleToken(token) {
			return vault.ErrNotFound
		}
		var err error
		tr, err = s.vault.TransferBySenderToken(r.Context(), token)
		return err
	})
	return tr, p
}

// senderGate returns whether the visitor must sign in first, or a problem:
// signed in as anyone but the sender, what a wrong token gets.
func (s *Server) senderGate(r *http.Request, tr vault.Transfer) (signIn bool, p *problem) {
	email, err := s.signedIn(r)
	switch {
	case err != nil:
		s.logErr(r, "session look-up", err)
		return false, problemInternal
	case email == "":
		return true, nil
	case vault.IsSender(tr, email):
		return false, nil
	}
	if d := s.guesses.take(s.clients.of(r), s.now()); d > 0 {
		return false, rateLimited(d)
	}
	return false, problemNotFound
}

// statusPage shows who downloaded what and when, with the revoke button.
func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	tr, p := s.findSenderTransfer(r, token)
	if p != nil {
		s.problemPage(w, r, p)
		return
	}
	signIn, p := s.senderGate(r, tr)
	if p != nil {
		s.problemPage(w, r, p)
		return
	}
	if signIn {
		v := s.newView(w, r)
		v.SignIn = &signInView{CSRF: s.csrf.token(w, r), Next: statusPath(token)}
		s.render(w, r, http.StatusOK, "status", v)
		return
	}
	s.renderStatus(w, r, token, tr, http.StatusOK, "")
}

// revoke withdraws the transfer (POST with CSRF token and the confirmation
// box ticked), then shows the status page again (303).
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
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
	case signIn: // the session ended meanwhile: sign in again there
		http.Redirect(w, r, statusPath(token), http.StatusSeeOther)
		return
	case r.PostForm.Get("confirm") != "yes":
		s.renderStatus(w, r, token, tr, http.StatusBadRequest, "page.status.confirm_needed")
		return
	}
	if err := s.vault.Revoke(r.Context(), tr.ID); err != nil {
		s.internalError(w, r, "revoking a transfer", err)
		return
	}
	s.log.Info("transfer revoked by its sender", "transfer", tr.ID)
	http.Redirect(w, r, statusPath(token), http.StatusSeeOther)
}

func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, token string, tr vault.Transfer, status int, message string) {
	downloads, err := s.vault.Downloads(r.Context(), tr.ID)
	if err != nil {
		s.internalError(w, r, "listing downloads", err)
		return
	}
	var unreadable []vault.UnreadableFile
	if tr.Level >= 3 {
		if unreadable, err = s.vault.UnreadableFiles(r.Context(), tr.ID); err != nil {
			s.internalError(w, r, "listing unreadable files", err)
			return
		}
	}
	v := s.newView(w, r)
	when := func(t time.Time) string { return s.text.DateTime(v.Lang, t.Local()) }
	sv := &statusView{
		Token:      token,
		Reference:  tr.ID,
		Level:      s.text.T(v.Lang, "page.level."+strconv.Itoa(tr.Level)),
		Sent:       when(tr.CreatedAt),
		Expires:    when(tr.ExpiresAt),
		ExpiresISO: tr.ExpiresAt.Format(time.RFC3339),
		Recipients: tr.Recipients,
		Anonymous:  tr.Level < 2,
		CSRF:       s.csrf.token(w, r),
		Message:    message,
	}
	if !tr.RevokedAt.IsZero() {
		sv.Withdrawn = when(tr.RevokedAt)
	}
	if !tr.LockedAt.IsZero() {
		sv.Locked = when(tr.LockedAt)
	}
	// One row per recipient per file at level 2 and above; at level 1
	// nobody signs in, so there is one row for everyone.
	who := tr.Recipients
	if sv.Anonymous {
		who = []string{""}
	}
	for _, f := range tr.Files {
		sf := statusFile{Name: f.Name, Size: s.text.Size(v.Lang, f.Size), SHA256: f.SHA256}
		switch {
		case f.Kind != vault.KindText:
		case f.ID == vault.TextHTMLID:
			sf.Name = v.T("page.e2e.message_html")
		default:
			sf.Name = v.T("page.e2e.message_plain")
		}
		for _, addr := range who {
			row := statusRow{Who: addr}
			if d, ok := downloadOf(downloads, f.ID, addr); ok {
				row.First, row.FirstISO = when(d.First), d.First.UTC().Format(time.RFC3339)
				row.Last, row.LastISO = when(d.Last), d.Last.UTC().Format(time.RFC3339)
				row.Count = d.Count
			}
			row.Unreadable = isUnreadable(unreadable, f.ID, addr)
			sf.Rows = append(sf.Rows, row)
		}
		sv.Files = append(sv.Files, sf)
	}
	sv.UploadsOn = s.uploads != nil
	if err := s.addUploadStatus(r, v, sv, tr); err != nil {
		s.internalError(w, r, "listing uploads", err)
		return
	}
	v.Status = sv
	s.render(w, r, status, "status", v)
}

// downloadOf finds the record of addr ("" for downloads without sign-in)
// for one file.
func downloadOf(ds []vault.Download, fileID, addr string) (vault.Download, bool) {
	norm := ""
	if addr != "" {
		var err error
		if norm, err = vault.NormalizeEmail(addr); err != nil {
			return vault.Download{}, false
		}
	}
	for _, d := range ds {
		if d.FileID == fileID && d.Email == norm {
			return d, true
		}
	}
	return vault.Download{}, false
}

// isUnreadable reports whether the list names addr's copy of one file.
func isUnreadable(list []vault.UnreadableFile, fileID, addr string) bool {
	norm, err := vault.NormalizeEmail(addr)
	if err != nil {
		return false
	}
	for _, u := range list {
		if u.FileID == fileID && u.Email == norm {
			return true
		}
	}
	return false
}
