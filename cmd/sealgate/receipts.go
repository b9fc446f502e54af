package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"sealgate/internal/adminapi"
	"sealgate/vault"
)

// maxReceipt bounds a receipt file: a few lines of text and a signature.
const maxReceipt = 1 << 20

func receiptsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "receipts",
		Short: "Verify download receipts",
	}
	cmd.AddCommand(receiptsVerifyCmd())
	return addAdminFlags(cmd)
}

func receiptsVerifyCmd() *cobra.Command {
	var keyFile string
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check a receipt's signature by the gateway's receipt key and print what it certifies",
		Long: `Checks that a receipt (the clear-signed text a clerk received when a recipient
first downloaded a file) was signed by this gateway's receipt key and not
altered since, and prints the facts it certifies. FILE "-" reads standard input.

The key comes from --key (an exported public key, for example a copy of
/.well-known/sealgate/receipt-key.asc: no configuration or database needed),
otherwise from the running server or the database named by --config.`,
		Example: `  sealgate receipts verify receipt.asc --config /etc/sealgate/sealgate.yaml
  sealgate receipts verify receipt.asc --key receipt-key.asc
  curl -s https://secure.example.org/.well-known/sealgate/receipt-key.asc > key.asc && sealgate receipts verify receipt.asc --key key.asc`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			receipt, err := readLimited(cmd, args[0], maxReceipt)
			if err != nil {
				return fmt.Errorf("receipt: %w", err)
			}
			var key []byte
			if keyFile != "" {
				if key, err = readLimited(cmd, keyFile, maxReceipt); err != nil {
					return fmt.Errorf("--key: %w", err)
				}
			} else {
				err = withAdmin(cmd, func(a adminapi.Admin) error {
					key, err = a.ReceiptKey(cmd.Context())
					return err
				})
				if err != nil {
					return err
				}
			}
			text, err := vault.VerifyReceiptWithKey(key, receipt)
			if err != nil {
				return fmt.Errorf("%s does NOT verify: %w", args[0], err)
			}
			if jsonFlag(cmd) {
				return printJSON(cmd.OutOrStdout(), map[string]any{"valid": true, "text": text})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Valid: signed by the gateway's receipt key and unaltered. It certifies:\n\n%s\n", cleanLines(text))
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "verify with this exported public key (ASCII-armoured) instead of the gateway's database")
	return cmd
}

func readLimited(cmd *cobra.Command, path string, limit int64) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = cmd.InOrStdin()
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %s", path, fmtSize(limit))
	}
	return b, nil
}
