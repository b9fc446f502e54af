package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"sealgate/internal/adminapi"
)

func keysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "The gateway's encryption keys",
	}
	cmd.AddCommand(keysRotateCmd())
	return addAdminFlags(cmd)
}

func keysRotateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "Make a new gateway key for new transfers; old keys stay until their transfers are purged",
		Long: `Makes a new gateway key: every file stored from now on is encrypted for it.
The previous key moves to storage.dir/keys/ and keeps opening the files that
were encrypted for it; retention deletes it once the last transfer that needs
it has been purged. ` + "`sealgate transfers show ID`" + ` names the key(s) each file needs.
Works while sealgate serve runs (through its admin listener).`,
		Example: `  sealgate keys rotate --config /etc/sealgate/sealgate.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdmin(cmd, func(a adminapi.Admin) error {
				res, err := a.RotateKey(cmd.Context())
				if err != nil {
					return err
				}
				if jsonFlag(cmd) {
					return printJSON(cmd.OutOrStdout(), res)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "New gateway key %s encrypts every transfer from now on.\n", res.KeyID)
				fmt.Fprintln(cmd.OutOrStdout(), "The previous key stays in storage.dir/keys/ until the last transfer encrypted for it is purged.")
				return nil
			})
		},
	}
}
