package smtpproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"sealgate/internal/smtptest"
)

var uploadRE = regexp.MustCompile(regexp.QuoteMeta(publicURL) + `/u/([A-Za-z0-9_-]{43})`)

// uploadToken returns the upload link's token in a copy, checking that the
// link stands on a line of its own in the text and is in the HTML too, if
// there is HTML.
func uploadToken(t *testing.T, rw rewritten) string {
	t.Helper()
	m := uploadRE.FindStringSubmatch(rw.text)
	if m == nil {
		t.Fatalf("no upload link in the text part:\n%s", rw.text)
	}
	alone := false
	for _, l := range strings.Split(rw.text, "\n") {
		alone = alone || strings.TrimRight(l, "\r") == m[0]
	}
	if !alone {
		t.Errorf("upload link does not stand on a line of its own:\n%s", rw.text)
	}
	if rw.html != "" && !strings.Contains(rw.html, m[0]) {
		t.Errorf("upload link missing from the HTML part")
	}
	return m[1]
}

// byRecipient sorts captured messages by their envelope recipients.
func byRecipient(t *testing.T, msgs []smtptest.Message) map[string]smtptest.Message {
	t.Helper()
	out := map[string]smtptest.Message{}
	for _, m := range msgs {
		key := strings.Join(m.To, ",")
		if _, dup := out[key]; dup {
			t.Fatalf("two messages for %s", key)
		}
		out[key] = m
	}
	return out
}

// TestUploadLinksPerRecipient: [secure2][upload] to two external
// recipients and one internal: each external recipient gets a copy of their
// own, in a transaction of their own, with their own upload link and the
// same transfer link and access code; the internal one gets the original.
func TestUploadLinksPerRecipient(t *testing.T) {
	t.Parallel()
	dk, records := dkimConfig(t)
	h := start(t, func(c *Config, _ *smtptest.Options) { c.DKIM = dk })
	msg := &taggedMessage{subject: "[secure2][upload] Unterlagen", files: threeFiles(40 << 10)}
	orig := msg.bytes()
	rcpts := []string{"a@example.net", "B@Example.com", "colleague@intern.example"}
	if err := h.send("clerk@example.org", rcpts, bytes.NewReader(orig)); err != nil {
		t.Fatal(err)
	}
	got := byRecipient(t, h.messages(3))
	if int, ok := got["colleague@intern.example"]; !ok || !bytes.Equal(stripTrace(t, int.Data), orig) {
		t.Error("the internal recipient did not get the original")
	}
	ctx := context.Background()
	var transferToken, code string
	uploads := map[string]string{}
	for _, r := range rcpts[:2] {
		m, ok := got[r]
		if !ok {
			t.Fatalf("no copy of its own for %s (have %v)", r, keys(got))
		}
		for _, f := range msg.files {
			if bytes.Contains(m.Data, []byte(f.marker())) {
				t.Errorf("bytes of %s reached %s", f.name, r)
			}
		}
		if _, err := verifyGo(m.Data, records); err != nil {
			t.Errorf("copy for %s: DKIM: %v", r, err)
		}
		rw := parseRewritten(t, stripTrace(t, m.Data))
		if rw.subject != "Unterlagen" || rw.token == "" || rw.code == "" {
			t.Fatalf("copy for %s: subject %q, link %q, code %q", r, rw.subject, rw.token, rw.code)
		}
		if transferToken != "" && (rw.token != transferToken || rw.code != code) {
			t.Error("the copies lead to different transfers")
		}
		transferToken, code = rw.token, rw.code
		tok := uploadToken(t, rw)
		for other, o := range uploads {
			if o == tok {
				t.Errorf("%s and %s got the same upload link", r, other)
			}
		}
		uploads[r] = tok
		if !strings.Contains(rw.text, "Sie können Dokumente sicher zurücksenden:") {
			t.Errorf("the notice does not offer the upload:\n%s", rw.text)
		}
	}
	tr, err := h.vault.TransferByToken(ctx, transferToken)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Level != 2 || !tr.Upload || len(tr.Files) != 3 || !tr.Committed {
		t.Errorf("transfer level %d upload %v files %d committed %v", tr.Level, tr.Upload, len(tr.Files), tr.Committed)
	}
	for r, tok := range uploads {
		link, err := h.vault.UploadByToken(ctx, tok)
		if err != nil {
			t.Fatalf("upload link of %s: %v", r, err)
		}
		if link.TransferID != tr.ID || link.Email != strings.ToLower(r) || link.Level != 2 {
			t.Errorf("upload link of %s: %+v", r, link)
		}
	}
}

// TestUploadWithoutAttachments: a tagged message with an upload request
// but nothing to store carries the upload notice alone; its transfer has no
// files but keeps the level for the upload page. A recipient named twice
// gets the same link in both copies.
func TestUploadWithoutAttachments(t *testing.T) {
	t.Parallel()
	h := start(t)
	if err := h.send("clerk@example.org", []string{"citizen@example.net", "Citizen@example.net"}, strings.NewReader(simpleMessage("[secure2] [upload] Termin"))); err != nil {
		t.Fatal(err)
	}
	msgs := h.messages(2)
	var tokens []string
	for _, m := range msgs {
		out := stripTrace(t, m.Data)
		rw := parseRewritten(t, out)
		if rw.subject != "Termin" || rw.token != "" || rw.code != "" || !strings.Contains(rw.text, "Hello,") {
			t.Errorf("subject %q, transfer link %q, code %q:\n%s", rw.subject, rw.token, rw.code, rw.text)
		}
		tokens = append(tokens, uploadToken(t, rw))
	}
	if tokens[0] != tokens[1] {
		t.Error("one recipient, two upload links: the first would no longer work")
	}
	link, err := h.vault.UploadByToken(context.Background(), tokens[0])
	if err != nil {
		t.Fatal(err)
	}
	tr, err := h.vault.TransferByID(context.Background(), link.TransferID)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Level != 2 || len(tr.Files) != 0 || !tr.Upload || link.Level != 2 {
		t.Errorf("transfer level %d, %d files, upload %v; link level %d", tr.Level, len(tr.Files), tr.Upload, link.Level)
	}
}

// TestUploadCopyFails: when the next hop refuses the second recipient's
// own transaction, no copy is ended, the client hears 451, and nothing
// (transfer, files, upload links) stays stored. Then the relay works again.
func TestUploadCopyFails(t *testing.T) {
	t.Parallel()
	h := start(t)
	msg := &taggedMessage{subject: "[secure1][upload] Unterlagen", files: threeFiles(10 << 10)}
	c, err := smtp.Dial(h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("clerk@example.org", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"a@example.net", "b@example.com"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The envelope was mirrored; the next RCPT for b is its own copy's.
	h.hop.Inject(smtptest.Fault{Stage: smtptest.StageRcpt, Rcpt: "b@example.com", Times: 1,
		Reply: &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}})
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, msg.reader()); err != nil {
		t.Fatal(err)
	}
	wantReply(t, w.Close(), 451, smtp.EnhancedCode{4, 3, 0})
	if n := len(h.hop.Messages()); n != 0 {
		t.Errorf("next hop accepted %d message(s)", n)
	}
	h.assertNothingStored()

	if err := c.Mail("clerk@example.org", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"a@example.net", "b@example.com"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	if w, err = c.Data(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, msg.reader()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("after the next hop recovered: %v", err)
	}
	h.messages(2)
}

// TestUploadAtLevel0: [upload] alone creates a transfer without files that
// holds the upload link; the message keeps its attachments and its cid
// image, and gains the upload notice in its text. With smtp.dkim it is
// signed like any rewritten message.
func TestUploadAtLevel0(t *testing.T) {
	t.Parallel()
	dk, records := dkimConfig(t)
	obs := newFakeObserver()
	h := start(t, func(c *Config, _ *smtptest.Options) { c.DKIM = dk; c.Observer = obs })
	form := &genFile{name: "formular.pdf", ctype: "application/pdf", size: 30 << 10, seed: 21}
	msg := &taggedMessage{subject: "[upload] Bitte Unterlagen", files: []*genFile{form}}
	if err := h.send("clerk@example.org", []string{"citizen@example.net"}, msg.reader()); err != nil {
		t.Fatal(err)
	}
	m := h.messages(1)[0]
	if _, err := verifyGo(m.Data, records); err != nil {
		t.Errorf("DKIM: %v", err)
	}
	out := stripTrace(t, m.Data)
	rw := parseRewritten(t, out)
	if rw.subject != "Bitte Unterlagen" || rw.token != "" || rw.code != "" {
		t.Errorf("subject %q, transfer link %q, code %q", rw.subject, rw.token, rw.code)
	}
	if !rw.inline || !strings.Contains(rw.text, "Sehr geehrte Frau Muster") || !strings.Contains(rw.html, "Sehr geehrte Frau Muster") {
		t.Errorf("the message lost its text or its image:\n%s", rw.text)
	}
	if !strings.Contains(rw.text, "Dokumente sicher senden") || strings.Contains(rw.text, "Zugangscode") {
		t.Errorf("not the upload notice:\n%s", rw.text)
	}
	checkAttachment(t, out, form)
	link, err := h.vault.UploadByToken(context.Background(), uploadToken(t, rw))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := h.vault.TransferByID(context.Background(), link.TransferID)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Upload || len(tr.Files) != 0 || !tr.Committed || link.Email != "citizen@example.net" {
		t.Errorf("transfer %+v, link %+v", tr, link)
	}
	if d := obs.done(); len(d) != 1 || d[0].level != 0 || d[0].outcome != OutcomeRelayed || len(obs.failures()) != 0 {
		t.Errorf("observed %+v, failures %v", d, obs.failures())
	}
}

// TestUploadAtLevel0Large: a level-0 message beyond the rewrite's memory
// bound streams through behind the notice, byte for byte, once per
// recipient (from the spool), without our DKIM signature (counted).
func TestUploadAtLevel0Large(t *testing.T) {
	t.Parallel()
	dk, _ := dkimConfig(t)
	obs := newFakeObserver()
	h := start(t, func(c *Config, _ *smtptest.Options) {
		c.Rewrite.MaxKeptBytes = 16 << 10
		c.DKIM = dk
		c.Observer = obs
	})
	form := &genFile{name: "formular.pdf", ctype: "application/pdf", size: 100 << 10, seed: 22}
	msg := &taggedMessage{subject: "Unterlagen [UPLOAD]", files: []*genFile{form}}
	orig := msg.bytes()
	_, origBody, _ := bytes.Cut(orig, []byte("\r\n\r\n"))
	if err := h.send("clerk@example.org", []string{"a@example.net", "b@example.com"}, bytes.NewReader(orig)); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]bool{}
	for _, m := range h.messages(2) {
		out := stripTrace(t, m.Data)
		if bytes.Contains(out, []byte("DKIM-Signature")) {
			t.Error("signed, though too large to hold")
		}
		if !bytes.Contains(out, origBody) {
			t.Errorf("copy for %v does not carry the body byte for byte", m.To)
		}
		rw := parseRewritten(t, out)
		if rw.subject != "Unterlagen" {
			t.Errorf("subject %q", rw.subject)
		}
		tokens[uploadToken(t, rw)] = true
		checkAttachment(t, out, form)
	}
	if len(tokens) != 2 {
		t.Errorf("%d distinct upload links for two recipients", len(tokens))
	}
	if f := obs.failures(); len(f) != 1 || f[0] != FailureDKIMUnsigned {
		t.Errorf("failures %v, want [%s]", f, FailureDKIMUnsigned)
	}
}

// checkAttachment finds f in msg and compares its bytes.
func checkAttachment(t *testing.T, msg []byte, f *genFile) {
	t.Helper()
	_, parts := leaves(t, msg)
	for _, p := range parts {
		if p.media == f.ctype {
			if got := sum(p.body); got != f.sum {
				t.Errorf("%s arrives with SHA-256 %s, want %s", f.name, got, f.sum)
			}
			return
		}
	}
	t.Errorf("%s is not in the message", f.name)
}

// TestStorageFailureCounted: a vault that fails holds the message (451)
// and is counted as a storage failure.
func TestStorageFailureCounted(t *testing.T) {
	t.Parallel()
	obs := newFakeObserver()
	h := start(t, func(c *Config, _ *smtptest.Options) { c.Observer = obs })
	if err := h.vault.Close(); err != nil {
		t.Fatal(err)
	}
	err := h.send("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(simpleMessage("[secure4] x")))
	wantReply(t, err, 451, smtp.EnhancedCode{4, 3, 0})
	if f := obs.failures(); len(f) != 1 || f[0] != FailureStorage {
		t.Errorf("failures %v, want [%s]", f, FailureStorage)
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) && strings.Contains(se.Message, "vault") {
		t.Errorf("reply leaks internals: %q", se.Message)
	}
}
