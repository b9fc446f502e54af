package linkserver

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"sealgate/vault"
)

// home shows the access-code form.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	v := s.newView(w, r)
	v.Home = &homeView{CSRF: s.csrf.token(w, r)}
	s.render(w, r, http.StatusOK, "home", v)
}

// accessCode takes a code from the form (POST, CSRF-checked) and sends the
// browser to the transfer it opens. Codes travel only in POST bodies so they
// never land in URLs, histories or logs.
func (s *Server) accessCode(w http.ResponseWriter, r *http.Request) {
	if d := s.forms.take(s.clients.of(r), s.now()); d > 0 {
		s.problemPage(w, r, &problem{status: http.StatusTooManyRequests, key: "rate_limited", retry: d})
		return
	}
	code := strings.TrimSpace(r.PostForm.Get("code"))
	var token string
	p := s.guarded(r, "access code", func() error {
		if code == "" || len(code) > maxCodeLen {
			return vault.ErrNotFound
		}
		var err error
		token, err = s.vault.TokenForAccessCode(r.Context(), code)
		return err
	})
	if p == nil {
		http.Redirect(w, r, "/t/"+url.PathEscape(token), http.StatusSeeOther)
		return
	}
	if p.status != http.StatusNotFound && p.status != http.StatusGone {
		s.problemPage(w, r, p)
		return
	}
	v := s.newView(w, r)
	v.Home = &homeView{CSRF: s.csrf.token(w, r), Message: "page.home.wrong_code"}
	if p.status == http.StatusGone {
		v.Home.Message = "page.home.gone_code"
	}
	if len(code) <= maxCodeLen {
		v.Home.Code = code
	}
	s.render(w, r, p.status, "home", v)
}

// transferPage lists a transfer's files. At level 2 and above it shows,
// until the visitor is signed in as a recipient, only the level, the expiry
// and the sign-in form: no sender, no file.
func (s *Server) transferPage(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	tr, p := s.findTransfer(r, token)
	if p != nil {
		s.problemPage(w, r, p)
		return
	}
	who, signIn, p := s.recipientGate(r, tr)
	if p != nil {
		s.problemPage(w, r, p)
		return
	}
	v := s.newView(w, r)
	exp := tr.ExpiresAt.Local()
	tv := &transferView{
		Level:        s.text.T(v.Lang, "page.level."+strconv.Itoa(tr.Level)),
		ExpiresDate:  s.text.Date(v.Lang, exp),
		ExpiresFull:  s.text.DateTime(v.Lang, exp),
		ExpiresISO:   exp.Format(time.RFC3339),
		SignInNeeded: signIn,
	}
	switch {
	case signIn:
		v.SignIn = &signInView{CSRF: s.csrf.token(w, r), Next: transferPath(token)}
	case tr.Level >= 3:
		tv.Sender = tr.Sender
		if tv.E2E, p = s.e2eFileView(r, v, tr, token, who); p != nil {
			s.problemPage(w, r, p)
			return
		}
		v.Scripts = s.scriptTags() // render sets their CSP
	default:
		tv.Sender = tr.Sender
		for _, f := range tr.Files {
			tv.Files = append(tv.Files, s.fileViewOf(v.Lang, token, f))
		}
	}
	if s.uploads != nil && !signIn {
		tv.ReplyURL = transferPath(token) + "/reply"
	}
	v.Transfer = tv
	s.render(w, r, http.StatusOK, "transfer", v)
}

// fileURL is the root-relative download address of a file.
func fileURL(token, fileID string) string {
	return "/t/" + url.PathEscape(token) + "/f/" + url.PathEscape(fileID)
}

// notFound answers every address without a route, with the same page as an
// unknown token.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.problemPage(w, r, problemNotFound)
}

// problemPage renders a failed look-up as a page that says what to do next.
func (s *Server) problemPage(w http.ResponseWriter, r *http.Request, p *problem) {
	s.senderProblemPage(w, r, p, "")
}

// senderProblemPage is problemPage naming the transfer's sender, for
// visitors who may know it.
func (s *Server) senderProblemPage(w http.ResponseWriter, r *http.Request, p *problem, sender string) {
	if p.status != http.StatusTooManyRequests {
		s.senderErrorPage(w, r, p.status, "page.error."+p.key, sender)
		return
	}
	sec := retrySeconds(p.retry)
	w.Header().Set("Retry-After", strconv.Itoa(sec))
	v := s.newView(w, r)
	wait := v.T("page.minute")
	if sec > 60 {
		wait = v.T("page.minutes", (sec+59)/60)
	}
	v.Error = &errorView{Title: v.T("page.error.rate_limited.title"), Text: v.T("page.error.rate_limited.text", wait)}
	s.render(w, r, p.status, "error", v)
}

// errorPage renders the page for key (its ".title" and ".text") with status.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, key string) {
	s.senderErrorPage(w, r, status, key, "")
}

// senderErrorPage is errorPage naming the sender, unless sender is "".
func (s *Server) senderErrorPage(w http.ResponseWriter, r *http.Request, status int, key, sender string) {
	v := s.newView(w, r)
	v.Error = &errorView{Title: v.T(key + ".title"), Text: v.T(key + ".text"), Sender: sender}
	s.render(w, r, status, "error", v)
}

// retrySeconds rounds a wait up to whole seconds, at least one.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// internalError logs err and shows the generic error page.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, msg string, err error) {
	s.senderInternalError(w, r, msg, err, "")
}

// senderInternalError is internalError naming the sender, unless sender
// is "".
func (s *Server) senderInternalError(w http.ResponseWriter, r *http.Request, msg string, err error, sender string) {
	if ctxErr := r.Context().Err(); ctxErr == nil || !errors.Is(err, ctxErr) {
		s.log.Error(msg, "err", err) // not merely a client that went away
	}
	s.senderErrorPage(w, r, http.StatusInternalServerError, "page.error.internal", sender)
}
