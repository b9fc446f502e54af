package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sealgate.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := rootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestCheckConfigReportsEveryProblem(t *testing.T) {
	p := writeConfig(t, `
smtp:
  listen: nonsense
  next_hop_tls: maybe
  max_message_size: huge
  allowed_clients: [0.0.0.0/0, not-an-ip]
  tls_cert: /nonexistent/cert.pem
web:
  public_url: http://secure.example.org
storage:
  dir: /tmp
retention:
  transfer_days: 0
policy:
  default_level: 9
  rules:
    - min_level: 7
      attachments_over: lots
log:
  format: xml
`)
	_, err := runCLI(t, "check-config", "--config", p)
	if err == nil {
		t.Fatal("check-config accepted a broken file")
	}
	for _, key := range []string{
		"smtp.listen:", "smtp.next_hop_tls:", "smtp.max_message_size:", "smtp.allowed_clients: 0.0.0.0/0",
		`smtp.allowed_clients: "not-an-ip"`, "smtp.tls_cert:", "web.public_url: must use https",
		"retention.transfer_days:", "policy.default_level:", "policy.rules[0].min_level:",
		"policy.rules[0].attachments_over:", "log.format:",
	} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("report does not name %q:\n%v", key, err)
		}
	}
}

func TestCheckConfigAcceptsTheShippedFiles(t *testing.T) {
	for _, f := range []string{"../../configs/sealgate.example.yaml", "../../configs/dev.yaml"} {
		out, err := runCLI(t, "check-config", "--config", f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
		} else if !strings.Contains(out, "configuration is valid") {
			t.Errorf("%s: output %q", f, out)
		}
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	p := writeConfig(t, "notify:\n  from: noreply@example.org\nweb:\n  public_url: https://from-file.example\nstorage:\n  dir: "+t.TempDir()+"\n")
	t.Setenv("SEALGATE_WEB_PUBLIC_URL", "https://from-env.example/")
	t.Setenv("SEALGATE_SMTP_INTERNAL_DOMAINS", "Example.org, example.net")
	t.Setenv("SEALGATE_SMTP_MAX_MESSAGE_SIZE", "25MiB")
	s, err := loadSettings(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Web.PublicURL != "https://from-env.example" || s.SMTP.PublicURL != "https://from-env.example" {
		t.Errorf("public_url = %q / %q", s.Web.PublicURL, s.SMTP.PublicURL)
	}
	if got := strings.Join(s.SMTP.InternalDomains, ","); got != "example.org,example.net" {
		t.Errorf("internal_domains = %q", got)
	}
	if s.SMTP.MaxMessageSize != 25<<20 {
		t.Errorf("max_message_size = %d", s.SMTP.MaxMessageSize)
	}
}

func TestDefaults(t *testing.T) {
	p := writeConfig(t, "notify:\n  from: noreply@example.org\nweb:\n  public_url: https://secure.example.org\nstorage:\n  dir: "+t.TempDir()+"\n")
	s, err := loadSettings(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.SMTP.MaxMessageSize != 1<<30 || s.Vault.TransferDays != 60 || len(s.SMTP.AllowedClients) != 2 ||
		s.SMTP.NextHopTLS != "none" || s.Web.Listen != "127.0.0.1:8080" || s.AdminListen != "127.0.0.1:9465" {
		t.Errorf("defaults not applied: %+v", s)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "25MB": 25e6, "512k": 512 << 10, "1048576": 1 << 20, "1.5MiB": 3 << 19} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1", "5 parsecs"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

func TestServeNeedsAConfig(t *testing.T) {
	if _, err := runCLI(t, "serve"); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("serve without config: %v", err)
	}
}

func TestDKIMKeygenAndCheckConfig(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "dkim.pem")
	out, err := runCLI(t, "dkim", "keygen", "--domain", "example.org", "--selector", "sg1", "--out", key)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "sg1._domainkey.example.org") || !strings.Contains(out, "v=DKIM1; k=rsa; p=") {
		t.Errorf("keygen output lacks the DNS record:\n%s", out)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, fi.Mode())
	}
	if _, err := runCLI(t, "dkim", "keygen", "--domain", "example.org", "--selector", "sg1", "--out", key); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("overwrote an existing key: %v", err)
	}
	good := writeConfig(t, "notify:\n  from: noreply@example.org\nweb:\n  public_url: https://s.example.org\nstorage:\n  dir: "+dir+"\nsmtp:\n  dkim:\n    domain: example.org\n    selector: sg1\n    private_key_file: "+key+"\n")
	if _, err := runCLI(t, "check-config", "--config", good); err != nil {
		t.Errorf("valid DKIM config refused: %v", err)
	}
	bad := writeConfig(t, "web:\n  public_url: https://s.example.org\nstorage:\n  dir: "+dir+"\nsmtp:\n  dkim:\n    domain: example.org\nnotify:\n  from: noreply@example.org\n  dkim:\n    selector: x\n    private_key_file: /nonexistent.pem\n")
	_, err = runCLI(t, "check-config", "--config", bad)
	if err == nil || !strings.Contains(err.Error(), "smtp.dkim.") || !strings.Contains(err.Error(), "notify.dkim.") {
		t.Errorf("broken DKIM config: %v", err)
	}
}

// TestEveryKeyHasADefault: viper only maps SEALGATE_* variables onto keys it
// knows, so a key without a default could not be set from the environment.
func TestEveryKeyHasADefault(t *testing.T) {
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			key := prefix + f.Tag.Get("mapstructure")
			if f.Type.Kind() == reflect.Struct {
				walk(key+".", f.Type)
				continue
			}
			if _, ok := defaults[key]; !ok {
				t.Errorf("key %s has no default: SEALGATE_%s would be ignored", key, strings.ToUpper(strings.ReplaceAll(key, ".", "_")))
			}
		}
	}
	walk("", reflect.TypeOf(fileConfig{}))
}

func TestBrandingFromEnvironment(t *testing.T) {
	p := writeConfig(t, "notify:\n  from: noreply@example.org\nweb:\n  public_url: https://secure.example.org\nstorage:\n  dir: "+t.TempDir()+"\n")
	t.Setenv("SEALGATE_BRANDING_IMPRINT_URL", "https://example.org/impressum")
	t.Setenv("SEALGATE_NOTIFY_NEUTRAL_SUBJECT", "true")
	s, err := loadSettings(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Web.ImprintURL != "https://example.org/impressum" || !s.SMTP.NeutralSubject {
		t.Errorf("environment ignored: imprint %q, neutral subject %v", s.Web.ImprintURL, s.SMTP.NeutralSubject)
	}
}

func TestCheckConfigLoadsTLSPairs(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := writeConfig(t, "notify:\n  from: noreply@example.org\nweb:\n  public_url: https://s.example.org\n  tls_cert: "+cert+"\n  tls_key: "+key+"\nstorage:\n  dir: "+dir+"\n")
	_, err := runCLI(t, "check-config", "--config", p)
	if err == nil || !strings.Contains(err.Error(), "web.tls_cert: web.tls_cert and web.tls_key do not load as a pair") {
		t.Errorf("a broken pair passed check-config: %v", err)
	}
}
