package uploadproto

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sealgate/internal/clamd"
	"sealgate/vault"
)

// tusVersion is the only protocol version spoken.
const tusVersion = "1.0.0"

// Store is what the handler needs from the vault; *vault.Vault implements
// it.
type Store interface {
	CurrentUpload(ctx context.Context, token, email string) (vault.Upload, error)
	StartUpload(ctx context.Context, token, email string) (vault.Upload, error)
	CurrentReply(ctx context.Context, transferToken, email string) (vault.Upload, error)
	StartReply(ctx context.Context, transferToken, email string) (vault.Upload, error)
	AddUploadFile(ctx context.Context, uploadID string, nf vault.NewUploadFile, lim vault.UploadLimits) (vault.UploadFile, error)
	WriteUploadFile(ctx context.Context, uploadID, fileID string, c vault.UploadChunk) (int64, error)
	InterruptUploadWrite(ctx context.Context, uploadID, fileID string) error
	FinishUploadFile(ctx context.Context, uploadID, fileID string, check func(context.Context, io.Reader) error) (vault.UploadFile, error)
	DeleteUploadFile(ctx context.Context, uploadID, fileID string) error
}

var _ Store = (*vault.Vault)(nil)

// Scanner scans a stream for malware; *clamd.Client implements it.
type Scanner interface {
	Scan(ctx context.Context, r io.Reader) (clamd.Result, error)
}

// Authorize decides who is uploading: it returns the token of the link
// (the upload link's for NewUploadHandler, the transfer's for
// NewReplyHandler) and the signed-in address (at level 1, where nobody
// signs in, the upload link's own address), or ok false to refuse with
// 403.
type Authorize func(r *http.Request) (token, email string, ok bool)

// Defaults for zero Config fields.
const (
	DefaultIdleTimeout = 2 * time.Minute
	DefaultScanTimeout = 30 * time.Minute
)

// Config is what the handler needs from the configuration file.
type Config struct {
	// MaxSize is uploads.max_size: bytes of all files of one upload
	// together; 0 means no limit.
	MaxSize int64
	// MaxFiles is uploads.max_files; 0 means no limit.
	MaxFiles int
	// Scanner is the clamd client made from uploads.clamd; nil means
	// files are not scanned.
	Scanner Scanner
	// RefuseUnscannable refuses a file that clamd would not scan because
	// it exceeds clamd's StreamMaxLength; by default such a file is
	// accepted unscanned (as clamd itself treats files over its limits)
	// and a warning is logged.
	RefuseUnscannable bool
	// IdleTimeout cuts off a PATCH whose body sends nothing for this long
	// (what arrived is kept); default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ScanTimeout bounds checking one completed file; default
	// DefaultScanTimeout.
	ScanTimeout time.Duration
	// Logger receives warnings; nil discards them. Nothing logged names a
	// file, an address or a token.
	Logger *slog.Logger
}

// Handler serves the tus protocol for one kind of upload.
type Handler struct {
	store Store
	cfg   Config
	auth  Authorize
	reply bool
	log   *slog.Logger
}

// NewUploadHandler serves uploads through upload links (/u/{token}/files/):
// Authorize returns the upload link's token.
func NewUploadHandler(store Store, cfg Config, auth Authorize) (*Handler, error) {
	return newHandler(store, cfg, auth, false)
}

// NewReplyHandler serves the files of secure replies from a transfer page:
// Authorize returns the transfer's link token and a signed-in recipient.
func NewReplyHandler(store Store, cfg Config, auth Authorize) (*Handler, error) {
	return newHandler(store, cfg, auth, true)
}

func newHandler(store Store, cfg Config, auth Authorize, reply bool) (*Handler, error) {
	if store == nil || auth == nil {
		return nil, errors.New("uploadproto: store and authorisation callback are required")
	}
	if cfg.MaxSize < 0 || cfg.MaxFiles < 0 {
		return nil, errors.New("uploadproto: negative limits")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.ScanTimeout <= 0 {
		cfg.ScanTimeout = DefaultScanTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{store: store, cfg: cfg, auth: auth, reply: reply, log: log}, nil
}

// ServeHTTP implements http.Handler. A path ending in "/" is the
// collection (POST creates, GET lists); otherwise its last segment names
// a file. It works mounted with or without http.StripPrefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Tus-Resumable", tusVersion)
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodOptions {
		h.options(w)
		return
	}
	if r.Method != http.MethodGet && r.Header.Get("Tus-Resumable") != tusVersion {
		w.Header().Set("Tus-Version", tusVersion)
		writeError(w, http.StatusPreconditionFailed, apiError{Code: "version", Message: "Tus-Resumable 1.0.0 is required"})
		return
	}
	token, email, ok := h.auth(r)
	if !ok {
		writeError(w, http.StatusForbidden, apiError{Code: "forbidden", Message: "not allowed to upload here"})
		return
	}
	collection, fileID := splitPath(r.URL.Path)
	switch {
	case fileID == "" && r.Method == http.MethodPost:
		h.create(w, r, token, email, collection)
	case fileID == "" && r.Method == http.MethodGet:
		h.list(w, r, token, email, collection)
	case fileID != "" && r.Method == http.MethodHead:
		h.head(w, r, token, email, fileID)
	case fileID != "" && r.Method == http.MethodPatch:
		h.patch(w, r, token, email, fileID)
	case fileID != "" && r.Method == http.MethodDelete:
		h.delete(w, r, token, email, fileID)
	default:
		w.Header().Set("Allow", allowed(fileID))
		writeError(w, http.StatusMethodNotAllowed, apiError{Code: "method", Message: "method not allowed"})
	}
}

func allowed(fileID string) string {
	if fileID == "" {
		return "OPTIONS, GET, POST"
	}
	return "OPTIONS, HEAD, PATCH, DELETE"
}

// splitPath returns the collection path (ending in "/") and the file ID
// (empty for the collection itself).
func splitPath(p string) (collection, fileID string) {
	i := strings.LastIndexByte(p, '/')
	return p[:i+1], p[i+1:]
}

func (h *Handler) options(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Tus-Version", tusVersion)
	hd.Set("Tus-Extension", "creation,termination")
	if h.cfg.MaxSize > 0 {
		hd.Set("Tus-Max-Size", strconv.FormatInt(h.cfg.MaxSize, 10))
	}
	w.WriteHeader(http.StatusNoContent)
}

// current returns the open upload (without making one).
func (h *Handler) current(ctx context.Context, token, email string) (vault.Upload, error) {
	if h.reply {
		return h.store.CurrentReply(ctx, token, email)
	}
	return h.store.CurrentUpload(ctx, token, email)
}

func (h *Handler) start(ctx context.Context, token, email string) (vault.Upload, error) {
	if h.reply {
		return h.store.StartReply(ctx, token, email)
	}
	return h.store.StartUpload(ctx, token, email)
}

// file finds fileID in the open upload.
func (h *Handler) file(ctx context.Context, token, email, fileID string) (vault.Upload, vault.UploadFile, error) {
	up, err := h.current(ctx, token, email)
	if err != nil {
		return vault.Upload{}, vault.UploadFile{}, err
	}
	f, ok := up.File(fileID)
	if up.ID == "" || !ok {
		return vault.Upload{}, vault.UploadFile{}, vault.ErrNotFound
	}
	return up, f, nil
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request, token, email, collection string) {
	if r.Header.Get("Upload-Defer-Length") != "" {
		writeError(w, http.StatusBadRequest, apiError{Code: "bad_request", Message: "Upload-Defer-Length is not supported; send Upload-Length"})
		return
	}
	size, err := parseLength(r.Header.Get("Upload-Length"))
	if err != nil {
		writeError(w, http.StatusBadRequest, apiError{Code: "bad_request", Message: "Upload-Length: " + err.Error()})
		return
	}
	meta, err := parseMetadata(r.Header.Get("Upload-Metadata"))
	if err != nil {
		writeError(w, http.StatusBadRequest, apiError{Code: "bad_request", Message: "Upload-Metadata: " + err.Error()})
		return
	}
	// The declared size is checked before anything is made.
	if h.cfg.MaxSize > 0 && size > h.cfg.MaxSize {
		h.fail(w, r, &vault.LimitError{Limit: vault.LimitSize, Max: h.cfg.MaxSize})
		return
	}
	up, err := h.start(r.Context(), token, email)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	name := meta["filename"]
	if name == "" {
		name = meta["name"]
	}
	ctype := meta["filetype"]
	if ctype == "" {
		ctype = meta["type"]
	}
	f, err := h.store.AddUploadFile(r.Context(), up.ID, vault.NewUploadFile{Name: name, ContentType: ctype, Size: size},
		vault.UploadLimits{MaxSize: h.cfg.MaxSize, MaxFiles: h.cfg.MaxFiles})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", collection+f.ID)
	if f.Size == 0 {
		// Nothing will follow: check it now.
		if _, err := h.finish(r.Context(), up.ID, f); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	w.Header().Set("Upload-Offset", "0")
	w.WriteHeader(http.StatusCreated)
}

func (h *Handler) head(w http.ResponseWriter, r *http.Request, token, email, fileID string) {
	ctx := r.Context()
	up, f, err := h.file(ctx, token, email, fileID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// A request for this file may still wait for bytes from a connection
	// the client has given up: stop it, so the offset below is current.
	if err := h.store.InterruptUploadWrite(ctx, up.ID, fileID); err != nil {
		h.fail(w, r, err)
		return
	}
	if up, f, err = h.file(ctx, token, email, fileID); err != nil {
		h.fail(w, r, err)
		return
	}
	if f.State == vault.FileComplete {
		// Complete but never checked (the check failed or the process
		// stopped before it ran): check it now.
		extendWrite(w, h.cfg.ScanTimeout)
		if f, err = h.finish(ctx, up.ID, f); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	w.Header().Set("Upload-Offset", strconv.FormatInt(f.Offset, 10))
	w.Header().Set("Upload-Length", strconv.FormatInt(f.Size, 10))
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) patch(w http.ResponseWriter, r *http.Request, token, email, fileID string) {
	ctx := r.Context()
	if ct := r.Header.Get("Content-Type"); ct != "application/offset+octet-stream" {
		writeError(w, http.StatusUnsupportedMediaType, apiError{Code: "content_type", Message: "Content-Type must be application/offset+octet-stream"})
		return
	}
	offset, err := parseLength(r.Header.Get("Upload-Offset"))
	if err != nil {
		writeError(w, http.StatusBadRequest, apiError{Code: "bad_request", Message: "Upload-Offset: " + err.Error()})
		return
	}
	up, f, err := h.file(ctx, token, email, fileID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if f.State != vault.FileReceiving && offset == f.Offset && r.ContentLength <= 0 {
		// A retried final PATCH: nothing to add.
		if f.State == vault.FileComplete {
			if f, err = h.finish(ctx, up.ID, f); err != nil {
				h.fail(w, r, err)
				return
			}
		}
		w.Header().Set("Upload-Offset", strconv.FormatInt(f.Offset, 10))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	// A declared body longer than the file is refused before any of it
	// is read.
	if r.ContentLength > 0 && offset+r.ContentLength > f.Size {
		h.fail(w, r, vault.ErrBeyondLength)
		return
	}
	body := newProgressReader(w, r.Body, h.cfg.IdleTimeout)
	newOffset, werr := h.store.WriteUploadFile(ctx, up.ID, fileID, vault.UploadChunk{Offset: offset, Body: body, Interrupt: body.interrupt})
	w.Header().Set("Upload-Offset", strconv.FormatInt(newOffset, 10))
	if werr != nil {
		if body.failed() {
			// The client went away or stalled: what arrived is kept,
			// and nobody may be listening for this answer.
			writeError(w, http.StatusBadRequest, apiError{Code: "interrupted", Message: "the upload broke off; resume with HEAD"})
			return
		}
		h.fail(w, r, werr)
		return
	}
	if newOffset == f.Size {
		extendWrite(w, h.cfg.ScanTimeout)
		f.Offset, f.State = newOffset, vault.FileComplete
		if _, err := h.finish(ctx, up.ID, f); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request, token, email, fileID string) {
	up, _, err := h.file(r.Context(), token, email, fileID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.store.DeleteUploadFile(r.Context(), up.ID, fileID); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// finish checks a complete file (virus scan, hash) and accepts it.
func (h *Handler) finish(ctx context.Context, uploadID string, f vault.UploadFile) (vault.UploadFile, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.ScanTimeout)
	defer cancel()
	var check func(context.Context, io.Reader) error
	if h.cfg.Scanner != nil {
		check = h.scan
	}
	got, err := h.store.FinishUploadFile(ctx, uploadID, f.ID, check)
	if err != nil {
		if errors.Is(err, vault.ErrFileRefused) {
			return f, &refusedError{name: f.Name, err: err}
		}
		return f, err
	}
	return got, nil
}

// scan streams a completed file to clamd.
func (h *Handler) scan(ctx context.Context, r io.Reader) error {
	res, err := h.cfg.Scanner.Scan(ctx, r)
	switch {
	case errors.Is(err, clamd.ErrTooLarge):
		if h.cfg.RefuseUnscannable {
			return &infectedError{unscannable: true}
		}
		h.log.Warn("uploadproto: file accepted unscanned: larger than clamd's StreamMaxLength")
		return nil
	case err != nil:
		return &scanError{err: err}
	case res.Infected:
		h.log.Warn("uploadproto: infected file refused", "signature", res.Signature)
		return &infectedError{signature: res.Signature}
	}
	return nil
}

// infectedError refuses a file; it wraps vault.ErrFileRefused so that the
// vault deletes it.
type infectedError struct {
	signature   string
	unscannable bool
}

func (e *infectedError) Error() string {
	if e.unscannable {
		return "file too large for the virus scanner"
	}
	return "virus found: " + e.signature
}

func (e *infectedError) Unwrap() error { return vault.ErrFileRefused }

// refusedError names the refused file for the answer.
type refusedError struct {
	name string
	err  error
}

func (e *refusedError) Error() string { return fmt.Sprintf("file %q refused: %v", e.name, e.err) }
func (e *refusedError) Unwrap() error { return e.err }

// scanError means the scanner could not be asked.
type scanError struct{ err error }

func (e *scanError) Error() string { return "virus scanner unavailable: " + e.err.Error() }
func (e *scanError) Unwrap() error { return e.err }

// list answers GET on the collection with the open upload.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, token, email, collection string) {
	up, err := h.current(r.Context(), token, email)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, statusOf(up, collection, h.cfg))
}

// parseLength reads a non-negative decimal header value.
func parseLength(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("missing")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strings.TrimSpace(s) != s || strings.HasPrefix(s, "+") {
		return 0, errors.New("not a non-negative integer")
	}
	return n, nil
}
