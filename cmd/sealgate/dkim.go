package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"sealgate/smtpproxy/dkimsign"
)

func dkimCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dkim",
		Short: "DKIM keys for the mail sealgate rewrites and writes",
	}
	cmd.AddCommand(dkimKeygenCmd())
	return cmd
}

func dkimKeygenCmd() *cobra.Command {
	var domain, selector, out string
	var bits int
	var force bool
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Write a new DKIM private key and print the DNS TXT record to publish",
		Long: `Writes a new RSA private key (PEM, mode 0600) and prints the DNS record that
receivers use to verify sealgate's signatures. Publish the record, then set
smtp.dkim (and notify.dkim) to the same domain, selector and key file.`,
		Example: `  sealgate dkim keygen --domain example.org --selector sealgate2026 --out /etc/sealgate/dkim-sealgate2026.pem`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if domain == "" || selector == "" || out == "" {
				return errors.New("--domain, --selector and --out are required")
			}
			pemKey, txt, err := dkimsign.GenerateKey(bits)
			if err != nil {
				return fmt.Errorf("generate key: %w", err)
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(out, flags, 0o600)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s exists; use --force to replace it (receivers must then see the new DNS record first)", out)
			}
			if err != nil {
				return fmt.Errorf("write key: %w", err)
			}
			if _, err := f.Write(pemKey); err != nil {
				f.Close()
				return fmt.Errorf("write key: %w", err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("write key: %w", err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Private key written to %s (mode 0600).\n\n", out)
			fmt.Fprintf(w, "Publish this DNS TXT record:\n  name:  %s\n  value: %s\n\n", dkimsign.RecordName(selector, domain), txt)
			fmt.Fprintf(w, "As a zone file line:\n%s\n\n", dkimsign.ZoneFileLine(selector, domain, txt))
			fmt.Fprintf(w, "Then configure:\n  smtp:\n    dkim:\n      domain: %s\n      selector: %s\n      private_key_file: %s\n", domain, selector, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&domain, "domain", "", "signing domain (d=), usually the domain of notify.from and of your clerks")
	cmd.Flags().StringVar(&selector, "selector", "", "selector (s=), e.g. sealgate2026")
	cmd.Flags().StringVar(&out, "out", "", "where to write the private key")
	cmd.Flags().IntVar(&bits, "bits", dkimsign.DefaultKeyBits, "RSA key size")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing key file")
	return cmd
}
