package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"sealgate/configs"
	"sealgate/policy"
	"sealgate/smtpproxy/dkimsign"
)

// fileConfig mirrors the YAML file (SPEC section 9). It holds raw values;
// settings() turns them into each package's Config and collects every
// problem at once.
type fileConfig struct {
	SMTP struct {
		Listen          string   `mapstructure:"listen"`
		Hostname        string   `mapstructure:"hostname"`
		NextHop         string   `mapstructure:"next_hop"`
		NextHopTLS      string   `mapstructure:"next_hop_tls"`
		NextHopInsecure bool     `mapstructure:"next_hop_tls_insecure"`
		DeliverHop      string   `mapstructure:"deliver_hop"`
		MaxMessageSize  string   `mapstructure:"max_message_size"`
		InternalDomains []string `mapstructure:"internal_domains"`
		AllowedClients  []string `mapstructure:"allowed_clients"`
		TLSCert         string   `mapstructure:"tls_cert"`
		TLSKey          string   `mapstructure:"tls_key"`
		ReadTimeout     string   `mapstructure:"read_timeout"`
		NextHopTimeout  string   `mapstructure:"next_hop_timeout"`
		DKIM            dkimKeys `mapstructure:"dkim"`
	} `mapstructure:"smtp"`
	Notify struct {
		From           string   `mapstructure:"from"`
		SenderSummary  bool     `mapstructure:"sender_summary"`
		Receipts       bool     `mapstructure:"receipts"`
		NeutralSubject bool     `mapstructure:"neutral_subject"`
		DKIM           dkimKeys `mapstructure:"dkim"`
	} `mapstructure:"notify"`
	Web struct {
		Listen         string   `mapstructure:"listen"`
		PublicURL      string   `mapstructure:"public_url"`
		TLSCert        string   `mapstructure:"tls_cert"`
		TLSKey         string   `mapstructure:"tls_key"`
		TrustedProxies []string `mapstructure:"trusted_proxies"`
	} `mapstructure:"web"`
	Storage struct {
		Dir string `mapstructure:"dir"`
	} `mapstructure:"storage"`
	Retention struct {
		TransferDays        int    `mapstructure:"transfer_days"`
		AccountInactiveDays int    `mapstructure:"account_inactive_days"`
		SweepInterval       string `mapstructure:"sweep_interval"`
	} `mapstructure:"retention"`
	Policy struct {
		DefaultLevel int `mapstructure:"default_level"`
		Rules        []struct {
			RecipientDomains []string `mapstructure:"recipient_domains"`
			SenderAddresses  []string `mapstructure:"sender_addresses"`
			MinLevel         int      `mapstructure:"min_level"`
			AttachmentsOver  string   `mapstructure:"attachments_over"`
		} `mapstructure:"rules"`
	} `mapstructure:"policy"`
	Uploads struct {
		MaxSize       string `mapstructure:"max_size"`
		MaxFiles      int    `mapstructure:"max_files"`
		AttachMaxSize string `mapstructure:"attach_max_size"`
		Clamd         string `mapstructure:"clamd"`
	} `mapstructure:"uploads"`
	Branding struct {
		Name         string `mapstructure:"name"`
		LogoFile     string `mapstructure:"logo_file"`
		ImprintURL   string `mapstructure:"imprint_url"`
		PrivacyURL   string `mapstructure:"privacy_url"`
		PrimaryColor string `mapstructure:"primary_color"`
	} `mapstructure:"branding"`
	Admin struct {
		Listen string `mapstructure:"listen"`
	} `mapstructure:"admin"`
	Log struct {
		Format string `mapstructure:"format"`
		Level  string `mapstructure:"level"`
	} `mapstructure:"log"`
	Dev struct {
		Outbox bool `mapstructure:"outbox"`
	} `mapstructure:"dev"`
}

// dkimKeys is smtp.dkim and notify.dkim.
type dkimKeys struct {
	Domain         string `mapstructure:"domain"`
	Selector       string `mapstructure:"selector"`
	PrivateKeyFile string `mapstructure:"private_key_file"`
}

func (k dkimKeys) config() dkimsign.Config {
	return dkimsign.Config{Domain: k.Domain, Selector: k.Selector, PrivateKeyFile: k.PrivateKeyFile}
}

// defaults are the values of every key not in the file. They are set on
// viper so that every key can also come from a SEALGATE_... variable.
var defaults = map[string]any{
	"smtp.listen":                     "127.0.0.1:10025",
	"smtp.hostname":                   "",
	"smtp.next_hop":                   "127.0.0.1:10026",
	"smtp.next_hop_tls":               "none",
	"smtp.next_hop_tls_insecure":      false,
	"smtp.deliver_hop":                "",
	"smtp.max_message_size":           "1GiB",
	"smtp.internal_domains":           []string{},
	"smtp.allowed_clients":            []string{"127.0.0.0/8", "::1/128"},
	"smtp.tls_cert":                   "",
	"smtp.tls_key":                    "",
	"smtp.read_timeout":               "5m",
	"smtp.next_hop_timeout":           "5m",
	"smtp.dkim.domain":                "",
	"smtp.dkim.selector":              "",
	"smtp.dkim.private_key_file":      "",
	"notify.from":                     "",
	"notify.sender_summary":           true,
	"notify.receipts":                 true,
	"notify.neutral_subject":          false,
	"notify.dkim.domain":              "",
	"notify.dkim.selector":            "",
	"notify.dkim.private_key_file":    "",
	"web.listen":                      "127.0.0.1:8080",
	"web.public_url":                  "",
	"web.tls_cert":                    "",
	"web.tls_key":                     "",
	"web.trusted_proxies":             []string{},
	"storage.dir":                     "/var/lib/sealgate",
	"retention.transfer_days":         60,
	"retention.account_inactive_days": 90,
	"retention.sweep_interval":        "1h",
	"policy.default_level":            0,
	"policy.rules":                    []any{},
	"uploads.max_size":                "2GiB",
	"uploads.max_files":               20,
	"uploads.attach_max_size":         "10MiB",
	"uploads.clamd":                   "",
	"branding.name":                   "sealgate",
	"branding.logo_file":              "",
	"branding.imprint_url":            "",
	"branding.privacy_url":            "",
	"branding.primary_color":          "",
	"admin.listen":                    "127.0.0.1:9465",
	"log.format":                      "json",
	"log.level":                       "info",
	"dev.outbox":                      false,
}

// loadFile reads the YAML file (or, with path "", the embedded development
// configuration) into a viper instance that also honours SEALGATE_* variables.
func loadFile(path string) (*viper.Viper, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	for k, val := range defaults {
		v.SetDefault(k, val)
	}
	v.SetEnvPrefix("SEALGATE")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if path == "" {
		if err := v.ReadConfig(strings.NewReader(string(configs.Dev))); err != nil {
			return nil, fmt.Errorf("embedded development config: %w", err)
		}
		return v, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	if err := v.ReadConfig(f); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return v, nil
}

// decode turns viper's view (file + environment) into fileConfig. Lists given
// in the environment are comma- or space-separated.
func decode(v *viper.Viper) (fileConfig, error) {
	var fc fileConfig
	hook := mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToSliceHookFunc(","),
	)
	if err := v.Unmarshal(&fc, viper.DecodeHook(hook)); err != nil {
		return fc, fmt.Errorf("config: %w", err)
	}
	for _, list := range []*[]string{&fc.SMTP.InternalDomains, &fc.SMTP.AllowedClients, &fc.Web.TrustedProxies} {
		*list = splitList(*list)
	}
	return fc, nil
}

func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		out = append(out, strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })...)
	}
	return out
}

// problems collects configuration errors, each naming its key.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// addNew appends the errors whose key (the text before the first colon) has
// no problem reported yet.
func (p *problems) addNew(errs []error) {
	seen := map[string]bool{}
	for _, e := range *p {
		key, _, _ := strings.Cut(e.Error(), ":")
		seen[key] = true
	}
	for _, e := range errs {
		if key, _, _ := strings.Cut(e.Error(), ":"); !seen[key] {
			*p = append(*p, e)
		}
	}
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.Join(p...)
}

// parseSize reads "1GiB", "25MB", "512k" or a plain number of bytes.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000}, {"tb", 1000 * 1000 * 1000 * 1000},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1},
	}
	lower := strings.ToLower(s)
	for _, u := range units {
		if num, ok := strings.CutSuffix(lower, u.suffix); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("%q is not a size such as 25MiB", s)
			}
			return int64(n * float64(u.mult)), nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size such as 25MiB", s)
	}
	return n, nil
}

func parsePrefixes(p *problems, key string, list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		if pfx, err := netip.ParsePrefix(s); err == nil {
			out = append(out, pfx.Masked())
			continue
		}
		if addr, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
			continue
		}
		p.add(key, "%q is neither an address nor a CIDR prefix", s)
	}
	return out
}

func checkHostPort(p *problems, key, addr string, required bool) {
	if addr == "" {
		if required {
			p.add(key, "is required (host:port)")
		}
		return
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		p.add(key, "%q is not host:port", addr)
	}
}

func checkDuration(p *problems, key, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		p.add(key, "%q is not a duration such as 5m", s)
	}
	return d
}

// checkReadable reports a file that is named but cannot be read.
func checkReadable(p *problems, key, path string) {
	if path == "" {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		p.add(key, "cannot read %s: %v", path, errors.Unwrap(err))
		return
	}
	f.Close()
}

func checkPair(p *problems, certKey, cert, keyKey, key string) {
	before := len(*p)
	if (cert == "") != (key == "") {
		p.add(certKey, "%s and %s must be set together", certKey, keyKey)
	}
	checkReadable(p, certKey, cert)
	checkReadable(p, keyKey, key)
	if cert == "" || key == "" || len(*p) > before {
		return
	}
	// Load the pair as the server will, so that a key that does not
	// belong to the certificate fails here and not at start.
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		p.add(certKey, "%s and %s do not load as a pair: %v", certKey, keyKey, err)
	}
}

func checkPublicURL(p *problems, raw string, dev bool) {
	if raw == "" {
		p.add("web.public_url", "is required: the address recipients open, e.g. https://secure.example.org")
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" {
		p.add("web.public_url", "%q is not an absolute http(s) URL without query", raw)
		return
	}
	if u.Scheme == "http" && !dev {
		host := u.Hostname()
		if ip, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !ip.IsLoopback()) {
			p.add("web.public_url", "must use https outside development (links carry secrets)")
		}
	}
}

func checkStorageDir(p *problems, dir string) {
	if dir == "" {
		p.add("storage.dir", "is required")
		return
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		p.add("storage.dir", "%v", err)
		return
	}
	if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
		p.add("storage.dir", "%s is not a directory", abs)
	}
}

func policyConfig(p *problems, fc fileConfig) policy.Config {
	cfg := policy.Config{DefaultLevel: fc.Policy.DefaultLevel}
	for i, r := range fc.Policy.Rules {
		rule := policy.Rule{RecipientDomains: r.RecipientDomains, SenderAddresses: r.SenderAddresses, MinLevel: r.MinLevel}
		if r.AttachmentsOver != "" {
			n, err := parseSize(r.AttachmentsOver)
			if err != nil {
				p.add(fmt.Sprintf("policy.rules[%d].attachments_over", i), "%v", err)
			}
			rule.AttachmentsOver = n
		}
		cfg.Rules = append(cfg.Rules, rule)
	}
	*p = append(*p, cfg.Validate()...)
	return cfg
}
