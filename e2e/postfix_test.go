package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"sealgate/internal/postfixtest"
	"sealgate/internal/smtptest"
	"sealgate/smtpproxy/dkimsign/dkimtest"
)

// mailTimeout bounds each wait for Postfix and sealgate to move mail.
const mailTimeout = 60 * time.Second

// TestPostfixContentFilter is issue 5's proof: clerk mail submitted to a
// real Postfix goes through sealgate as an after-queue content filter and
// back through Postfix's reinjection smtpd to the "internet" (a capture
// server). A [secure1] mail arrives rewritten and DKIM-signed, an untagged
// mail arrives unchanged, and a [secure9] mail comes back to the clerk as
// Postfix's bounce carrying sealgate's sentence.
func TestPostfixContentFilter(t *testing.T) {
	t.Parallel()
	dkimtest.Python(t) // fail or skip early, before starting anything
	internet := smtptest.Start(t, smtptest.Options{})
	gateAddr := postfixtest.FreeAddr(t)
	pf := postfixtest.Start(t, postfixtest.Options{RelayHost: internet.Addr, ContentFilter: gateAddr})
	key := newDKIMKey(t)
	g := startGate(t, gateOptions{SMTPListen: gateAddr, NextHop: pf.ReinjectAddr, DKIM: key})

	attachment := randomBytes(t, 96<<10)
	tagged := rawMail{Subject: "[secure1] Ihr Bescheid", Body: "Sehr geehrte Frau Müller,\r\nanbei Ihr Bescheid.",
		Attachment: attachment, AttachmentName: "Bescheid 2026-17.pdf", MessageID: "tagged-1@sealgate.test"}
	plain := rawMail{Subject: "Termin am Montag", Body: "Guten Tag,\r\nder Termin bleibt.", MessageID: "plain-1@sealgate.test"}
	refused := rawMail{Subject: "[secure9] Falsche Stufe", Body: "Dies darf nicht hinaus.", MessageID: "refused-1@sealgate.test"}

	var plainRaw []byte
	for _, m := range []rawMail{tagged, plain, refused} {
		path, raw := writeMail(t, m)
		if m.MessageID == plain.MessageID {
			plainRaw = raw
		}
		pf.Submit(t, "--from", clerk, "--to", citizen, "--data", "@"+path)
	}

	ctx, cancel := context.WithTimeout(context.Background(), mailTimeout)
	defer cancel()
	// Postfix is done when its queue is empty: everything was delivered or
	// bounced, and the bounce itself delivered.
	pf.WaitQueue(ctx, t, func(q []postfixtest.QueuedMessage) bool { return len(q) == 0 })
	// Four mails leave: the rewritten one, the unchanged one, Postfix's
	// bounce for [secure9], and sealgate's sender copy for the [secure1]
	// transfer (notify.sender_summary is on by default).
	msgs, err := internet.WaitMessages(ctx, 4)
	if err != nil {
		t.Fatalf("want 4 messages at the internet side (rewritten, unchanged, bounce, sender copy), got %d: %v\npostfix log:\n%s",
			len(internet.Messages()), err, pf.Log())
	}
	if len(msgs) != 4 {
		t.Errorf("want exactly 4 delivered messages, got %d", len(msgs))
	}

	t.Run("clerk gets a sender copy", func(t *testing.T) {
		var copies int
		for _, m := range msgs {
			if len(m.To) == 1 && m.To[0] == clerk && bytes.Contains(m.Data, []byte("Auto-Submitted: auto-generated")) &&
				bytes.Contains(m.Data, []byte(g.WebURL+"/s/")) {
				copies++
			}
		}
		if copies != 1 {
			t.Errorf("want one sender copy with a status link to %s, got %d", clerk, copies)
		}
	})

	t.Run("secure1 is rewritten and signed", func(t *testing.T) {
		m := bySubject(t, msgs, "Ihr Bescheid")
		checkEnvelope(t, m, clerk, citizen)
		p := parse(t, m.Data)
		if s := p.subject(); s != "Ihr Bescheid" {
			t.Errorf("subject %q: the tag must be removed and nothing else changed", s)
		}
		checkAttachmentGone(t, m.Data, p, attachment)
		if link := findLink(p, g.WebURL); link == "" {
			t.Errorf("no link to %s in the text parts:\n%s", g.WebURL, strings.Join(p.Texts, "\n---\n"))
		}
		if !p.Header.Has("DKIM-Signature") {
			t.Fatal("rewritten mail carries no DKIM-Signature (smtp.dkim is set)")
		}
		if err := dkimtest.Verify(t, m.Data, key.Records); err != nil {
			t.Errorf("dkimpy does not verify the rewritten mail: %v", err)
		}
		if err := verifyDKIMGo(m.Data, key.Records); err != nil {
			t.Errorf("go-msgauth does not verify the rewritten mail: %v", err)
		}
	})

	t.Run("recipient downloads the attachment", func(t *testing.T) {
		m := bySubject(t, msgs, "Ihr Bescheid")
		link := findLink(parse(t, m.Data), g.WebURL)
		if link == "" {
			t.Fatal("no link in the rewritten mail")
		}
		f, got := download(t, ctx, g.WebURL, link)
		sum := sha256.Sum256(attachment)
		if sha256.Sum256(got) != sum {
			t.Errorf("downloaded %d bytes that differ from the %d-byte attachment", len(got), len(attachment))
		}
		if f.Name != tagged.AttachmentName || f.Size != int64(len(attachment)) || f.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("manifest says %q, %d bytes, sha256 %s; want %q, %d, %x", f.Name, f.Size, f.SHA256, tagged.AttachmentName, len(attachment), sum)
		}
		if token := link[strings.LastIndex(link, "/")+1:]; strings.Contains(g.Logs(), token) {
			t.Error("sealgate's log contains the link token")
		}
	})

	t.Run("untagged mail passes unchanged", func(t *testing.T) {
		m := bySubject(t, msgs, "Termin am Montag")
		checkEnvelope(t, m, clerk, citizen)
		// Postfix and sealgate may prepend trace fields; every byte the
		// clerk sent must follow unchanged.
		if !bytes.HasSuffix(m.Data, plainRaw) {
			t.Errorf("untagged mail changed on the way:\nsent:\n%q\ndelivered:\n%q", plainRaw, m.Data)
		}
		if bytes.Contains(m.Data, []byte("DKIM-Signature:")) {
			t.Error("untagged mail was signed; only rewritten mail is")
		}
	})

	t.Run("secure9 bounces to the clerk with sealgate's sentence", func(t *testing.T) {
		var bounces []smtptest.Message
		for _, m := range msgs {
			if m.From == "" {
				bounces = append(bounces, m)
			}
			if m.From != "" && strings.Contains(subjectOf(m.Data), "Falsche Stufe") {
				t.Error("the [secure9] mail was delivered to the recipient")
			}
		}
		if len(bounces) != 1 {
			t.Fatalf("want one bounce (null sender), got %d", len(bounces))
		}
		b := bounces[0]
		if len(b.To) != 1 || b.To[0] != clerk {
			t.Errorf("bounce goes to %v, want the clerk %s", b.To, clerk)
		}
		text := parse(t, b.Data).text()
		if !strings.Contains(text, "unknown security level 9") {
			t.Errorf("bounce lacks sealgate's sentence \"unknown security level 9\":\n%s", text)
		}
		if !strings.Contains(text, "5.7.1") {
			t.Errorf("bounce lacks the 5.7.1 status:\n%s", text)
		}
	})
}

// TestPostfixKeepsMailWhileSealgateIsDown: with sealgate not running,
// Postfix defers a tagged mail and keeps it; once sealgate runs and the queue
// is flushed, the mail goes out rewritten. Nothing is lost.
func TestPostfixKeepsMailWhileSealgateIsDown(t *testing.T) {
	t.Parallel()
	sealgateBinary(t)
	internet := smtptest.Start(t, smtptest.Options{})
	gateAddr := postfixtest.FreeAddr(t)
	pf := postfixtest.Start(t, postfixtest.Options{RelayHost: internet.Addr, ContentFilter: gateAddr})

	attachment := randomBytes(t, 8<<10)
	path, _ := writeMail(t, rawMail{Subject: "[secure1] Unterlagen", Body: "Anbei.",
		Attachment: attachment, AttachmentName: "unterlagen.pdf", MessageID: "deferred-1@sealgate.test"})
	id := pf.Submit(t, "--from", clerk, "--to", citizen, "--data", "@"+path)

	ctx, cancel := context.WithTimeout(context.Background(), mailTimeout)
	defer cancel()
	// Postfix tries, fails, keeps the mail and tries again: two deferrals
	// of this message, and it is still queued with the reason.
	pf.WaitLogN(ctx, t, regexp.MustCompile(regexp.QuoteMeta(id)+`: to=<`+regexp.QuoteMeta(citizen)+`>.*status=deferred`), 2)
	q := pf.WaitQueue(ctx, t, func(q []postfixtest.QueuedMessage) bool {
		return len(q) == 1 && len(q[0].Recipients) == 1 && q[0].Recipients[0].DelayReason != ""
	})
	if q[0].QueueID != id || q[0].Recipients[0].Address != citizen {
		t.Fatalf("wrong message waiting: %+v", q[0])
	}
	t.Logf("kept in Postfix's %s queue while sealgate is down: %s", q[0].QueueName, q[0].Recipients[0].DelayReason)
	if n := len(internet.Messages()); n != 0 {
		t.Fatalf("%d messages went out while sealgate was down", n)
	}

	startGate(t, gateOptions{SMTPListen: gateAddr, NextHop: pf.ReinjectAddr})
	pf.Flush(t)
	msgs, err := internet.WaitMessages(ctx, 1)
	if err != nil {
		t.Fatalf("deferred mail never arrived after sealgate started: %v\nqueue: %+v", err, pf.Queue(t))
	}
	m := msgs[0]
	checkEnvelope(t, m, clerk, citizen)
	p := parse(t, m.Data)
	if s := p.subject(); s != "Unterlagen" {
		t.Errorf("subject %q, want the rewritten %q", s, "Unterlagen")
	}
	checkAttachmentGone(t, m.Data, p, attachment)
	pf.WaitQueue(ctx, t, func(q []postfixtest.QueuedMessage) bool { return len(q) == 0 })
}

func checkEnvelope(t *testing.T, m smtptest.Message, from, to string) {
	t.Helper()
	if m.From != from || len(m.To) != 1 || m.To[0] != to {
		t.Errorf("envelope %q -> %v, want %q -> [%s]", m.From, m.To, from, to)
	}
}

// checkAttachmentGone fails t if any trace of the attachment's content is
// left: neither its base64 lines nor its decoded bytes.
func checkAttachmentGone(t *testing.T, raw []byte, p parsed, attachment []byte) {
	t.Helper()
	lines := base64Lines(attachment)
	for _, i := range []int{0, len(lines) / 2, len(lines) - 2} {
		if bytes.Contains(raw, []byte(lines[i])) {
			t.Errorf("base64 line %d of the attachment is still in the mail", i)
		}
	}
	probe := attachment[:64]
	for _, leaf := range p.Leaves {
		if bytes.Contains(leaf, probe) {
			t.Error("a part of the delivered mail contains the attachment's bytes")
		}
	}
	if bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(attachment[:48]))) {
		t.Error("the attachment's first bytes are still in the mail, base64-encoded")
	}
}

// findLink returns the first link below base in the text parts.
func findLink(p parsed, base string) string {
	re := regexp.MustCompile(regexp.QuoteMeta(base) + `/t/[A-Za-z0-9_\-]+`)
	for _, text := range p.Texts {
		if l := re.FindString(text); l != "" {
			return l
		}
	}
	return ""
}

// manifestFile is one file in GET /api/v1/transfers/{token}
// (linkserver/API.md).
type manifestFile struct {
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	DownloadURL string `json:"download_url"`
}

// download fetches the transfer's only file the way a script would: the
// manifest, then its download_url.
func download(t *testing.T, ctx context.Context, base, link string) (manifestFile, []byte) {
	t.Helper()
	token := link[strings.LastIndex(link, "/")+1:]
	manifest := httpGet(t, ctx, base+"/api/v1/transfers/"+url.PathEscape(token))
	var doc struct {
		Level int            `json:"level"`
		Files []manifestFile `json:"files"`
	}
	if err := json.Unmarshal(manifest, &doc); err != nil || len(doc.Files) != 1 {
		t.Fatalf("want a manifest with one file (%v):\n%s", err, manifest)
	}
	if doc.Level != 1 {
		t.Errorf("manifest level %d, want 1", doc.Level)
	}
	f := doc.Files[0]
	u, err := url.Parse(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := url.Parse(f.DownloadURL)
	if err != nil || f.DownloadURL == "" {
		t.Fatalf("download_url %q: %v", f.DownloadURL, err)
	}
	return f, httpGet(t, ctx, u.ResolveReference(ref).String())
}

func httpGet(t *testing.T, ctx context.Context, u string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%.500s", u, resp.Status, body)
	}
	return body
}
