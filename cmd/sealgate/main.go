// Command sealgate is the secure mail gateway: an SMTP relay that replaces
// attachments by encrypted links, and the web server behind those links.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sealgate:", err)
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "sealgate",
		Short:         "Secure mail gateway: attachments become encrypted links",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("config", "", "configuration file (YAML); see configs/sealgate.example.yaml")
	root.AddCommand(serveCmd(), checkConfigCmd(), versionCmd(), dkimCmd())
	root.AddCommand(transfersCmd(), accountsCmd(), purgeCmd(), receiptsCmd(), keysCmd())
	return root
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version",
		Example: "  sealgate version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "sealgate", buildVersion())
			return nil
		},
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "devel-" + rev
}

func checkConfigCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check-config",
		Short: "Check a configuration file and report every problem at once",
		Example: `  sealgate check-config --config /etc/sealgate/sealgate.yaml
  SEALGATE_WEB_PUBLIC_URL=https://secure.example.org sealgate check-config --config sealgate.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := cmd.Flags().GetString("config")
			if path == "" {
				return fmt.Errorf("--config FILE is required")
			}
			if _, err := loadSettings(path); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: configuration is valid\n", path)
			return nil
		},
	}
}
