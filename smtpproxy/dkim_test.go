package smtpproxy

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"sealgate/internal/smtptest"
	"sealgate/smtpproxy/dkimsign"
	"sealgate/smtpproxy/dkimsign/dkimtest"
)

const (
	dkimDomain   = "example.org"
	dkimSelector = "gate2026"
)

var (
	dkimKeyOnce sync.Once
	dkimKeyPEM  []byte
	dkimKeyTXT  string
	dkimKeyErr  error
)

// dkimConfig writes this binary's RSA key (generated once: it takes a
// moment) to a file of the test's own and returns smtp.dkim for it, with the
// DNS records a verifier needs.
func dkimConfig(t *testing.T) (dkimsign.Config, map[string]string) {
	t.Helper()
	dkimKeyOnce.Do(func() { dkimKeyPEM, dkimKeyTXT, dkimKeyErr = dkimsign.GenerateKey(0) })
	if dkimKeyErr != nil {
		t.Fatalf("DKIM key: %v", dkimKeyErr)
	}
	file := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(file, dkimKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := dkimsign.Config{Domain: dkimDomain, Selector: dkimSelector, PrivateKeyFile: file}
	return cfg, map[string]string{dkimsign.RecordName(dkimSelector, dkimDomain): dkimKeyTXT}
}

// verifyGo checks every DKIM signature of msg with go-msgauth and returns
// their domains.
func verifyGo(msg []byte, records map[string]string) ([]string, error) {
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if txt, ok := records[name]; ok {
				return []string{txt}, nil
			}
			return nil, fmt.Errorf("no TXT record for %s", name)
		},
	})
	if err != nil {
		return nil, err
	}
	var domains []string
	for _, v := range vs {
		if v.Err != nil {
			return domains, fmt.Errorf("signature by %s: %w", v.Domain, v.Err)
		}
		domains = append(domains, v.Domain)
	}
	return domains, nil
}

// oldSignature is a DKIM-Signature the clerk's own server could have added
// before sealgate: the rewrite breaks it.
const oldSignature = "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;\r\n" +
	"\ts=old; h=from:to:subject; bh=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=;\r\n" +
	"\tb=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n"

// TestDKIMSignsRewrittenMail: with smtp.dkim set, a rewritten message loses
// the signature the rewrite broke and carries exactly one new one, below
// our trace header, that go-msgauth and dkimpy (a verifier sealgate did not
// write) accept. Level-0 mail keeps its own signature and gets none.
func TestDKIMSignsRewrittenMail(t *testing.T) {
	t.Parallel()
	cfg, records := dkimConfig(t)
	h := start(t, func(c *Config, _ *smtptest.Options) { c.DKIM = cfg })

	msg := &taggedMessage{subject: "[secure1] Ihr Bescheid", files: threeFiles(64 << 10)}
	tagged := io.MultiReader(strings.NewReader(oldSignature), msg.reader())
	if err := h.send("clerk@example.org", []string{"citizen@example.net"}, tagged); err != nil {
		t.Fatal(err)
	}
	untagged := oldSignature + simpleMessage("Termin")
	if err := h.send("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(untagged)); err != nil {
		t.Fatal(err)
	}
	msgs := h.messages(2)

	out := msgs[0].Data
	body := stripTrace(t, out)
	if !bytes.HasPrefix(body, []byte("DKIM-Signature: ")) {
		t.Fatalf("the signature is not right below the trace header: %.200q", body)
	}
	if n := bytes.Count(out, []byte("DKIM-Signature:")); n != 1 {
		t.Errorf("%d DKIM-Signature fields, want 1 (the old one removed)", n)
	}
	if bytes.Contains(out, []byte("s=old")) {
		t.Error("the signature the rewrite broke is still there")
	}
	domains, err := verifyGo(out, records)
	if err != nil || len(domains) != 1 || domains[0] != dkimDomain {
		t.Errorf("go-msgauth: domains %v, %v", domains, err)
	}
	if err := dkimtest.Verify(t, out, records); err != nil {
		t.Errorf("dkimpy rejects the rewritten mail: %v", err)
	}
	if rw := parseRewritten(t, body); rw.token == "" || rw.subject != "Ihr Bescheid" {
		t.Errorf("rewritten mail: subject %q, token %q", rw.subject, rw.token)
	}

	if got := stripTrace(t, msgs[1].Data); string(got) != untagged {
		t.Errorf("level-0 mail changed: %.300q", got)
	}
}

// TestDKIMSignFailure: a rewritten message that cannot be signed (it has
// no From) is held with 451; nothing reaches the next hop, nothing stays
// stored, and the failure is counted.
func TestDKIMSignFailure(t *testing.T) {
	t.Parallel()
	cfg, _ := dkimConfig(t)
	obs := newFakeObserver()
	h := start(t, func(c *Config, _ *smtptest.Options) {
		c.DKIM = cfg
		c.Observer = obs
	})
	msg := &taggedMessage{subject: "[secure1] Bescheid", files: threeFiles(10 << 10)}
	data := bytes.Replace(msg.bytes(), []byte("From: Clerk <clerk@example.org>\r\n"), nil, 1)
	err := h.send("clerk@example.org", []string{"citizen@example.net"}, bytes.NewReader(data))
	wantReply(t, err, 451, smtp.EnhancedCode{4, 3, 0})
	if n := len(h.hop.Messages()); n != 0 {
		t.Errorf("next hop accepted %d message(s)", n)
	}
	h.assertNothingStored()
	h.stop()
	if got := obs.failures(); len(got) != 1 || got[0] != FailureDKIM {
		t.Errorf("failures counted: %v, want [%s]", got, FailureDKIM)
	}
	if got := obs.done(); len(got) != 1 || got[0].outcome != OutcomeTempfail || got[0].level != 1 {
		t.Errorf("observed %+v, want one tempfail at level 1", got)
	}
}
