package notify

import (
	"fmt"
	"net/mail"
	"net/url"
	"strings"

	"sealgate/smtpproxy/dkimsign"
)

// Config is what the mails need from the configuration file.
type Config struct {
	// From is notify.from: the address (optionally with a display name,
	// "Stadt Musterstadt <noreply@musterstadt.de>") every mail comes from,
	// also used as the envelope sender. Its domain names the Message-IDs.
	From string
	// PublicURL is web.public_url, the base of every link.
	PublicURL string
	// OrgName is branding.name: the display name of From when From has
	// none, and named at the foot of every mail.
	OrgName string
	// SenderSummary is notify.sender_summary: without it SenderCopy sends
	// nothing.
	SenderSummary bool
	// Receipts is notify.receipts: without it Receipt sends nothing.
	Receipts bool
	// DKIM is notify.dkim: when set, every mail is DKIM-signed.
	DKIM dkimsign.Config
}

// Validate returns every problem at once, each naming its configuration key.
func (c Config) Validate() []error {
	var errs []error
	if _, err := parseFrom(c.From, ""); err != nil {
		errs = append(errs, fmt.Errorf("notify.from: %w", err))
	}
	if u, err := url.Parse(c.PublicURL); c.PublicURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("web.public_url: %q is not an absolute http(s) URL", c.PublicURL))
	}
	if hasControl(c.OrgName) {
		errs = append(errs, fmt.Errorf("branding.name: must not contain control characters"))
	}
	return append(errs, c.DKIM.Check("notify.dkim")...)
}

// parseFrom reads notify.from; a missing display name becomes org.
func parseFrom(from, org string) (*mail.Address, error) {
	if strings.TrimSpace(from) == "" {
		return nil, fmt.Errorf("required: the address sealgate's own mail comes from")
	}
	if hasControl(from) {
		return nil, fmt.Errorf("must not contain control characters or line breaks")
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("%q is not an e-mail address: %v", from, err)
	}
	if err := checkAddress(a.Address); err != nil {
		return nil, fmt.Errorf("%q: %w", from, err)
	}
	if a.Name == "" {
		a.Name = displayText(org)
	}
	return a, nil
}
