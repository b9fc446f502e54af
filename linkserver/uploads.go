package linkserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"sealgate/internal/clamd"
	"sealgate/internal/uploadproto"
	"sealgate/vault"
)

// The pages by which recipients send documents back (SPEC section 6): the
// upload page /u/{token}, the secure reply /t/{token}/reply, the clerk's
// page /r/{token} that the delivery mail links to, and the upload links on
// the status page. The files themselves travel by tus (package
// uploadproto), mounted under each page's files/ address.

// UploadVault is what the upload pages need from the store, beyond what
// the tus handler needs. *vault.Vault satisfies it.
type UploadVault interface {
	uploadproto.Store
	UploadByToken(ctx context.Context, token string) (vault.UploadLink, error)
	LinkUploads(ctx context.Context, token, email string) ([]vault.Upload, error)
	SetUploadMessage(ctx context.Context, uploadID, text string) error
	UploadMessage(ctx context.Context, uploadID string) (string, error)
	UploadByClerkToken(ctx context.Context, token string) (vault.Upload, error)
	OpenUploadFile(ctx context.Context, uploadID, fileID string) (io.ReadCloser, vault.UploadFile, error)
	UploadLinks(ctx context.Context, transferID string) ([]vault.UploadLink, error)
	Uploads(ctx context.Context, transferID string) ([]vault.Upload, error)
	CloseUploadLink(ctx context.Context, transferID, email string) error
}

var _ UploadVault = (*vault.Vault)(nil)

// UploadMailer queues the mail that carries an upload or a reply to the
// clerk. *notify.UploadMailer satisfies it. Both return once the mail is
// stored in the queue; delivery is shown from the upload's state.
type UploadMailer interface {
	UploadDelivery(ctx context.Context, uploadID string) error
	SecureReply(ctx context.Context, uploadID string) error
}

// WithUploads turns on the upload pages and secure replies: m queues the
// mails to the clerk, cfg holds uploads.max_size and uploads.max_files,
// and clamdAddr is uploads.clamd (empty: files are not scanned). Without
// this option /u/ and the reply pages answer as unknown addresses.
func WithUploads(m UploadMailer, cfg uploadproto.Config, clamdAddr string) Option {
	return func(s *Server) {
		s.uploads = &uploadSetup{mailer: m, cfg: cfg, clamd: clamdAddr}
	}
}

// uploadSetup is what WithUploads hands to New, and what New builds of it.
type uploadSetup struct {
	mailer UploadMailer
	cfg    uploadproto.Config
	clamd  string
	store  UploadVault
	files  http.Handler // the upload link's tus handler
	reply  http.Handler // the secure reply's tus handler
	// requests limits tus requests and page posts per client; links per
	// link (keyed by the token's hash, so no token stays in memory).
	requests *guard
	links    *limiter[[32]byte]
	// sends limits "send" presses per client and per link: each queues a mail.
	sends     *guard
	sendLinks *limiter[[32]byte]
}

// Limits of the upload pages. A tus upload is one request per chunk
// (8 MiB from upload.js), so a 1 GiB file takes some 130 requests; a
// burst of 600 and ten a second leave a person all they need, and cut a
// script off at once (429) rather than queueing it.
var (
	uploadRequestLimits = guardLimits{
		client: limit{every: 100 * time.Millisecond, burst: 600, maxKeys: 10000},
		subnet: limit{every: 25 * time.Millisecond, burst: 2000, maxKeys: 10000},
	}
	uploadLinkLimit = limit{every: 100 * time.Millisecond, burst: 600, maxKeys: 10000}
	sendLimits      = guardLimits{
		client: limit{every: time.Minute, burst: 10, maxKeys: 10000},
		subnet: limit{every: 20 * time.Second, burst: 30, maxKeys: 10000},
	}
	sendLinkLimit = limit{every: 2 * time.Minute, burst: 5, maxKeys: 10000}
)

// setupUploads builds the tus handlers; New calls it after the options.
func (s *Server) setupUploads() error {
	u := s.uploads
	if u == nil {
		return nil
	}
	if u.mailer == nil {
		return errors.New("uploads: no mailer")
	}
	store, ok := s.vault.(UploadVault)
	if !ok {
		return errors.New("uploads: the vault does not store uploads")
	}
	u.store = store
	if u.clamd != "" && u.cfg.Scanner == nil {
		sc, err := clamd.New(u.clamd, 0)
		if err != nil {
			return fmt.Errorf("uploads.clamd: %w", err)
		}
		u.cfg.Scanner = sc
	}
	if u.cfg.Logger == nil {
		u.cfg.Logger = s.log
	}
	files, err := uploadproto.NewUploadHandler(store, u.cfg, s.authorizeUpload)
	if err != nil {
		return fmt.Errorf("uploads: %w", err)
	}
	reply, err := uploadproto.NewReplyHandler(store, u.cfg, s.authorizeReply)
	if err != nil {
		return fmt.Errorf("uploads: %w", err)
	}
	u.files, u.reply = s.uploadLimited(files), s.uploadLimited(reply)
	u.requests, u.links = newGuard(uploadRequestLimits), newLimiter[[32]byte](uploadLinkLimit)
	u.sends, u.sendLinks = newGuard(sendLimits), newLimiter[[32]byte](sendLinkLimit)
	return nil
}

// uploadLimited puts the per-client and per-link limits in front of a tus
// handler: refused at once with 429 and a JSON body like the handler's.
func (s *Server) uploadLimited(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := s.takeUpload(r, s.uploads.requests, s.uploads.links); d > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(retrySeconds(d)))
			s.writeJSON(w, r, http.StatusTooManyRequests, map[string]string{"error": "rate_limited", "message": apiErrors["rate_limited"]})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// takeUpload spends a token of the client and of the link named by the
// request's {token}, or neither.
func (s *Server) takeUpload(r *http.Request, clients *guard, links *limiter[[32]byte]) time.Duration {
	now, addr := s.now(), s.clients.of(r)
	if d := clients.take(addr, now); d > 0 {
		return d
	}
	key := sha256.Sum256([]byte(r.PathValue("token")))
	if d := links.take(key, now); d > 0 {
		clients.refund(addr, now)
		return d
	}
	return 0
}
