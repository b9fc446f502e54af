package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
)

// plainMarker is written all through every uploaded file; no byte
// sequence of it may ever appear in storage.dir.
const plainMarker = "SEALGATE-PLAINTEXT-MARKER-u7Qx"

// TestUploadEndToEnd is issue 7's proof through the real wiring (run() as
// `sealgate serve --dev` does, the development outbox as next hop): a
// [secure2][upload] mail gives the citizen an upload link; signed in by the
// code from the outbox, the citizen uploads three files over tus (the large
// one cut at half and resumed after HEAD) and sends; the clerk gets one
// mail, Reply-To the citizen, linking the files to /r/{token} (above
// uploads.attach_max_size), where the clerk, signed in by code, downloads
// the same bytes. A second upload under the threshold arrives attached, and
// a secure reply from the transfer page with text and a file as well. No
// plaintext marker is ever found in storage.dir.
func TestUploadEndToEnd(t *testing.T) {
	bigSize := int64(200 << 20)
	if testing.Short() {
		bigSize = 32 << 20
	}
	dir := t.TempDir()
	t.Setenv("SEALGATE_STORAGE_DIR", dir)
	t.Setenv("SEALGATE_SMTP_LISTEN", "127.0.0.1:0")
	t.Setenv("SEALGATE_WEB_LISTEN", "127.0.0.1:0")
	t.Setenv("SEALGATE_ADMIN_LISTEN", "127.0.0.1:0")
	s, err := loadSettings("")
	if err != nil {
		t.Fatal(err)
	}
	s.UploadMail.AttachMaxSize = 1 << 20
	lns, err := listen(s)
	if err != nil {
		t.Fatal(err)
	}
	defer lns.close()
	web := "http://" + lns.web.Addr().String()
	s.Web.PublicURL, s.SMTP.PublicURL, s.Notify.PublicURL = web, web, web

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, s, lns, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("run did not stop within 30 s of cancellation")
		}
	}()

	const clerkAddr, citizenAddr = "clerk@example.org", "citizen@example.net"
	ob := &outbox{t: t, web: web}

	// The clerk's [secure2][upload] mail over SMTP.
	msg := "From: " + clerkAddr + "\r\nTo: " + citizenAddr + "\r\nSubject: [secure2][upload] Ihr Antrag\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGuten Tag,\r\nbitte laden Sie die Unterlagen hoch.\r\n" +
		"--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"formular.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		wrap(base64.StdEncoding.EncodeToString([]byte("Formular, bitte ausfuellen\n"))) + "--b1--\r\n"
	c, err := smtp.Dial(lns.smtp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail(clerkAddr, []string{citizenAddr}, strings.NewReader(msg)); err != nil {
		t.Fatalf("send: %v", err)
	}
	c.Close()

	citizenCopy := ob.waitFor(func(m outMail) bool { return m.to(citizenAddr) && strings.Contains(m.text, "/u/") })
	uploadPage := regexp.MustCompile(regexp.QuoteMeta(web) + `/u/[A-Za-z0-9_-]{43}`).FindString(citizenCopy.text)
	transferPage := regexp.MustCompile(regexp.QuoteMeta(web) + `/t/[A-Za-z0-9_-]{43}`).FindString(citizenCopy.text)
	if uploadPage == "" || transferPage == "" {
		t.Fatalf("citizen's copy lacks the upload or transfer link:\n%s", citizenCopy.text)
	}
	senderCopy := ob.waitFor(func(m outMail) bool { return m.to(clerkAddr) && strings.Contains(m.text, "/s/") })
	reference := regexp.MustCompile(`SG-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(senderCopy.text)
	citizen := newBrowser(t, web)
	citizen.signIn(ob, citizenAddr, strings.TrimPrefix(uploadPage, web))

	// Upload 1: two small files and the large one, cut at half and resumed.
	small1 := markedBytes(40<<10, 1)
	small2 := markedBytes(100<<10, 2)
	big := &generated{size: bigSize, period: 1<<20 + 13, seed: 3}
	files := uploadPage + "/files/"
	citizen.tusUpload(files, "Antrag.pdf", small1)
	citizen.tusUpload(files, "Nachweis.jpg", small2)

	start := time.Now()
	loc := citizen.tusCreate(files, "Kontoauszuege.zip", bigSize)
	half := bigSize / 2
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, io.NewSectionReader(big, 0, half))
		if err == nil {
			err = io.ErrUnexpectedEOF // the connection breaks mid-body
		}
		pw.CloseWithError(err)
	}()
	if resp, err := citizen.tusDo(http.MethodPatch, loc, pr, "Upload-Offset", "0", "Content-Type", "application/offset+octet-stream"); err == nil {
		resp.Body.Close()
	}
	scanStorage(t, dir, "during the upload, after the interruption")
	off := citizen.tusResume(loc, big)
	t.Logf("large file: %d MiB uploaded in %v (interrupted after %d MiB, server had %d MiB)", bigSize>>20, time.Since(start).Round(time.Millisecond), half>>20, off>>20)
	scanStorage(t, dir, "after the resumed upload")

	citizen.saveMessage(uploadPage, "Anbei die Unterlagen.\nMit freundlichen Grüßen")
	before := ob.count()
	citizen.send(uploadPage)
	linked := ob.waitFor(func(m outMail) bool { return m.id > before && m.to(clerkAddr) })
	checkClerkMail(t, linked, citizenAddr, reference, "Anbei die Unterlagen.")
	if len(linked.files) != 0 {
		t.Errorf("mail above attach_max_size attaches %d files", len(linked.files))
	}
	clerkLink := regexp.MustCompile(regexp.QuoteMeta(web) + `/r/[A-Za-z0-9_-]{43}`).FindString(linked.text)
	if clerkLink == "" {
		t.Fatalf("no /r/ link in the clerk's mail:\n%s", linked.text)
	}
	clerk := newBrowser(t, web)
	clerk.signIn(ob, clerkAddr, strings.TrimPrefix(clerkLink, web))
	page := clerk.get(clerkLink)
	got := map[string]bool{}
	for _, m := range regexp.MustCompile(`href="(/r/[A-Za-z0-9_-]{43}/files/[^"]+)"`).FindAllStringSubmatch(page, -1) {
		got[clerk.hashOf(web+strings.ReplaceAll(m[1], "&amp;", "&"))] = true
	}
	for name, want := range map[string]string{"small 1": sum(small1), "small 2": sum(small2), "large": big.sum(t)} {
		if !got[want] {
			t.Errorf("clerk page: %s file missing or altered (page hashes %v)", name, got)
		}
	}
	if n := ob.countWhere(func(m outMail) bool { return m.id > before && m.to(clerkAddr) && m.replyTo(citizenAddr) }); n != 1 {
		t.Errorf("%d mails for the clerk after one send", n)
	}

	// Upload 2 on the same link, under the threshold: attached.
	small3 := markedBytes(200<<10, 4)
	small4 := markedBytes(7, 5)[:7]
	citizen.tusUpload(files, "Vollmacht.pdf", small3)
	citizen.tusUpload(files, "kurz.txt", small4)
	citizen.saveMessage(uploadPage, "Noch zwei Dokumente.")
	before = ob.count()
	citizen.send(uploadPage)
	attached := ob.waitFor(func(m outMail) bool { return m.id > before && m.to(clerkAddr) })
	checkClerkMail(t, attached, citizenAddr, reference, "Noch zwei Dokumente.")
	checkAttached(t, attached, map[string][]byte{"Vollmacht.pdf": small3, "kurz.txt": small4})
	if p := citizen.get(uploadPage); !strings.Contains(p, "<strong>zugestellt</strong>") {
		t.Error("upload page does not say delivered after the clerk's mail went out")
	}

	// A secure reply from the transfer page: text and a file.
	replyPage := transferPage + "/reply"
	if !strings.Contains(citizen.get(transferPage), `href="`+strings.TrimPrefix(replyPage, web)+`"`) {
		t.Error("transfer page does not link to the reply")
	}
	reply := markedBytes(50<<10, 6)
	citizen.get(replyPage)
	citizen.tusUpload(replyPage+"/files/", "Rueckfrage.pdf", reply)
	citizen.saveMessage(replyPage, "Eine Rückfrage zum Bescheid.")
	before = ob.count()
	citizen.send(replyPage)
	replied := ob.waitFor(func(m outMail) bool { return m.id > before && m.to(clerkAddr) })
	checkClerkMail(t, replied, citizenAddr, reference, "Eine Rückfrage zum Bescheid.")
	checkAttached(t, replied, map[string][]byte{"Rueckfrage.pdf": reply})

	scanStorage(t, dir, "after delivery")
}

// checkClerkMail checks the delivery mail's Reply-To, text, and that its
// subject names the original transfer's reference (the clerk's subject
// itself never leaves the relay in sealgate's own mail).
func checkClerkMail(t *testing.T, m outMail, citizen, reference, text string) {
	t.Helper()
	if rt, _ := m.header.AddressList("Reply-To"); len(rt) != 1 || rt[0].Address != citizen {
		t.Errorf("clerk's mail Reply-To %v, want %s", rt, citizen)
	}
	if subj, _ := m.header.Subject(); reference == "" || !strings.Contains(subj, reference) {
		t.Errorf("clerk's mail subject %q does not refer to the original", subj)
	}
	if !strings.Contains(m.text, text) {
		t.Errorf("clerk's mail lacks the message %q:\n%s", text, m.text)
	}
}

func checkAttached(t *testing.T, m outMail, want map[string][]byte) {
	t.Helper()
	if len(m.files) != len(want) {
		t.Errorf("%d attachments, want %d", len(m.files), len(want))
	}
	for name, b := range want {
		if got, ok := m.files[name]; !ok || got != sum(b) {
			t.Errorf("attachment %s: SHA-256 %q, want %q", name, got, sum(b))
		}
	}
	if strings.Contains(m.text, "/r/") {
		t.Error("mail under attach_max_size links to the clerk page")
	}
}

// scanStorage reads every file under dir and fails on any occurrence of
// plainMarker.
func scanStorage(t *testing.T, dir, when string) {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a temporary file, renamed or removed since the listing
		}
		if err != nil {
			return err
		}
		defer f.Close()
		buf := make([]byte, 1<<20+len(plainMarker))
		keep := 0
		for {
			n, err := io.ReadFull(f, buf[keep:])
			total += int64(n)
			if bytes.Contains(buf[:keep+n], []byte(plainMarker)) {
				t.Errorf("%s: plaintext marker in %s", when, path)
				return nil
			}
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					return nil
				}
				return err
			}
			keep = copy(buf, buf[keep+n-len(plainMarker):keep+n])
		}
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	if total == 0 {
		t.Fatalf("%s: nothing in %s to scan", when, dir)
	}
	t.Logf("%s: scanned %d MiB of storage.dir, no plaintext", when, total>>20)
}

// markedBytes is n random bytes with plainMarker every 4 KiB.
func markedBytes(n int, seed uint64) []byte {
	b := make([]byte, n+len(plainMarker))
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for i := 0; i < n; i += 4096 {
		copy(b[i:], plainMarker)
	}
	return b[:n]
}

// generated is a large file made on the fly: a random block of period
// bytes, with markers, repeated; a period that is no power of two keeps
// misplaced chunks from hashing the same.
type generated struct {
	size, period int64
	seed         uint64
	block        []byte
}

func (g *generated) ReadAt(p []byte, off int64) (int, error) {
	if g.block == nil {
		g.block = markedBytes(int(g.period), g.seed)
	}
	if off >= g.size {
		return 0, io.EOF
	}
	if rest := g.size - off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n := 0
	for n < len(p) {
		n += copy(p[n:], g.block[(off+int64(n))%g.period:])
	}
	if off+int64(n) == g.size {
		return n, io.EOF
	}
	return n, nil
}

func (g *generated) sum(t *testing.T) string {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(g, 0, g.size)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// outMail is one mail in the development outbox, parsed.
type outMail struct {
	id     int
	header mail.Header
	text   string
	files  map[string]string // attachment name → SHA-256
}

func (m outMail) to(addr string) bool {
	list, _ := m.header.AddressList("To")
	for _, a := range list {
		if strings.EqualFold(a.Address, addr) {
			return true
		}
	}
	return false
}

func (m outMail) replyTo(addr string) bool {
	list, _ := m.header.AddressList("Reply-To")
	return len(list) == 1 && strings.EqualFold(list[0].Address, addr)
}

// outbox reads the development outbox through its web pages.
type outbox struct {
	t     *testing.T
	web   string
	mails []outMail
}

// refresh reads the mails that arrived since the last call.
func (o *outbox) refresh() {
	o.t.Helper()
	for {
		id := len(o.mails) + 1
		resp, err := http.Get(o.web + "/dev/outbox/" + strconv.Itoa(id) + "/raw")
		if err != nil {
			o.t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			o.t.Fatalf("outbox mail %d: %d %v", id, resp.StatusCode, err)
		}
		o.mails = append(o.mails, parseMail(o.t, id, raw))
	}
}

func (o *outbox) count() int {
	o.refresh()
	return len(o.mails)
}

func (o *outbox) countWhere(f func(outMail) bool) int {
	o.refresh()
	n := 0
	for _, m := range o.mails {
		if f(m) {
			n++
		}
	}
	return n
}

// waitFor returns the first mail f accepts, polling the outbox (it offers
// no notification) for up to a minute.
func (o *outbox) waitFor(f func(outMail) bool) outMail {
	o.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		o.refresh()
		for _, m := range o.mails {
			if f(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			o.t.Fatalf("no such mail in the outbox within a minute (%d mails)", len(o.mails))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func parseMail(t *testing.T, id int, raw []byte) outMail {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("outbox mail %d: %v", id, err)
	}
	m := outMail{id: id, header: mr.Header, files: map[string]string{}}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return m
		}
		if err != nil {
			t.Fatalf("outbox mail %d: %v", id, err)
		}
		b, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("outbox mail %d: %v", id, err)
		}
		switch h := p.Header.(type) {
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			m.files[name] = sum(b)
		case *mail.InlineHeader:
			if ct, _, _ := h.ContentType(); ct == "text/plain" {
				m.text += string(b)
			}
		}
	}
}

// browser is a client with cookies that does what the pages' forms and
// upload.js do.
type browser struct {
	t   *testing.T
	web string
	c   *http.Client
}

func newBrowser(t *testing.T, web string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, web: web, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(u string) string {
	b.t.Helper()
	return httpGetWith(b.t, b.c, u)
}

func (b *browser) hashOf(u string) string {
	b.t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) csrf(page string) string {
	b.t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	return m[1]
}

func (b *browser) post(path string, form url.Values) *http.Response {
	b.t.Helper()
	resp, err := b.c.PostForm(b.web+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// signIn asks for a code on next's sign-in form, reads it from the
// outbox, and types it in.
func (b *browser) signIn(ob *outbox, addr, next string) {
	b.t.Helper()
	csrf := b.csrf(b.get(b.web + next))
	before := ob.count()
	if r := b.post("/login", url.Values{"email": {addr}, "next": {next}, "csrf": {csrf}}); r.StatusCode != http.StatusOK {
		b.t.Fatalf("POST /login for %s: %s", addr, r.Status)
	}
	m := ob.waitFor(func(m outMail) bool { return m.id > before && m.to(addr) })
	code := regexp.MustCompile(`\b\d{4}[ -]?\d{4}\b`).FindString(m.text)
	if code == "" {
		b.t.Fatalf("no code in the sign-in mail:\n%s", m.text)
	}
	r := b.post("/login/verify", url.Values{"email": {addr}, "code": {code}, "next": {next}, "csrf": {csrf}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != next {
		b.t.Fatalf("POST /login/verify for %s: %s to %q", addr, r.Status, r.Header.Get("Location"))
	}
}

func (b *browser) saveMessage(page, text string) {
	b.t.Helper()
	path := strings.TrimPrefix(page, b.web)
	if r := b.post(path+"/message", url.Values{"csrf": {b.csrf(b.get(page))}, "message": {text}}); r.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("save message: %s", r.Status)
	}
}

// send presses the send button.
func (b *browser) send(page string) {
	b.t.Helper()
	path := strings.TrimPrefix(page, b.web)
	if r := b.post(path+"/send", url.Values{"csrf": {b.csrf(b.get(page))}}); r.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("send: %s", r.Status)
	}
	if p := b.get(page); !strings.Contains(p, "Zustellung ausstehend") && !strings.Contains(p, "zugestellt") {
		b.t.Error("page says nothing about the delivery after send")
	}
}

// tusDo sends one tus request.
func (b *browser) tusDo(method, u string, body io.Reader, header ...string) (*http.Response, error) {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.c.Do(req)
}

// tusCreate creates a file and returns its absolute address.
func (b *browser) tusCreate(files, name string, size int64) string {
	b.t.Helper()
	meta := "filename " + base64.StdEncoding.EncodeToString([]byte(name)) + ",filetype " + base64.StdEncoding.EncodeToString([]byte("application/octet-stream"))
	resp, err := b.tusDo(http.MethodPost, files, nil, "Upload-Length", strconv.FormatInt(size, 10), "Upload-Metadata", meta)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.t.Fatalf("tus create %s: %s", name, resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	base, _ := url.Parse(files)
	return base.ResolveReference(loc).String()
}

func (b *browser) tusUpload(files, name string, data []byte) {
	b.t.Helper()
	loc := b.tusCreate(files, name, int64(len(data)))
	b.tusResume(loc, bytes.NewReader(data))
}

// tusResume asks HEAD where the server stands and PATCHes the rest, as a
// tus client does after an error; the server may still be finishing a
// broken request (409, or HEAD superseding it), so it asks again. It
// returns the offset of the first HEAD.
func (b *browser) tusResume(loc string, data io.ReaderAt) int64 {
	b.t.Helper()
	first := int64(-1)
	for try := 0; ; try++ {
		resp, err := b.tusDo(http.MethodHead, loc, nil)
		if err != nil {
			b.t.Fatal(err)
		}
		resp.Body.Close()
		off, err1 := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
		size, err2 := strconv.ParseInt(resp.Header.Get("Upload-Length"), 10, 64)
		if resp.StatusCode != http.StatusOK || err1 != nil || err2 != nil || off > size {
			b.t.Fatalf("HEAD %s: %s offset %q length %q", loc, resp.Status, resp.Header.Get("Upload-Offset"), resp.Header.Get("Upload-Length"))
		}
		if first < 0 {
			first = off
		}
		resp, err = b.tusDo(http.MethodPatch, loc, io.NewSectionReader(data, off, size-off),
			"Upload-Offset", strconv.FormatInt(off, 10), "Content-Type", "application/offset+octet-stream")
		if err != nil {
			b.t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusNoContent && resp.Header.Get("Upload-Offset") == strconv.FormatInt(size, 10) {
			return first
		}
		if try == 10 || resp.StatusCode != http.StatusConflict && resp.StatusCode != http.StatusBadRequest {
			b.t.Fatalf("PATCH %s from %d: %s %s", loc, off, resp.Status, fmt.Sprint(string(msg)))
		}
	}
}
