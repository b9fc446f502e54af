package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"sealgate/internal/adminapi"
	"sealgate/vault"
)

// TestAdminCommandsSameWithAndWithoutServer runs every admin command against
// a stopped installation (the database opened directly) and against the same
// data served by a running sealgate (through the admin listener), and
// compares what the admin sees.
func TestAdminCommandsSameWithAndWithoutServer(t *testing.T) {
	t.Parallel()
	a := newAdminEnv(t)
	var idA, idB, idC string
	var receipt string
	var receiptKey []byte
	a.withVault(func(ctx context.Context, v *vault.Vault) {
		idA, _ = addTransfer(t, ctx, v, vault.NewTransfer{Level: 1, Sender: "clerk@example.org",
			Recipients: []string{"citizen@example.net", "other@example.net"}}, "bescheid.pdf", []byte("Bescheid"))
		idB, _ = addTransfer(t, ctx, v, vault.NewTransfer{Level: 2, Sender: "second@example.org",
			Recipients: []string{"firm@example.com"}, Upload: true}, "vertrag.pdf", []byte("Vertrag"))
		idC, _ = addTransfer(t, ctx, v, vault.NewTransfer{Level: 1, Sender: "clerk@example.org",
			Recipients: []string{"citizen@example.net"}}, "anlage.txt", []byte("Anlage"))
		info, err := v.TransferByID(ctx, idA)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.RecordDownload(ctx, idA, info.Files[0].ID, "citizen@example.net", time.Time{}); err != nil {
			t.Fatal(err)
		}
		for _, e := range []string{"citizen@example.net", "firm@example.com"} {
			if _, err := v.TouchAccount(ctx, e, "de"); err != nil {
				t.Fatal(err)
			}
		}
		receipt, err = v.SignReceipt(ctx, "Datei: bescheid.pdf\nEmpfänger: citizen@example.net\n")
		if err != nil {
			t.Fatal(err)
		}
		receiptKey = v.ReceiptPublicKey()
	})
	receiptFile := filepath.Join(t.TempDir(), "receipt.asc")
	if err := os.WriteFile(receiptFile, []byte(receipt), 0o600); err != nil {
		t.Fatal(err)
	}
	forged := filepath.Join(t.TempDir(), "forged.asc")
	if err := os.WriteFile(forged, []byte(strings.Replace(receipt, "bescheid.pdf", "bescheit.pdf", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	// With an exported key, no configuration and no database are needed.
	keyFile := filepath.Join(t.TempDir(), "receipt-key.asc")
	if err := os.WriteFile(keyFile, receiptKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "receipts", "verify", receiptFile, "--key", keyFile); err != nil || !strings.Contains(out, "Valid:") {
		t.Errorf("receipts verify --key: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "receipts", "verify", forged, "--key", keyFile); err == nil {
		t.Error("receipts verify --key accepted an altered receipt")
	}

	// b is a copy of a's data for the commands that change something:
	// each runs once directly (on b) and once through the server (on a).
	b := newAdminEnv(t)
	copyDir(t, a.dir, b.dir)

	asOf := time.Now().AddDate(0, 0, 61).UTC().Format(time.RFC3339)
	readOnly := [][]string{
		{"transfers", "list"},
		{"transfers", "list", "--json"},
		{"transfers", "list", "--sender", "CLERK@example.org"},
		{"transfers", "list", "--recipient", "firm@example.com", "--json"},
		{"transfers", "list", "--state", "committed"},
		{"transfers", "list", "--state", "sideways"},
		{"transfers", "show", idA},
		{"transfers", "show", strings.ToLower(idB), "--json"},
		{"transfers", "show", "SG-NONE-NONE"},
		{"accounts", "list"},
		{"accounts", "list", "--json"},
		{"purge", "--dry-run", "--as-of", "2020-01-01"},
		{"purge", "--dry-run", "--as-of", asOf},
		{"purge", "--dry-run", "--as-of", asOf, "--json"},
		{"receipts", "verify", receiptFile},
		{"receipts", "verify", receiptFile, "--json"},
		{"receipts", "verify", forged},
		{"accounts", "delete", "nobody@example.net"},
		{"transfers", "revoke", "SG-NONE-NONE"},
	}
	type result struct{ out, err string }
	runAll := func(e *adminEnv) []result {
		var rs []result
		for _, args := range readOnly {
			out, err := e.cli(args...)
			r := result{out: out}
			if err != nil {
				r.err = err.Error()
			}
			rs = append(rs, r)
		}
		return rs
	}
	stopped := runAll(a)
	a.start()
	running := runAll(a)
	for i, args := range readOnly {
		if stopped[i] != running[i] {
			t.Errorf("sealgate %s differs:\nstopped: %q\n%s\nrunning: %q\n%s", strings.Join(args, " "),
				stopped[i].err, stopped[i].out, running[i].err, running[i].out)
		}
	}
	// The answers are the right ones, not merely the same.
	checks := []struct {
		i             int
		want, notWant string
		wantErr       string
	}{
		{i: 0, want: idA},
		{i: 2, want: idC, notWant: idB},
		{i: 3, want: `"upload": true`, notWant: idA},
		{i: 5, wantErr: `state "sideways"`},
		{i: 6, want: "gateway key "},
		{i: 6, want: "citizen@example.net"},
		{i: 8, wantErr: "no transfer SG-NONE-NONE"},
		{i: 9, want: "firm@example.com"},
		{i: 11, want: "Would delete 0 transfers"},
		{i: 12, want: idA},
		{i: 14, want: "Empfänger: citizen@example.net"},
		{i: 15, want: `"valid": true`},
		{i: 16, wantErr: "does NOT verify"},
		{i: 17, wantErr: "no account nobody@example.net"},
	}
	for _, c := range checks {
		r := stopped[c.i]
		if c.want != "" && !strings.Contains(r.out, c.want) {
			t.Errorf("sealgate %s: output lacks %q:\n%s", strings.Join(readOnly[c.i], " "), c.want, r.out)
		}
		if c.notWant != "" && strings.Contains(r.out, c.notWant) {
			t.Errorf("sealgate %s: output has %q:\n%s", strings.Join(readOnly[c.i], " "), c.notWant, r.out)
		}
		if !strings.Contains(r.err, c.wantErr) || (c.wantErr == "" && r.err != "") {
			t.Errorf("sealgate %s: error %q, want %q", strings.Join(readOnly[c.i], " "), r.err, c.wantErr)
		}
	}

	// Commands that change something: once through a's server, once
	// directly on b (a copy of the same data, so the same references).
	// Times and new key IDs differ between the two runs; the rest must not.
	norm := regexp.MustCompile(`\d{4}-\d{2}-\d{2}[ T][0-9:.]+(Z| [A-Z]+|[+-]\d\d:\d\d)|[0-9a-f]{40,64}`)
	mutations := [][]string{
		{"transfers", "revoke", idB},
		{"transfers", "show", idB, "--json"},
		{"accounts", "delete", "Firm@example.com"},
		{"accounts", "list", "--json"},
		{"keys", "rotate"},
		{"transfers", "show", idA},
		{"purge", "--as-of", asOf},
		{"transfers", "list"},
	}
	for _, args := range mutations {
		viaServer, err1 := a.cli(args...)
		direct, err2 := b.cli(args...)
		if err1 != nil || err2 != nil {
			t.Fatalf("sealgate %s: running %v, stopped %v", strings.Join(args, " "), err1, err2)
		}
		if norm.ReplaceAllString(viaServer, "X") != norm.ReplaceAllString(direct, "X") {
			t.Errorf("sealgate %s differs:\nrunning:\n%s\nstopped:\n%s", strings.Join(args, " "), viaServer, direct)
		}
		switch args[1] {
		case "revoke":
			if !strings.Contains(direct, "Revoked "+idB) {
				t.Errorf("revoke printed %q", direct)
			}
		case "delete":
			if !strings.Contains(direct, "Deleted the account Firm@example.com") {
				t.Errorf("delete printed %q", direct)
			}
		case "rotate":
			if !strings.Contains(direct, "New gateway key ") {
				t.Errorf("rotate printed %q", direct)
			}
		case "list":
			if args[0] == "accounts" && strings.Contains(direct, "firm@example.com") {
				t.Errorf("deleted account still listed:\n%s", direct)
			}
			if args[0] == "transfers" && direct != "No transfers.\n" {
				t.Errorf("transfers after purge:\n%s", direct)
			}
		}
	}
	if out, err := b.cli("transfers", "show", idB, "--json"); err == nil {
		t.Errorf("transfer %s still shown after purge:\n%s", idB, out)
	}
}

// TestAdminListenerRefusesWithoutSecret sends admin requests without the
// secret and with a wrong one to a running server: 401, nothing done. A
// command whose secret file does not match says so.
func TestAdminListenerRefusesWithoutSecret(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	var id string
	e.withVault(func(ctx context.Context, v *vault.Vault) {
		id, _ = addTransfer(t, ctx, v, vault.NewTransfer{Level: 1, Sender: "clerk@example.org", Recipients: []string{"x@example.net"}}, "a.pdf", []byte("a"))
	})
	e.start()
	secretPath := filepath.Join(e.dir, adminapi.SecretFile)
	fi, err := os.Stat(secretPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin secret: %v, mode %v; want a 0600 file made by serve", err, fi.Mode().Perm())
	}
	for _, auth := range []string{"", "Bearer nope"} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+e.adminAddr+"/admin/v1/transfers/"+id+"/revoke", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("revoke with Authorization %q: %d, want 401", auth, resp.StatusCode)
		}
	}
	if out := e.mustCLI("transfers", "list"); !strings.Contains(out, "committed") {
		t.Errorf("transfer changed by refused requests:\n%s", out)
	}
	// Health and metrics need no secret.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		httpGet(t, "http://"+e.adminAddr+p)
	}
	// A secret file that does not match the running server's.
	if err := os.WriteFile(secretPath, []byte("d3Jvbmcgd3Jvbmcgd3Jvbmcgd3Jvbmc=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli("transfers", "revoke", id); err == nil || !strings.Contains(err.Error(), "wrong admin secret") {
		t.Errorf("revoke with a wrong secret file: %v", err)
	}
	if err := os.Chmod(secretPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli("transfers", "list"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("readable secret file: %v", err)
	}
}

// TestAdminCommandWhenServerHoldsTheDatabase: a server whose admin
// listener is elsewhere than the command's configuration says gets a clear
// message, not a hang or a second database.
func TestAdminCommandWhenServerHoldsTheDatabase(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	e.start()
	other := &adminEnv{t: t, dir: e.dir, cfg: filepath.Join(t.TempDir(), "other.yaml"), smtp: e.smtp, web: e.web, adminAddr: freePort(t)}
	other.writeConfig()
	_, err := other.cli("transfers", "list")
	if err == nil || !strings.Contains(err.Error(), "sealgate serve is running but its admin listener at "+other.adminAddr+" did not answer") {
		t.Errorf("got %v", err)
	}

	// No server and no database: no new database is made.
	empty := newAdminEnv(t)
	_, err = empty.cli("accounts", "list")
	if err == nil || !strings.Contains(err.Error(), "no database") {
		t.Errorf("without a database: %v", err)
	}
	if entries, _ := os.ReadDir(empty.dir); len(entries) != 0 {
		t.Errorf("an admin command created %v in an empty storage.dir", entries)
	}
}

func TestEveryCommandHasAnExample(t *testing.T) {
	t.Parallel()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && c.Example == "" && c.Name() != "help" && c.Name() != "completion" {
			t.Errorf("sealgate %s has no example in --help", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(rootCmd())
	out, err := runCLI(t, "purge", "--help")
	if err != nil || !strings.Contains(out, "Examples:") || !strings.Contains(out, "--as-of") {
		t.Errorf("purge --help: %v\n%s", err, out)
	}
}

func TestParseAsOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Time{
		"2026-09-01T08:00:00+02:00": time.Date(2026, 9, 1, 6, 0, 0, 0, time.UTC),
		"2026-09-01T08:00:00.5Z":    time.Date(2026, 9, 1, 8, 0, 0, 5e8, time.UTC),
		"2026-09-01":                time.Date(2026, 9, 1, 0, 0, 0, 0, time.Local),
	} {
		got, err := parseAsOf(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseAsOf(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "tomorrow", "2026-13-01", "01.09.2026"} {
		if _, err := parseAsOf(bad); err == nil {
			t.Errorf("parseAsOf(%q) accepted", bad)
		}
	}
}

func TestDialAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"127.0.0.1:9465": "127.0.0.1:9465",
		":9465":          "127.0.0.1:9465",
		"0.0.0.0:9465":   "127.0.0.1:9465",
		"[::]:9465":      "[::1]:9465",
		"[::1]:9465":     "[::1]:9465",
		"admin.lan:9465": "admin.lan:9465",
	} {
		if got := dialAddr(in); got != want {
			t.Errorf("dialAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCleanKeepsControlCharactersOut(t *testing.T) {
	t.Parallel()
	if got := clean("a\x1b[31mb\tc\u0085d"); got != "a?[31mb?c?d" {
		t.Errorf("clean: %q", got)
	}
}
