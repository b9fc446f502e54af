package smtpproxy

import (
	"bytes"
	"context"
	"io"
	"mime"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"

	"sealgate/internal/smtptest"
	"sealgate/policy"
)

var (
	linkRE = regexp.MustCompile(regexp.QuoteMeta(publicURL) + `/t/([A-Za-z0-9_-]{43})`)
	codeRE = regexp.MustCompile(`\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b`)
)

// rewritten is what a test learns from a rewritten message.
type rewritten struct {
	subject     string
	text, html  string
	token, code string
	inline      bool // the cid image is still there
}

// parseRewritten walks a rewritten message with a mail reader.
func parseRewritten(t *testing.T, data []byte) rewritten {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("rewritten message does not parse: %v", err)
	}
	var rw rewritten
	rw.subject, _ = mr.Header.Subject()
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("rewritten message: %v", err)
		}
		body, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("reading part: %v", err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch {
		case ct == "text/plain" && rw.text == "":
			rw.text = string(body)
		case ct == "text/html" && rw.html == "":
			rw.html = string(body)
		case p.Header.Get("Content-Id") == "<logo@example.org>":
			rw.inline = true
		}
	}
	if m := linkRE.FindStringSubmatch(rw.text); m != nil {
		rw.token = m[1]
	}
	rw.code = codeRE.FindString(rw.text)
	return rw
}

// checkTransfer checks the stored files against the originals.
func (h *harness) checkTransfer(token string, files []*genFile) {
	h.t.Helper()
	ctx := context.Background()
	tr, err := h.vault.TransferByToken(ctx, token)
	if err != nil {
		h.t.Fatalf("transfer for the link: %v", err)
	}
	if tr.Level != 1 || !tr.Committed || tr.Sender != "clerk@example.org" {
		h.t.Errorf("transfer level %d committed %v sender %q", tr.Level, tr.Committed, tr.Sender)
	}
	if len(tr.Files) != len(files) {
		h.t.Fatalf("%d files stored, want %d", len(tr.Files), len(files))
	}
	for i, f := range tr.Files {
		want := files[i]
		if f.Name != want.name || f.Size != want.size || f.SHA256 != want.sum {
			h.t.Errorf("file %d: %s %d %s, want %s %d %s", i, f.Name, f.Size, f.SHA256, want.name, want.size, want.sum)
		}
		rc, _, err := h.vault.OpenFile(ctx, tr.ID, f.ID)
		if err != nil {
			h.t.Fatalf("open %s: %v", f.Name, err)
		}
		sum, err := sha256Hex(rc)
		rc.Close()
		if err != nil || sum != want.sum {
			h.t.Errorf("%s downloads with SHA-256 %s (%v), want %s", f.Name, sum, err, want.sum)
		}
	}
}

// TestLevel1EndToEnd: a [secure1] mail with text, HTML with a cid image and
// three attachments, one of 50 MiB, streamed, arrives without any byte of
// the attachments, with the link and access code in both parts; the link
// and the code open the stored files, byte for byte.
func TestLevel1EndToEnd(t *testing.T) {
	t.Parallel()
	big := int64(50 << 20)
	if testing.Short() {
		big = 1 << 20
	}
	h := start(t)
	msg := &taggedMessage{subject: "[secure1] Ihr Bescheid", files: threeFiles(big)}
	if err := h.send("clerk@example.org", []string{"citizen@example.net"}, msg.reader()); err != nil {
		t.Fatal(err)
	}
	out := h.messages(1)[0]
	if out.Size > 256<<10 {
		t.Errorf("rewritten message is %d bytes", out.Size)
	}
	for _, f := range msg.files {
		if bytes.Contains(out.Data, []byte(f.marker())) {
			t.Errorf("bytes of %s survived", f.name)
		}
	}
	if bytes.Contains(bytes.ToLower(out.Data), []byte("x-sealgate")) {
		t.Error("X-Sealgate field left")
	}
	rw := parseRewritten(t, stripTrace(t, out.Data))
	if rw.subject != "Ihr Bescheid" {
		t.Errorf("subject %q", rw.subject)
	}
	if rw.token == "" || rw.code == "" {
		t.Fatalf("no link or access code in the text part:\n%s", rw.text)
	}
	if !strings.Contains(rw.html, rw.token) || !strings.Contains(rw.html, rw.code) {
		t.Errorf("link or access code missing from the HTML part:\n%s", rw.html)
	}
	if !strings.Contains(rw.text, "Sehr geehrte Frau Muster") || !strings.Contains(rw.html, "Sehr geehrte Frau Muster") {
		t.Error("the clerk's text is gone")
	}
	if !rw.inline {
		t.Error("the cid image was taken out")
	}
	h.checkTransfer(rw.token, msg.files)
	token, err := h.vault.TokenForAccessCode(context.Background(), rw.code)
	if err != nil || token != rw.token {
		t.Errorf("access code leads to %q (%v)", token, err)
	}
}

// TestSplitDelivery: the internal recipient gets the original bytes, the
// external one the rewritten message, in one client transaction.
func TestSplitDelivery(t *testing.T) {
	t.Parallel()
	h := start(t)
	msg := &taggedMessage{subject: "[secure1] Bescheid", files: threeFiles(200 << 10)}
	orig := msg.bytes()
	if err := h.send("clerk@example.org", []string{"citizen@example.net", "colleague@intern.example"}, bytes.NewReader(orig)); err != nil {
		t.Fatal(err)
	}
	msgs := h.messages(2)
	var internal, external *smtptest.Message
	for i := range msgs {
		switch strings.Join(msgs[i].To, ",") {
		case "colleague@intern.example":
			internal = &msgs[i]
		case "citizen@example.net":
			external = &msgs[i]
		}
	}
	if internal == nil || external == nil {
		t.Fatalf("recipients at the next hop: %q, %q", msgs[0].To, msgs[1].To)
	}
	if !bytes.Equal(stripTrace(t, internal.Data), orig) {
		t.Error("the internal copy is not the original")
	}
	for _, f := range msg.files {
		if bytes.Contains(external.Data, []byte(f.marker())) {
			t.Errorf("bytes of %s reached the external recipient", f.name)
		}
	}
	rw := parseRewritten(t, stripTrace(t, external.Data))
	if rw.token == "" {
		t.Fatal("no link in the external copy")
	}
	tr, err := h.vault.TransferByToken(context.Background(), rw.token)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tr.Recipients, ",") != "citizen@example.net" {
		t.Errorf("transfer recipients %q: internal ones do not belong there", tr.Recipients)
	}
}

// TestTaggedWithoutAttachments: the tag goes, nothing is stored.
func TestTaggedWithoutAttachments(t *testing.T) {
	t.Parallel()
	h := start(t)
	if err := h.send("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(simpleMessage("[secure1] Termin"))); err != nil {
		t.Fatal(err)
	}
	m := h.messages(1)[0]
	if !bytes.Contains(m.Data, []byte("Subject: Termin\r\n")) || bytes.Contains(m.Data, []byte("secure1")) {
		t.Errorf("message %q", m.Data)
	}
	if !bytes.HasSuffix(m.Data, []byte("\r\n\r\nHello,\r\nthis is the text.\r\n")) {
		t.Errorf("body changed: %q", m.Data)
	}
	h.assertNothingStored()
}

// TestSizeRules: a rule that applies above an attachment size decides
// after the whole message was seen: below it the message passes through
// byte for byte, above it the attachments are stored.
func TestSizeRules(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *Config, _ *smtptest.Options) {
		c.Policy = policy.Config{Rules: []policy.Rule{{MinLevel: 1, AttachmentsOver: 100 << 10}}}
	})
	small := &taggedMessage{subject: "Unterlagen", files: []*genFile{{name: "a.pdf", ctype: "application/pdf", size: 50 << 10, seed: 7}}}
	orig := small.bytes()
	if err := h.send("clerk@example.org", []string{"citizen@example.net"}, bytes.NewReader(orig)); err != nil {
		t.Fatal(err)
	}
	if got := stripTrace(t, h.messages(1)[0].Data); !bytes.Equal(got, orig) {
		t.Error("a message below the size rule was changed")
	}
	h.assertNothingStored()

	large := &taggedMessage{subject: "Unterlagen", files: []*genFile{
		{name: "a.pdf", ctype: "application/pdf", size: 60 << 10, seed: 8},
		{name: "b.pdf", ctype: "application/pdf", size: 60 << 10, seed: 9},
	}}
	if err := h.send("clerk@example.org", []string{"citizen@example.net"}, large.reader()); err != nil {
		t.Fatal(err)
	}
	out := h.messages(2)[1]
	rw := parseRewritten(t, stripTrace(t, out.Data))
	if rw.token == "" {
		t.Fatalf("no link: attachments over the rule's size were not stored")
	}
	h.checkTransfer(rw.token, large.files)
}
