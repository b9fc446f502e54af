package dkimsign

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

const (
	// DefaultKeyBits is the RSA key size GenerateKey uses for bits 0
	// (RFC 8301 recommends 2048).
	DefaultKeyBits = 2048
	// minRSABits is the smallest key verifiers accept (RFC 8301 3.2).
	minRSABits = 1024
	// maxRSABits keeps the TXT record within what DNS providers take.
	maxRSABits = 4096
	// maxKeyFile bounds reading a key file: a PEM key is a few KiB.
	maxKeyFile = 64 << 10
)

// LoadKey reads a PEM private key for DKIM: RSA in PKCS#1 ("RSA PRIVATE
// KEY") or PKCS#8 ("PRIVATE KEY"), or Ed25519 in PKCS#8. Errors say what is
// wrong with the file without printing any of its content.
func LoadKey(path string) (crypto.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("dkim key %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("dkim key %s: larger than %d bytes; not a PEM private key", path, maxKeyFile)
	}
	key, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("dkim key %s: %w", path, err)
	}
	return key, nil
}

func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found (expected -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)")
	}
	if _, ok := block.Headers["Proc-Type"]; ok {
		return nil, errors.New("the key is encrypted with a passphrase; sealgate needs it unencrypted (readable only by the service's user)")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("the key is encrypted with a passphrase; sealgate needs it unencrypted (readable only by the service's user)")
	case "EC PRIVATE KEY":
		return nil, errors.New("EC keys cannot sign DKIM; use RSA or Ed25519")
	case "OPENSSH PRIVATE KEY":
		return nil, errors.New("OpenSSH key format; convert it to PEM or make a key with `sealgate dkim keygen`")
	case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
		return nil, fmt.Errorf("found a %s, not a private key", strings.ToLower(block.Type))
	default:
		return nil, fmt.Errorf("unsupported PEM block %q (expected PRIVATE KEY or RSA PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < minRSABits {
			return nil, fmt.Errorf("RSA key has %d bits; DKIM verifiers ignore keys under %d bits (use 2048)", bits, minRSABits)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported key type %T; use RSA or Ed25519", key)
	}
}

// GenerateKey makes an RSA key of bits bits (DefaultKeyBits for 0) and
// returns it PEM-encoded (PKCS#8) with the DNS TXT value that publishes its
// public key ("v=DKIM1; k=rsa; p=...").
func GenerateKey(bits int) (pemKey []byte, dnsTXT string, err error) {
	if bits == 0 {
		bits = DefaultKeyBits
	}
	if bits < minRSABits || bits > maxRSABits {
		return nil, "", fmt.Errorf("dkim keygen: %d bits: use %d to %d (2048 recommended)", bits, minRSABits, maxRSABits)
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, "", fmt.Errorf("dkim keygen: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, "", fmt.Errorf("dkim keygen: %w", err)
	}
	txt, err := txtRecord(key.Public())
	if err != nil {
		return nil, "", fmt.Errorf("dkim keygen: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), txt, nil
}

// txtRecord is the DKIM key record (RFC 6376 3.6.1, RFC 8463 for Ed25519).
func txtRecord(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	default:
		return "", fmt.Errorf("unsupported public key type %T", pub)
	}
}

// RecordName is the DNS name of the key record: selector._domainkey.domain.
func RecordName(selector, domain string) string {
	return selector + "._domainkey." + strings.TrimSuffix(domain, ".")
}

// ZoneFileLine formats the record for a BIND-style zone file. A 2048-bit key
// is longer than the 255 bytes one DNS character-string may hold, so the
// value is split into several quoted strings, which resolvers join again.
func ZoneFileLine(selector, domain, txt string) string {
	var b strings.Builder
	b.WriteString(RecordName(selector, domain))
	b.WriteString(". IN TXT (")
	for len(txt) > 0 {
		n := min(len(txt), 255)
		b.WriteString(" \"")
		b.WriteString(txt[:n])
		b.WriteString("\"")
		txt = txt[n:]
	}
	b.WriteString(" )")
	return b.String()
}

// checkDomain accepts an ASCII (or punycode) domain name with at least two
// labels.
func checkDomain(d string) error {
	if d == "" {
		return errors.New("is required (the domain in From that the signature vouches for)")
	}
	if strings.Contains(d, "@") {
		return fmt.Errorf("%q is an address; give only the domain", d)
	}
	labels := strings.Split(strings.TrimSuffix(d, "."), ".")
	if len(labels) < 2 {
		return fmt.Errorf("%q is not a domain name such as example.org", d)
	}
	for _, l := range labels {
		if !validLabel(l, false) {
			return fmt.Errorf("%q is not a domain name (letters, digits, hyphens and dots; punycode for others)", d)
		}
	}
	return nil
}

// checkSelector accepts one or more DNS labels separated by dots.
func checkSelector(s string) error {
	if s == "" {
		return errors.New("is required (the name under _domainkey where the key is published)")
	}
	for _, l := range strings.Split(s, ".") {
		if !validLabel(l, true) {
			return fmt.Errorf("%q is not a selector (letters, digits, hyphens, dots)", s)
		}
	}
	return nil
}

func validLabel(l string, underscore bool) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range []byte(l) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
		case c == '_' && underscore:
		default:
			return false
		}
	}
	return true
}
