package linkserver

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"sealgate/vault"
)

// The key page /key: what key the signed-in account has, and a form to
// bring one's own OpenPGP public key (pasted, or as a file), which works
// without JavaScript. Keys made in the browser are set from the transfer
// page (page.js and PUT /api/v1/me/key), because they need the script.

type keyView struct {
	CSRF string
	Next string // the transfer page to go back to, or ""
	// The account's current key; Has is false when it has none.
	Has         bool
	BYOK        bool
	Fingerprint string
	Algorithm   string
	SetAt       string
	UserIDs     []string
	Saved       bool   // a key was just stored
	Message     string // catalog key of a problem with the form
	Reason      string // the vault's reason for refusing a key (English)
	Pasted      string // the pasted key, shown again after a mistake
	AskReset    bool   // a different key exists: the form offers to replace it
}

// keyPage shows the account's key and the bring-your-own-key form
// (GET /key?next=/t/…).
func (s *Server) keyPage(w http.ResponseWriter, r *http.Request) {
	s.renderKeyPage(w, r, http.StatusOK, &keyView{Saved: r.URL.Query().Get("saved") == "1"})
}

// renderKeyPage fills kv with the account's key and renders the page; a
// visitor who is not signed in gets the sign-in form instead.
func (s *Server) renderKeyPage(w http.ResponseWriter, r *http.Request, status int, kv *keyView) {
	email, err := s.signedIn(r)
	if err != nil {
		s.internalError(w, r, "session look-up", err)
		return
	}
	v := s.newView(w, r)
	if email == "" {
		v.SignIn = &signInView{CSRF: s.csrf.token(w, r), Next: "/key"}
		s.render(w, r, http.StatusOK, "key", v)
		return
	}
	kv.CSRF = s.csrf.token(w, r)
	if next := safeNext(r.FormValue("next")); transferTokenOf(next) != "" {
		kv.Next = next
	}
	k, err := s.vault.AccountKey(r.Context(), email)
	switch {
	case errors.Is(err, vault.ErrNoKey), errors.Is(err, vault.ErrNotFound):
	case err != nil:
		s.internalError(w, r, "reading an account key", err)
		return
	default:
		kv.Has, kv.BYOK, kv.Fingerprint, kv.Algorithm = true, k.BYOK, k.Fingerprint, k.Algorithm
		kv.SetAt = s.text.DateTime(v.Lang, k.SetAt.Local())
		kv.UserIDs = k.UserIDs
	}
	v.Key = kv
	s.render(w, r, status, "key", v)
}

// keyForm is POST /key: the bring-your-own-key form, as a file upload
// (multipart) or pasted text, with its CSRF token, bounded like the API.
func (s *Server) keyForm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxKeyBody)
		var err error
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
			// The whole body fits the memory bound, so nothing is
			// spooled to disk.
			err = r.ParseMultipartForm(maxKeyBody)
			if r.MultipartForm != nil {
				defer r.MultipartForm.RemoveAll()
			}
		} else {
			err = r.ParseForm()
		}
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			s.errorPage(w, r, http.StatusRequestEntityTooLarge, "page.error.too_large")
			return
		}
		if err != nil {
			s.errorPage(w, r, http.StatusBadRequest, "page.error.bad_request")
			return
		}
		if !s.csrf.valid(r) {
			s.errorPage(w, r, http.StatusForbidden, "page.error.csrf")
			return
		}
		s.uploadOwnKey(w, r)
	})
}

// uploadOwnKey stores the public key of the form and goes back to the key
// page (303), or shows the form again with what was wrong.
func (s *Server) uploadOwnKey(w http.ResponseWriter, r *http.Request) {
	email, p := s.keyOwner(r)
	if p == problemSignInFirst {
		http.Redirect(w, r, "/key", http.StatusSeeOther)
		return
	}
	if p != nil {
		s.problemPage(w, r, p)
		return
	}
	pasted := strings.TrimSpace(r.PostForm.Get("public_key"))
	key := []byte(pasted)
	if r.MultipartForm != nil && len(r.MultipartForm.File["key_file"]) > 0 {
		f, err := r.MultipartForm.File["key_file"][0].Open()
		if err != nil {
			s.internalError(w, r, "reading an uploaded key", err)
			return
		}
		b, err := io.ReadAll(io.LimitReader(f, maxKeyBody))
		f.Close()
		if err != nil {
			s.internalError(w, r, "reading an uploaded key", err)
			return
		}
		if len(bytes.TrimSpace(b)) > 0 {
			key = b
		}
	}
	kv := &keyView{Pasted: pasted}
	if len(pasted) > 64<<10 {
		kv.Pasted = ""
	}
	if len(bytes.TrimSpace(key)) == 0 {
		kv.Message = "page.key.empty"
		s.renderKeyPage(w, r, http.StatusBadRequest, kv)
		return
	}
	_, reason, p := s.setKey(r, email, vault.KeyUpload{PublicKey: key}, r.PostForm.Get("reset") == "yes")
	switch {
	case reason != "":
		kv.Message, kv.Reason = "page.key.invalid", reason
		s.renderKeyPage(w, r, http.StatusUnprocessableEntity, kv)
	case p == problemKeyExists:
		kv.Message, kv.AskReset = "page.key.exists", true
		s.renderKeyPage(w, r, http.StatusConflict, kv)
	case p != nil:
		s.problemPage(w, r, p)
	default:
		to := "/key?saved=1"
		if next := safeNext(r.PostForm.Get("next")); transferTokenOf(next) != "" {
			to += "&next=" + next
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	}
}
