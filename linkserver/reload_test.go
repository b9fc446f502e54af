package linkserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"os"
	"testing"
)

// TestReloadTLS: after the certificate files are replaced, ReloadTLS makes
// the next connection see the new certificate at once (cmd calls it on
// SIGHUP), and a broken pair leaves the old one serving.
func TestReloadTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	certFile, keyFile, _ := selfSigned(t)
	newCert, newKey, _ := selfSigned(t)
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
		<-done
	}()
	leaf := func() []byte {
		t.Helper()
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Raw
	}
	before := leaf()
	for src, dst := range map[string]string{newCert: certFile, newKey: keyFile} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.ReloadTLS(); err != nil {
		t.Fatalf("ReloadTLS: %v", err)
	}
	after := leaf()
	if bytes.Equal(before, after) {
		t.Fatal("still serving the old certificate after ReloadTLS")
	}
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.ReloadTLS(); err == nil {
		t.Error("ReloadTLS accepted a broken key")
	}
	if !bytes.Equal(leaf(), after) {
		t.Error("a broken pair replaced the working certificate")
	}
}
