package linkserver

import (
	"errors"
	"net/http"
	"strconv"

	"sealgate/vault"
)

// The level-3/4 part of the transfer page, for a signed-in recipient. The
// server renders every state (no key yet, a key made in the browser, a key
// of one's own) and every text in the page's language; page.js shows the
// part that applies and does the cryptography. Secrets typed into it (the
// key passphrase, the recovery code) sit in fields without a name, so that
// even a form submitted without the script would carry none of them.

// Key states of a recipient, as the page's data-state says them.
const (
	keyStateNone    = "none"    // no key yet: choose a passphrase
	keyStateBrowser = "browser" // a key made in the browser: unlock it
	keyStateBYOK    = "byok"    // a key of their own: .pgp downloads
)

type e2eView struct {
	KeyState    string
	Fingerprint string // of the current key, for BYOK
	Email       string // the recipient, the user ID of a key made here
	Level4      bool
	Files       []fileView // attachments; the message text is separate
	TextURL     string     // level 4: the plain-text item, always stored
	HTMLURL     string     // level 4: the HTML item, if the mail had one
	KeyPage     string     // the key page, coming back here
	// Messages are the texts page.js shows, by key (see e2eMessages).
	Messages []e2eMessage
}

type e2eMessage struct{ Key, Text string }

// e2eMessages are the texts page.js needs, catalog keys page.e2e.js.<key>.
var e2eMessages = []string{
	"strength_weak", "strength_fair", "strength_strong",
	"too_short", "too_weak", "mismatch", "confirm_needed", "reset_confirm_needed",
	"wrong_passphrase", "wrong_code", "empty",
	"making_key", "saving_key", "unlocking", "changing", "changed",
	"label_passphrase", "label_code", "hint_passphrase", "hint_code",
	"switch_to_code", "switch_to_passphrase",
	"downloading", "saved", "cancelled", "key_needed", "unreadable", "failed",
	"text_loading", "text_failed", "key_exists", "no_browser",
}

// e2eFileView builds the level-3/4 part of a transfer page for recipient
// who, or returns a problem.
func (s *Server) e2eFileView(r *http.Request, v *view, tr vault.Transfer, token, who string) (*e2eView, *problem) {
	ev := &e2eView{
		Email:   who,
		Level4:  tr.Level >= 4,
		KeyPage: "/key?next=" + transferPath(token),
	}
	k, err := s.vault.AccountKey(r.Context(), who)
	switch {
	case errors.Is(err, vault.ErrNoKey), errors.Is(err, vault.ErrNotFound):
		ev.KeyState = keyStateNone
	case err != nil:
		s.logErr(r, "reading an account key", err)
		return nil, problemInternal
	case k.BYOK:
		ev.KeyState, ev.Fingerprint = keyStateBYOK, k.Fingerprint
	default:
		ev.KeyState, ev.Fingerprint = keyStateBrowser, k.Fingerprint
	}
	for _, f := range tr.Files {
		switch {
		case f.Kind != vault.KindText:
			ev.Files = append(ev.Files, s.fileViewOf(v.Lang, token, f))
		case f.ID == vault.TextPlainID:
			ev.TextURL = fileURL(token, f.ID)
		case f.ID == vault.TextHTMLID:
			ev.HTMLURL = fileURL(token, f.ID)
		}
	}
	for _, key := range e2eMessages {
		ev.Messages = append(ev.Messages, e2eMessage{Key: key, Text: v.T("page.e2e.js." + key)})
	}
	return ev, nil
}

// fileViewOf describes a file for the transfer page.
func (s *Server) fileViewOf(lang, token string, f vault.File) fileView {
	return fileView{
		ID:    f.ID,
		Name:  f.Name,
		Size:  s.text.Size(lang, f.Size),
		Bytes: strconv.FormatInt(f.Size, 10),
		Type:  downloadType(f.ContentType),
		URL:   fileURL(token, f.ID),
	}
}
