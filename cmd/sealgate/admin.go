package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"sealgate/internal/adminapi"
	"sealgate/internal/metrics"
	"sealgate/vault"
)

// adminServer is the admin listener's HTTP server. Its write timeout is
// long because a purge answers only after compacting the database.
func adminServer(cfg adminapi.Config) *http.Server {
	return &http.Server{Handler: adminapi.NewHandler(cfg), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Minute, IdleTimeout: time.Minute}
}

// adminConfig wires the admin listener of a serving process: admin
// commands on its vault, with purges going through the sweeper so that
// they never overlap a scheduled one and are counted in the metrics.
func adminConfig(v *vault.Vault, sw *sweeper, secret string, m *metrics.Metrics, nextHop string, log *slog.Logger) adminapi.Config {
	return adminapi.Config{
		Admin:   &adminapi.Local{Store: sweptStore{Vault: v, sw: sw}},
		Secret:  secret,
		Metrics: m.Handler(),
		Storage: v,
		NextHop: nextHop,
		Log:     log.With("component", "admin"),
	}
}

// sweptStore is the vault with its Purge replaced by the sweeper's.
type sweptStore struct {
	*vault.Vault
	sw *sweeper
}

func (s sweptStore) Purge(ctx context.Context, asOf time.Time, dryRun bool) (vault.PurgeReport, error) {
	return s.sw.purge(ctx, asOf, dryRun)
}

// addAdminFlags gives an admin command (and its subcommands) the flags
// they share.
func addAdminFlags(cmd *cobra.Command) *cobra.Command {
	cmd.PersistentFlags().Bool("json", false, "print JSON instead of a table")
	cmd.PersistentFlags().Bool("dev", false, "use the embedded development configuration, as `sealgate serve --dev` does")
	return cmd
}

// adminSession is where an admin command goes: the running server's admin
// listener, or the database opened directly.
type adminSession struct {
	adminapi.Admin
	close func() error
}

// openAdmin reads the configuration and connects to the admin listener of
// a running `sealgate serve`; if nothing listens there, it opens the
// database itself.
func openAdmin(cmd *cobra.Command) (*adminSession, error) {
	s, err := adminSettings(cmd)
	if err != nil {
		return nil, err
	}
	return connectAdmin(cmd.Context(), s)
}

func adminSettings(cmd *cobra.Command) (settings, error) {
	path, _ := cmd.Flags().GetString("config")
	dev, _ := cmd.Flags().GetBool("dev")
	if path == "" && !dev {
		return settings{}, errors.New("--config FILE is required (the file sealgate serve runs with), or --dev")
	}
	if path != "" && dev {
		return settings{}, errors.New("use either --config or --dev, not both")
	}
	return loadSettings(path)
}

func connectAdmin(ctx context.Context, s settings) (*adminSession, error) {
	addr := dialAddr(s.AdminListen)
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		conn.Close()
		secret, err := adminapi.ReadSecret(filepath.Join(s.Vault.Dir, adminapi.SecretFile))
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("sealgate serve answers at %s, but %w: run this command as the service's user (e.g. sudo -u sealgate sealgate ...)", addr, err)
		}
		if err != nil {
			return nil, fmt.Errorf("sealgate serve answers at %s, but %w", addr, err)
		}
		return &adminSession{Admin: adminapi.NewClient(addr, secret), close: func() error { return nil }}, nil
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return nil, fmt.Errorf("admin listener at %s (admin.listen): %w", addr, err)
	}
	// Nothing listens: sealgate serve is not running, so the database is
	// ours. vault.Open would make a new one; an admin command must not.
	if _, err := os.Stat(filepath.Join(s.Vault.Dir, "sealgate.db")); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("nothing answers at admin.listen %s and there is no database in storage.dir %s: is this the configuration sealgate serve runs with?", addr, s.Vault.Dir)
	}
	if err := checkOwner(s.Vault.Dir); err != nil {
		return nil, err
	}
	v, err := vault.Open(ctx, s.Vault)
	if err != nil {
		if strings.Contains(err.Error(), "in use") {
			return nil, fmt.Errorf("sealgate serve is running but its admin listener at %s did not answer (does this configuration's admin.listen match the running one's?): %w", addr, err)
		}
		return nil, fmt.Errorf("open storage: %w", err)
	}
	return &adminSession{Admin: &adminapi.Local{Store: v}, close: v.Close}, nil
}

// dialAddr turns a listen address into one to connect to: a listener on
// every interface is reached on loopback.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// withAdmin runs fn with an admin session and closes it afterwards.
func withAdmin(cmd *cobra.Command, fn func(adminapi.Admin) error) error {
	sess, err := openAdmin(cmd)
	if err != nil {
		return err
	}
	err = fn(sess)
	if cerr := sess.close(); err == nil && cerr != nil {
		err = fmt.Errorf("close storage: %w", cerr)
	}
	return err
}

func jsonFlag(cmd *cobra.Command) bool {
	j, _ := cmd.Flags().GetBool("json")
	return j
}
