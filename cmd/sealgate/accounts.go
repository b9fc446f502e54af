package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"sealgate/internal/adminapi"
)

func accountsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "accounts",
		Short: "List and delete recipients' accounts (works while sealgate serve runs)",
		Long: `Lists and deletes recipients' accounts. While sealgate serve runs, the
command goes through its admin listener (admin.listen, authenticated by
storage.dir/admin.secret, so run it as the service's user); otherwise it
opens the database directly.`,
	}
	cmd.AddCommand(accountsListCmd(), accountsDeleteCmd())
	return addAdminFlags(cmd)
}

func accountsListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List every account with its last activity and when retention deletes it",
		Example: `  sealgate accounts list --config /etc/sealgate/sealgate.yaml
  sealgate accounts list --config sealgate.yaml --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdmin(cmd, func(a adminapi.Admin) error {
				list, err := a.Accounts(cmd.Context())
				if err != nil {
					return err
				}
				if jsonFlag(cmd) {
					return printJSON(cmd.OutOrStdout(), list)
				}
				printAccounts(cmd.OutOrStdout(), list)
				return nil
			})
		},
	}
}

func accountsDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete EMAIL",
		Short: "Delete an account at once, with its keys, sessions and pending sign-in code",
		Long: `Deletes an account at once, with its keys, sessions and pending sign-in
code. Level 3–4 files wrapped only for the account's key can then no longer be
opened by anyone. Download records stay with their transfers until these
expire.`,
		Example: `  sealgate accounts delete citizen@example.net --config /etc/sealgate/sealgate.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, func(a adminapi.Admin) error {
				if err := a.DeleteAccount(cmd.Context(), args[0]); err != nil {
					return err
				}
				if jsonFlag(cmd) {
					return printJSON(cmd.OutOrStdout(), map[string]string{"deleted": args[0]})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted the account %s with its keys, sessions and sign-in code.\n", clean(args[0]))
				return nil
			})
		},
	}
}

func printAccounts(w io.Writer, list []adminapi.Account) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No accounts.")
		return
	}
	tw := newTable(w)
	row(tw, "EMAIL", "LAST ACTIVE", "DELETION DUE", "WARNED", "KEY", "LANG", "CREATED")
	for _, a := range list {
		lang := a.Lang
		if lang == "" {
			lang = "-"
		}
		row(tw, a.Email, fmtTime(a.LastActive), fmtTime(a.DeleteOn), fmtTime(a.WarnedAt), yesNo(a.HasKey), lang, fmtTime(a.CreatedAt))
	}
	tw.Flush()
}
