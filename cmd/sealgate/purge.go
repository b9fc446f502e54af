package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"sealgate/internal/adminapi"
)

func purgeCmd() *cobra.Command {
	var dryRun bool
	var asOfText string
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Apply retention now (or as it would run at a given time)",
		Long: `Deletes what retention says must go: transfers retention.transfer_days after
they were sent (files, keys, tokens, codes, download records), accounts idle for
retention.account_inactive_days (keys, sessions), ended sessions, expired
sign-in codes and retired gateway keys no transfer needs any more; then the
database is compacted so that nothing of it stays on disk.

sealgate serve does this by itself every retention.sweep_interval, and sends
the warning mails first (an account a week before deletion, the clerk when a
transfer expires unread). This command only purges: it sends no mail.

--as-of runs retention as it would run at that time (RFC 3339, or a date
YYYY-MM-DD meaning its midnight in local time): a time in the future deletes
what will be due then. --dry-run changes nothing and lists what would go.`,
		Example: `  sealgate purge --config /etc/sealgate/sealgate.yaml --dry-run
  sealgate purge --config sealgate.yaml
  sealgate purge --config sealgate.yaml --as-of 2026-09-01 --dry-run
  sealgate purge --config sealgate.yaml --as-of 2026-09-01T08:00:00+02:00 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := adminapi.PurgeRequest{DryRun: dryRun}
			if asOfText != "" {
				t, err := parseAsOf(asOfText)
				if err != nil {
					return err
				}
				req.AsOf = t
			}
			return withAdmin(cmd, func(a adminapi.Admin) error {
				res, err := a.Purge(cmd.Context(), req)
				if err != nil {
					return err
				}
				if jsonFlag(cmd) {
					return printJSON(cmd.OutOrStdout(), res)
				}
				printPurge(cmd.OutOrStdout(), res)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "change nothing; list what would be deleted")
	cmd.Flags().StringVar(&asOfText, "as-of", "", "apply retention as of this time (RFC 3339 or YYYY-MM-DD) instead of now")
	return addAdminFlags(cmd)
}

// parseAsOf reads an RFC 3339 time or a date (its local midnight).
func parseAsOf(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--as-of %q: use RFC 3339 (2026-09-01T08:00:00+02:00) or a date (2026-09-01)", s)
}

func printPurge(w io.Writer, r adminapi.PurgeResult) {
	verb := "Deleted"
	if r.DryRun {
		verb = "Would delete"
		fmt.Fprintf(w, "Dry run as of %s: nothing was changed.\n", fmtTime(r.AsOf))
	} else {
		fmt.Fprintf(w, "Retention applied as of %s.\n", fmtTime(r.AsOf))
	}
	fmt.Fprintf(w, "%s %s (%s), %s, %s, %s, %s.\n", verb,
		plural(len(r.Transfers), "transfer", "transfers"), plural(r.Files, "file", "files"),
		plural(len(r.Accounts), "account", "accounts"), plural(r.Sessions, "session", "sessions"),
		plural(r.LoginCodes, "sign-in code", "sign-in codes"), plural(len(r.Keys), "retired gateway key", "retired gateway keys"))
	list := func(label string, items []string) {
		if len(items) == 0 {
			return
		}
		cleaned := make([]string, len(items))
		for i, s := range items {
			cleaned[i] = clean(s)
		}
		fmt.Fprintf(w, "  %s: %s\n", label, strings.Join(cleaned, ", "))
	}
	list("transfers", r.Transfers)
	list("accounts", r.Accounts)
	list("retired gateway keys", r.Keys)
	if r.DryRun {
		return
	}
	if r.Orphans > 0 {
		fmt.Fprintf(w, "Swept %s left without a record.\n", plural(r.Orphans, "stored blob", "stored blobs"))
	}
	if r.Compacted {
		fmt.Fprintln(w, "The database was compacted: nothing of what was deleted remains on disk.")
	}
	fmt.Fprintln(w, "No warning mails were sent (sealgate serve's own retention sweep sends them before it purges).")
}
