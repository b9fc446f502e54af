package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sealgate/internal/clamd"
	"sealgate/internal/uploadproto"
	"sealgate/linkserver"
	"sealgate/notify"
	"sealgate/smtpproxy"
	"sealgate/vault"
)

// settings is the validated configuration, split into each package's own
// Config.
type settings struct {
	SMTP        smtpproxy.Config
	Web         linkserver.Config
	Vault       vault.Config
	AdminListen string
	// SweepInterval is retention.sweep_interval: how often serve applies
	// retention (warnings, then purge).
	SweepInterval time.Duration
	LogFormat     string
	LogLevel      slog.Level
	DevOutbox     bool
	// Uploads is uploads.* for the resumable upload handlers; UploadMail
	// for the mails that deliver uploads to clerks; Clamd the virus
	// scanner's address (empty: no scan).
	Uploads    uploadproto.Config
	UploadMail notify.UploadConfig
	Clamd      string
	// Notify is what sealgate's own mails need (notify.*).
	Notify notify.Config
}

// buildSettings validates fc and returns every problem at once.
func buildSettings(fc fileConfig) (settings, error) {
	var p problems
	var s settings
	dev := fc.Dev.Outbox

	checkHostPort(&p, "smtp.listen", fc.SMTP.Listen, true)
	if !dev {
		checkHostPort(&p, "smtp.next_hop", fc.SMTP.NextHop, true)
	}
	if fc.SMTP.DeliverHop != "" {
		checkHostPort(&p, "smtp.deliver_hop", fc.SMTP.DeliverHop, false)
	}
	switch fc.SMTP.NextHopTLS {
	case "none", "starttls", "tls":
	default:
		p.add("smtp.next_hop_tls", "%q: use none, starttls or tls", fc.SMTP.NextHopTLS)
	}
	maxSize, err := parseSize(fc.SMTP.MaxMessageSize)
	if err != nil {
		p.add("smtp.max_message_size", "%v", err)
	} else if maxSize < 1<<10 {
		p.add("smtp.max_message_size", "%d bytes is too small for any mail", maxSize)
	}
	for _, d := range fc.SMTP.InternalDomains {
		if strings.Contains(d, "@") || strings.TrimSpace(d) == "" {
			p.add("smtp.internal_domains", "%q is not a domain", d)
		}
	}
	allowed := parsePrefixes(&p, "smtp.allowed_clients", fc.SMTP.AllowedClients)
	if len(fc.SMTP.AllowedClients) == 0 {
		p.add("smtp.allowed_clients", "must list at least one client network (sealgate is never an open relay)")
	}
	for _, pfx := range allowed {
		if pfx.Bits() == 0 {
			p.add("smtp.allowed_clients", "%s would allow every address on the internet: sealgate must not be an open relay", pfx)
		}
	}
	checkPair(&p, "smtp.tls_cert", fc.SMTP.TLSCert, "smtp.tls_key", fc.SMTP.TLSKey)
	readTimeout := checkDuration(&p, "smtp.read_timeout", fc.SMTP.ReadTimeout)
	hopTimeout := checkDuration(&p, "smtp.next_hop_timeout", fc.SMTP.NextHopTimeout)

	checkHostPort(&p, "web.listen", fc.Web.Listen, true)
	checkPublicURL(&p, fc.Web.PublicURL, dev)
	checkPair(&p, "web.tls_cert", fc.Web.TLSCert, "web.tls_key", fc.Web.TLSKey)
	proxies := parsePrefixes(&p, "web.trusted_proxies", fc.Web.TrustedProxies)

	checkStorageDir(&p, fc.Storage.Dir)
	if fc.Retention.TransferDays < 1 || fc.Retention.TransferDays > 3650 {
		p.add("retention.transfer_days", "%d: use 1 to 3650 days", fc.Retention.TransferDays)
	}
	if fc.Retention.AccountInactiveDays < 8 || fc.Retention.AccountInactiveDays > 3650 {
		p.add("retention.account_inactive_days", "%d: use 8 to 3650 days (the warning goes out a week before)", fc.Retention.AccountInactiveDays)
	}
	sweepInterval := checkDuration(&p, "retention.sweep_interval", fc.Retention.SweepInterval)
	pol := policyConfig(&p, fc)
	maxUpload, err := parseSize(fc.Uploads.MaxSize)
	if err != nil {
		p.add("uploads.max_size", "%v", err)
	}
	if fc.Uploads.MaxFiles < 0 {
		p.add("uploads.max_files", "must not be negative (0: no limit)")
	}
	attachMax, err := parseSize(fc.Uploads.AttachMaxSize)
	if err != nil {
		p.add("uploads.attach_max_size", "%v", err)
	}
	if fc.Uploads.Clamd != "" {
		if _, err := clamd.New(fc.Uploads.Clamd, 0); err != nil {
			p.add("uploads.clamd", "%v", err)
		}
	}
	if fc.SMTP.DKIM != (dkimKeys{}) {
		p = append(p, fc.SMTP.DKIM.config().Check("smtp.dkim")...)
	}
	if fc.Notify.DKIM != (dkimKeys{}) {
		p = append(p, fc.Notify.DKIM.config().Check("notify.dkim")...)
	}

	checkHostPort(&p, "admin.listen", fc.Admin.Listen, true)
	switch fc.Log.Format {
	case "json", "text":
	default:
		p.add("log.format", "%q: use json or text", fc.Log.Format)
	}
	if err := s.LogLevel.UnmarshalText([]byte(fc.Log.Level)); err != nil {
		p.add("log.level", "%q: use debug, info, warn or error", fc.Log.Level)
	}
	if fc.Branding.Name == "" {
		p.add("branding.name", "must not be empty: recipients see it on every page")
	}
	hostname := fc.SMTP.Hostname
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	dir, _ := filepath.Abs(fc.Storage.Dir)
	publicURL := strings.TrimSuffix(fc.Web.PublicURL, "/")
	s.SMTP = smtpproxy.Config{
		Listen:                    fc.SMTP.Listen,
		Hostname:                  hostname,
		NextHop:                   fc.SMTP.NextHop,
		NextHopTLS:                fc.SMTP.NextHopTLS,
		NextHopInsecureSkipVerify: fc.SMTP.NextHopInsecure,
		MaxMessageSize:            maxSize,
		InternalDomains:           lower(fc.SMTP.InternalDomains),
		AllowedClients:            allowed,
		TLSCert:                   fc.SMTP.TLSCert,
		TLSKey:                    fc.SMTP.TLSKey,
		PublicURL:                 publicURL,
		OrgName:                   fc.Branding.Name,
		ReadTimeout:               readTimeout,
		WriteTimeout:              readTimeout,
		NextHopTimeout:            hopTimeout,
		Policy:                    pol,
		DKIM:                      fc.SMTP.DKIM.config(),
	}
	s.Web = linkserver.Config{
		Listen:         fc.Web.Listen,
		PublicURL:      publicURL,
		TLSCert:        fc.Web.TLSCert,
		TLSKey:         fc.Web.TLSKey,
		TrustedProxies: proxies,
		BrandingName:   fc.Branding.Name,
		LogoFile:       fc.Branding.LogoFile,
		ImprintURL:     fc.Branding.ImprintURL,
		PrivacyURL:     fc.Branding.PrivacyURL,
		PrimaryColor:   fc.Branding.PrimaryColor,
		Dev:            dev,
	}
	s.Vault = vault.Config{Dir: dir, TransferDays: fc.Retention.TransferDays, AccountInactiveDays: fc.Retention.AccountInactiveDays}
	s.AdminListen = fc.Admin.Listen
	s.SweepInterval = sweepInterval
	s.LogFormat = fc.Log.Format
	s.DevOutbox = dev
	s.Notify = notify.Config{
		From:          fc.Notify.From,
		PublicURL:     publicURL,
		OrgName:       fc.Branding.Name,
		SenderSummary: fc.Notify.SenderSummary,
		Receipts:      fc.Notify.Receipts,
		DKIM:          fc.Notify.DKIM.config(),
	}
	s.Web.Receipts = fc.Notify.Receipts
	s.Uploads = uploadproto.Config{MaxSize: maxUpload, MaxFiles: fc.Uploads.MaxFiles}
	s.UploadMail = notify.UploadConfig{AttachMaxSize: attachMax}
	s.Clamd = fc.Uploads.Clamd
	p.addNew(s.UploadMail.Validate())
	s.SMTP.DeliverHop = fc.SMTP.DeliverHop
	s.SMTP.NeutralSubject = fc.Notify.NeutralSubject
	// Each package knows its own rules too; report what cmd did not
	// already report for the same key.
	p.addNew(s.SMTP.Validate())
	p.addNew(s.Web.Validate())
	if fc.Notify.From == "" {
		p.add("notify.from", "is required: sign-in codes, receipts and notices come from this address, e.g. \"Landratsamt <noreply@example.org>\"")
	} else {
		p.addNew(s.Notify.Validate())
	}
	if err := p.err(); err != nil {
		return settings{}, err
	}
	return s, nil
}

func lower(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		out = append(out, strings.ToLower(strings.TrimSpace(s)))
	}
	return out
}

// loadSettings reads and validates a configuration file ("" = embedded dev).
func loadSettings(path string) (settings, error) {
	v, err := loadFile(path)
	if err != nil {
		return settings{}, err
	}
	fc, err := decode(v)
	if err != nil {
		return settings{}, err
	}
	s, err := buildSettings(fc)
	if err != nil {
		return settings{}, fmt.Errorf("configuration has problems:\n%w", err)
	}
	return s, nil
}
