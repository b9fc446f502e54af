package dkimsign

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

// rsa512 is too small for DKIM (RFC 8301); made with openssl genrsa 512.
const rsa512 = `-----BEGIN RSA PRIVATE KEY-----
MIIBPAIBAAJBAMr+JGtB/ScF2aYWNjx3oUE9XFVOlQI8bTxsn31+Ke3o09a34RGB
jBMCE6AoIoIif1ZOyI5ajkwkqHX05bz3VN8CAwEAAQJBAMcu1yeT6cbHu8h4FSIC
NO3iOt7OK/K0vm9DGsC18oipYsycpiJzLSQDvPIooHVbs/vkQttEHyZgVc6KIPBs
htkCIQD8AuWb/LVUuS4xt4cpopDk6J8lQmIQId5HLGL8dRd10wIhAM40oZWbSIqe
YyS2cXg04gQhi9zMf4wdwMe4dE6uHkFFAiEAx0q3L4NKFwUWneSINAnGUfAQItP7
XsyZzmkwonsqoVcCIQCTjBlq4XfgqECszlcW+lAXQKHBVhqV+dwtjJC8k95WOQIg
EI49gdaSIMHXQa7j/IvkHoqzqZ4hReulvhsfgrS9kKE=
-----END RSA PRIVATE KEY-----
`

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	testKeys(t) // shares the one generated 2048-bit key
	key, err := parseKey(rsaPEM)
	if err != nil {
		t.Fatalf("generated key does not load: %v", err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok || rk.N.BitLen() != DefaultKeyBits {
		t.Fatalf("got %T, want a %d-bit RSA key", key, DefaultKeyBits)
	}
	p, ok := strings.CutPrefix(rsaTXT, "v=DKIM1; k=rsa; p=")
	if !ok {
		t.Fatalf("TXT value %q lacks the DKIM1 prefix", rsaTXT)
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		t.Fatalf("p= is not base64: %v", err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil || !rk.PublicKey.Equal(pub) {
		t.Fatalf("p= does not hold the key's public half: %v", err)
	}
	for _, bits := range []int{512, 1023, 8192} {
		if _, _, err := GenerateKey(bits); err == nil {
			t.Errorf("GenerateKey(%d) succeeded", bits)
		}
	}
}

func TestZoneFileLine(t *testing.T) {
	t.Parallel()
	testKeys(t)
	line := ZoneFileLine("s1", "example.org.", rsaTXT)
	if !strings.HasPrefix(line, "s1._domainkey.example.org. IN TXT ( \"v=DKIM1;") || !strings.HasSuffix(line, "\" )") {
		t.Fatalf("unexpected zone line: %s", line)
	}
	var joined strings.Builder
	for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(line, -1) {
		if len(m[1]) > 255 {
			t.Errorf("character-string of %d bytes; DNS allows 255", len(m[1]))
		}
		joined.WriteString(m[1])
	}
	if joined.String() != rsaTXT {
		t.Errorf("quoted strings do not join to the TXT value")
	}
}

func TestLoadKey(t *testing.T) {
	t.Parallel()
	rsaFile, edFile := testKeys(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rk, err := parseKey(rsaPEM)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := write("pkcs1.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk.(*rsa.PrivateKey))}))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	pubDER, _ := x509.MarshalPKIXPublicKey(rk.Public())

	for _, ok := range []string{rsaFile, edFile, pkcs1} {
		if _, err := LoadKey(ok); err != nil {
			t.Errorf("%s: %v", filepath.Base(ok), err)
		}
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.pem"), "no such file"},
		{"garbage", write("garbage", []byte("not a key")), "no PEM block"},
		{"public key", write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})), "not a private key"},
		{"ec", write("ec.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})), "EC keys cannot sign DKIM"},
		{"encrypted", write("enc.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1}})), "encrypted"},
		{"pkcs8 encrypted", write("enc8.pem", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}})), "encrypted"},
		{"openssh", write("ssh", pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte{1}})), "OpenSSH"},
		{"broken der", write("broken.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})), "parse PRIVATE KEY"},
		{"too small", write("small.pem", []byte(rsa512)), "512"},
		{"huge", write("huge.pem", bytes.Repeat([]byte("A"), maxKeyFile+10)), "larger than"},
	} {
		_, err := LoadKey(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "MII") {
			t.Errorf("%s: error shows key material: %v", tc.name, err)
		}
	}
}

func TestCheckNames(t *testing.T) {
	t.Parallel()
	for _, d := range []string{"example.org", "mail.example.org.", "xn--mnchen-3ya.de"} {
		if err := checkDomain(d); err != nil {
			t.Errorf("domain %q: %v", d, err)
		}
	}
	for _, d := range []string{"", "org", "a@example.org", "-x.example.org", "exa mple.org", "münchen.de", "a..b"} {
		if checkDomain(d) == nil {
			t.Errorf("domain %q accepted", d)
		}
	}
	for _, s := range []string{"s1", "mail-2026", "eu.s1", "s_1"} {
		if err := checkSelector(s); err != nil {
			t.Errorf("selector %q: %v", s, err)
		}
	}
	for _, s := range []string{"", "a b", "a;b", ".s", "s."} {
		if checkSelector(s) == nil {
			t.Errorf("selector %q accepted", s)
		}
	}
}

func readHeader(t *testing.T, msg []byte) textproto.Header {
	t.Helper()
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}
