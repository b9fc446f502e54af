package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"sealgate/internal/adminapi"
	"sealgate/vault"
)

func transfersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "transfers",
		Short: "List, show and revoke transfers (works while sealgate serve runs)",
		Long: `Lists, shows and revokes transfers. While sealgate serve runs, the command
goes through its admin listener (admin.listen, authenticated by
storage.dir/admin.secret, so run it as the service's user); otherwise it
opens the database directly.`,
	}
	cmd.AddCommand(transfersListCmd(), transfersShowCmd(), transfersRevokeCmd())
	return addAdminFlags(cmd)
}

func transfersListCmd() *cobra.Command {
	var f vault.TransferFilter
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List transfers, oldest first",
		Example: `  sealgate transfers list --config /etc/sealgate/sealgate.yaml
  sealgate transfers list --config sealgate.yaml --sender clerk@example.org --state committed
  sealgate transfers list --config sealgate.yaml --recipient citizen@example.net --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdmin(cmd, func(a adminapi.Admin) error {
				list, err := a.Transfers(cmd.Context(), f)
				if err != nil {
					return err
				}
				if jsonFlag(cmd) {
					return printJSON(cmd.OutOrStdout(), list)
				}
				printTransferList(cmd.OutOrStdout(), list)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&f.Sender, "sender", "", "only transfers sent by this address")
	cmd.Flags().StringVar(&f.Recipient, "recipient", "", "only transfers to this address")
	cmd.Flags().StringVar(&f.State, "state", "", "only transfers in this state: draft, committed, revoked, expired or locked")
	return cmd
}

func transfersShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one transfer: recipients, files, the keys that can open each file, downloads",
		Example: `  sealgate transfers show SG-7K3M-XQ2P --config /etc/sealgate/sealgate.yaml
  sealgate transfers show sg-7k3m-xq2p --config sealgate.yaml --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, func(a adminapi.Admin) error {
				t, err := a.Transfer(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if jsonFlag(cmd) {
					return printJSON(cmd.OutOrStdout(), t)
				}
				printTransfer(cmd.OutOrStdout(), t)
				return nil
			})
		},
	}
}

func transfersRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "revoke ID",
		Short:   "Withdraw a transfer at once: its files and keys are deleted, its links say it was withdrawn",
		Example: `  sealgate transfers revoke SG-7K3M-XQ2P --config /etc/sealgate/sealgate.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, func(a adminapi.Admin) error {
				t, err := a.Revoke(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if jsonFlag(cmd) {
					return printJSON(cmd.OutOrStdout(), t)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Revoked %s at %s: %s withdrawn (encrypted data and keys deleted); its links now say it was withdrawn.\n",
					t.ID, fmtTime(t.RevokedAt), plural(len(t.Files), "file", "files"))
				fmt.Fprintf(cmd.OutOrStdout(), "Its record (file names, sizes, downloads) stays for the sender's status page until %s.\n", fmtTime(t.ExpiresAt))
				return nil
			})
		},
	}
}

func printTransferList(w io.Writer, list []adminapi.Transfer) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No transfers.")
		return
	}
	tw := newTable(w)
	row(tw, "ID", "STATE", "LEVEL", "SENDER", "RECIPIENTS", "FILES", "SIZE", "CREATED", "EXPIRES")
	for _, t := range list {
		var size int64
		for _, f := range t.Files {
			size += f.Size
		}
		rcpts := "-"
		if len(t.Recipients) > 0 {
			rcpts = t.Recipients[0]
			if len(t.Recipients) > 1 {
				rcpts += fmt.Sprintf(" (+%d)", len(t.Recipients)-1)
			}
		}
		row(tw, t.ID, t.State, fmt.Sprint(t.Level), t.Sender, rcpts, fmt.Sprint(len(t.Files)), fmtSize(size),
			fmtTime(t.CreatedAt), fmtTime(t.ExpiresAt))
	}
	tw.Flush()
}

func printTransfer(w io.Writer, t adminapi.Transfer) {
	tw := newTable(w)
	row(tw, "Transfer:", t.ID)
	row(tw, "State:", t.State)
	row(tw, "Level:", fmt.Sprint(t.Level))
	row(tw, "Sender:", t.Sender)
	row(tw, "Recipients:", strings.Join(t.Recipients, ", "))
	row(tw, "Created:", fmtTime(t.CreatedAt))
	row(tw, "Expires:", fmtTime(t.ExpiresAt))
	if !t.RevokedAt.IsZero() {
		row(tw, "Revoked:", fmtTime(t.RevokedAt))
	}
	if !t.LockedAt.IsZero() {
		row(tw, "Locked:", fmtTime(t.LockedAt)+fmt.Sprintf(" (%d wrong codes)", t.FailedCodes))
	}
	if !t.Committed {
		row(tw, "Committed:", "no (the mail may have gone out before a crash; served until it expires)")
	}
	row(tw, "Upload link:", yesNo(t.Upload))
	tw.Flush()

	fmt.Fprintln(w)
	tw = newTable(w)
	row(tw, "FILE", "SIZE", "SHA-256", "CAN BE OPENED WITH")
	names := map[string]string{}
	for _, f := range t.Files {
		names[f.ID] = f.Name
		keys := []string{"nothing (withdrawn)"}
		if len(f.Keys) > 0 {
			keys = keys[:0]
			for _, k := range f.Keys {
				keys = append(keys, keyLabel(k))
			}
		}
		sum := f.SHA256
		if len(sum) > 16 {
			sum = sum[:16] + "…"
		}
		row(tw, f.Name, fmtSize(f.Size), sum, keys[0])
		for _, k := range keys[1:] {
			row(tw, "", "", "", k)
		}
	}
	tw.Flush()

	fmt.Fprintln(w)
	if len(t.Downloads) == 0 {
		fmt.Fprintln(w, "No downloads.")
		return
	}
	tw = newTable(w)
	row(tw, "DOWNLOADED", "BY", "FIRST", "LAST", "COUNT")
	for _, d := range t.Downloads {
		by := d.Email
		if by == "" {
			by = "(without sign-in)"
		}
		row(tw, names[d.FileID], by, fmtTime(d.First), fmtTime(d.Last), fmt.Sprint(d.Count))
	}
	tw.Flush()
}

func keyLabel(k adminapi.Key) string {
	switch {
	case k.Kind == adminapi.KeyGateway && k.Current:
		return "gateway key " + k.ID + " (current)"
	case k.Kind == adminapi.KeyGateway:
		return "gateway key " + k.ID + " (retired)"
	default:
		return "recipient key " + k.ID
	}
}
