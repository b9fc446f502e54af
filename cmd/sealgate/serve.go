package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"sealgate/catalog"
	"sealgate/internal/adminapi"
	"sealgate/internal/devoutbox"
	"sealgate/internal/mailqueue"
	"sealgate/internal/metrics"
	"sealgate/linkserver"
	"sealgate/notify"
	"sealgate/smtpproxy"
	"sealgate/vault"
)

func serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the SMTP relay and the link server",
		Example: `  sealgate serve --config /etc/sealgate/sealgate.yaml
  sealgate serve --dev     # embedded development config: SMTP 127.0.0.1:2525, web http://127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := cmd.Flags().GetString("config")
			dev, _ := cmd.Flags().GetBool("dev")
			if path == "" && !dev {
				return fmt.Errorf("--config FILE is required (or --dev to try sealgate with the embedded development config)")
			}
			if path != "" && dev {
				return fmt.Errorf("use either --config or --dev, not both")
			}
			s, err := loadSettings(path)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), s, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().Bool("dev", false, "use the embedded development configuration (configs/dev.yaml)")
	return cmd
}

func newLogger(s settings, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: s.LogLevel}
	if s.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// listeners are opened before anything serves, so that a port in use is
// reported at once and tests can learn the chosen ports.
type listeners struct {
	smtp, web, admin, outbox net.Listener
}

func (l *listeners) close() {
	for _, ln := range []net.Listener{l.smtp, l.web, l.admin, l.outbox} {
		if ln != nil {
			ln.Close()
		}
	}
}

func listen(s settings) (*listeners, error) {
	var l listeners
	var err error
	open := func(addr, what string) net.Listener {
		if err != nil {
			return nil
		}
		var ln net.Listener
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			err = fmt.Errorf("%s: %w", what, err)
		}
		return ln
	}
	l.smtp = open(s.SMTP.Listen, "smtp.listen")
	l.web = open(s.Web.Listen, "web.listen")
	l.admin = open(s.AdminListen, "admin.listen")
	if s.DevOutbox {
		l.outbox = open("127.0.0.1:0", "dev outbox")
	}
	if err != nil {
		l.close()
		return nil, err
	}
	return &l, nil
}

func serve(ctx context.Context, s settings, logOut io.Writer) error {
	log := newLogger(s, logOut)
	lns, err := listen(s)
	if err != nil {
		return err
	}
	defer lns.close()
	return run(ctx, s, lns, log)
}

// run serves on already open listeners until ctx ends, then shuts down in
// order: stop accepting, finish sessions in flight, close storage.
func run(ctx context.Context, s settings, lns *listeners, log *slog.Logger) error {
	if err := checkOwner(s.Vault.Dir); err != nil {
		return err
	}
	if err := os.MkdirAll(s.Vault.Dir, 0o700); err != nil {
		return fmt.Errorf("storage.dir: %w", err)
	}
	v, err := vault.Open(ctx, s.Vault)
	if err != nil {
		return fmt.Errorf("open storage: %w", err)
	}
	defer v.Close()
	secret, err := adminapi.EnsureSecret(filepath.Join(s.Vault.Dir, adminapi.SecretFile))
	if err != nil {
		return err
	}
	obs := metrics.New()
	cat, err := catalog.New()
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}

	g, gctx := errgroup.WithContext(ctx)
	var outbox *devoutbox.Outbox
	if s.DevOutbox {
		outbox = devoutbox.New(log.With("component", "dev-outbox"))
		s.SMTP.NextHop = lns.outbox.Addr().String()
		s.SMTP.NextHopTLS = "none"
		s.SMTP.DeliverHop = ""
		g.Go(func() error { return outbox.Serve(gctx, lns.outbox) })
		log.Warn("development outbox replaces the next hop; never use this in production", "outbox", s.Web.PublicURL+"/dev/outbox/")
	}

	// sealgate's own mail (codes, receipts, notices) leaves through the
	// same kind of next-hop client as relayed mail.
	out, err := smtpproxy.NewOutbound(s.SMTP.Outbound(), log.With("component", "outbound"))
	if err != nil {
		return fmt.Errorf("outbound mail: %w", err)
	}
	defer out.Close()
	mailer, err := notify.New(s.Notify, cat, out, log.With("component", "notify"))
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	// Mail sealgate must not lose (uploads delivered to clerks) waits in an
	// encrypted queue in the vault until the next hop takes it.
	queue, err := mailqueue.New(v, out, mailqueue.Config{IsTemporary: smtpproxy.IsTemporary, Observer: obs}, log.With("component", "mailqueue"))
	if err != nil {
		return fmt.Errorf("mail queue: %w", err)
	}
	uploadMailer, err := mailer.UploadMailer(v, queue, s.UploadMail)
	if err != nil {
		return fmt.Errorf("upload mail: %w", err)
	}
	s.SMTP.SenderCopy = mailer
	s.SMTP.Observer = obs

	relay, err := smtpproxy.New(s.SMTP, v, cat, log.With("component", "smtp"))
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	web, err := linkserver.New(s.Web, v, cat, log.With("component", "web"), linkserver.WithNotifier(mailer), linkserver.WithObserver(obs), linkserver.WithUploads(uploadMailer, s.Uploads, s.Clamd))
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	if outbox != nil {
		web.Handle("/dev/outbox/", outbox.Handler("/dev/outbox"))
	}
	sweep := newSweeper(v, mailer, obs, log.With("component", "retention"), s.SweepInterval)
	admin := adminServer(adminConfig(v, sweep, secret, obs, s.SMTP.NextHop, log))

	g.Go(func() error { return reloadOnHangup(gctx, web, log) })
	g.Go(func() error { return relay.Serve(gctx, lns.smtp) })
	g.Go(func() error { return web.Serve(gctx, lns.web) })
	g.Go(func() error { return serveHTTP(gctx, admin, lns.admin) })
	g.Go(func() error { return sweep.run(gctx) })
	// The queue stops before the deferred out.Close: a closed pool would
	// count as a permanent failure for mail still queued.
	g.Go(func() error {
		if err := queue.Run(gctx); gctx.Err() == nil {
			return err
		}
		return nil
	})
	log.Info("sealgate started", "version", buildVersion(), "smtp", lns.smtp.Addr().String(),
		"web", lns.web.Addr().String(), "public_url", s.Web.PublicURL, "admin", lns.admin.Addr().String())
	err = g.Wait()
	log.Info("sealgate stopped")
	return err
}

func serveHTTP(ctx context.Context, srv *http.Server, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// reloadOnHangup reads the web certificate again on SIGHUP (systemd's
// ExecReload sends it after a renewal). Without this handler SIGHUP would
// end the process.
func reloadOnHangup(ctx context.Context, web *linkserver.Server, log *slog.Logger) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			if !web.HasTLS() {
				log.Info("SIGHUP: nothing to reload (no web.tls_cert configured)")
				continue
			}
			if err := web.ReloadTLS(); err != nil {
				log.Error("reload on SIGHUP failed; serving the previous certificate", "err", err)
				continue
			}
			log.Info("reloaded the web certificate on SIGHUP")
		}
	}
}
