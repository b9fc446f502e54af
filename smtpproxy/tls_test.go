package smtpproxy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"sealgate/internal/smtptest"
)

// writeCert writes a self-signed certificate and key as PEM files.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sealgate.test"},
		DNSNames:     []string{"sealgate.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestInboundSTARTTLS: STARTTLS is offered only with smtp.tls_cert and
// smtp.tls_key, and works.
func TestInboundSTARTTLS(t *testing.T) {
	t.Parallel()
	plain := start(t)
	c, err := smtp.Dial(plain.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered without a certificate")
	}
	c.Close()

	certFile, keyFile := writeCert(t)
	h := start(t, func(c *Config, _ *smtptest.Options) { c.TLSCert, c.TLSKey = certFile, keyFile })
	c, err = smtp.DialStartTLS(h.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	defer c.Close()
	if err := c.SendMail("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(simpleMessage("tls"))); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	m := h.messages(1)[0]
	if !bytes.Contains(m.Data[:200], []byte(" with ESMTPS id ")) {
		t.Errorf("trace header does not record TLS: %.200q", m.Data)
	}
}

// TestNextHopTLS: STARTTLS and implicit TLS to the next hop, with the
// certificate checked unless the configuration says otherwise.
func TestNextHopTLS(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		mode     string
		hop      smtptest.Options
		skip     bool
		delivers bool
	}{
		{"starttls", NextHopTLSStartTLS, smtptest.Options{STARTTLS: true}, true, true},
		{"tls", NextHopTLSImplicit, smtptest.Options{ImplicitTLS: true}, true, true},
		{"starttls unverified certificate", NextHopTLSStartTLS, smtptest.Options{STARTTLS: true}, false, false},
		{"tls unverified certificate", NextHopTLSImplicit, smtptest.Options{ImplicitTLS: true}, false, false},
		{"starttls not offered", NextHopTLSStartTLS, smtptest.Options{}, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, func(c *Config, o *smtptest.Options) {
				*o = tc.hop
				c.NextHopTLS = tc.mode
				c.NextHopInsecureSkipVerify = tc.skip
			})
			err := h.send("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(simpleMessage("tls")))
			if !tc.delivers {
				wantReply(t, err, 451, smtp.EnhancedCode{4, 3, 0})
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m := h.messages(1)[0]; !m.TLS {
				t.Error("the next hop received the message in the clear")
			}
		})
	}
}
