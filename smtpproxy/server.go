package smtpproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"sealgate/catalog"
	"sealgate/smtpproxy/dkimsign"
	"sealgate/vault"
)

// Server is the SMTP relay. Create it with New and run it with Serve or
// ListenAndServe.
type Server struct {
	cfg      Config
	vault    *vault.Vault
	cat      *catalog.Catalog
	log      *slog.Logger
	pool     *hopPool
	tls      *tls.Config      // inbound STARTTLS; nil when not configured
	internal []string         // lower-cased smtp.internal_domains
	dkim     *dkimsign.Signer // smtp.dkim; nil: rewritten mail goes unsigned

	// hardCtx ends every message in flight: cancelled when the shutdown
	// bound has passed.
	hardCtx    context.Context
	hardCancel context.CancelFunc

	mu       sync.Mutex
	conns    map[string]*clientConn // by remote address
	changed  chan struct{}          // closed and replaced when conns shrinks
	draining bool
	serving  bool
	inData   sync.WaitGroup // Data calls in progress

	copySlots chan struct{}  // one token per sender copy in flight
	copies    sync.WaitGroup // sender copies in flight

	bufs sync.Pool // *dataBufs
}

// New checks cfg and prepares a server. v and cat must not be nil.
func New(cfg Config, v *vault.Vault, cat *catalog.Catalog, logger *slog.Logger) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if v == nil || cat == nil {
		return nil, errors.New("smtpproxy: vault and catalog are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("smtp.hostname: not set, and the host name is unknown: %w", err)
		}
		cfg.Hostname = h
	}
	s := &Server{
		cfg:     cfg,
		vault:   v,
		cat:     cat,
		log:     logger,
		pool:    newHopPool(cfg),
		conns:   make(map[string]*clientConn),
		changed: make(chan struct{}),
		bufs:    sync.Pool{New: newDataBufs},

		copySlots: make(chan struct{}, maxSenderCopies),
	}
	for _, d := range cfg.InternalDomains {
		s.internal = append(s.internal, strings.ToLower(strings.TrimSpace(d)))
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("smtp.tls_cert/smtp.tls_key: %w", err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	signer, err := dkimsign.New(cfg.DKIM)
	if err != nil {
		return nil, fmt.Errorf("smtp.dkim: %w", err)
	}
	s.dkim = signer
	return s, nil
}

// ListenAndServe listens on cfg.Listen and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("smtp.listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx ends, then shuts down
// gracefully: it stops accepting, closes idle connections, gives sessions
// in the middle of a message cfg.ShutdownTimeout to finish, then cuts the
// rest off (their clients get no 250 and retry later). Serve closes ln.
// A Server serves once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		_ = ln.Close()
		return errors.New("smtpproxy: Serve called twice")
	}
	s.serving = true
	s.hardCtx, s.hardCancel = context.WithCancel(context.WithoutCancel(ctx))
	s.mu.Unlock()
	defer s.hardCancel()

	srv := smtp.NewServer(backend{s})
	srv.Domain = s.cfg.Hostname
	srv.MaxMessageBytes = s.cfg.MaxMessageSize
	srv.MaxLineLength = maxLineLength
	srv.MaxRecipients = s.cfg.MaxRecipients
	srv.ReadTimeout = s.cfg.ReadTimeout
	srv.WriteTimeout = s.cfg.WriteTimeout
	srv.TLSConfig = s.tls
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = true
	srv.ErrorLog = log.New(slogWriter{s.log}, "", 0)

	gl := &guardListener{Listener: ln, s: s, refusals: make(chan struct{}, maxRefusals)}
	s.log.Info("smtp: listening", "addr", ln.Addr().String(), "next_hop", s.cfg.NextHop)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(gl) }()

	var err error
	select {
	case err = <-served:
		// The listener failed on its own.
		err = fmt.Errorf("smtp: accept: %w", err)
	case <-ctx.Done():
		_ = gl.Close()
		<-served
	}
	s.shutdown()
	gl.wait()
	// Sender copies end within their own bound, or at once after a hard
	// cut-off (their context comes from hardCtx).
	s.copies.Wait()
	s.pool.close()
	s.log.Info("smtp: stopped")
	return err
}

// shutdown closes idle connections, waits for the busy ones within the
// bound, then cancels what is left and waits for it to unwind.
func (s *Server) shutdown() {
	// Once draining is set no connection becomes busy, so the idle ones
	// found here stay idle until closed.
	s.mu.Lock()
	s.draining = true
	var idle []*clientConn
	for _, c := range s.conns {
		if !c.busy {
			idle = append(idle, c)
		}
	}
	s.mu.Unlock()
	for _, c := range idle {
		_ = c.Close()
	}

	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	if !s.waitConns(timer.C) {
		s.log.Warn("smtp: shutdown bound reached; cutting off sessions in progress")
		s.hardCancel()
		s.mu.Lock()
		var all []*clientConn
		for _, c := range s.conns {
			all = append(all, c)
		}
		s.mu.Unlock()
		for _, c := range all {
			_ = c.Close()
		}
		s.waitConns(nil)
	}
	s.inData.Wait()
}

// waitConns waits until no client connection is open, or until stop fires.
func (s *Server) waitConns(stop <-chan time.Time) bool {
	for {
		s.mu.Lock()
		n, changed := len(s.conns), s.changed
		s.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-changed:
		case <-stop:
			return false
		}
	}
}

// slogWriter sends go-smtp's own error log (accept errors, panics) to slog.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn("smtp: " + strings.TrimSpace(string(p)))
	return len(p), nil
}
