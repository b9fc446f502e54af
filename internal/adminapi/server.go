package adminapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"sealgate/vault"
)

// Config is what the admin listener serves.
type Config struct {
	// Admin carries out the admin commands, usually a *Local on the
	// serving process's vault.
	Admin Admin
	// Secret is the token clients send as "Authorization: Bearer ..."
	// (the content of storage.dir/admin.secret, see EnsureSecret).
	Secret string
	// Metrics serves /metrics; nil answers 404.
	Metrics http.Handler
	// Storage is pinged by /readyz; nil skips the check.
	Storage interface{ Ping(context.Context) error }
	// NextHop is dialled by /readyz; empty skips the check.
	NextHop string
	// Log receives one line per admin action (never a secret).
	Log *slog.Logger
}

// maxRequestBody bounds the JSON bodies the API accepts.
const maxRequestBody = 4 << 10

// NewHandler returns the admin listener's handler:
//
//	GET    /healthz                       process up (no secret)
//	GET    /readyz                        storage usable, next hop reachable (no secret)
//	GET    /metrics                       Prometheus (no secret)
//	GET    /admin/v1/transfers?sender=&recipient=&state=
//	GET    /admin/v1/transfers/{id}
//	POST   /admin/v1/transfers/{id}/revoke
//	GET    /admin/v1/accounts
//	DELETE /admin/v1/accounts/{email}
//	POST   /admin/v1/purge                {"as_of": RFC 3339, "dry_run": bool}
//	POST   /admin/v1/keys/rotate
//	GET    /admin/v1/receipt-key
//
// Every /admin/ request needs the secret; without it, or with a wrong
// one, the answer is 401 and nothing is done. Errors are JSON objects
// {"error": "..."}: 400 for a malformed request, 404 for an unknown
// transfer or account, 500 otherwise.
func NewHandler(cfg Config) http.Handler {
	h := &handler{cfg: cfg, log: cfg.Log}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	sum := sha256.Sum256([]byte(cfg.Secret))
	h.secretSum = sum[:]

	api := http.NewServeMux()
	api.HandleFunc("GET /admin/v1/transfers", h.transfers)
	api.HandleFunc("GET /admin/v1/transfers/{id}", h.transfer)
	api.HandleFunc("POST /admin/v1/transfers/{id}/revoke", h.revoke)
	api.HandleFunc("GET /admin/v1/accounts", h.accounts)
	api.HandleFunc("DELETE /admin/v1/accounts/{email}", h.deleteAccount)
	api.HandleFunc("POST /admin/v1/purge", h.purge)
	api.HandleFunc("POST /admin/v1/keys/rotate", h.rotateKey)
	api.HandleFunc("GET /admin/v1/receipt-key", h.receiptKey)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", h.ready)
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	mux.Handle("/admin/", h.authenticated(api))
	return mux
}

type handler struct {
	cfg       Config
	log       *slog.Logger
	secretSum []byte
}

// authenticated lets through only requests that carry the secret. Both
// sides are hashed first so that the comparison takes the same time
// whatever was sent, its length included.
func (h *handler) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const prefix = "Bearer "
		auth := r.Header.Get("Authorization")
		got := []byte{}
		if len(auth) > len(prefix) && auth[:len(prefix)] == prefix {
			got = []byte(auth[len(prefix):])
		}
		sum := sha256.Sum256(got)
		if h.cfg.Secret == "" || subtle.ConstantTimeCompare(sum[:], h.secretSum) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sealgate admin"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong admin secret (storage.dir/"+SecretFile+")")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func (h *handler) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if h.cfg.Storage != nil {
		if err := h.cfg.Storage.Ping(ctx); err != nil {
			h.log.Warn("readyz: storage not ready", "err", err)
			http.Error(w, "storage not ready", http.StatusServiceUnavailable)
			return
		}
	}
	if h.cfg.NextHop != "" {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", h.cfg.NextHop)
		if err != nil {
			h.log.Warn("readyz: next hop not reachable", "next_hop", h.cfg.NextHop, "err", err)
			http.Error(w, "next hop not reachable", http.StatusServiceUnavailable)
			return
		}
		conn.Close()
	}
	_, _ = io.WriteString(w, "ready\n")
}

func (h *handler) transfers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := vault.TransferFilter{Sender: q.Get("sender"), Recipient: q.Get("recipient"), State: q.Get("state")}
	list, err := h.cfg.Admin.Transfers(r.Context(), f)
	h.reply(w, list, err)
}

func (h *handler) transfer(w http.ResponseWriter, r *http.Request) {
	t, err := h.cfg.Admin.Transfer(r.Context(), r.PathValue("id"))
	h.reply(w, t, err)
}

func (h *handler) revoke(w http.ResponseWriter, r *http.Request) {
	t, err := h.cfg.Admin.Revoke(r.Context(), r.PathValue("id"))
	if err == nil {
		h.log.Info("admin: transfer revoked", "transfer", t.ID)
	}
	h.reply(w, t, err)
}

func (h *handler) accounts(w http.ResponseWriter, r *http.Request) {
	list, err := h.cfg.Admin.Accounts(r.Context())
	h.reply(w, list, err)
}

func (h *handler) deleteAccount(w http.ResponseWriter, r *http.Request) {
	err := h.cfg.Admin.DeleteAccount(r.Context(), r.PathValue("email"))
	if err == nil {
		// The address stays out of the log: the account is gone, and so
		// should every trace of it be.
		h.log.Info("admin: account deleted")
	}
	h.reply(w, struct{}{}, err)
}

func (h *handler) purge(w http.ResponseWriter, r *http.Request) {
	var req PurgeRequest
	if !decodeBody(w, r, &req) {
		return
	}
	res, err := h.cfg.Admin.Purge(r.Context(), req)
	if err == nil && !req.DryRun {
		h.log.Info("admin: purge", "as_of", res.AsOf, "transfers", len(res.Transfers), "files", res.Files,
			"accounts", len(res.Accounts), "keys", len(res.Keys), "compacted", res.Compacted)
	}
	h.reply(w, res, err)
}

func (h *handler) rotateKey(w http.ResponseWriter, r *http.Request) {
	res, err := h.cfg.Admin.RotateKey(r.Context())
	if err == nil {
		h.log.Info("admin: gateway key rotated", "key_id", res.KeyID)
	}
	h.reply(w, res, err)
}

func (h *handler) receiptKey(w http.ResponseWriter, r *http.Request) {
	key, err := h.cfg.Admin.ReceiptKey(r.Context())
	if err != nil {
		h.reply(w, nil, err)
		return
	}
	w.Header().Set("Content-Type", "application/pgp-keys")
	_, _ = w.Write(key)
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "request body: "+err.Error())
		return false
	}
	return true
}

// reply writes v as JSON, or err with the status that tells the client
// which kind of error to rebuild (see Client).
func (h *handler) reply(w http.ResponseWriter, v any, err error) {
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(v); err != nil {
			h.log.Warn("admin: writing answer", "err", err)
		}
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, vault.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	default:
		h.log.Error("admin request failed", "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: msg})
}
