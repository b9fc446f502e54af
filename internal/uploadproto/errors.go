package uploadproto

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"sealgate/vault"
)

// apiError is the JSON body of every error answer: a code for programs,
// an English sentence, and the facts a page needs to say it in the
// reader's language.
type apiError struct {
	Code      string `json:"error"`
	Message   string `json:"message"`
	Limit     string `json:"limit,omitempty"`     // the configuration key of the limit
	Max       int64  `json:"max,omitempty"`       // its value
	File      string `json:"file,omitempty"`      // the refused file's name
	Signature string `json:"signature,omitempty"` // what clamd found
	Reason    string `json:"reason,omitempty"`    // why a link is gone
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, e apiError) {
	writeJSON(w, status, e)
}

// limitKeys maps the vault's limit names to the configuration keys the
// answer names.
var limitKeys = map[string]string{vault.LimitSize: "uploads.max_size", vault.LimitFiles: "uploads.max_files"}

// fail answers err with the status and body it calls for. Unexpected
// errors are logged (without names, addresses or tokens) and answered 500.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		le  *vault.LimitError
		ref *refusedError
		inf *infectedError
		se  *scanError
	)
	switch {
	case errors.As(err, &le):
		msg := "the upload would exceed the limit " + limitKeys[le.Limit]
		writeError(w, http.StatusRequestEntityTooLarge, apiError{Code: "limit", Message: msg, Limit: limitKeys[le.Limit], Max: le.Max})
	case errors.Is(err, vault.ErrBeyondLength):
		writeError(w, http.StatusRequestEntityTooLarge, apiError{Code: "too_long", Message: "more bytes than the file's Upload-Length"})
	case errors.As(err, &ref):
		e := apiError{Code: "infected", File: ref.name}
		if errors.As(err, &inf) && inf.unscannable {
			e.Code = "unscannable"
			e.Message = "the file \"" + ref.name + "\" is too large for the virus scanner and was refused; nothing of it was kept"
		} else {
			if inf != nil {
				e.Signature = inf.signature
			}
			e.Message = "the file \"" + ref.name + "\" contains a virus (" + e.Signature + ") and was refused; nothing of it was kept"
		}
		writeError(w, http.StatusUnprocessableEntity, e)
	case errors.As(err, &se):
		h.log.Error("uploadproto: virus scanner unavailable", "err", se.err)
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusServiceUnavailable, apiError{Code: "scan_unavailable", Message: "the virus scanner is not available; the file is kept and checked when you try again"})
	case errors.Is(err, vault.ErrOffset):
		writeError(w, http.StatusConflict, apiError{Code: "offset", Message: "Upload-Offset does not match the stored offset; ask with HEAD"})
	case errors.Is(err, vault.ErrFileComplete):
		writeError(w, http.StatusConflict, apiError{Code: "offset", Message: "the file is complete"})
	case errors.Is(err, vault.ErrUploadSent):
		writeError(w, http.StatusGone, apiError{Code: "gone", Reason: "sent", Message: "this upload was sent; start a new one"})
	case errors.Is(err, vault.ErrUploadClosed):
		writeError(w, http.StatusGone, apiError{Code: "gone", Reason: "closed", Message: "the sender closed this upload link"})
	case errors.Is(err, vault.ErrExpired):
		writeError(w, http.StatusGone, apiError{Code: "gone", Reason: "expired", Message: "this link has expired"})
	case errors.Is(err, vault.ErrRevoked):
		writeError(w, http.StatusGone, apiError{Code: "gone", Reason: "revoked", Message: "this delivery was withdrawn"})
	case errors.Is(err, vault.ErrLocked):
		writeError(w, http.StatusGone, apiError{Code: "gone", Reason: "locked", Message: "this delivery is locked"})
	case errors.Is(err, vault.ErrNotFound), errors.Is(err, vault.ErrInvalidAddress):
		writeError(w, http.StatusNotFound, apiError{Code: "not_found", Message: "no such upload or file"})
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		writeError(w, http.StatusBadRequest, apiError{Code: "interrupted", Message: "request cancelled"})
	default:
		h.log.Error("uploadproto: request failed", "method", r.Method, "err", err)
		writeError(w, http.StatusInternalServerError, apiError{Code: "internal", Message: "the upload could not be stored; try again later"})
	}
}
