package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"sealgate/internal/postfixtest"
	"sealgate/internal/smtptest"
)

// browserSite is a running sealgate with every branding option set, the
// capture server as its next hop, and the transfers the browser tests visit.
type browserSite struct {
	*gate
	config   string           // the configuration file, for admin commands
	internet *smtptest.Server // the next hop: every mail sealgate sends

	// L1 and L2 are transfer page URLs at levels 1 and 2; L1Code is the
	// access code printed beside L1's link.
	L1, L2, L1Code string
	// Revoked is the page of a withdrawn transfer ("" when `sealgate
	// transfers revoke` is not there).
	Revoked string
	// Status is the sender's status page of L1, from the clerk's sender
	// copy; StatusRevoked that of the withdrawn transfer.
	Status, StatusRevoked string
}

const (
	brandName   = "Landratsamt Musterstadt"
	imprintURL  = "https://www.example.org/impressum"
	privacyURL  = "https://www.example.org/datenschutz"
	brandLogo   = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 40" width="120" height="40"><rect width="120" height="40" rx="4" fill="#0b4f8a"/><text x="60" y="26" font-family="sans-serif" font-size="16" fill="#fff" text-anchor="middle">LRA MS</text></svg>`
	transferURL = `/t/[A-Za-z0-9_-]{43}`
)

var accessCodeRE = regexp.MustCompile(`\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b`)

// startBrowserSite starts sealgate as startGate does, but with the logo,
// imprint and privacy links that every page must show, then mails it a
// [secure1] and a [secure2] message and a third [secure1] one that it
// withdraws.
func startBrowserSite(t *testing.T) *browserSite {
	t.Helper()
	internet := smtptest.Start(t, smtptest.Options{})
	g, config := startBrandedGate(t, internet.Addr)
	s := &browserSite{gate: g, config: config, internet: internet}

	pdf := []byte("%PDF-1.4\n% sealgate browser test\n" + strings.Repeat("0123456789abcdef", 4096))
	send(t, s.SMTPAddr, rawMail{Subject: "[secure1] Ihr Bescheid", Body: "Guten Tag,\r\nanbei Ihr Bescheid.",
		Attachment: pdf, AttachmentName: "Bescheid 2026.pdf", MessageID: "b1@sealgate.test"})
	send(t, s.SMTPAddr, rawMail{Subject: "[secure2] Ihr Gutachten", Body: "Guten Tag,\r\nanbei das Gutachten.",
		Attachment: pdf, AttachmentName: "Gutachten.pdf", MessageID: "b2@sealgate.test"})
	send(t, s.SMTPAddr, rawMail{Subject: "[secure1] Versehentlich", Body: "Bitte ignorieren.",
		Attachment: pdf, AttachmentName: "Falscher Empfaenger.pdf", MessageID: "b3@sealgate.test"})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Each mail leaves rewritten for the citizen, and the clerk gets a
	// sender copy with the link to its status page (notify.sender_summary).
	all, err := internet.WaitMessages(ctx, 6)
	if err != nil {
		t.Fatalf("the three mails and their sender copies did not reach the next hop: %v\n%s", err, s.Logs())
	}
	var msgs, copies []smtptest.Message
	for _, m := range all {
		switch {
		case slices.Contains(m.To, citizen):
			msgs = append(msgs, m)
		case slices.Contains(m.To, clerk):
			copies = append(copies, m)
		}
	}
	link := regexp.MustCompile(regexp.QuoteMeta(s.WebURL) + transferURL)
	linkIn := func(subject string) (url, text string) {
		text = parse(t, bySubject(t, msgs, subject).Data).text()
		if url = link.FindString(text); url == "" {
			t.Fatalf("no transfer link in the %q mail:\n%s", subject, text)
		}
		return url, text
	}
	var text string
	s.L1, text = linkIn("Ihr Bescheid")
	if s.L1Code = accessCodeRE.FindString(text); s.L1Code == "" {
		t.Fatalf("no access code in the level-1 mail:\n%s", text)
	}
	s.L2, _ = linkIn("Ihr Gutachten")
	withdrawn, _ := linkIn("Versehentlich")
	status := regexp.MustCompile(regexp.QuoteMeta(s.WebURL) + `/s/[A-Za-z0-9_-]{43}`)
	// The copy names the transfer by reference and lists its files.
	statusOf := func(file string) string {
		for _, m := range copies {
			if text := parse(t, m.Data).text(); strings.Contains(text, file) {
				if u := status.FindString(text); u != "" {
					return u
				}
				t.Fatalf("no status link in the sender copy listing %q:\n%s", file, text)
			}
		}
		t.Fatalf("no sender copy lists %q", file)
		return ""
	}
	s.Status = statusOf("Bescheid 2026.pdf")
	withdrawnStatus := statusOf("Falscher Empfaenger.pdf")
	if s.revoke(t, "Falscher Empfaenger.pdf") {
		s.Revoked, s.StatusRevoked = withdrawn, withdrawnStatus
	}
	return s
}

// startBrandedGate is startGate with branding.logo_file, imprint_url and
// privacy_url set. It returns the gate and its configuration file.
func startBrandedGate(t *testing.T, nextHop string) (*gate, string) {
	t.Helper()
	bin := sealgateBinary(t)
	dir := t.TempDir()
	g := &gate{
		SMTPAddr:  postfixtest.FreeAddr(t),
		WebURL:    "http://" + postfixtest.FreeAddr(t),
		AdminAddr: postfixtest.FreeAddr(t),
		logs:      &syncBuffer{},
		exited:    make(chan struct{}),
	}
	logo := filepath.Join(dir, "logo.svg")
	if err := os.WriteFile(logo, []byte(brandLogo), 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "smtp:\n  listen: %q\n  hostname: gate.sealgate.test\n  next_hop: %q\n  next_hop_tls: none\n", g.SMTPAddr, nextHop)
	fmt.Fprintf(&b, "web:\n  listen: %q\n  public_url: %q\n", strings.TrimPrefix(g.WebURL, "http://"), g.WebURL)
	fmt.Fprintf(&b, "storage:\n  dir: %q\n", filepath.Join(dir, "storage"))
	fmt.Fprintf(&b, "admin:\n  listen: %q\n", g.AdminAddr)
	fmt.Fprintf(&b, "branding:\n  name: %q\n  logo_file: %q\n  imprint_url: %q\n  privacy_url: %q\n", brandName, logo, imprintURL, privacyURL)
	fmt.Fprintf(&b, "notify:\n  from: %q\n  sender_summary: true\n", brandName+" <noreply@gate.sealgate.test>")
	fmt.Fprintf(&b, "log:\n  format: json\n  level: info\n")
	config := filepath.Join(dir, "sealgate.yaml")
	if err := os.WriteFile(config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	g.cmd = exec.Command(bin, "serve", "--config", config)
	g.cmd.Stdout, g.cmd.Stderr = g.logs, g.logs
	g.cmd.Env = cleanEnv()
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start sealgate: %v", err)
	}
	go func() {
		g.waitErr = g.cmd.Wait()
		close(g.exited)
	}()
	t.Cleanup(func() {
		g.Stop(t)
		if t.Failed() {
			t.Logf("sealgate log:\n%s", g.Logs())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := g.waitReady(ctx); err != nil {
		t.Fatalf("sealgate did not start: %v\nlog:\n%s", err, g.Logs())
	}
	return g, config
}

func send(t *testing.T, addr string, m rawMail) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = 30*time.Second, 30*time.Second
	if err := c.SendMail(clerk, []string{citizen}, bytes.NewReader(m.bytes())); err != nil {
		t.Fatalf("send %q: %v", m.Subject, err)
	}
}

// revoke withdraws the transfer holding a file named file with `sealgate
// transfers revoke`, and reports false (logging why) when this sealgate has
// no such command yet.
func (s *browserSite) revoke(t *testing.T, file string) bool {
	t.Helper()
	out, err := s.admin(t, "transfers", "list", "--json")
	if err != nil {
		t.Logf("no 410 page: `sealgate transfers list` is not available (%v): %s", err, out)
		return false
	}
	var list []struct {
		ID    string `json:"id"`
		Files []struct {
			Name string `json:"name"`
		} `json:"files"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("transfers list --json: %v\n%s", err, out)
	}
	for _, tr := range list {
		for _, f := range tr.Files {
			if f.Name == file {
				if out, err := s.admin(t, "transfers", "revoke", tr.ID); err != nil {
					t.Fatalf("transfers revoke: %v\n%s", err, out)
				}
				return true
			}
		}
	}
	t.Fatalf("no transfer with the file %q in:\n%s", file, out)
	return false
}

// admin runs a sealgate admin command against the running server.
func (s *browserSite) admin(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sealgateBinary(t), append(args, "--config", s.config)...)
	cmd.Env = cleanEnv()
	return cmd.CombinedOutput()
}
