package linkserver

import (
	"fmt"
	"net/netip"
	"net/url"
)

// Config is what the link server needs from the configuration file.
type Config struct {
	// Listen is web.listen, e.g. "127.0.0.1:8080". cmd opens the listener;
	// the server only reports it.
	Listen string
	// PublicURL is web.public_url: the scheme and host recipients open, e.g.
	// "https://secure.example.org". Manifest download URLs are built on it.
	// A path prefix is not supported: pages link from the root.
	PublicURL string
	// TLSCert and TLSKey are web.tls_cert and web.tls_key (PEM files). When
	// both are set the server speaks TLS and sends HSTS. The files are read
	// again when they change, so a renewed certificate needs no restart.
	TLSCert, TLSKey string
	// TrustedProxies is web.trusted_proxies: peers whose X-Forwarded-For is
	// believed when finding the client address for rate limits.
	TrustedProxies []netip.Prefix
	// BrandingName is branding.name, the organisation named on every page.
	// Empty means "sealgate".
	BrandingName string
	// LogoFile is branding.logo_file: a PNG, JPEG, GIF, WebP or SVG file
	// (at most 256 KiB) shown in every page's header. Empty: the name only.
	LogoFile string
	// PrimaryColor is branding.primary_color, e.g. "#0b4f8a": the colour of
	// every page's header, buttons and links. It carries white text, so it
	// must give white a contrast of at least 4.5:1 (WCAG 2.1 AA). Empty:
	// the default dark blue.
	PrimaryColor string
	// ImprintURL and PrivacyURL are branding.imprint_url and
	// branding.privacy_url, linked from every page's footer when set.
	ImprintURL, PrivacyURL string
	// Receipts is notify.receipts: a recipient's first complete download of
	// a file at level 2 or above sends the clerk a signed receipt (through
	// the Notifier given to New).
	Receipts bool
	// Dev relaxes nothing security-related; it only marks the pages as a
	// development instance.
	Dev bool
}

// Validate returns every problem of the configuration at once, each naming
// its key.
func (c Config) Validate() []error {
	var errs []error
	u, err := url.Parse(c.PublicURL)
	switch {
	case c.PublicURL == "":
		errs = append(errs, fmt.Errorf("web.public_url: is required"))
	case err != nil:
		errs = append(errs, fmt.Errorf("web.public_url: %w", err))
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		errs = append(errs, fmt.Errorf("web.public_url: %q is not an absolute http(s) URL", c.PublicURL))
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "":
		errs = append(errs, fmt.Errorf("web.public_url: %q must not have a path, query or fragment", c.PublicURL))
	}
	for key, v := range map[string]string{"branding.imprint_url": c.ImprintURL, "branding.privacy_url": c.PrivacyURL} {
		if u, err := url.Parse(v); v != "" && (err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
			errs = append(errs, fmt.Errorf("%s: %q is not an absolute http(s) URL", key, v))
		}
	}
	if c.PrimaryColor != "" {
		if err := checkPrimaryColor(c.PrimaryColor); err != nil {
			errs = append(errs, err)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, fmt.Errorf("web.tls_cert, web.tls_key: set both or neither"))
	}
	return errs
}

// secure reports whether recipients reach the server over HTTPS, directly or
// through a TLS-terminating proxy: cookies are then marked Secure.
func (c Config) secure() bool {
	u, err := url.Parse(c.PublicURL)
	return c.TLSCert != "" || err == nil && u.Scheme == "https"
}
