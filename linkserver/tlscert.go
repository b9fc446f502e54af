package linkserver

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// certReloader serves a certificate from files and reads them again when
// their modification time changes (checked at most once a minute), so a
// renewed certificate is picked up without a restart.
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime time.Time
	checked time.Time
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := c.load(time.Now()); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certReloader) load(now time.Time) error {
	st, err := os.Stat(c.certFile)
	if err != nil {
		return fmt.Errorf("web.tls_cert: %w", err)
	}
	c.checked = now
	if c.cert != nil && st.ModTime().Equal(c.modTime) {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("web.tls_cert, web.tls_key: %w", err)
	}
	c.cert, c.modTime = &cert, st.ModTime()
	return nil
}

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) > time.Minute {
		// A half-written renewal fails to load: keep serving the old pair.
		_ = c.load(now)
	}
	return c.cert, nil
}

// reload reads the files now, whatever their modification time says.
func (c *certReloader) reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := os.Stat(c.certFile)
	if err != nil {
		return fmt.Errorf("web.tls_cert: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("web.tls_cert, web.tls_key: %w", err)
	}
	c.cert, c.modTime, c.checked = &cert, st.ModTime(), time.Now()
	return nil
}

// ReloadTLS reads web.tls_cert and web.tls_key again at once (cmd calls it
// on SIGHUP). A pair that fails to load leaves the current one in use. It
// does nothing when the server has no certificate configured.
func (s *Server) ReloadTLS() error {
	if s.certs == nil {
		return nil
	}
	return s.certs.reload()
}

// HasTLS reports whether the server serves HTTPS from web.tls_cert.
func (s *Server) HasTLS() bool { return s.certs != nil }
