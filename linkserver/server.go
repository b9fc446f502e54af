package linkserver

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"sealgate/catalog"
)

// Timeouts of the HTTP server. Downloads renew the write deadline per chunk
// (see download.go), so a large file is bounded by the client's progress,
// not by WriteTimeout.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
	shutdownGrace     = 30 * time.Second
)

// Server is the link server. Create it with New; it is safe for concurrent use.
type Server struct {
	cfg     Config
	vault   Vault
	text    *catalog.Catalog
	log     *slog.Logger
	mux     *http.ServeMux
	pages   *pages
	csrf    csrfGuard
	clients clientIP
	guesses *guard // failed token, access-code and sign-in-code look-ups
	forms   *guard // access-code form submissions, right or wrong
	mails   *guard // sign-in codes requested, per client
	// addresses limits sign-in codes per recipient address (normalised).
	addresses *limiter[string]
	// keyChanges limits key uploads per client, and keyAccounts per
	// account: each change rewrites (compacts) the whole database.
	keyChanges  *guard
	keyAccounts *limiter[string]
	scripts     scripts
	notifier    Notifier
	obs         Observer
	uploads     *uploadSetup // nil without WithUploads
	tls         *tls.Config
	certs       *certReloader // nil without web.tls_cert
	logo        *logo
	theme       *theme
	now         func() time.Time
	// timeouts of the HTTP server; tests shorten them.
	timeouts struct{ readHeader, read, write, idle time.Duration }
	// downloadDone, when set (by tests), is called as each download
	// handler ends, saying whether the download was counted.
	downloadDone func(counted bool)
}

// New builds the server. v is normally a *vault.Vault; a nil cat loads the
// embedded catalog, a nil log discards. Options add what not every caller
// has, such as WithNotifier.
func New(cfg Config, v Vault, cat *catalog.Catalog, log *slog.Logger, opts ...Option) (*Server, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("linkserver: %w", errors.Join(errs...))
	}
	if v == nil {
		return nil, errors.New("linkserver: no vault")
	}
	if cat == nil {
		var err error
		if cat, err = catalog.New(); err != nil {
			return nil, fmt.Errorf("linkserver: %w", err)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.BrandingName == "" {
		cfg.BrandingName = "sealgate"
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	pg, err := loadPages()
	if err != nil {
		return nil, fmt.Errorf("linkserver: %w", err)
	}
	sc, err := loadScripts()
	if err != nil {
		return nil, fmt.Errorf("linkserver: %w", err)
	}
	lg, err := loadLogo(cfg.LogoFile)
	if err != nil {
		return nil, fmt.Errorf("linkserver: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("linkserver: csrf key: %w", err)
	}
	s := &Server{
		cfg:         cfg,
		vault:       v,
		text:        cat,
		log:         log,
		mux:         http.NewServeMux(),
		pages:       pg,
		csrf:        csrfGuard{key: key, secure: cfg.secure()},
		clients:     clientIP{trusted: cfg.TrustedProxies},
		guesses:     newGuard(guessLimits),
		forms:       newGuard(formLimits),
		mails:       newGuard(mailLimits),
		addresses:   newLimiter[string](addressLimit),
		keyChanges:  newGuard(keyLimits),
		keyAccounts: newLimiter[string](keyAccountLimit),
		scripts:     sc,
		logo:        lg,
		theme:       newTheme(cfg.PrimaryColor),
		obs:         noObserver{},
		now:         time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	s.timeouts.readHeader, s.timeouts.read = readHeaderTimeout, readTimeout
	s.timeouts.write, s.timeouts.idle = writeTimeout, idleTimeout
	if cfg.TLSCert != "" {
		certs, err := newCertReloader(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("linkserver: %w", err)
		}
		s.certs = certs
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}
	}
	if err := s.setupUploads(); err != nil {
		return nil, fmt.Errorf("linkserver: %w", err)
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /{$}", s.home)
	s.mux.Handle("POST /{$}", s.csrf.protect(s, http.HandlerFunc(s.accessCode)))
	s.mux.HandleFunc("GET /t/{token}", s.transferPage)
	s.mux.HandleFunc("GET /t/{token}/f/{fileID}", s.download)
	s.mux.HandleFunc("GET /api/v1/transfers/{token}", s.manifest)
	s.mux.HandleFunc("GET /login", s.signInPage)
	s.mux.Handle("POST /login", s.csrf.protect(s, http.HandlerFunc(s.loginStartForm)))
	s.mux.Handle("POST /login/verify", s.csrf.protect(s, http.HandlerFunc(s.loginVerifyForm)))
	s.mux.Handle("POST /login/code", s.csrf.protect(s, http.HandlerFunc(s.codePage)))
	s.mux.Handle("POST /logout", s.csrf.protect(s, http.HandlerFunc(s.logoutForm)))
	s.mux.Handle("POST /api/v1/login/start", s.jsonPost(s.loginStartAPI))
	s.mux.Handle("POST /api/v1/login/verify", s.jsonPost(s.loginVerifyAPI))
	s.mux.Handle("POST /api/v1/logout", s.jsonPost(s.logoutAPI))
	s.mux.HandleFunc("GET /s/{token}", s.statusPage)
	s.mux.Handle("POST /s/{token}/revoke", s.csrf.protect(s, http.HandlerFunc(s.revoke)))
	s.mux.HandleFunc("GET /.well-known/sealgate/receipt-key.asc", s.receiptKey)
	s.mux.HandleFunc("GET /key", s.keyPage)
	s.mux.Handle("POST /key", s.keyForm())
	s.mux.HandleFunc("GET /api/v1/me/key", s.getKeyAPI)
	s.mux.Handle("PUT /api/v1/me/key", s.jsonBody(maxKeyBody, s.putKeyAPI))
	s.mux.HandleFunc("GET /assets/js/{name}", s.serveScript)
	s.mux.HandleFunc("GET /assets/vendor/{name}", s.serveScript)
	s.mux.HandleFunc("GET /static/{name}", s.asset)
	s.mux.HandleFunc("GET /static/logo", s.serveLogo)
	s.uploadRoutes()
	s.mux.HandleFunc("/api/", s.apiNotFound)
	s.mux.HandleFunc("/", s.notFound)
}

// Handle mounts an extra handler, such as the development outbox at
// /dev/outbox/, behind the same middleware. Call it before serving.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler returns the complete handler: security headers, the request's
// session look-up, access log, cross-origin protection and the routes.
func (s *Server) Handler() http.Handler {
	var h http.Handler = s.mux
	cop := http.NewCrossOriginProtection()
	// Behind a proxy that rewrites Host, the Origin check would otherwise
	// refuse the server's own forms in browsers without Sec-Fetch-Site.
	_ = cop.AddTrustedOrigin(s.cfg.PublicURL) // validated in New
	cop.SetDenyHandler(http.HandlerFunc(s.crossOrigin))
	h = cop.Handler(h)
	h = s.accessLog(h)
	h = s.visitorScope(h)
	return s.securityHeaders(h)
}

// crossOrigin answers a request that http.CrossOriginProtection refused:
// in JSON under /api/, else with the page of an expired form, in the
// visitor's language (the default answer is an English line of text).
func (s *Server) crossOrigin(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		s.writeJSON(w, r, http.StatusForbidden, map[string]string{"error": apiErrors["cross_origin"]})
		return
	}
	s.errorPage(w, r, http.StatusForbidden, "page.error.csrf")
}

// Serve serves HTTP (HTTPS when a certificate is configured) on ln until ctx
// ends, then stops accepting and lets requests in flight finish for up to
// 30 seconds before closing them. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.timeouts.readHeader,
		ReadTimeout:       s.timeouts.read,
		WriteTimeout:      s.timeouts.write,
		IdleTimeout:       s.timeouts.idle,
		MaxHeaderBytes:    maxHeaderBytes,
		TLSConfig:         s.tls,
		// TLS handshake noise from scanners belongs at debug level.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	done := make(chan error, 1)
	go func() {
		if s.tls != nil {
			done <- srv.ServeTLS(ln, "", "")
		} else {
			done <- srv.Serve(ln)
		}
	}()
	s.log.Info("web server listening", "addr", ln.Addr().String(), "tls", s.tls != nil)
	select {
	case err := <-done:
		return fmt.Errorf("linkserver: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		s.log.Warn("web server: requests still running at shutdown, closing them", "err", err)
		err = srv.Close()
	}
	if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("linkserver: serve: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("linkserver: shutdown: %w", err)
	}
	return nil
}
