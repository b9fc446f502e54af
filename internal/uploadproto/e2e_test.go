package uploadproto

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"sealgate/catalog"
	"sealgate/internal/mailqueue"
	"sealgate/internal/smtptest"
	"sealgate/notify"
	"sealgate/smtpproxy"
	"sealgate/vault"
)

// delivery is the sending side of an env: fake next hop, Outbound,
// mail queue with its worker, and the upload mailer.
type delivery struct {
	hop    *smtptest.Server
	q      *mailqueue.Queue
	mailer *notify.UploadMailer
	events *queueEvents
}

type queueEvents struct {
	mu                          sync.Mutex
	delivered, deferred, failed int
	changed                     chan struct{}
}

func (e *queueEvents) note(f func()) {
	e.mu.Lock()
	f()
	e.mu.Unlock()
	select {
	case e.changed <- struct{}{}:
	default:
	}
}
func (e *queueEvents) MailQueued(string)    {}
func (e *queueEvents) MailDelivered(string) { e.note(func() { e.delivered++ }) }
func (e *queueEvents) MailDeferred(string)  { e.note(func() { e.deferred++ }) }
func (e *queueEvents) MailFailed(string)    { e.note(func() { e.failed++ }) }

func (e *queueEvents) wait(t *testing.T, what string, done func(delivered, deferred, failed int) bool) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		e.mu.Lock()
		ok := done(e.delivered, e.deferred, e.failed)
		e.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-e.changed:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// newDelivery wires the sending side as cmd would; hop must have been
// started before the env, so that its leak check runs last.
func newDelivery(t *testing.T, e *env, hop *smtptest.Server, attachMax int64) *delivery {
	t.Helper()
	out, err := smtpproxy.NewOutbound(smtpproxy.OutboundConfig{Hop: hop.Addr, Hostname: "sealgate.test", Timeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Close)
	ev := &queueEvents{changed: make(chan struct{}, 1)}
	q, err := mailqueue.New(e.v, out, mailqueue.Config{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		IsTemporary: smtpproxy.IsTemporary, Observer: ev}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	// The worker stops before Outbound closes (cleanups run last first).
	t.Cleanup(func() { cancel(); <-done })
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	n, err := notify.New(notify.Config{From: "noreply@musterstadt.example", PublicURL: e.srv.URL, OrgName: "Stadt Musterstadt"}, cat, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := n.UploadMailer(e.v, q, notify.UploadConfig{AttachMaxSize: attachMax})
	if err != nil {
		t.Fatal(err)
	}
	return &delivery{hop: hop, q: q, mailer: m, events: ev}
}

// parsedMail is a delivered mail as a reader sees it.
type parsedMail struct {
	header      mail.Header
	text        string
	attachments map[string][]byte
}

func parseDelivered(t *testing.T, data []byte) parsedMail {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("delivered mail does not parse: %v", err)
	}
	p := parsedMail{header: mr.Header, attachments: map[string][]byte{}}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(part.Body)
		switch h := part.Header.(type) {
		case *mail.InlineHeader:
			if ct, _, _ := h.ContentType(); ct == "text/plain" {
				p.text = string(body)
			}
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			p.attachments[name] = body
		}
	}
	return p
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func randomHex(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return []byte(hex.EncodeToString(b))
}

var clerkLink = regexp.MustCompile(`/r/([A-Za-z0-9_-]{43})`)

// errCut is a connection that breaks off mid-upload.
var errCut = errors.New("network cable pulled")

type cutReader struct{}

func (cutReader) Read([]byte) (int, error) { return 0, errCut }

// TestThreeFilesResumeDeliver is issue 7's proof at the package level: a
// citizen uploads three files through the tus handler into a real vault,
// one of 200 MiB (24 MiB with -short) that breaks off at half and resumes
// after HEAD; storage.dir holds no plaintext during or after; "send"
// queues one mail that reaches the next hop, linking the files (they
// exceed uploads.attach_max_size), and the clerk's page token from the mail
// opens exactly the uploaded bytes. Purge then removes the upload.
func TestThreeFilesResumeDeliver(t *testing.T) {
	t.Parallel()
	hop := smtptest.Start(t, smtptest.Options{})
	e := newEnv(t, 2, Config{MaxSize: 300 << 20, MaxFiles: 5})
	d := newDelivery(t, e, hop, 10<<20)
	ctx := context.Background()

	size := int64(200 << 20)
	if testing.Short() {
		size = 24 << 20
	}
	marker := randomHex(t, 24)
	const seed = 7
	h := sha256.New()
	io.Copy(h, markedStream(seed, size, marker))
	bigSum := hex.EncodeToString(h.Sum(nil))

	// The big file, cut off at half.
	r := create(t, e.filesURL(), "Scan-Akte.pdf", size)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	big := e.absolute(r.location)
	half := size / 2
	req, _ := http.NewRequest(http.MethodPatch, big, io.MultiReader(io.LimitReader(markedStream(seed, size, marker), half), cutReader{}))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", "0")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the cut request got an answer: %d", resp.StatusCode)
	}
	hd := head(t, big)
	if hd.status != http.StatusOK || hd.offset <= 0 || hd.offset > half || hd.length != size {
		t.Fatalf("HEAD after the cut: %d offset %d (sent %d) length %d", hd.status, hd.offset, half, hd.length)
	}
	t.Logf("cut after %d bytes; the server stored %d", half, hd.offset)
	if hits := scanStorage(t, e.dir, marker); len(hits) > 0 {
		t.Fatalf("plaintext on disk during the upload: %v", hits)
	}
	rest := markedStream(seed, size, marker)
	io.CopyN(io.Discard, rest, hd.offset)
	if p := patch(t, big, hd.offset, rest, size-hd.offset); p.status != http.StatusNoContent || p.offset != size {
		t.Fatalf("resume: %d %d %s", p.status, p.offset, p.raw)
	}

	// Two small files and the message.
	small := map[string][]byte{
		"Ausweis.jpg": append(bytes.Repeat([]byte{0xff, 0xd8}, 40_000), marker...),
		"Notiz.txt":   append([]byte("Bitte beachten: "), marker...),
	}
	for name, data := range small {
		e.upload(t, name, data)
	}
	up, err := e.v.CurrentUpload(ctx, e.token, citizen)
	if err != nil || len(up.Files) != 3 {
		t.Fatalf("upload: %+v %v", up, err)
	}
	msgMarker := randomHex(t, 16)
	if err := e.v.SetUploadMessage(ctx, up.ID, "Sehr geehrte Damen und Herren, "+string(msgMarker)); err != nil {
		t.Fatal(err)
	}

	if err := d.mailer.UploadDelivery(ctx, up.ID); err != nil {
		t.Fatal(err)
	}
	d.events.wait(t, "delivery", func(delivered, _, _ int) bool { return delivered == 1 })
	msgs := hop.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != "clerk@musterstadt.example" {
		t.Fatalf("next hop got %d messages", len(msgs))
	}
	pm := parseDelivered(t, msgs[0].Data)
	if len(pm.attachments) != 0 {
		t.Fatalf("%d attachments above attach_max_size", len(pm.attachments))
	}
	if rt, _ := pm.header.AddressList("Reply-To"); len(rt) != 1 || rt[0].Address != citizen {
		t.Fatalf("Reply-To %v", rt)
	}
	if !strings.Contains(pm.text, string(msgMarker)) || !strings.Contains(pm.text, bigSum) {
		t.Fatal("the mail lacks the message or the big file's SHA-256")
	}
	m := clerkLink.FindStringSubmatch(pm.text)
	if m == nil {
		t.Fatalf("no clerk link in %q", pm.text)
	}
	cu, err := e.v.UploadByClerkToken(ctx, m[1])
	if err != nil || cu.ID != up.ID || cu.State != vault.UploadDelivered {
		t.Fatalf("clerk page: %+v %v", cu, err)
	}
	want := map[string]string{"Scan-Akte.pdf": bigSum}
	for name, data := range small {
		want[name] = hexSHA(data)
	}
	for _, f := range cu.Files {
		rc, _, err := e.v.OpenUploadFile(ctx, cu.ID, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, rc)
		rc.Close()
		if got := hex.EncodeToString(h.Sum(nil)); got != want[f.Name] || f.SHA256 != got {
			t.Errorf("%s: served %s, recorded %s, uploaded %s", f.Name, got, f.SHA256, want[f.Name])
		}
	}
	for _, needle := range [][]byte{marker, msgMarker} {
		if hits := scanStorage(t, e.dir, needle); len(hits) > 0 {
			t.Fatalf("plaintext on disk after the upload: %v", hits)
		}
	}

	// Retention: the upload goes with its transfer.
	if hits := scanStorage(t, e.dir, []byte("Scan-Akte.pdf")); len(hits) == 0 {
		t.Fatal("positive control: the file name should be in the database before the purge")
	}
	e.clock.Set(e.d.ExpiresAt())
	if _, err := e.v.Purge(ctx, e.clock.Now(), false); err != nil {
		t.Fatal(err)
	}
	if n := blobFiles(t, e.dir); n != 0 {
		t.Fatalf("%d blobs after the purge", n)
	}
	if hits := scanStorage(t, e.dir, []byte("Scan-Akte.pdf")); len(hits) > 0 {
		t.Fatalf("after the purge: %v", hits)
	}
}

// TestAttachedAfterTemporaryRefusal: small files go attached; the next hop
// refuses with 451 twice, the citizen's page shows the pending delivery
// with the answer, and the mail arrives once it recovers. A secure reply
// from the transfer page arrives the same way.
func TestAttachedAfterTemporaryRefusal(t *testing.T) {
	t.Parallel()
	hop := smtptest.Start(t, smtptest.Options{})
	e := newEnv(t, 2, Config{MaxSize: 10 << 20, MaxFiles: 5})
	hop.Inject(smtptest.Fault{Stage: smtptest.StageData, Reply: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "queue full"}, Times: 2})
	d := newDelivery(t, e, hop, 5<<20)
	ctx := context.Background()
	files := map[string][]byte{
		"a.pdf":          bytes.Repeat([]byte("%PDF a "), 50_000),
		"b.png":          bytes.Repeat([]byte{137, 80, 78, 71, 0, 1}, 30_000),
		"Änderung c.txt": []byte("kurz\r\n"),
	}
	for name, data := range files {
		e.upload(t, name, data)
	}
	up, _ := e.v.CurrentUpload(ctx, e.token, citizen)
	if err := d.mailer.UploadDelivery(ctx, up.ID); err != nil {
		t.Fatal(err)
	}
	d.events.wait(t, "first deferral", func(_, deferred, _ int) bool { return deferred >= 1 })
	list, err := e.v.LinkUploads(ctx, e.token, citizen)
	if err != nil || len(list) != 1 {
		t.Fatalf("LinkUploads: %v %v", list, err)
	}
	if st := list[0]; st.State != vault.UploadDelivered && (st.State != vault.UploadQueued || !strings.Contains(st.Delivery.LastError, "451")) {
		t.Fatalf("page state while the next hop refuses: %+v", st)
	}
	d.events.wait(t, "delivery", func(delivered, _, _ int) bool { return delivered == 1 })
	msgs := hop.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	pm := parseDelivered(t, msgs[0].Data)
	if len(pm.attachments) != len(files) {
		t.Fatalf("%d attachments", len(pm.attachments))
	}
	for name, data := range files {
		if hexSHA(pm.attachments[name]) != hexSHA(data) {
			t.Errorf("attachment %q differs", name)
		}
	}
	if got, _ := e.v.Upload(ctx, up.ID); got.State != vault.UploadDelivered {
		t.Fatalf("state %s", got.State)
	}

	// A secure reply with text and a file, from the transfer page.
	replyFiles := e.srv.URL + "/t/" + e.d.Token() + "/reply/files/"
	r := create(t, replyFiles, "Antwort.pdf", 11)
	if r.status != http.StatusCreated {
		t.Fatalf("reply file: %d %s", r.status, r.raw)
	}
	if p := patch(t, e.absolute(r.location), 0, strings.NewReader("hello clerk"), 11); p.status != http.StatusNoContent {
		t.Fatalf("reply patch: %d %s", p.status, p.raw)
	}
	rp, err := e.v.CurrentReply(ctx, e.d.Token(), citizen)
	if err != nil || len(rp.Files) != 1 {
		t.Fatalf("reply: %+v %v", rp, err)
	}
	e.v.SetUploadMessage(ctx, rp.ID, "Danke für die Unterlagen.")
	if err := d.mailer.SecureReply(ctx, rp.ID); err != nil {
		t.Fatal(err)
	}
	d.events.wait(t, "reply delivery", func(delivered, _, _ int) bool { return delivered == 2 })
	pm = parseDelivered(t, hop.Messages()[1].Data)
	if string(pm.attachments["Antwort.pdf"]) != "hello clerk" || !strings.Contains(pm.text, "Danke für die Unterlagen.") {
		t.Fatalf("reply mail: %q, %d attachments", pm.text, len(pm.attachments))
	}
}

// TestEICARRefused: with a scanner, an infected file is refused naming
// it, and nothing of it is kept; a clean file passes.
func TestEICARRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2, Config{Scanner: fakeClamd(t)})
	ctx := context.Background()
	e.upload(t, "clean.txt", bytes.Repeat([]byte("harmless "), 100_000))
	blobsClean := blobFiles(t, e.dir)

	name := "Rechnung-" + string(randomHex(t, 8)) + ".exe"
	data := append(append(bytes.Repeat([]byte("MZ"), 300_000), eicar...), bytes.Repeat([]byte{0}, 1000)...)
	r := create(t, e.filesURL(), name, int64(len(data)))
	url := e.absolute(r.location)
	p := patch(t, url, 0, bytes.NewReader(data), int64(len(data)))
	if p.status != http.StatusUnprocessableEntity || p.body.Code != "infected" || p.body.File != name || !strings.Contains(p.body.Message, name) ||
		p.body.Signature != "Win.Test.EICAR_HDB-1" {
		t.Fatalf("infected file: %d %+v", p.status, p.body)
	}
	if h := head(t, url); h.status != http.StatusNotFound {
		t.Fatalf("HEAD of the refused file: %d", h.status)
	}
	up, _ := e.v.CurrentUpload(ctx, e.token, citizen)
	if len(up.Files) != 1 || up.Files[0].Name != "clean.txt" || up.Files[0].State != vault.FileAccepted {
		t.Fatalf("files after the refusal: %+v", up.Files)
	}
	if n := blobFiles(t, e.dir); n != blobsClean {
		t.Fatalf("blobs: %d, want %d", n, blobsClean)
	}
	if hits := scanStorage(t, e.dir, []byte(name)); len(hits) > 0 {
		t.Fatalf("the refused file's name is still on disk: %v", hits)
	}
}
