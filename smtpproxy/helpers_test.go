package smtpproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/textproto"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"sealgate/catalog"
	"sealgate/internal/smtptest"
	"sealgate/vault"
)

const publicURL = "https://files.example.org"

// harness is sealgate between a test client and a fake next hop.
type harness struct {
	t     testing.TB
	hop   *smtptest.Server
	srv   *Server
	addr  string
	dir   string // storage.dir
	vault *vault.Vault
	stop  func() // stops the server (idempotent)
}

type option func(*Config, *smtptest.Options)

// start runs sealgate with a fresh vault and a fake next hop. Cleanup stops
// sealgate first, then the vault, then checks the next hop for leaked
// connections.
func start(t testing.TB, opts ...option) *harness {
	t.Helper()
	cfg := Config{
		Hostname:        "sealgate.test",
		PublicURL:       publicURL,
		InternalDomains: []string{"intern.example"},
		NextHopTimeout:  10 * time.Second,
		ShutdownTimeout: 10 * time.Second,
	}
	hopOpts := smtptest.Options{}
	for _, o := range opts {
		o(&cfg, &hopOpts)
	}
	h := &harness{t: t}
	h.hop = smtptest.Start(t, hopOpts)
	if cfg.NextHop == "" {
		cfg.NextHop = h.hop.Addr
	}
	h.dir = t.TempDir()
	ctx := context.Background()
	v, err := vault.Open(ctx, vault.Config{Dir: h.dir})
	if err != nil {
		t.Fatalf("vault: %v", err)
	}
	h.vault = v
	t.Cleanup(func() {
		if err := v.Close(); err != nil {
			t.Errorf("vault close: %v", err)
		}
	})
	log := slog.New(slog.DiscardHandler)
	if _, ok := t.(*testing.B); !ok {
		log = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cat, err := catalog.New()
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	h.srv, err = New(cfg, v, cat, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.srv.Serve(sctx, ln) }()
	stopped := false
	h.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(h.stop)
	return h
}

// send submits one message with a real go-smtp client.
func (h *harness) send(from string, to []string, msg io.Reader) error {
	c, err := smtp.Dial(h.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// messages waits for n messages at the next hop.
func (h *harness) messages(n int) []smtptest.Message {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := h.hop.WaitMessages(ctx, n)
	if err != nil {
		h.t.Fatalf("waiting for %d message(s) at the next hop: %v (have %d)", n, err, len(h.hop.Messages()))
	}
	return msgs
}

// assertNothingStored checks that storage.dir holds no transfer and no blob.
func (h *harness) assertNothingStored() {
	h.t.Helper()
	rep, err := h.vault.Purge(context.Background(), time.Now().AddDate(10, 0, 0), true)
	if err != nil {
		h.t.Fatalf("purge dry run: %v", err)
	}
	if len(rep.Transfers) != 0 {
		h.t.Errorf("transfers left in the vault: %v", rep.Transfers)
	}
	for _, sub := range []string{"blobs", "spool"} {
		_ = filepath.WalkDir(filepath.Join(h.dir, sub), func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				h.t.Errorf("file left in storage: %s", path)
			}
			return nil
		})
	}
}

// hasBlob reports whether storage.dir holds a blob.
func (h *harness) hasBlob() bool {
	found := false
	_ = filepath.WalkDir(filepath.Join(h.dir, "blobs"), func(_ string, d fs.DirEntry, err error) error {
		found = found || (err == nil && d.Type().IsRegular())
		return nil
	})
	return found
}

// wantReply checks an SMTP error's code and enhanced code.
func wantReply(t *testing.T, err error, code int, enh smtp.EnhancedCode) *smtp.SMTPError {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want SMTP reply %d %v", err, code, enh)
	}
	if se.Code != code || se.EnhancedCode != enh {
		t.Fatalf("got %d %v %q, want %d %v", se.Code, se.EnhancedCode, se.Message, code, enh)
	}
	return se
}

// stripTrace removes our Received: field from the top of a message.
func stripTrace(t *testing.T, data []byte) []byte {
	t.Helper()
	if !bytes.HasPrefix(data, []byte("Received: from ")) {
		t.Fatalf("no trace header at the top: %.80q", data)
	}
	rest := data
	for {
		i := bytes.Index(rest, []byte("\r\n"))
		rest = rest[i+2:]
		if len(rest) == 0 || (rest[0] != ' ' && rest[0] != '\t') {
			return rest
		}
	}
}

// rawClient speaks SMTP byte for byte, for input no client library sends.
type rawClient struct {
	t *testing.T
	c net.Conn
	r *textproto.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	rc := &rawClient{t: t, c: c, r: textproto.NewReader(bufio.NewReader(c))}
	rc.expect(220)
	return rc
}

func (rc *rawClient) write(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}

// expect reads one reply and checks its code; it returns the text.
func (rc *rawClient) expect(code int) string {
	rc.t.Helper()
	got, msg, err := rc.r.ReadResponse(0)
	if err != nil && got == 0 {
		rc.t.Fatalf("reading reply: %v", err)
	}
	if got != code {
		rc.t.Fatalf("got %d %s, want %d", got, msg, code)
	}
	return msg
}

func (rc *rawClient) cmd(line string, code int) string {
	rc.t.Helper()
	rc.write(line + "\r\n")
	return rc.expect(code)
}

// simpleMessage is a small untagged message.
func simpleMessage(subject string) string {
	return "From: Clerk <clerk@example.org>\r\n" +
		"To: Citizen <citizen@example.net>\r\n" +
		"Subject: " + subject + "\r\n" +
		"Message-ID: <1@example.org>\r\n" +
		"\r\n" +
		"Hello,\r\n" +
		"this is the text.\r\n"
}

func lines(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
