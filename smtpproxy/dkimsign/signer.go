// Package dkimsign DKIM-signs the messages sealgate composes itself: the
// rewritten mail that replaces attachments by links (smtp.dkim) and
// sealgate's own notices (notify.dkim).
//
// A message is signed as a whole byte slice. That is deliberate: the
// rewritten message has had its attachments taken out and is bounded by the
// rewrite's own limits on kept parts, so holding it in memory is cheap, while
// DKIM needs the body hash before the header can be written, which a stream
// could only provide by spooling the message somewhere first. Level-0 mail,
// which is not rewritten and can be large, is never signed here.
package dkimsign

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// Config names the signing domain (d=), the selector (s=) and the PEM file
// with the private key. The zero Config means signing is disabled.
type Config struct {
	Domain         string
	Selector       string
	PrivateKeyFile string
}

// Enabled reports whether any field is set; a partly filled Config is an
// error in Check and New, not a disabled signer.
func (c Config) Enabled() bool {
	return c.Domain != "" || c.Selector != "" || c.PrivateKeyFile != ""
}

// Check reports every problem with c at once, each prefixed with its
// configuration key under prefix (for example "smtp.dkim"), including a key
// file that cannot be read or parsed. The zero Config has no problems.
func (c Config) Check(prefix string) []error {
	if !c.Enabled() {
		return nil
	}
	errs := c.checkFields(prefix)
	if c.PrivateKeyFile != "" {
		if _, err := LoadKey(c.PrivateKeyFile); err != nil {
			errs = append(errs, fmt.Errorf("%s.private_key_file: %w", prefix, err))
		}
	}
	return errs
}

// checkFields checks everything but the key file's content.
func (c Config) checkFields(prefix string) []error {
	var errs []error
	if err := checkDomain(c.Domain); err != nil {
		errs = append(errs, fmt.Errorf("%s.domain: %w", prefix, err))
	}
	if err := checkSelector(c.Selector); err != nil {
		errs = append(errs, fmt.Errorf("%s.selector: %w", prefix, err))
	}
	if c.PrivateKeyFile == "" {
		errs = append(errs, fmt.Errorf("%s.private_key_file: is required when %s is set (make one with `sealgate dkim keygen`)", prefix, prefix))
	}
	return errs
}

// signedHeaders are the fields covered by the signature when present (RFC
// 6376 section 5.4.1). Fields that are absent are left out of h= on purpose:
// Postfix may add a missing Date or Message-ID on reinjection, and a
// signature that listed them would then fail.
var signedHeaders = []string{
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "MIME-Version",
	"Content-Type", "Content-Transfer-Encoding", "Reply-To", "In-Reply-To", "References",
}

// Signer signs messages with one key for one domain and selector. It is safe
// for concurrent use. A nil *Signer is a disabled signer.
type Signer struct {
	domain, selector string
	key              crypto.Signer
}

// New loads the key named in cfg. For the zero Config it returns (nil, nil):
// a nil *Signer passes messages through unsigned.
func New(cfg Config) (*Signer, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	if errs := cfg.checkFields("dkim"); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	key, err := LoadKey(cfg.PrivateKeyFile)
	if err != nil {
		return nil, fmt.Errorf("dkim.private_key_file: %w", err)
	}
	return &Signer{domain: strings.ToLower(cfg.Domain), selector: cfg.Selector, key: key}, nil
}

// Domain returns the signing domain (d=), or "" for a nil Signer.
func (s *Signer) Domain() string {
	if s == nil {
		return ""
	}
	return s.domain
}

// RecordName is the DNS name where the public key must be published:
// selector._domainkey.domain.
func (s *Signer) RecordName() string {
	if s == nil {
		return ""
	}
	return RecordName(s.selector, s.domain)
}

// TXTRecord returns the DNS TXT value for the signer's public key, to check
// against what is published.
func (s *Signer) TXTRecord() (string, error) {
	if s == nil {
		return "", errors.New("dkim signing is disabled")
	}
	return txtRecord(s.key.Public())
}

// Sign returns msg with a DKIM-Signature header field prepended. The
// signature uses relaxed/relaxed canonicalization over the fields in
// signedHeaders that msg has, and lists From once more than it occurs, so
// that a From added later breaks the signature. Existing DKIM-Signature
// fields are left alone: remove the ones the rewrite broke with
// StripSignatures first. A nil Signer returns msg unchanged.
func (s *Signer) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	if s == nil {
		return msg, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dkim sign: %w", err)
	}
	keys, err := headerKeys(msg)
	if err != nil {
		return nil, fmt.Errorf("dkim sign: %w", err)
	}
	signer, err := dkim.NewSigner(&dkim.SignOptions{
		Domain:                 s.domain,
		Selector:               s.selector,
		Signer:                 s.key,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             keys,
	})
	if err != nil {
		return nil, fmt.Errorf("dkim sign: %w", err)
	}
	if _, err := signer.Write(msg); err != nil {
		_ = signer.Close()
		return nil, fmt.Errorf("dkim sign: %w", err)
	}
	if err := signer.Close(); err != nil {
		return nil, fmt.Errorf("dkim sign: %w", err)
	}
	sig := signer.Signature()
	if !usesCRLF(msg) {
		// Keep one line-ending style in the message; SMTP turns both into
		// CRLF on the wire, which is what the signature covers.
		sig = strings.ReplaceAll(sig, "\r\n", "\n")
	}
	out := make([]byte, 0, len(sig)+len(msg))
	out = append(out, sig...)
	return append(out, msg...), nil
}

// headerKeys lists each field of signedHeaders as often as msg has it, and
// From once more (oversigning).
func headerKeys(msg []byte) ([]string, error) {
	counts, err := countFields(msg)
	if err != nil {
		return nil, err
	}
	if counts["from"] == 0 {
		return nil, errors.New("message has no From header field")
	}
	var keys []string
	for _, k := range signedHeaders {
		n := counts[strings.ToLower(k)]
		if k == "From" {
			n++
		}
		for i := 0; i < n; i++ {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// countFields counts the header fields of msg by lower-cased name. It only
// needs names, so it scans lines instead of parsing values.
func countFields(msg []byte) (map[string]int, error) {
	counts := make(map[string]int)
	rest := msg
	for {
		line, tail, found := bytes.Cut(rest, []byte("\n"))
		if !found {
			return nil, errors.New("message has no end of header (blank line)")
		}
		rest = tail
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return counts, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // continuation of the previous field
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil, fmt.Errorf("malformed header line (no colon)")
		}
		counts[strings.ToLower(string(bytes.TrimRight(name, " \t")))]++
	}
}

func usesCRLF(msg []byte) bool {
	i := bytes.IndexByte(msg, '\n')
	return i > 0 && msg[i-1] == '\r'
}
