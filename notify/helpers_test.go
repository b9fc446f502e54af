package notify

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"sealgate/catalog"
	"sealgate/vault"
)

const (
	testFrom   = "noreply@gate.example.org"
	testPublic = "https://files.example.org"
	testOrg    = "Stadt Musterstadt"
)

// sent is one message the fake sender took.
type sent struct {
	from string
	to   []string
	data []byte
}

// fakeSender keeps what it is given, or fails with err.
type fakeSender struct {
	err  error
	mu   sync.Mutex
	msgs []sent
}

func (s *fakeSender) Send(_ context.Context, from string, to []string, msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.msgs = append(s.msgs, sent{from, append([]string(nil), to...), append([]byte(nil), msg...)})
	return nil
}

func (s *fakeSender) all() []sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sent(nil), s.msgs...)
}

// last returns the one message sent so far.
func (s *fakeSender) only(t *testing.T) sent {
	t.Helper()
	all := s.all()
	if len(all) != 1 {
		t.Fatalf("%d messages sent, want 1", len(all))
	}
	return all[0]
}

var fixedNow = time.Date(2026, 11, 26, 14, 5, 0, 0, time.UTC)

// newTest builds a Notifier with a fake sender; mod changes the config.
// The log goes to the returned buffer, so tests can check what is logged.
func newTest(t *testing.T, mod func(*Config)) (*Notifier, *fakeSender, *bytes.Buffer) {
	t.Helper()
	cfg := Config{From: testFrom, PublicURL: testPublic + "/", OrgName: testOrg, SenderSummary: true, Receipts: true}
	if mod != nil {
		mod(&cfg)
	}
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSender{}
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&syncWriter{w: &logBuf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := New(cfg, cat, s, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	n.now = func() time.Time { return fixedNow }
	n.loc = time.UTC
	return n, s, &logBuf
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// testTransfer is a level-2 transfer to two recipients with two files.
func testTransfer() vault.Transfer {
	return vault.Transfer{
		ID:         "SG-7K3M-XQ2P",
		Level:      2,
		Sender:     "clerk@musterstadt.example",
		Recipients: []string{"citizen@example.net", "other@example.net"},
		CreatedAt:  time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		ExpiresAt:  time.Date(2027, 1, 25, 10, 0, 0, 0, time.UTC),
		Files: []vault.File{
			{ID: "f1", Name: "Bescheid 2026-17.pdf", ContentType: "application/pdf", Size: 1_500_000, SHA256: strings.Repeat("ab", 32)},
			{ID: "f2", Name: "Anlage.csv", ContentType: "text/csv", Size: 512, SHA256: strings.Repeat("cd", 32)},
		},
		Committed: true,
	}
}

// parsed is what a test learns from a sent message.
type parsed struct {
	header      mail.Header
	rawHeader   string
	subject     string
	topType     string
	text, html  string
	attachments map[string][]byte // by file name
	attachType  map[string]string
}

// parseMail reads a message as a mail reader would, and fails the test if
// it does not parse.
func parseMail(t *testing.T, data []byte) parsed {
	t.Helper()
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		t.Fatalf("no header end in %.200q", data)
	}
	if bytes.Contains(bytes.ReplaceAll(data, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("a line ends in a bare LF")
	}
	p := parsed{rawHeader: string(data[:end+2]), attachments: map[string][]byte{}, attachType: map[string]string{}}
	mr, err := mail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("message does not parse: %v", err)
	}
	p.header = mr.Header
	p.subject, err = mr.Header.Subject()
	if err != nil {
		t.Errorf("subject: %v", err)
	}
	p.topType, _, _ = mr.Header.ContentType()
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading parts: %v", err)
		}
		body, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatalf("reading a part: %v", err)
		}
		switch h := part.Header.(type) {
		case *mail.InlineHeader:
			ct, params, _ := h.ContentType()
			if params["charset"] != "utf-8" {
				t.Errorf("%s part with charset %q", ct, params["charset"])
			}
			switch ct {
			case "text/plain":
				p.text = string(body)
			case "text/html":
				p.html = string(body)
			default:
				t.Errorf("unexpected inline part %s", ct)
			}
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			p.attachments[name] = body
			p.attachType[name], _, _ = h.ContentType()
		}
	}
	return p
}

// decodedHeaderText is the raw header with encoded words decoded, to look
// for text that must not be in any header.
func decodedHeaderText(raw string) string {
	dec := mime.WordDecoder{}
	s, err := dec.DecodeHeader(raw)
	if err != nil {
		return raw
	}
	return s
}
