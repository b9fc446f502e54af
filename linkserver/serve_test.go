package linkserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sealgate/vault"
)

func TestServeShutsDownGracefully(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(1, testFile{name: "a.pdf", contentType: "application/pdf", size: 4 << 20, seed: 9})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{PublicURL: "http://" + ln.Addr().String()}, e.v, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	// A download in flight when shutdown begins still completes.
	resp, err := http.Get("http://" + ln.Addr().String() + "/t/" + st.token + "/f/" + st.files[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if got := hashBody(t, resp); got != st.files[0].SHA256 {
		t.Error("download in flight at shutdown was cut off")
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve after shutdown: %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

func TestServeTLSSendsHSTS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	certFile, keyFile, pool := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{PublicURL: "https://" + ln.Addr().String(), TLSCert: certFile, TLSKey: keyFile}, e.v, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("HSTS %q", resp.Header.Get("Strict-Transport-Security"))
	}
	var secureCookie bool
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-csrf" && ck.Secure && ck.HttpOnly {
			secureCookie = true
		}
	}
	if !secureCookie {
		t.Errorf("no Secure __Host- CSRF cookie under TLS: %v", resp.Cookies())
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, cfg := range []Config{
		{},
		{PublicURL: "ftp://x"},
		{PublicURL: "https://x/prefix"},
		{PublicURL: "https://x", TLSCert: "only-cert.pem"},
		{PublicURL: "https://x", TLSCert: "/nonexistent.pem", TLSKey: "/nonexistent.key"},
	} {
		if _, err := New(cfg, e.v, nil, nil); err == nil {
			t.Errorf("New(%+v) accepted a bad config", cfg)
		}
	}
}

// selfSigned writes a certificate for 127.0.0.1 and returns its files and
// a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sealgate test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestSlowDownloadOutlastsServerTimeouts shows that a download is bounded
// by the client's progress, not by ReadTimeout or WriteTimeout: with both
// at 50 ms, a client that pauses between reads still gets the whole file.
func TestSlowDownloadOutlastsServerTimeouts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(1, testFile{name: "a.bin", contentType: "application/octet-stream", size: 16 << 20, seed: 11})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The store stops reading when the request's context ends, as a
	// network blob store would: the context must outlive ReadTimeout.
	srv, err := New(Config{PublicURL: "http://" + ln.Addr().String()}, ctxVault{e.v}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.timeouts.read, srv.timeouts.write = 50*time.Millisecond, 50*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://" + ln.Addr().String() + "/t/" + st.token + "/f/" + st.files[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	for {
		// A slow reader: well past both timeouts in total, while the
		// server's writes block on full socket buffers.
		n, err := io.CopyN(h, resp.Body, 4<<20)
		if err == io.EOF && n == 0 {
			break
		}
		if err != nil && err != io.EOF {
			t.Fatalf("slow download broke off: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if hex.EncodeToString(h.Sum(nil)) != st.files[0].SHA256 {
		t.Error("slow download returned other bytes")
	}
}

// ctxVault's plaintext readers fail once the request's context is done.
type ctxVault struct{ Vault }

type ctxReader struct {
	ctx context.Context
	io.ReadCloser
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.ReadCloser.Read(p)
}

func (c ctxVault) OpenFile(ctx context.Context, tid, fid string) (io.ReadCloser, vault.File, error) {
	rc, f, err := c.Vault.OpenFile(ctx, tid, fid)
	if err != nil {
		return nil, f, err
	}
	return ctxReader{ctx, rc}, f, nil
}
