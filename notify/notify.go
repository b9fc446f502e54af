package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"sealgate/catalog"
	"sealgate/smtpproxy/dkimsign"
)

// Sender delivers a finished message; *smtpproxy.Outbound implements it.
type Sender interface {
	// Send delivers msg from the envelope sender from to every address in
	// to, returning only when the next hop accepted or refused it.
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// Notifier composes and sends sealgate's own mail. It is safe for
// concurrent use. Each method returns once the Sender accepted the message
// or failed, so callers can tell the person waiting.
type Notifier struct {
	cfg    Config
	cat    *catalog.Catalog
	sender Sender
	log    *slog.Logger
	from   *mail.Address
	domain string           // notify.from's domain, for Message-IDs
	dkim   *dkimsign.Signer // nil: unsigned
	loc    *time.Location   // dates are shown in the organisation's zone
	now    func() time.Time
}

// New checks cfg and prepares a Notifier that sends through s. cat and s must
// not be nil.
func New(cfg Config, cat *catalog.Catalog, s Sender, logger *slog.Logger) (*Notifier, error) {
	if err := errors.Join(cfg.Validate()...); err != nil {
		return nil, err
	}
	if cat == nil || s == nil {
		return nil, errors.New("notify: catalog and sender are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	from, err := parseFrom(cfg.From, cfg.OrgName)
	if err != nil {
		return nil, fmt.Errorf("notify.from: %w", err)
	}
	signer, err := dkimsign.New(cfg.DKIM)
	if err != nil {
		return nil, fmt.Errorf("notify.dkim: %w", err)
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	cfg.OrgName = displayText(cfg.OrgName)
	return &Notifier{
		cfg:    cfg,
		cat:    cat,
		sender: s,
		log:    logger,
		from:   from,
		domain: domainOf(from.Address),
		dkim:   signer,
		loc:    time.Local,
		now:    time.Now,
	}, nil
}

// send composes c, signs it when notify.dkim is set, and hands it to the
// Sender. kind and ref (a transfer reference, or "") go into the log; the
// address does not, except at debug level.
func (n *Notifier) send(ctx context.Context, kind, ref, to string, c *content) error {
	if err := checkAddress(to); err != nil {
		return fmt.Errorf("notify: %s: recipient: %w", kind, err)
	}
	c.footer = n.footer(c.lang)
	msg, err := n.compose(to, c, n.now())
	if err != nil {
		return fmt.Errorf("notify: %s: %w", kind, err)
	}
	if msg, err = n.dkim.Sign(ctx, msg); err != nil {
		return fmt.Errorf("notify: %s: %w", kind, err)
	}
	if err := n.sender.Send(ctx, n.from.Address, []string{to}, msg); err != nil {
		return fmt.Errorf("notify: send %s: %w", kind, err)
	}
	attrs := []any{"kind", kind, "lang", c.lang}
	if ref != "" {
		attrs = append(attrs, "transfer", ref)
	}
	n.log.Info("notify: mail sent", attrs...)
	n.log.Debug("notify: mail sent to", "kind", kind, "to", to)
	return nil
}

// lang picks the mail's language: English when asked for, else German.
func (n *Notifier) lang(l string) string {
	return n.cat.Lang(l)
}

func (n *Notifier) t(lang, key string, args ...any) string {
	return n.cat.T(lang, key, args...)
}

func (n *Notifier) footer(lang string) []string {
	var f []string
	if n.cfg.OrgName != "" {
		f = append(f, n.t(lang, "mail.footer.org", n.cfg.OrgName))
	}
	return append(f, n.t(lang, "mail.footer.auto"))
}
