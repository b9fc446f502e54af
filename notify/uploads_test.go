package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"

	"sealgate/vault"
)

// fakeQueue stores what it is given in the vault's outbox, as
// mailqueue.Queue does, and keeps the message; failFirst answers the first
// call with that error instead.
type fakeQueue struct {
	v         *vault.Vault
	mu        sync.Mutex
	msgs      [][]byte
	mails     []vault.OutgoingMail
	failFirst error
}

func (q *fakeQueue) Enqueue(ctx context.Context, m vault.OutgoingMail, msg []byte) (vault.OutgoingMail, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failFirst != nil {
		err := q.failFirst
		q.failFirst = nil
		return vault.OutgoingMail{}, err
	}
	stored, err := q.v.PutOutgoing(ctx, m, bytes.NewReader(msg))
	if err != nil {
		return vault.OutgoingMail{}, err
	}
	q.msgs = append(q.msgs, msg)
	q.mails = append(q.mails, stored)
	return stored, nil
}

type uploadRig struct {
	v        *vault.Vault
	n        *Notifier
	q        *fakeQueue
	m        *UploadMailer
	d        *vault.Draft
	token    string
	citizen  string
	clerk    string
	contents map[string][]byte
}

func newUploadRig(t *testing.T, level int, attachMax int64) *uploadRig {
	t.Helper()
	ctx := context.Background()
	v, err := vault.Open(ctx, vault.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	r := &uploadRig{v: v, citizen: "buerger@example.net", clerk: "sachbearbeitung@musterstadt.example", contents: map[string][]byte{}}
	r.d, err = v.BeginTransfer(ctx, vault.NewTransfer{Level: level, Sender: r.clerk, Recipients: []string{r.citizen}, Upload: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.token, err = r.d.UploadToken(ctx, r.citizen); err != nil {
		t.Fatal(err)
	}
	r.d.Commit(ctx)
	r.n, _, _ = newTest(t, nil)
	r.q = &fakeQueue{v: v}
	if r.m, err = r.n.UploadMailer(v, r.q, UploadConfig{AttachMaxSize: attachMax}); err != nil {
		t.Fatal(err)
	}
	return r
}

// upload stores the files (name -> content) and the message.
func (r *uploadRig) upload(t *testing.T, reply bool, message string, files map[string][]byte) vault.Upload {
	t.Helper()
	ctx := context.Background()
	var up vault.Upload
	var err error
	if reply {
		up, err = r.v.StartReply(ctx, r.d.Token(), r.citizen)
	} else {
		up, err = r.v.StartUpload(ctx, r.token, r.citizen)
	}
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		f, err := r.v.AddUploadFile(ctx, up.ID, vault.NewUploadFile{Name: name, ContentType: "application/pdf", Size: int64(len(data))}, vault.UploadLimits{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.v.WriteUploadFile(ctx, up.ID, f.ID, vault.UploadChunk{Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.v.FinishUploadFile(ctx, up.ID, f.ID, nil); err != nil {
			t.Fatal(err)
		}
		r.contents[name] = data
	}
	if message != "" {
		if err := r.v.SetUploadMessage(ctx, up.ID, message); err != nil {
			t.Fatal(err)
		}
	}
	up, _ = r.v.Upload(ctx, up.ID)
	return up
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestUploadDeliveryAttached(t *testing.T) {
	t.Parallel()
	r := newUploadRig(t, 2, 1<<20)
	ctx := context.Background()
	message := "Guten Tag,\r\nanbei die Unterlagen.\u202e\x07Ende"
	up := r.upload(t, false, message, map[string][]byte{
		"Antrag.pdf":      bytes.Repeat([]byte("A"), 300_000),
		"Nachweis 2.pdf":  []byte("%PDF-1.7 small"),
		"Überweisung.pdf": bytes.Repeat([]byte{0, 1, 2, 255}, 1000),
	})
	if err := r.m.SecureReply(ctx, up.ID); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("SecureReply for an upload: %v", err)
	}
	if err := r.m.UploadDelivery(ctx, up.ID); err != nil {
		t.Fatal(err)
	}
	if len(r.q.mails) != 1 {
		t.Fatalf("%d mails queued", len(r.q.mails))
	}
	mail := r.q.mails[0]
	if mail.From != testFrom || len(mail.To) != 1 || mail.To[0] != r.clerk || mail.Kind != KindUpload || mail.UploadID != up.ID {
		t.Fatalf("envelope: %+v", mail)
	}
	p := parseMail(t, r.q.msgs[0])
	if rt, _ := p.header.AddressList("Reply-To"); len(rt) != 1 || rt[0].Address != r.citizen {
		t.Errorf("Reply-To: %v", rt)
	}
	if to, _ := p.header.AddressList("To"); len(to) != 1 || to[0].Address != r.clerk {
		t.Errorf("To: %v", to)
	}
	if !strings.Contains(p.subject, r.d.ID()) || !strings.Contains(p.subject, r.citizen) {
		t.Errorf("subject %q", p.subject)
	}
	if !strings.Contains(p.text, "anbei die Unterlagen.") || strings.Contains(p.text, "\u202e") || strings.Contains(p.text, "\x07") {
		t.Errorf("message in the text part: %q", p.text)
	}
	if !strings.Contains(p.html, "anbei die Unterlagen.") {
		t.Errorf("message missing from the HTML part")
	}
	if len(p.attachments) != 3 {
		t.Fatalf("attachments: %d", len(p.attachments))
	}
	for name, want := range r.contents {
		if got := p.attachments[name]; sum(got) != sum(want) {
			t.Errorf("attachment %q: %d bytes, want %d", name, len(got), len(want))
		}
		if !strings.Contains(p.text, sum(want)) {
			t.Errorf("text part does not give the SHA-256 of %q", name)
		}
	}
	if strings.Contains(p.text, "/r/") {
		t.Error("attached files, yet the mail links to the clerk page")
	}
	if got, _ := r.v.Upload(ctx, up.ID); got.State != vault.UploadQueued {
		t.Fatalf("upload state %s", got.State)
	}
	if err := r.m.UploadDelivery(ctx, up.ID); !errors.Is(err, vault.ErrUploadSent) {
		t.Fatalf("sending twice: %v", err)
	}
}

var clerkURL = regexp.MustCompile(`https://files\.example\.org/r/([A-Za-z0-9_-]{43})`)

func TestUploadDeliveryLinked(t *testing.T) {
	t.Parallel()
	r := newUploadRig(t, 2, 1000)
	ctx := context.Background()
	up := r.upload(t, false, "", map[string][]byte{"Gross.pdf": bytes.Repeat([]byte("G"), 5000)})
	if err := r.m.UploadDelivery(ctx, up.ID); err != nil {
		t.Fatal(err)
	}
	p := parseMail(t, r.q.msgs[0])
	if len(p.attachments) != 0 {
		t.Fatalf("attached above attach_max_size: %d", len(p.attachments))
	}
	m := clerkURL.FindStringSubmatch(p.text)
	if m == nil {
		t.Fatalf("no clerk page link in %q", p.text)
	}
	got, err := r.v.UploadByClerkToken(ctx, m[1])
	if err != nil || got.ID != up.ID {
		t.Fatalf("clerk token from the mail: %+v %v", got, err)
	}
}

func TestSecureReplyLevels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	secret := "Meine Steuer-ID ist 12 345 678 901"
	for _, level := range []int{3, 4} {
		r := newUploadRig(t, level, 10<<20)
		up := r.upload(t, true, secret, map[string][]byte{"a.pdf": []byte("small")})
		if err := r.m.UploadDelivery(ctx, up.ID); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("UploadDelivery for a reply: %v", err)
		}
		if err := r.m.SecureReply(ctx, up.ID); err != nil {
			t.Fatal(err)
		}
		p := parseMail(t, r.q.msgs[0])
		if len(p.attachments) != 0 || clerkURL.FindString(p.text) == "" {
			t.Errorf("level %d: %d attachments, link %q", level, len(p.attachments), clerkURL.FindString(p.text))
		}
		if inMail := strings.Contains(p.text, secret); inMail != (level == 3) {
			t.Errorf("level %d: message in the mail: %v", level, inMail)
		}
		if !strings.Contains(p.subject, "Antwort") {
			t.Errorf("subject %q", p.subject)
		}
	}
}

func TestUploadDeliveryRetriesChangedUpload(t *testing.T) {
	t.Parallel()
	r := newUploadRig(t, 1, 1<<20)
	ctx := context.Background()
	up := r.upload(t, false, "nur eine Nachricht", nil)
	r.q.failFirst = vault.ErrUploadChanged
	if err := r.m.UploadDelivery(ctx, up.ID); err != nil {
		t.Fatal(err)
	}
	if len(r.q.mails) != 1 {
		t.Fatalf("%d mails", len(r.q.mails))
	}
	p := parseMail(t, r.q.msgs[0])
	if !strings.Contains(p.text, "nur eine Nachricht") || strings.Contains(p.text, "/r/") {
		t.Errorf("message-only mail: %q", p.text)
	}
}

func TestUploadDeliveryNotReady(t *testing.T) {
	t.Parallel()
	r := newUploadRig(t, 2, 1<<20)
	ctx := context.Background()
	up, err := r.v.StartUpload(ctx, r.token, r.citizen)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.m.UploadDelivery(ctx, up.ID); !errors.Is(err, vault.ErrUploadNotReady) {
		t.Fatalf("empty upload: %v", err)
	}
	f, _ := r.v.AddUploadFile(ctx, up.ID, vault.NewUploadFile{Name: "x", Size: 10}, vault.UploadLimits{})
	r.v.WriteUploadFile(ctx, up.ID, f.ID, vault.UploadChunk{Body: strings.NewReader("12345")})
	if err := r.m.UploadDelivery(ctx, up.ID); !errors.Is(err, vault.ErrUploadNotReady) {
		t.Fatalf("half a file: %v", err)
	}
	if len(r.q.mails) != 0 {
		t.Fatal("queued anyway")
	}
}

func TestUploadConfigValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []UploadConfig{{AttachMaxSize: -1}, {AttachMaxSize: MaxAttachMaxSize + 1}} {
		if errs := c.Validate(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "uploads.attach_max_size") {
			t.Errorf("%+v: %v", c, errs)
		}
	}
	if errs := (UploadConfig{AttachMaxSize: 10 << 20}).Validate(); len(errs) != 0 {
		t.Errorf("valid config: %v", errs)
	}
}
