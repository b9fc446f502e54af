package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// uploadFixture is a committed level-2 transfer with an upload link for
// citizen@example.net.
type uploadFixture struct {
	v     *Vault
	clock *testClock
	dir   string
	d     *Draft
	token string
}

func newUploadFixture(t *testing.T) *uploadFixture {
	t.Helper()
	v, clock, dir := openTestVault(t)
	v.partSize = 1 << 20 // several parts per file without large test data
	ctx := context.Background()
	d, err := v.BeginTransfer(ctx, NewTransfer{Level: 2, Sender: "clerk@example.org", Recipients: []string{"citizen@example.net"}, Upload: true})
	if err != nil {
		t.Fatal(err)
	}
	token, err := d.UploadToken(ctx, "citizen@example.net")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return &uploadFixture{v: v, clock: clock, dir: dir, d: d, token: token}
}

// markedContent returns n bytes with marker at several places.
func markedContent(marker []byte, n int) []byte {
	b := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
	for _, at := range []int{0, n / 3, n / 2, n - len(marker)} {
		copy(b[at:], marker)
	}
	return b
}

// brokenReader delivers r and then fails as a dropped connection does.
type brokenReader struct {
	r io.Reader
}

var errDropped = errors.New("connection reset by peer")

func (b brokenReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, errDropped
	}
	return n, err
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestUploadResumeFinishSend(t *testing.T) {
	t.Parallel()
	fx := newUploadFixture(t)
	v, ctx := fx.v, context.Background()
	marker := randomMarker(t)
	msgMarker := randomMarker(t)
	content := markedContent(marker, 3<<20+12345)

	// A GET looks without making anything.
	cur, err := v.CurrentUpload(ctx, fx.token, "citizen@example.net")
	if err != nil || cur.ID != "" || cur.Sender != "clerk@example.org" || cur.Level != 2 || cur.State != UploadOpen {
		t.Fatalf("CurrentUpload before: %+v %v", cur, err)
	}
	if _, err := v.StartUpload(ctx, fx.token, "someone@example.net"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another address: %v", err)
	}
	up, err := v.StartUpload(ctx, fx.token, "Citizen@example.net")
	if err != nil || up.ID == "" || up.Kind != UploadKindUpload || up.Email != "citizen@example.net" {
		t.Fatalf("StartUpload: %+v %v", up, err)
	}
	if again, _ := v.StartUpload(ctx, fx.token, "citizen@example.net"); again.ID != up.ID {
		t.Fatalf("second StartUpload made another upload: %s, %s", again.ID, up.ID)
	}
	f, err := v.AddUploadFile(ctx, up.ID, NewUploadFile{Name: "Antrag.pdf", ContentType: "application/pdf", Size: int64(len(content))}, UploadLimits{})
	if err != nil || f.State != FileReceiving || f.Offset != 0 {
		t.Fatalf("AddUploadFile: %+v %v", f, err)
	}

	// The first request breaks off in the middle of its second part.
	half := len(content)/2 + 777
	off, err := v.WriteUploadFile(ctx, up.ID, f.ID, UploadChunk{Offset: 0, Body: brokenReader{bytes.NewReader(content[:half])}})
	if !errors.Is(err, errDropped) || off != int64(half) {
		t.Fatalf("broken write: offset %d, %v; want %d and the read error", off, err, half)
	}
	// During the upload: nothing in clear on disk.
	if found := findInStorage(t, fx.dir, map[string][]byte{"content": marker}); len(found) > 0 {
		t.Fatalf("plaintext on disk during the upload: %v", found)
	}
	// A resume at the wrong offset is refused and reports the right one.
	if off, err := v.WriteUploadFile(ctx, up.ID, f.ID, UploadChunk{Offset: 10, Body: bytes.NewReader(content[10:])}); !errors.Is(err, ErrOffset) || off != int64(half) {
		t.Fatalf("wrong offset: %d %v", off, err)
	}
	if _, err := v.FinishUploadFile(ctx, up.ID, f.ID, nil); !errors.Is(err, ErrFileIncomplete) {
		t.Fatalf("finish while incomplete: %v", err)
	}
	off, err = v.WriteUploadFile(ctx, up.ID, f.ID, UploadChunk{Offset: int64(half), Body: bytes.NewReader(content[half:])})
	if err != nil || off != int64(len(content)) {
		t.Fatalf("resumed write: %d %v", off, err)
	}
	if _, err := v.WriteUploadFile(ctx, up.ID, f.ID, UploadChunk{Offset: off, Body: strings.NewReader("x")}); !errors.Is(err, ErrFileComplete) {
		t.Fatalf("write to a complete file: %v", err)
	}
	// Not yet sendable: the file is not accepted.
	up, _ = v.Upload(ctx, up.ID)
	if _, err := v.PutOutgoing(ctx, OutgoingMail{From: "noreply@example.org", To: []string{"clerk@example.org"}, UploadID: up.ID, UploadVersion: up.Version}, strings.NewReader("x")); !errors.Is(err, ErrUploadNotReady) {
		t.Fatalf("sending with an unchecked file: %v", err)
	}
	var scanned []byte
	f, err = v.FinishUploadFile(ctx, up.ID, f.ID, func(ctx context.Context, r io.Reader) error {
		var err error
		scanned, err = io.ReadAll(r)
		return err
	})
	if err != nil || f.State != FileAccepted || f.SHA256 != hexSum(content) || !bytes.Equal(scanned, content) {
		t.Fatalf("FinishUploadFile: %+v %v (scanned %d bytes)", f, err, len(scanned))
	}
	r, got, err := v.OpenUploadFile(ctx, up.ID, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sum, n := sha256Hex(t, r); sum != hexSum(content) || n != int64(len(content)) || got.Name != "Antrag.pdf" {
		t.Fatalf("OpenUploadFile: %s %d %+v", sum, n, got)
	}
	r.Close()

	text := "Guten Tag,\nanbei der Antrag. " + string(msgMarker)
	if err := v.SetUploadMessage(ctx, up.ID, "first version"); err != nil {
		t.Fatal(err)
	}
	if err := v.SetUploadMessage(ctx, up.ID, text); err != nil {
		t.Fatal(err)
	}
	if m, err := v.UploadMessage(ctx, up.ID); err != nil || m != text {
		t.Fatalf("UploadMessage: %q %v", m, err)
	}
	if err := v.SetUploadMessage(ctx, up.ID, strings.Repeat("x", MaxUploadMessage+1)); !errors.Is(err, ErrMessageTooLong) {
		t.Fatalf("long message: %v", err)
	}
	if found := findInStorage(t, fx.dir, map[string][]byte{"content": marker, "message": msgMarker}); len(found) > 0 {
		t.Fatalf("plaintext on disk after the upload: %v", found)
	}

	// Sending: an outdated version is refused, the current one queued.
	stale := up.Version
	up, _ = v.Upload(ctx, up.ID)
	if _, err := v.PutOutgoing(ctx, OutgoingMail{Kind: "upload", From: "noreply@example.org", To: []string{"clerk@example.org"}, UploadID: up.ID, UploadVersion: stale}, strings.NewReader("x")); !errors.Is(err, ErrUploadChanged) {
		t.Fatalf("stale version: %v", err)
	}
	mailBody := "Subject: upload\r\n\r\n" + string(msgMarker) + "\r\n"
	m, err := v.PutOutgoing(ctx, OutgoingMail{Kind: "upload", From: "noreply@example.org", To: []string{"clerk@example.org"}, UploadID: up.ID, UploadVersion: up.Version}, strings.NewReader(mailBody))
	if err != nil || m.ID == "" || m.Size != int64(len(mailBody)) {
		t.Fatalf("PutOutgoing: %+v %v", m, err)
	}
	if _, err := v.PutOutgoing(ctx, OutgoingMail{From: "noreply@example.org", To: []string{"clerk@example.org"}, UploadID: up.ID, UploadVersion: up.Version}, strings.NewReader("x")); !errors.Is(err, ErrUploadSent) {
		t.Fatalf("sending twice: %v", err)
	}
	if err := v.SetUploadMessage(ctx, up.ID, "late"); !errors.Is(err, ErrUploadSent) {
		t.Fatalf("changing a sent upload: %v", err)
	}
	if found := findInStorage(t, fx.dir, map[string][]byte{"message": msgMarker}); len(found) > 0 {
		t.Fatalf("queued mail in clear on disk: %v", found)
	}
	// The next upload through the link is a new one.
	if cur, _ := v.CurrentUpload(ctx, fx.token, "citizen@example.net"); cur.ID != "" {
		t.Fatalf("after sending, the open upload is %s", cur.ID)
	}
	list, _ := v.ListOutgoing(ctx)
	if len(list) != 1 || list[0].ID != m.ID || list[0].UploadID != up.ID {
		t.Fatalf("ListOutgoing: %+v", list)
	}
	rc, _, err := v.OpenOutgoing(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(rc); string(b) != mailBody {
		t.Fatalf("OpenOutgoing: %q", b)
	}
	rc.Close()
	next := fx.clock.Now().Add(time.Minute)
	if err := v.RecordOutgoingAttempt(ctx, m.ID, "451 4.3.0 try later", next); err != nil {
		t.Fatal(err)
	}
	up, _ = v.Upload(ctx, up.ID)
	if up.State != UploadQueued || up.Delivery.Attempts != 1 || up.Delivery.LastError != "451 4.3.0 try later" || !up.Delivery.NextTry.Equal(next) {
		t.Fatalf("queued upload: %+v", up)
	}
	if err := v.FinishOutgoing(ctx, m.ID, ""); err != nil {
		t.Fatal(err)
	}
	up, _ = v.Upload(ctx, up.ID)
	if up.State != UploadDelivered || up.DeliveredAt.IsZero() {
		t.Fatalf("delivered upload: %+v", up)
	}
	if list, _ := v.ListOutgoing(ctx); len(list) != 0 {
		t.Fatalf("outbox after delivery: %+v", list)
	}
	ups, err := v.LinkUploads(ctx, fx.token, "citizen@example.net")
	if err != nil || len(ups) != 1 || ups[0].State != UploadDelivered || len(ups[0].Files) != 1 {
		t.Fatalf("LinkUploads: %+v %v", ups, err)
	}
}

func TestUploadLimits(t *testing.T) {
	t.Parallel()
	fx := newUploadFixture(t)
	v, ctx := fx.v, context.Background()
	up, err := v.StartUpload(ctx, fx.token, "citizen@example.net")
	if err != nil {
		t.Fatal(err)
	}
	lim := UploadLimits{MaxSize: 1000, MaxFiles: 2}
	var le *LimitError
	if _, err := v.AddUploadFile(ctx, up.ID, NewUploadFile{Name: "big", Size: 1001}, lim); !errors.As(err, &le) || le.Limit != LimitSize || le.Max != 1000 {
		t.Fatalf("declared size over the limit: %v", err)
	}
	a, err := v.AddUploadFile(ctx, up.ID, NewUploadFile{Name: "a", Size: 600}, lim)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.AddUploadFile(ctx, up.ID, NewUploadFile{Name: "b", Size: 401}, lim); !errors.As(err, &le) || le.Limit != LimitSize {
		t.Fatalf("total over the limit: %v", err)
	}
	if _, err := v.AddUploadFile(ctx, up.ID, NewUploadFile{Name: "b", Size: 400}, lim); err != nil {
		t.Fatal(err)
	}
	if _, err := v.AddUploadFile(ctx, up.ID, NewUploadFile{Name: "c", Size: 0}, lim); !errors.As(err, &le) || le.Limit != LimitFiles || !errors.Is(err, ErrLimit) {
		t.Fatalf("third file: %v", err)
	}
	// More bytes than declared: the declared ones are kept, the rest refused.
	off, err := v.WriteUploadFile(ctx, up.ID, a.ID, UploadChunk{Body: bytes.NewReader(make([]byte, 5000))})
	if !errors.Is(err, ErrBeyondLength) || off != 600 {
		t.Fatalf("overlong body: %d %v", off, err)
	}
	// Deleting a file frees its share of the limits.
	if err := v.DeleteUploadFile(ctx, up.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := v.AddUploadFile(ctx, up.ID, NewUploadFile{Name: "c", Size: 600}, lim); err != nil {
		t.Fatalf("after deleting: %v", err)
	}
	if n := blobCount(t, v); n != 0 {
		t.Fatalf("%d blobs left of the deleted file", n)
	}
}

func blobCount(t *testing.T, v *Vault) int {
	t.Helper()
	n := 0
	if err := v.blobs.List(context.Background(), func(BlobInfo) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUploadRefusedFileLeavesNothing(t *testing.T) {
	t.Parallel()
	fx := newUploadFixture(t)
	v, ctx := fx.v, context.Background()
	up, _ := v.StartUpload(ctx, fx.token, "citizen@example.net")
	marker := randomMarker(t)
	name := "virus-" + string(marker[:16]) + ".exe"
	content := markedContent(marker, 1<<20+10)
	f, err := v.AddUploadFile(ctx, up.ID, NewUploadFile{Name: name, Size: int64(len(content))}, UploadLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.WriteUploadFile(ctx, up.ID, f.ID, UploadChunk{Body: bytes.NewReader(content)}); err != nil {
		t.Fatal(err)
	}
	refuse := func(ctx context.Context, r io.Reader) error {
		io.Copy(io.Discard, r)
		return fmt.Errorf("Eicar-Signature: %w", ErrFileRefused)
	}
	if _, err := v.FinishUploadFile(ctx, up.ID, f.ID, refuse); !errors.Is(err, ErrFileRefused) {
		t.Fatalf("refused: %v", err)
	}
	up, _ = v.Upload(ctx, up.ID)
	if len(up.Files) != 0 || blobCount(t, v) != 0 {
		t.Fatalf("after refusal: %+v, %d blobs", up.Files, blobCount(t, v))
	}
	if found := findInStorage(t, fx.dir, map[string][]byte{"name": []byte(name), "content": marker}); len(found) > 0 {
		t.Fatalf("refused file left traces: %v", found)
	}
	// A check that fails otherwise (scanner down) keeps the file for
	// another try.
	f, _ = v.AddUploadFile(ctx, up.ID, NewUploadFile{Name: "ok.txt", Size: 5}, UploadLimits{})
	v.WriteUploadFile(ctx, up.ID, f.ID, UploadChunk{Body: strings.NewReader("hello")})
	down := errors.New("clamd: connection refused")
	if _, err := v.FinishUploadFile(ctx, up.ID, f.ID, func(context.Context, io.Reader) error { return down }); !errors.Is(err, down) {
		t.Fatalf("scanner down: %v", err)
	}
	if f, err := v.FinishUploadFile(ctx, up.ID, f.ID, nil); err != nil || f.State != FileAccepted || f.SHA256 != hexSum([]byte("hello")) {
		t.Fatalf("second try: %+v %v", f, err)
	}
}

// TestUploadWriteTakeover: a client whose connection broke reconnects
// while the server still waits for the old request's bytes; the new
// request stops the old one, which keeps what it had received.
func TestUploadWriteTakeover(t *testing.T) {
	t.Parallel()
	fx := newUploadFixture(t)
	v, ctx := fx.v, context.Background()
	up, _ := v.StartUpload(ctx, fx.token, "citizen@example.net")
	content := markedContent([]byte("m"), 500_000)
	f, _ := v.AddUploadFile(ctx, up.ID, NewUploadFile{Name: "x.bin", Size: int64(len(content))}, UploadLimits{})

	pr, pw := io.Pipe()
	type result struct {
		off int64
		err error
	}
	first := make(chan result, 1)
	go func() {
		off, err := v.WriteUploadFile(ctx, up.ID, f.ID, UploadChunk{Body: pr, Interrupt: func() { pw.CloseWithError(errDropped) }})
		first <- result{off, err}
	}()
	if _, err := pw.Write(content[:100_000]); err != nil {
		t.Fatal(err)
	}
	// The write is now in progress (the bytes were taken); HEAD after
	// a reconnect stops it and then sees its bytes.
	if err := v.InterruptUploadWrite(ctx, up.ID, f.ID); err != nil {
		t.Fatal(err)
	}
	r := <-first
	if r.off != 100_000 || r.err == nil {
		t.Fatalf("first write: %+v", r)
	}
	up, _ = v.Upload(ctx, up.ID)
	if got, _ := up.File(f.ID); got.Offset != 100_000 {
		t.Fatalf("offset after takeover: %d", got.Offset)
	}
	off, err := v.WriteUploadFile(ctx, up.ID, f.ID, UploadChunk{Offset: 100_000, Body: bytes.NewReader(content[100_000:])})
	if err != nil || off != int64(len(content)) {
		t.Fatalf("resume: %d %v", off, err)
	}
	if f, err := v.FinishUploadFile(ctx, up.ID, f.ID, nil); err != nil || f.SHA256 != hexSum(content) {
		t.Fatalf("finish: %+v %v", f, err)
	}
}

func TestUploadsGoWithTheirTransfer(t *testing.T) {
	t.Parallel()
	fx := newUploadFixture(t)
	v, ctx := fx.v, context.Background()
	marker := randomMarker(t)
	name := "Beleg-" + string(marker[:12]) + ".pdf"
	up, _ := v.StartUpload(ctx, fx.token, "citizen@example.net")
	content := markedContent(marker, 2<<20)
	f, _ := v.AddUploadFile(ctx, up.ID, NewUploadFile{Name: name, Size: int64(len(content))}, UploadLimits{})
	if _, err := v.WriteUploadFile(ctx, up.ID, f.ID, UploadChunk{Body: bytes.NewReader(content)}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.FinishUploadFile(ctx, up.ID, f.ID, nil); err != nil {
		t.Fatal(err)
	}
	v.SetUploadMessage(ctx, up.ID, "Nachricht "+string(marker))
	// A reply too.
	rp, err := v.StartReply(ctx, fx.d.Token(), "citizen@example.net")
	if err != nil || rp.Kind != UploadKindReply {
		t.Fatalf("StartReply: %+v %v", rp, err)
	}
	if _, err := v.StartReply(ctx, fx.d.Token(), "stranger@example.net"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("reply by a stranger: %v", err)
	}
	v.SetUploadMessage(ctx, rp.ID, "Antwort")
	if all, err := v.Uploads(ctx, fx.d.ID()); err != nil || len(all) != 2 {
		t.Fatalf("Uploads: %+v %v", all, err)
	}
	clerk, err := v.NewClerkToken(ctx, up.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.UploadByClerkToken(ctx, clerk); err != nil || got.ID != up.ID {
		t.Fatalf("UploadByClerkToken: %+v %v", got, err)
	}
	if n := blobCount(t, v); n != 4 { // upload: 2 parts and the message; reply: the message
		t.Fatalf("%d blobs before the purge", n)
	}
	// The positive control: the database holds the file name.
	if found := findInStorage(t, fx.dir, map[string][]byte{"name": []byte(name)}); len(found["name"]) == 0 {
		t.Fatal("file name not found before the purge: the scan proves nothing")
	}

	fx.clock.Set(fx.d.ExpiresAt())
	if _, err := v.UploadByClerkToken(ctx, clerk); !errors.Is(err, ErrExpired) {
		t.Fatalf("clerk token after expiry: %v", err)
	}
	rep, err := v.Purge(ctx, fx.clock.Now(), false)
	if err != nil || !rep.Compacted {
		t.Fatalf("Purge: %+v %v", rep, err)
	}
	if n := blobCount(t, v); n != 0 {
		t.Fatalf("%d blobs after purge", n)
	}
	if _, err := v.Upload(ctx, up.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("upload after purge: %v", err)
	}
	if _, err := v.UploadByClerkToken(ctx, clerk); !errors.Is(err, ErrNotFound) {
		t.Fatalf("clerk token after purge: %v", err)
	}
	for bucket, n := range dbEntries(t, v) {
		if n != 0 {
			t.Errorf("bucket %s still has %d entries", bucket, n)
		}
	}
	if found := findInStorage(t, fx.dir, map[string][]byte{"name": []byte(name), "content": marker}); len(found) > 0 {
		t.Fatalf("after purge: %v", found)
	}
}

func TestRevokeDeletesUploads(t *testing.T) {
	t.Parallel()
	fx := newUploadFixture(t)
	v, ctx := fx.v, context.Background()
	up, _ := v.StartUpload(ctx, fx.token, "citizen@example.net")
	f, _ := v.AddUploadFile(ctx, up.ID, NewUploadFile{Name: "a", Size: 3}, UploadLimits{})
	v.WriteUploadFile(ctx, up.ID, f.ID, UploadChunk{Body: strings.NewReader("abc")})
	if err := v.Revoke(ctx, fx.d.ID()); err != nil {
		t.Fatal(err)
	}
	if n := blobCount(t, v); n != 0 {
		t.Fatalf("%d blobs after revoke", n)
	}
	if _, err := v.Upload(ctx, up.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("upload after revoke: %v", err)
	}
	if _, err := v.StartUpload(ctx, fx.token, "citizen@example.net"); !errors.Is(err, ErrRevoked) {
		t.Fatalf("upload link after revoke: %v", err)
	}
}

func TestClosedLinkTakesNothing(t *testing.T) {
	t.Parallel()
	fx := newUploadFixture(t)
	v, ctx := fx.v, context.Background()
	up, _ := v.StartUpload(ctx, fx.token, "citizen@example.net")
	if err := v.CloseUploadLink(ctx, fx.d.ID(), "citizen@example.net"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.AddUploadFile(ctx, up.ID, NewUploadFile{Name: "a", Size: 3}, UploadLimits{}); !errors.Is(err, ErrUploadClosed) {
		t.Fatalf("AddUploadFile on a closed link: %v", err)
	}
	if _, err := v.StartUpload(ctx, fx.token, "citizen@example.net"); !errors.Is(err, ErrUploadClosed) {
		t.Fatalf("StartUpload on a closed link: %v", err)
	}
	// The page still shows what went through it.
	if list, err := v.LinkUploads(ctx, fx.token, "citizen@example.net"); err != nil || len(list) != 1 {
		t.Fatalf("LinkUploads on a closed link: %v %v", list, err)
	}
}
