package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"sealgate/catalog"
	"sealgate/internal/browsertest"
	"sealgate/internal/smtptest"
	"sealgate/linkserver"
	"sealgate/notify"
	"sealgate/smtpproxy"
	"sealgate/vault"
)

// TestBrowserJourney walks a recipient's level-3/4 journey in Chromium
// (SPEC section 4, steps 2–6): sign in with the code from the mail that
// reached the (fake) next hop; choose a key passphrase, so that the page
// makes the key; note the recovery code shown once; download and decrypt
// a level-3 file in the page (SHA-256 equal); read a level-4 message,
// plain text and HTML in its sandboxed frame (its script does not run);
// after a reload unlock with the recovery code and download again; a
// wrong passphrase gets a clear message beside its field. No request that
// reached the server carried the passphrase or the recovery code.
//
// It runs sealgate's web side in this process, on a real vault, because
// the level-4 transfer is made directly with the vault (Draft.AddText):
// the relay does not store level-4 text yet, and bbolt lets only one
// process hold the database. The level-3 transfer is made the same way.
// Sign-in codes go out through notify and smtpproxy's Outbound to a
// capture server, as in production.
func TestBrowserJourney(t *testing.T) {
	b := browsertest.New(t)
	j := startJourney(t)
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	say := func(key string) string { return cat.T("en", "page.e2e.js."+key) }
	const passphrase = "Amsel Drossel Fink und Star"

	tab := b.Tab(t, 1280, 900, "en")
	// Tab.Fill types after chromedp.Clear, which resets only the value
	// attribute: a field typed into before would keep its text. Empty it
	// first.
	fill := func(sel, value string) {
		tab.Eval(t, fmt.Sprintf(`(document.querySelector(%q).value = "", true)`, sel), nil)
		tab.Fill(t, sel, value)
	}
	j.signIn(t, tab, j.l3)

	// First visit at level 3: no key yet.
	tab.WaitVisible(t, "#setup-form")
	j.checkAxe(t, tab, "choose a passphrase")
	fill("#setup-pass", "too short")
	fill("#setup-pass2", "too short")
	tab.Click(t, "#setup-form button[type=submit]")
	tab.WaitVisible(t, "#setup-error")
	if got := tab.Text(t, "#setup-error"); got != say("too_short") {
		t.Errorf("short passphrase: %q", got)
	}
	fill("#setup-pass", passphrase)
	fill("#setup-pass2", passphrase)
	tab.Click(t, "#setup-form button[type=submit]")
	tab.WaitVisible(t, "#recovery-code")
	recovery := strings.TrimSpace(tab.Text(t, "#recovery-code"))
	if !regexp.MustCompile(`^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$`).MatchString(recovery) {
		t.Fatalf("recovery code shown: %q", recovery)
	}
	if _, err := j.v.AccountKey(t.Context(), citizen); err == nil {
		t.Error("the key was uploaded before the recovery code was confirmed")
	}
	j.checkAxe(t, tab, "recovery code")
	tab.Click(t, "#recovery-form button[type=submit]")
	tab.WaitVisible(t, "#recovery-error")
	tab.Click(t, "#recovery-done")
	tab.Click(t, "#recovery-form button[type=submit]")
	tab.WaitVisible(t, "#e2e-open")
	key, err := j.v.AccountKey(t.Context(), citizen)
	if err != nil || key.BYOK || len(key.PassphraseLocked) == 0 || len(key.RecoveryLocked) == 0 {
		t.Fatalf("account key after the browser made one: %+v %v", key, err)
	}
	if !strings.Contains(key.Algorithm, "v6") {
		t.Errorf("the browser's key is %s, want a v6 key", key.Algorithm)
	}
	var left string
	tab.Eval(t, `document.getElementById("recovery-code").textContent`, &left)
	if left != "" {
		t.Error("the recovery code stays on the page after it was confirmed")
	}
	j.downloadAndCheck(t, tab, say("saved"))

	// Level 4 in the same session: unlock (a wrong passphrase first),
	// then the message.
	tab.Navigate(t, j.baseURL+j.l4)
	tab.WaitVisible(t, "#unlock-form")
	tab.Eval(t, `(window.__posted = [], addEventListener("message", (e) => window.__posted.push(String(e.data))), true)`, nil)
	fill("#unlock-secret", "Amsel Drossel Fink und Spatz")
	tab.Click(t, "#unlock-form button[type=submit]")
	tab.WaitVisible(t, "#unlock-error")
	if got := tab.Text(t, "#unlock-error"); got != say("wrong_passphrase") {
		t.Errorf("wrong passphrase: message %q", got)
	}
	var field struct {
		Invalid string `json:"invalid"`
		Focused bool   `json:"focused"`
		Labels  string `json:"describedBy"`
	}
	tab.Eval(t, `(() => { const f = document.getElementById("unlock-secret");
		return { invalid: f.getAttribute("aria-invalid"), focused: document.activeElement === f, describedBy: f.getAttribute("aria-describedby") } })()`, &field)
	if field.Invalid != "true" || !field.Focused || !strings.Contains(field.Labels, "unlock-error") {
		t.Errorf("wrong passphrase: the field is not marked, focused and described by the message: %+v", field)
	}
	j.checkAxe(t, tab, "wrong passphrase")
	fill("#unlock-secret", passphrase)
	tab.Click(t, "#unlock-form button[type=submit]")
	tab.WaitVisible(t, "#message-html")
	var msg struct {
		Text    string `json:"text"`
		Sandbox string `json:"sandbox"`
		Srcdoc  string `json:"srcdoc"`
	}
	tab.Eval(t, `new Promise((r) => setTimeout(r, 300)).then(() => { const f = document.getElementById("message-html");
		return { text: document.getElementById("message-text").textContent, sandbox: f.getAttribute("sandbox"), srcdoc: f.srcdoc } })`, &msg)
	if msg.Text != j.plain {
		t.Errorf("level-4 plain text %q, want %q", msg.Text, j.plain)
	}
	if strings.Contains(msg.Sandbox, "allow-scripts") || strings.Contains(msg.Sandbox, "allow-same-origin") ||
		!strings.Contains(msg.Srcdoc, `content="default-src 'none'; img-src data:; style-src 'unsafe-inline'"`) || !strings.Contains(msg.Srcdoc, j.html) {
		t.Errorf("level-4 HTML frame: sandbox %q, srcdoc %q", msg.Sandbox, msg.Srcdoc)
	}
	var posted []string
	tab.Eval(t, `window.__posted`, &posted)
	if len(posted) != 0 {
		t.Errorf("the message's script ran: it posted %q", posted)
	}
	for _, e := range tab.TakeConsoleErrors() {
		if !strings.Contains(e, "sandboxed") { // Chromium says it blocked the mail's script
			t.Errorf("browser: %s", e)
		}
	}

	j.checkAxe(t, tab, "level-4 message")

	// Reload: the key is locked again; the recovery code opens it.
	tab.Navigate(t, j.baseURL+j.l3)
	tab.WaitVisible(t, "#unlock-form")
	tab.Click(t, "#unlock-switch")
	if got := tab.Text(t, "#unlock-label"); got != say("label_code") {
		t.Errorf("after switching, the field is labelled %q", got)
	}
	fill("#unlock-secret", strings.ToLower(recovery))
	tab.Click(t, "#unlock-form button[type=submit]")
	tab.WaitVisible(t, "#e2e-open")
	j.downloadAndCheck(t, tab, say("saved"))

	if n := j.counted(t); n != 2 {
		t.Errorf("%d complete downloads of the level-3 file recorded, want 2", n)
	}

	// Change the passphrase (the key stays, the passphrase copy is locked
	// anew in the browser); after a reload only the new one unlocks it.
	const newPassphrase = "Kiebitz Zaunkoenig Pirol 7"
	tab.Click(t, "#change summary")
	fill("#change-pass", newPassphrase)
	fill("#change-pass2", newPassphrase)
	tab.Click(t, "#change-form button[type=submit]")
	tab.WaitVisible(t, "#change-done")
	if k, err := j.v.AccountKey(t.Context(), citizen); err != nil || k.Fingerprint != key.Fingerprint ||
		bytes.Equal(k.PassphraseLocked, key.PassphraseLocked) || !bytes.Equal(k.RecoveryLocked, key.RecoveryLocked) {
		t.Errorf("after the passphrase change: same key %v, new passphrase copy %v, same recovery copy %v (%v)",
			k.Fingerprint == key.Fingerprint, !bytes.Equal(k.PassphraseLocked, key.PassphraseLocked), bytes.Equal(k.RecoveryLocked, key.RecoveryLocked), err)
	}
	tab.Navigate(t, j.baseURL+j.l3)
	tab.WaitVisible(t, "#unlock-form")
	fill("#unlock-secret", passphrase)
	tab.Click(t, "#unlock-form button[type=submit]")
	tab.WaitVisible(t, "#unlock-error")
	fill("#unlock-secret", newPassphrase)
	tab.Click(t, "#unlock-form button[type=submit]")
	tab.WaitVisible(t, "#e2e-open")
	j.checkAxe(t, tab, "unlocked")

	// Reset: neither passphrase nor code. The page warns and wants the
	// box ticked; the new key cannot open the earlier file, and the
	// clerk's status page says so.
	tab.Navigate(t, j.baseURL+j.l3)
	tab.WaitVisible(t, "#unlock-form")
	tab.Click(t, "#reset summary")
	tab.Click(t, "#reset-form button[type=submit]")
	tab.WaitVisible(t, "#reset-error")
	if got := tab.Text(t, "#reset-error"); got != say("reset_confirm_needed") {
		t.Errorf("reset without the box: %q", got)
	}
	tab.Click(t, "#reset-confirm")
	tab.Click(t, "#reset-form button[type=submit]")
	tab.WaitVisible(t, "#setup-reset-intro")
	fill("#setup-pass", newPassphrase)
	fill("#setup-pass2", newPassphrase)
	tab.Click(t, "#setup-form button[type=submit]")
	tab.WaitVisible(t, "#recovery-code")
	recovery2 := strings.TrimSpace(tab.Text(t, "#recovery-code"))
	tab.Click(t, "#recovery-done")
	tab.Click(t, "#recovery-form button[type=submit]")
	tab.WaitVisible(t, "#e2e-open")
	if k, err := j.v.AccountKey(t.Context(), citizen); err != nil || k.Fingerprint == key.Fingerprint {
		t.Errorf("the reset did not replace the key (%v)", err)
	}
	tab.Eval(t, saveHookJS, nil)
	tab.Click(t, "li.e2e-file button")
	var status string
	tab.Eval(t, `new Promise((r) => { const t = setInterval(() => { const s = document.querySelector("li.e2e-file .dl-status").textContent;
		if (s && !s.endsWith("…")) { clearInterval(t); r(s); } }, 20); })`, &status)
	if status != say("unreadable") {
		t.Errorf("the earlier file after a reset: %q, want %q", status, say("unreadable"))
	}
	for _, e := range tab.TakeConsoleErrors() {
		if !strings.Contains(e, "status of 410") { // the refused download itself
			t.Errorf("browser: %s", e)
		}
	}
	j.checkClerkSees(t, b, cat.T("en", "page.status.unreadable"))

	j.checkNoSecrets(t, passphrase, recovery, newPassphrase, recovery2)
	j.checkPhone(t, b)
}

// checkPhone opens the first step as a second recipient on a phone: no
// sideways scrolling, touch targets of 44×44 px, nothing for axe-core.
func (j *journey) checkPhone(t *testing.T, b *browsertest.Browser) {
	t.Helper()
	tab := b.Tab(t, 360, 800, "de")
	j.signInAs(t, tab, neighbour, j.l3n)
	tab.WaitVisible(t, "#setup-form")
	if px := tab.Overflow(t); px > 0 {
		t.Errorf("phone: the page scrolls sideways by %d px", px)
	}
	var small []string
	tab.Eval(t, smallTargetsJS, &small)
	for _, s := range small {
		t.Errorf("phone: touch target smaller than 44×44 px: %s", s)
	}
	j.checkAxe(t, tab, "phone")
}

// checkAxe fails t with the WCAG 2.1 AA violations axe-core finds, and
// photographs the state when SEALGATE_SCREENSHOTS names a directory.
func (j *journey) checkAxe(t *testing.T, tab *browsertest.Tab, state string) {
	t.Helper()
	for _, v := range tab.Axe(t) {
		t.Errorf("axe (%s): %s", state, v)
	}
	if dir := os.Getenv(screenshotsEnv); dir != "" {
		tab.Screenshot(t, filepath.Join(dir, "journey-"+strings.ReplaceAll(state, " ", "-")+".png"))
	}
}

// checkClerkSees signs in as the clerk on the level-3 transfer's status
// page and looks for want there.
func (j *journey) checkClerkSees(t *testing.T, b *browsertest.Browser, want string) {
	t.Helper()
	tab := b.Tab(t, 1280, 900, "en")
	j.signInAs(t, tab, clerk, "/s/"+j.l3Sender)
	if got := tab.Text(t, "table.downloads"); !strings.Contains(got, want) {
		t.Errorf("the clerk's status page does not say %q:\n%s", want, got)
	}
}

// journey is sealgate's web side on a real vault, with mail going to a
// capture server, and the two transfers the browser visits.
type journey struct {
	v        *vault.Vault
	internet *smtptest.Server
	baseURL  string
	l3, l4   string // transfer page paths
	l3ID     string
	l3Sender string // the status page token of the level-3 transfer
	l3n      string // a level-3 transfer page for the neighbour
	file     []byte
	fileName string
	plain    string
	html     string

	mu       sync.Mutex
	requests []string // every request that reached the server, whole
}

func startJourney(t *testing.T) *journey {
	t.Helper()
	ctx := t.Context()
	j := &journey{
		internet: smtptest.Start(t, smtptest.Options{}),
		fileName: "Bescheid 2026.pdf",
		plain:    "Guten Tag,\n\nIhr Antrag ist bewilligt.\n",
		// The script must not run: the frame has no allow-scripts.
		html: `<p style="color:#063">Guten Tag,</p><p>Ihr Antrag ist <b>bewilligt</b>.</p><script>parent.postMessage("script ran", "*")</script>`,
	}
	v, err := vault.Open(ctx, vault.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	j.v = v

	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	out, err := smtpproxy.NewOutbound(smtpproxy.OutboundConfig{Hop: j.internet.Addr, Hostname: "gate.sealgate.test"}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Close)
	hs := httptest.NewUnstartedServer(nil)
	j.baseURL = "http://" + hs.Listener.Addr().String()
	n, err := notify.New(notify.Config{From: "noreply@sealgate.test", PublicURL: j.baseURL, OrgName: brandName, Receipts: true}, cat, out, log)
	if err != nil {
		t.Fatal(err)
	}
	web, err := linkserver.New(linkserver.Config{PublicURL: j.baseURL, BrandingName: brandName, Receipts: true}, v, cat, log, linkserver.WithNotifier(n))
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = j.record(web.Handler())
	hs.Start()
	t.Cleanup(hs.Close)

	j.file = make([]byte, 3<<20+12345) // several chunks of streaming decryption
	rand.Read(j.file)
	store := func(level int, to string, add func(*vault.Draft) error) (string, string, string) {
		d, err := v.BeginTransfer(ctx, vault.NewTransfer{Level: level, Sender: clerk, Recipients: []string{to}})
		if err != nil {
			t.Fatal(err)
		}
		if err := add(d); err != nil {
			t.Fatal(err)
		}
		if err := d.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		return "/t/" + d.Token(), d.ID(), d.SenderToken()
	}
	j.l3, j.l3ID, j.l3Sender = store(3, citizen, func(d *vault.Draft) error {
		_, err := d.AddFile(ctx, j.fileName, "application/pdf", bytes.NewReader(j.file))
		return err
	})
	j.l4, _, _ = store(4, citizen, func(d *vault.Draft) error {
		_, err := d.AddText(ctx, []byte(j.plain), []byte(j.html))
		return err
	})
	// For a second recipient: on the citizen's transfers they would be
	// pending, and the gateway would then re-wrap for the citizen's new key
	// after a reset instead of leaving the file unreadable.
	j.l3n, _, _ = store(3, neighbour, func(d *vault.Draft) error {
		_, err := d.AddFile(ctx, "Antwort.pdf", "application/pdf", strings.NewReader("%PDF-1.4"))
		return err
	})
	return j
}

// record keeps a copy of every request (method, address, headers, body)
// before the server sees it.
func (j *journey) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s\n", r.Method, r.RequestURI)
		r.Header.Write(&b)
		b.Write(body)
		j.mu.Lock()
		j.requests = append(j.requests, b.String())
		j.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

var journeyCodeRE = regexp.MustCompile(`\b[0-9]{8}\b`)

// neighbour is a second recipient of the journey's transfers.
const neighbour = "nachbarin@example.net"

// signIn signs the tab in on a transfer page with the code from the mail.
func (j *journey) signIn(t *testing.T, tab *browsertest.Tab, page string) {
	t.Helper()
	j.signInAs(t, tab, citizen, page)
}

// signInAs signs the tab in as addr on page with the code from the mail.
func (j *journey) signInAs(t *testing.T, tab *browsertest.Tab, addr, page string) {
	t.Helper()
	tab.Navigate(t, j.baseURL+page)
	tab.Fill(t, "#email", addr)
	before := len(j.internet.Messages())
	tab.ClickAndWait(t, "main form button[type=submit]")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	msgs, err := j.internet.WaitMessages(ctx, before+1)
	if err != nil {
		t.Fatalf("no sign-in mail: %v", err)
	}
	code := ""
	for _, m := range msgs[before:] {
		if len(m.To) == 1 && m.To[0] == addr {
			code = journeyCodeRE.FindString(parse(t, m.Data).text())
		}
	}
	if code == "" {
		t.Fatalf("no sign-in mail with a code to %s", addr)
	}
	tab.Fill(t, "#code", code)
	if st := tab.ClickAndWait(t, "main form button[type=submit]"); st != http.StatusOK {
		t.Fatalf("after the code: HTTP %d", st)
	}
}

// saveHookJS stands in for the browser's save dialog (the File System
// Access API, which e2e.js prefers): what the page writes is hashed here,
// so the test sees exactly the bytes that would reach the disk.
const saveHookJS = `(window.__saves = {}, window.showSaveFilePicker = async ({ suggestedName }) => {
  const chunks = [];
  let done;
  window.__saves[suggestedName] = new Promise((r) => { done = r; });
  return { createWritable: async () => new WritableStream({
    write(c) { chunks.push(new Uint8Array(c)); },
    async close() {
      const n = chunks.reduce((a, c) => a + c.length, 0), all = new Uint8Array(n);
      let o = 0;
      for (const c of chunks) { all.set(c, o); o += c.length; }
      const h = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
      done({ size: n, sha256: [...h].map((b) => b.toString(16).padStart(2, "0")).join("") });
    },
    abort(e) { done({ error: String(e) }); },
  }) };
}, true)`

// downloadAndCheck clicks the level-3 file's download button and checks
// the saved bytes, the progress bar and the message.
func (j *journey) downloadAndCheck(t *testing.T, tab *browsertest.Tab, saved string) {
	t.Helper()
	tab.Eval(t, saveHookJS, nil)
	tab.Click(t, "li.e2e-file button")
	var got struct {
		Size   int    `json:"size"`
		SHA256 string `json:"sha256"`
		Error  string `json:"error"`
	}
	tab.Eval(t, fmt.Sprintf(`new Promise((r) => { const t = setInterval(() => { const p = window.__saves[%q];
		if (p) { clearInterval(t); r(p); } }, 20); })`, j.fileName), &got)
	want := sha256.Sum256(j.file)
	if got.Error != "" || got.Size != len(j.file) || got.SHA256 != hex.EncodeToString(want[:]) {
		t.Errorf("saved file: %+v, want %d bytes with sha256 %x", got, len(j.file), want)
	}
	var ui struct {
		Progress float64 `json:"progress"`
		Status   string  `json:"status"`
	}
	tab.Eval(t, `new Promise((r) => setTimeout(r, 100)).then(() => ({ progress: document.querySelector("li.e2e-file progress").value,
		status: document.querySelector("li.e2e-file .dl-status").textContent }))`, &ui)
	if ui.Progress != 100 || ui.Status != saved {
		t.Errorf("after the download: progress %v, status %q", ui.Progress, ui.Status)
	}
}

// counted returns how many complete downloads of the level-3 file the
// vault recorded.
func (j *journey) counted(t *testing.T) int {
	t.Helper()
	ds, err := j.v.Downloads(t.Context(), j.l3ID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range ds {
		n += d.Count
	}
	return n
}

// checkNoSecrets fails t if any request that reached the server carried
// one of the secrets, as typed or in the forms e2e.js and URLs use.
func (j *journey) checkNoSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	var forms []string
	for _, s := range secrets {
		for _, v := range []string{s, strings.ReplaceAll(s, "-", ""), strings.ToLower(s)} {
			forms = append(forms, v, url.QueryEscape(v), url.PathEscape(v))
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.requests) < 10 {
		t.Fatalf("only %d requests recorded", len(j.requests))
	}
	for _, req := range j.requests {
		for _, f := range forms {
			if strings.Contains(req, f) {
				t.Errorf("a request carried a secret (%q): %.200s", f, req)
			}
		}
	}
}
