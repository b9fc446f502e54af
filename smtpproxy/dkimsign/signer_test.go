package dkimsign

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"sealgate/smtpproxy/dkimsign/dkimtest"
)

const (
	testDomain   = "sealgate.test"
	testSelector = "mail2026"
)

// sample is a rewritten message as sealgate would send it: CRLF, folded
// header, multipart body.
const sample = "From: Clerk <clerk@sealgate.test>\r\n" +
	"To: Citizen <citizen@example.net>,\r\n" +
	"\tOther <other@example.net>\r\n" +
	"Subject: Your documents\r\n" +
	"Date: Mon, 02 Mar 2026 10:00:00 +0100\r\n" +
	"Message-ID: <1234@sealgate.test>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=\"b1\"\r\n" +
	"X-Mailer: Outlook\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Hello,   the files are here:\r\n" +
	"https://secure.sealgate.test/t/abc\r\n" +
	"--b1--\r\n"

var (
	keysOnce         sync.Once
	rsaPEM, edPEM    []byte
	rsaTXT, edTXT    string
	errGeneratedKeys error
)

// testKeys generates one RSA and one Ed25519 key per test binary: RSA key
// generation is the slow part of these tests.
func testKeys(t *testing.T) (rsaFile, edFile string) {
	t.Helper()
	keysOnce.Do(func() {
		rsaPEM, rsaTXT, errGeneratedKeys = GenerateKey(0)
		if errGeneratedKeys != nil {
			return
		}
		var priv ed25519.PrivateKey
		_, priv, errGeneratedKeys = ed25519.GenerateKey(rand.Reader)
		if errGeneratedKeys != nil {
			return
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			errGeneratedKeys = err
			return
		}
		edPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		edTXT, errGeneratedKeys = txtRecord(priv.Public())
	})
	if errGeneratedKeys != nil {
		t.Fatalf("generate keys: %v", errGeneratedKeys)
	}
	dir := t.TempDir()
	rsaFile = filepath.Join(dir, "rsa.pem")
	edFile = filepath.Join(dir, "ed25519.pem")
	for f, b := range map[string][]byte{rsaFile: rsaPEM, edFile: edPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return rsaFile, edFile
}

func newSigner(t *testing.T, keyFile string) *Signer {
	t.Helper()
	s, err := New(Config{Domain: testDomain, Selector: testSelector, PrivateKeyFile: keyFile})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// verifyGo verifies every signature with go-msgauth against a fake DNS that
// knows only txt under the expected name.
func verifyGo(msg []byte, txt string) ([]*dkim.Verification, error) {
	name := RecordName(testSelector, testDomain)
	return dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			if domain != name {
				return nil, fmt.Errorf("unexpected DNS query for %q", domain)
			}
			return []string{txt}, nil
		},
	})
}

func mustVerifyGo(t *testing.T, msg []byte, txt string) *dkim.Verification {
	t.Helper()
	vs, err := verifyGo(msg, txt)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if len(vs) != 1 {
		t.Fatalf("got %d signatures, want 1", len(vs))
	}
	if vs[0].Err != nil {
		t.Fatalf("signature does not verify: %v", vs[0].Err)
	}
	return vs[0]
}

func TestSignVerifiesWithGoMsgauth(t *testing.T) {
	t.Parallel()
	rsaFile, edFile := testKeys(t)
	for _, tc := range []struct {
		name, file, txt string
	}{
		{"rsa", rsaFile, rsaTXT},
		{"ed25519", edFile, edTXT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSigner(t, tc.file)
			signed, err := s.Sign(context.Background(), []byte(sample))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if !bytes.HasSuffix(signed, []byte(sample)) || !bytes.HasPrefix(signed, []byte("DKIM-Signature: ")) {
				t.Fatalf("Sign must prepend one field and keep the message:\n%s", signed)
			}
			v := mustVerifyGo(t, signed, tc.txt)
			if v.Domain != testDomain {
				t.Errorf("d= %q, want %q", v.Domain, testDomain)
			}
			// Only present fields are listed, From once more than it occurs.
			want := []string{"from", "from", "to", "subject", "date", "message-id", "mime-version", "content-type"}
			var got []string
			for _, k := range v.HeaderKeys {
				got = append(got, strings.ToLower(k))
			}
			if !slices.Equal(got, want) {
				t.Errorf("h= %v, want %v", got, want)
			}
			sig := string(signed[:len(signed)-len(sample)])
			for _, tag := range []string{"c=relaxed/relaxed", "s=" + testSelector, "d=" + testDomain} {
				if !strings.Contains(strings.Join(strings.Fields(sig), ""), tag) {
					t.Errorf("signature lacks %s: %s", tag, sig)
				}
			}
		})
	}
}

func TestSignVerifiesWithDkimpy(t *testing.T) {
	t.Parallel()
	dkimtest.Python(t)
	rsaFile, edFile := testKeys(t)
	records := func(txt string) map[string]string {
		return map[string]string{RecordName(testSelector, testDomain): txt}
	}
	t.Run("rsa", func(t *testing.T) {
		t.Parallel()
		signed, err := newSigner(t, rsaFile).Sign(context.Background(), []byte(sample))
		if err != nil {
			t.Fatal(err)
		}
		if err := dkimtest.Verify(t, signed, records(rsaTXT)); err != nil {
			t.Fatalf("dkimpy rejects the signature: %v", err)
		}
		// The verifier is not vacuous: it rejects a changed body.
		tampered := bytes.Replace(signed, []byte("/t/abc"), []byte("/t/abd"), 1)
		if err := dkimtest.Verify(t, tampered, records(rsaTXT)); err == nil {
			t.Fatal("dkimpy accepts a message whose body changed after signing")
		}
	})
	t.Run("ed25519", func(t *testing.T) {
		t.Parallel()
		signed, err := newSigner(t, edFile).Sign(context.Background(), []byte(sample))
		if err != nil {
			t.Fatal(err)
		}
		if err := dkimtest.Verify(t, signed, records(edTXT)); err != nil {
			t.Fatalf("dkimpy rejects the signature: %v", err)
		}
	})
	t.Run("lf-line-endings", func(t *testing.T) {
		t.Parallel()
		lf := strings.ReplaceAll(sample, "\r\n", "\n")
		signed, err := newSigner(t, rsaFile).Sign(context.Background(), []byte(lf))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(signed, []byte("\r")) {
			t.Fatal("signing an LF message introduced CR bytes")
		}
		// SMTP carries it with CRLF; that is what the receiver verifies.
		wire := bytes.ReplaceAll(signed, []byte("\n"), []byte("\r\n"))
		if err := dkimtest.Verify(t, wire, records(rsaTXT)); err != nil {
			t.Fatalf("dkimpy rejects the CRLF form of an LF-signed message: %v", err)
		}
	})
}

func TestSignatureBreaksOnTampering(t *testing.T) {
	t.Parallel()
	rsaFile, _ := testKeys(t)
	signed, err := newSigner(t, rsaFile).Sign(context.Background(), []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	sigEnd := len(signed) - len(sample)
	for _, tc := range []struct {
		name   string
		change func([]byte) []byte
	}{
		{"second From added after the header", func(m []byte) []byte {
			return bytes.Replace(m, []byte("X-Mailer: Outlook\r\n"), []byte("X-Mailer: Outlook\r\nFrom: attacker@evil.example\r\n"), 1)
		}},
		{"second From added before the signature", func(m []byte) []byte {
			return append([]byte("From: attacker@evil.example\r\n"), m...)
		}},
		{"one body byte changed", func(m []byte) []byte {
			out := bytes.Clone(m)
			i := bytes.Index(out[sigEnd:], []byte("Hello")) + sigEnd
			out[i] = 'J'
			return out
		}},
		{"subject changed", func(m []byte) []byte {
			return bytes.Replace(m, []byte("Your documents"), []byte("Your d0cuments"), 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs, err := verifyGo(tc.change(signed), rsaTXT)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if len(vs) != 1 || vs[0].Err == nil {
				t.Fatal("signature still verifies after the change")
			}
			if dkim.IsTempFail(vs[0].Err) {
				t.Errorf("want a permanent failure, got a temporary one: %v", vs[0].Err)
			}
		})
	}
	// The "before the signature" case above fails only because From is
	// oversigned: without the extra From in h= it would verify.
	key, err := LoadKey(rsaFile)
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	err = dkim.Sign(&plain, strings.NewReader(sample), &dkim.SignOptions{
		Domain: testDomain, Selector: testSelector, Signer: key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: []string{"From", "To", "Subject"},
	})
	if err != nil {
		t.Fatal(err)
	}
	mustVerifyGo(t, append([]byte("From: attacker@evil.example\r\n"), plain.Bytes()...), rsaTXT)

	// Relaxed canonicalization: refolding and whitespace changes that
	// relays make are not tampering.
	refolded := bytes.Replace(signed, []byte("Subject: Your documents"), []byte("Subject:   Your\r\n  documents"), 1)
	refolded = bytes.Replace(refolded, []byte("Hello,   the"), []byte("Hello, the"), 1)
	mustVerifyGo(t, refolded, rsaTXT)
}

func TestSignCorpus(t *testing.T) {
	t.Parallel()
	dir := corpusDir(t, "enmime", "mail")
	files, err := filepath.Glob(filepath.Join(dir, "*.raw"))
	if err != nil || len(files) == 0 {
		t.Skipf("no corpus messages in %s", dir)
	}
	rsaFile, _ := testKeys(t)
	s := newSigner(t, rsaFile)
	signedAny := 0
	for _, f := range files {
		msg, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := s.Sign(context.Background(), msg)
		if err != nil {
			// Only messages without a From or without a header end may
			// be refused; the rewrite never produces those.
			if !strings.Contains(err.Error(), "From") && !strings.Contains(err.Error(), "header") {
				t.Errorf("%s: %v", filepath.Base(f), err)
			}
			continue
		}
		signedAny++
		vs, err := verifyGo(signed, rsaTXT)
		if err != nil {
			t.Errorf("%s: verify: %v", filepath.Base(f), err)
			continue
		}
		if vs[0].Err != nil {
			t.Errorf("%s: %v", filepath.Base(f), vs[0].Err)
		}
	}
	if signedAny < len(files)/2 {
		t.Errorf("signed only %d of %d corpus messages", signedAny, len(files))
	}
}

func TestSignRefusals(t *testing.T) {
	t.Parallel()
	rsaFile, _ := testKeys(t)
	s := newSigner(t, rsaFile)
	for name, msg := range map[string]string{
		"no From":       "To: a@example.net\r\nSubject: x\r\n\r\nbody\r\n",
		"no header end": "From: a@example.net\r\nSubject: x",
		"no colon":      "From: a@example.net\r\nnot a header\r\n\r\nbody\r\n",
	} {
		if _, err := s.Sign(context.Background(), []byte(msg)); err == nil {
			t.Errorf("%s: Sign succeeded", name)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Sign(ctx, []byte(sample)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: got %v", err)
	}
}

func TestDisabled(t *testing.T) {
	t.Parallel()
	s, err := New(Config{})
	if err != nil || s != nil {
		t.Fatalf("New(zero) = %v, %v; want nil, nil", s, err)
	}
	out, err := s.Sign(context.Background(), []byte(sample))
	if err != nil || string(out) != sample {
		t.Fatalf("nil Signer must pass the message through: %v", err)
	}
	if errs := (Config{}).Check("smtp.dkim"); len(errs) != 0 {
		t.Fatalf("zero Config has problems: %v", errs)
	}
}

func TestCheckReportsEveryProblem(t *testing.T) {
	t.Parallel()
	errs := Config{Domain: "clerk@example.org", PrivateKeyFile: filepath.Join(t.TempDir(), "missing.pem")}.Check("notify.dkim")
	joined := errors.Join(errs...).Error()
	for _, want := range []string{"notify.dkim.domain:", "notify.dkim.selector:", "notify.dkim.private_key_file:"} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %q in:\n%s", want, joined)
		}
	}
	if len(errs) != 3 {
		t.Errorf("got %d problems, want 3:\n%s", len(errs), joined)
	}
	if _, err := New(Config{Domain: testDomain, Selector: testSelector}); err == nil {
		t.Error("New without a key file succeeded")
	}
}

func TestStripSignatures(t *testing.T) {
	t.Parallel()
	rsaFile, _ := testKeys(t)
	s := newSigner(t, rsaFile)
	once, err := s.Sign(context.Background(), []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	twice, err := s.Sign(context.Background(), once)
	if err != nil {
		t.Fatal(err)
	}
	h := readHeader(t, twice)
	if n := StripSignatures(&h); n != 2 {
		t.Fatalf("removed %d signatures, want 2", n)
	}
	if h.Has("DKIM-Signature") || h.Get("Subject") != "Your documents" || len(h.Values("To")) != 1 {
		t.Fatalf("wrong fields left: %v", h.Map())
	}
	if n := StripSignatures(&h); n != 0 {
		t.Fatalf("second strip removed %d", n)
	}
}

func corpusDir(t *testing.T, elem ...string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("repository root not found")
		}
		dir = parent
	}
	p := filepath.Join(append([]string{dir, "..", "shared", "corpus"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("test corpus not available at %s", p)
	}
	return p
}
