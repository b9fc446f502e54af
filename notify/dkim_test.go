package notify

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"sealgate/smtpproxy/dkimsign"
	"sealgate/smtpproxy/dkimsign/dkimtest"
)

// TestDKIMSigned: with notify.dkim set, a notice carries one signature by
// that domain, which go-msgauth and dkimpy (a verifier sealgate did not
// write) accept with the published key.
func TestDKIMSigned(t *testing.T) {
	t.Parallel()
	dkimtest.Python(t) // fail or skip before the slow key generation
	pemKey, txt, err := dkimsign.GenerateKey(0)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "notify-dkim.pem")
	if err := os.WriteFile(file, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	const domain, selector = "gate.example.org", "notify1"
	records := map[string]string{dkimsign.RecordName(selector, domain): txt}
	n, s, _ := newTest(t, func(c *Config) {
		c.DKIM = dkimsign.Config{Domain: domain, Selector: selector, PrivateKeyFile: file}
	})
	ctx := context.Background()
	if err := n.LockNotice(ctx, testTransfer()); err != nil {
		t.Fatal(err)
	}
	if err := n.Receipt(ctx, testTransfer(), fakeSigned); err != nil {
		t.Fatal(err)
	}
	for _, m := range s.all() {
		if !bytes.HasPrefix(m.data, []byte("DKIM-Signature: ")) {
			t.Fatalf("no signature on top: %.100q", m.data)
		}
		vs, err := dkim.VerifyWithOptions(bytes.NewReader(m.data), &dkim.VerifyOptions{
			LookupTXT: func(name string) ([]string, error) {
				if v, ok := records[name]; ok {
					return []string{v}, nil
				}
				return nil, fmt.Errorf("no TXT record for %s", name)
			},
		})
		if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != domain {
			t.Errorf("go-msgauth: %v %+v", err, vs)
		}
		if err := dkimtest.Verify(t, m.data, records); err != nil {
			t.Errorf("dkimpy rejects the notice: %v", err)
		}
		parseMail(t, m.data)
	}
}
