// Package policy decides how a message is treated: its security level, whether
// it asks for upload links, and the subject without the tags. It is pure: no
// I/O and no other sealgate package, so every rule is a table test away.
package policy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MaxLevel is the highest security level sealgate knows.
const MaxLevel = 4

// Rule raises the level of matching mail. Empty lists match everything; a
// rule whose lists are all empty and AttachmentsOver is 0 applies to all mail.
type Rule struct {
	// RecipientDomains matches when any recipient's domain is listed. An entry
	// "example.org" matches that domain only; ".example.org" or
	// "*.example.org" match its subdomains too.
	RecipientDomains []string
	// SenderAddresses matches the envelope sender: a full address, or
	// "@example.org" for a whole domain.
	SenderAddresses []string
	// MinLevel is the level the mail is raised to (1..4).
	MinLevel int
	// AttachmentsOver, when positive, makes the rule apply only when the
	// decoded attachments together exceed that many bytes.
	AttachmentsOver int64
}

// Config is policy.default_level and policy.rules.
type Config struct {
	DefaultLevel int
	Rules        []Rule
}

// Validate returns every problem of the configuration at once, each naming
// its key below "policy.".
func (c Config) Validate() []error {
	var errs []error
	if c.DefaultLevel < 0 || c.DefaultLevel > MaxLevel {
		errs = append(errs, fmt.Errorf("policy.default_level: %d is not a level; use 0 to %d", c.DefaultLevel, MaxLevel))
	}
	for i, r := range c.Rules {
		key := fmt.Sprintf("policy.rules[%d]", i)
		if r.MinLevel < 1 || r.MinLevel > MaxLevel {
			errs = append(errs, fmt.Errorf("%s.min_level: %d is not a level; use 1 to %d", key, r.MinLevel, MaxLevel))
		}
		if r.AttachmentsOver < 0 {
			errs = append(errs, fmt.Errorf("%s.attachments_over: must not be negative", key))
		}
		for _, d := range r.RecipientDomains {
			if strings.TrimLeft(strings.TrimSpace(d), "*.") == "" || strings.Contains(d, "@") {
				errs = append(errs, fmt.Errorf("%s.recipient_domains: %q is not a domain", key, d))
			}
		}
		for _, s := range r.SenderAddresses {
			if !strings.Contains(s, "@") {
				errs = append(errs, fmt.Errorf("%s.sender_addresses: %q is neither an address nor @domain", key, s))
			}
		}
	}
	return errs
}

// Message is what the policy looks at: the decoded subject, the values of the
// X-Sealgate-* headers, and the envelope.
type Message struct {
	Subject       string
	LevelHeaders  []string // values of X-Sealgate-Level
	UploadHeaders []string // values of X-Sealgate-Upload
	Sender        string
	Recipients    []string
}

// Decision is the outcome for one message.
type Decision struct {
	Level   int
	Upload  bool
	Subject string // the subject with every tag removed
	// SizeRules are the rules whose outcome depends on the attachments'
	// size and that would raise the level; ApplySize settles them once the
	// size is known.
	SizeRules []Rule
}

// UnknownLevelError refuses a message that names a level sealgate does not
// know. Its text is the sentence the clerk reads in the bounce.
type UnknownLevelError struct {
	Given string // the level as written, e.g. "7"
	Where string // "subject" or "X-Sealgate-Level header"
}

func (e *UnknownLevelError) Error() string {
	return fmt.Sprintf("unknown security level %s in the %s; use [secure1] to [secure4] in the subject, or X-Sealgate-Level: 1 to 4", e.Given, e.Where)
}

// secureRE finds [secure] and [secureN], and uploadRE [upload], forgiving
// case, inner spaces and a dash, because clerks type them by hand.
var (
	secureRE = regexp.MustCompile(`(?i)\[\s*secure[\s_-]*([0-9]*)\s*\]`)
	uploadRE = regexp.MustCompile(`(?i)\[\s*upload\s*\]`)
)

// Decide applies tags, headers and rules. The highest level named wins; rules
// only ever raise it.
func Decide(cfg Config, m Message) (Decision, error) {
	d := Decision{Level: cfg.DefaultLevel}
	d.Upload = uploadRE.MatchString(m.Subject)
	for _, match := range secureRE.FindAllStringSubmatch(m.Subject, -1) {
		num := match[1]
		level := 2 // plain [secure] means level 2 (SPEC section 2)
		if num != "" {
			n, err := strconv.Atoi(num)
			if err != nil || n < 1 || n > MaxLevel {
				return Decision{}, &UnknownLevelError{Given: num, Where: "subject"}
			}
			level = n
		}
		d.Level = max(d.Level, level)
	}
	for _, h := range m.LevelHeaders {
		v := strings.TrimSpace(h)
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxLevel {
			return Decision{}, &UnknownLevelError{Given: strconv.Quote(v), Where: "X-Sealgate-Level header"}
		}
		d.Level = max(d.Level, n)
	}
	for _, h := range m.UploadHeaders {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "yes", "true", "1", "on":
			d.Upload = true
		}
	}
	for _, r := range cfg.Rules {
		if !r.matches(m) || r.MinLevel <= d.Level {
			continue
		}
		if r.AttachmentsOver > 0 {
			d.SizeRules = append(d.SizeRules, r)
			continue
		}
		d.Level = r.MinLevel
	}
	d.SizeRules = pending(d.SizeRules, d.Level)
	d.Subject = cleanSubject(m.Subject)
	return d, nil
}

// ApplySize settles the size-dependent rules of d now that the decoded size of
// all attachments is known.
func ApplySize(d Decision, attachmentBytes int64) Decision {
	for _, r := range d.SizeRules {
		if attachmentBytes > r.AttachmentsOver {
			d.Level = max(d.Level, r.MinLevel)
		}
	}
	d.SizeRules = nil
	return d
}

// pending keeps the size rules that could still raise the level.
func pending(rules []Rule, level int) []Rule {
	var out []Rule
	for _, r := range rules {
		if r.MinLevel > level {
			out = append(out, r)
		}
	}
	return out
}

func (r Rule) matches(m Message) bool {
	if len(r.SenderAddresses) > 0 && !addressListed(r.SenderAddresses, m.Sender) {
		return false
	}
	if len(r.RecipientDomains) > 0 {
		for _, rcpt := range m.Recipients {
			if domainListed(r.RecipientDomains, domainOf(rcpt)) {
				return true
			}
		}
		return false
	}
	return true
}

func addressListed(list []string, addr string) bool {
	addr = strings.ToLower(strings.TrimSpace(addr))
	for _, e := range list {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == addr || (strings.HasPrefix(e, "@") && strings.HasSuffix(addr, e)) {
			return true
		}
	}
	return false
}

func domainListed(list []string, domain string) bool {
	for _, e := range list {
		e = strings.ToLower(strings.TrimSpace(e))
		if sub, ok := strings.CutPrefix(strings.TrimPrefix(e, "*"), "."); ok {
			if domain == sub || strings.HasSuffix(domain, "."+sub) {
				return true
			}
			continue
		}
		if domain == e {
			return true
		}
	}
	return false
}

func domainOf(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(addr[at+1:]), "."))
}

var spaceRE = regexp.MustCompile(`[ \t]{2,}`)

// cleanSubject removes the tags and the whitespace they leave behind.
func cleanSubject(s string) string {
	s = secureRE.ReplaceAllString(s, " ")
	s = uploadRE.ReplaceAllString(s, " ")
	return strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
}
