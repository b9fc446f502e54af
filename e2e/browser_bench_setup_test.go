package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"

	"sealgate/catalog"
	"sealgate/internal/browsertest"
	"sealgate/internal/smtptest"
	"sealgate/linkserver"
	"sealgate/notify"
	"sealgate/smtpproxy"
	"sealgate/vault"
)

// decryptRig is sealgate's web side on a real vault holding one level-3
// file of a chosen size, and a Chromium tab signed in as its recipient on
// its transfer page, with a key made and unlocked in that page: the
// download button is one click away. The same origin also serves a bare
// page (barePath) that loads OpenPGP.js and nothing else, for a baseline
// without sealgate's page around it.
type decryptRig struct {
	tab        *browsertest.Tab
	baseURL    string
	page       string // the transfer page's path
	fileURL    string // the file's download path (the OpenPGP message)
	size       int64
	sum        [sha256.Size]byte // of the plaintext
	say        func(key string) string
	passphrase string
}

// barePath is the bare OpenPGP.js page. It has no Content-Security-Policy
// and no script but OpenPGP.js, which it leaves in window.openpgp.
const barePath = "/bench/bare"

const barePage = `<!DOCTYPE html><html lang="en"><meta charset="utf-8"><title>OpenPGP.js alone</title><link rel="icon" href="data:,">
<script type="module">import * as openpgp from "/assets/vendor/openpgp.min.mjs"; window.openpgp = openpgp;</script>`

// startDecryptRig stores size bytes of pseudo-random plaintext as a level-3
// file (generated and hashed as the vault encrypts it, never held in
// memory), signs a tab in as its recipient, and makes the recipient's key
// in the page. The file was stored while the recipient had no key: the
// key's arrival re-wraps it, as in production when a recipient comes first
// to a transfer.
func startDecryptRig(tb testing.TB, size int64) *decryptRig {
	tb.Helper()
	b := browsertest.New(tb) // first: without Chromium, skip before the big file
	ctx := tb.Context()
	rig := &decryptRig{size: size, passphrase: "Amsel Drossel Fink und Star"}
	internet := smtptest.Start(tb, smtptest.Options{})
	v, err := vault.Open(ctx, vault.Config{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { v.Close() })
	cat, err := catalog.New()
	if err != nil {
		tb.Fatal(err)
	}
	rig.say = func(key string) string { return cat.T("en", "page.e2e.js."+key) }
	log := slog.New(slog.DiscardHandler)
	out, err := smtpproxy.NewOutbound(smtpproxy.OutboundConfig{Hop: internet.Addr, Hostname: "gate.sealgate.test"}, log)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(out.Close)
	hs := httptest.NewUnstartedServer(nil)
	rig.baseURL = "http://" + hs.Listener.Addr().String()
	n, err := notify.New(notify.Config{From: "noreply@sealgate.test", PublicURL: rig.baseURL, OrgName: brandName}, cat, out, log)
	if err != nil {
		tb.Fatal(err)
	}
	web, err := linkserver.New(linkserver.Config{PublicURL: rig.baseURL, BrandingName: brandName}, v, cat, log, linkserver.WithNotifier(n))
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", web.Handler())
	mux.HandleFunc("GET "+barePath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, barePage)
	})
	hs.Config.Handler = mux
	hs.Start()
	tb.Cleanup(hs.Close)

	d, err := v.BeginTransfer(ctx, vault.NewTransfer{Level: 3, Sender: clerk, Recipients: []string{citizen}})
	if err != nil {
		tb.Fatal(err)
	}
	h := sha256.New()
	plain := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{'s', 'e', 'a', 'l'}), size), h)
	f, err := d.AddFile(ctx, "Messdaten.bin", "application/octet-stream", plain)
	if err != nil {
		tb.Fatalf("storing %d bytes: %v", size, err)
	}
	if err := d.Commit(ctx); err != nil {
		tb.Fatal(err)
	}
	h.Sum(rig.sum[:0])
	rig.page = "/t/" + d.Token()
	rig.fileURL = rig.page + "/f/" + f.ID

	rig.tab = b.Tab(tb, 1280, 900, "en")
	rig.signIn(tb, internet)
	rig.makeKey(tb)
	return rig
}

// signIn signs the tab in on the transfer page with the code from the
// sign-in mail.
func (rig *decryptRig) signIn(tb testing.TB, internet *smtptest.Server) {
	tb.Helper()
	tab := rig.tab
	tab.Navigate(tb, rig.baseURL+rig.page)
	tab.Fill(tb, "#email", citizen)
	tab.ClickAndWait(tb, "main form button[type=submit]")
	ctx, cancel := context.WithTimeout(tb.Context(), 30*time.Second)
	defer cancel()
	msgs, err := internet.WaitMessages(ctx, 1)
	if err != nil {
		tb.Fatalf("no sign-in mail: %v", err)
	}
	code, err := mailCode(msgs[0].Data)
	if err != nil {
		tb.Fatal(err)
	}
	tab.Fill(tb, "#code", code)
	if st := tab.ClickAndWait(tb, "main form button[type=submit]"); st != http.StatusOK {
		tb.Fatalf("after the code: HTTP %d", st)
	}
}

// mailCode finds the eight-digit code in the text parts of a sign-in
// mail.
func mailCode(data []byte) (string, error) {
	e, err := message.Read(bytes.NewReader(data))
	if err != nil && !message.IsUnknownCharset(err) {
		return "", fmt.Errorf("sign-in mail: %w", err)
	}
	code := ""
	err = e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil || code != "" {
			return err
		}
		if ct, _, _ := part.Header.ContentType(); !strings.HasPrefix(ct, "text/") {
			return nil
		}
		body, err := io.ReadAll(part.Body)
		code = signInCodeRE.FindString(string(body))
		return err
	})
	if err == nil && code == "" {
		err = errors.New("no code in the text")
	}
	if err != nil {
		return "", fmt.Errorf("sign-in mail: %w", err)
	}
	return code, nil
}

// makeKey chooses the passphrase on the transfer page, confirms the
// recovery code and waits for the unlocked page.
func (rig *decryptRig) makeKey(tb testing.TB) {
	tb.Helper()
	tab := rig.tab
	tab.WaitVisible(tb, "#setup-form")
	tab.Fill(tb, "#setup-pass", rig.passphrase)
	tab.Fill(tb, "#setup-pass2", rig.passphrase)
	tab.Click(tb, "#setup-form button[type=submit]")
	tab.WaitVisible(tb, "#recovery-code")
	tab.Click(tb, "#recovery-done")
	tab.Click(tb, "#recovery-form button[type=submit]")
	tab.WaitVisible(tb, "#e2e-open")
}

// openBare loads the bare page in the tab (same origin, same session) and
// unlocks the same key there, from the passphrase copy on the server.
func (rig *decryptRig) openBare(tb testing.TB) {
	tb.Helper()
	rig.tab.Navigate(tb, rig.baseURL+barePath)
	rig.tab.Eval(tb, fmt.Sprintf(`(async () => {
  const res = await fetch("/api/v1/me/key", { credentials: "same-origin", headers: { Accept: "application/json" } });
  const rec = await res.json();
  const privateKey = await openpgp.readPrivateKey({ armoredKey: rec.passphrase_locked });
  window.benchKey = await openpgp.decryptKey({ privateKey, passphrase: %q });
  return true;
})()`, rig.passphrase), nil)
}

// countingSinkJS stands in for the save dialog (the File System Access
// API, which e2e.js prefers in Chromium): the page writes the decrypted
// file into a sink that counts the bytes and keeps none, so the page's
// path is measured without a disk or a Blob behind it. window.benchDone
// settles when the page closes (or aborts) the file.
const countingSinkJS = `(window.benchDone = new Promise((resolve) => {
  window.showSaveFilePicker = async () => ({ createWritable: async () => {
    let size = 0;
    return new WritableStream({
      write(c) { size += c.byteLength; },
      close() { resolve({ size }); },
      abort(e) { resolve({ error: String(e) }); },
    });
  } });
}), true)`

// bareDecryptJS starts OpenPGP.js decrypting the download into a counting
// sink, as the OpenPGP.js documentation streams a message: fetch, then
// readMessage and decrypt over the response body. It uses e2e.js's
// decryption config, so both sides do the same work; for the vault's
// SEIPDv2 messages the option changes nothing anyway.
const bareDecryptJS = `(window.benchDone = (async () => {
  const res = await fetch(%q, { credentials: "same-origin" });
  if (!res.ok) return { error: "HTTP " + res.status };
  const message = await openpgp.readMessage({ binaryMessage: res.body });
  const { data } = await openpgp.decrypt({ message, decryptionKeys: window.benchKey, format: "binary",
    config: { allowUnauthenticatedStream: true } });
  let size = 0;
  await data.pipeTo(new WritableStream({ write(c) { size += c.byteLength; } }));
  return { size };
})().catch((e) => ({ error: String(e) })), true)`

// pollDoneJS waits up to a sample interval for window.benchDone: its value
// when it settled, null otherwise.
const pollDoneJS = `Promise.race([window.benchDone, new Promise((r) => setTimeout(() => r(null), %d))])`

// sampleEvery is how often a run's memory is sampled.
const sampleEvery = 200 * time.Millisecond

// sinkResult is what a counting sink saw.
type sinkResult struct {
	Size  int64  `json:"size"`
	Error string `json:"error"`
}

// peaks are the highest memory samples of a run.
type peaks struct{ heap, buffers, rss int64 }

func (p *peaks) add(m browsertest.Memory) {
	p.heap = max(p.heap, m.JSHeap)
	p.buffers = max(p.buffers, m.ArrayBuffers)
	p.rss = max(p.rss, m.RendererRSS)
}

// report adds the peaks to a benchmark's line.
func (p peaks) report(b *testing.B) {
	b.ReportMetric(mib(p.heap), "peak-heap-MiB")
	b.ReportMetric(mib(p.buffers), "peak-buffers-MiB")
	b.ReportMetric(mib(p.rss), "peak-renderer-RSS-MiB")
}

func (p peaks) String() string {
	return fmt.Sprintf("JS heap %.1f MiB, array buffers %.1f MiB, renderers' RSS %.1f MiB", mib(p.heap), mib(p.buffers), mib(p.rss))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// waitDone polls window.benchDone, sampling the tab's memory into p between
// polls, until it settles or timeout passes.
func (rig *decryptRig) waitDone(tb testing.TB, p *peaks, timeout time.Duration) sinkResult {
	tb.Helper()
	poll := fmt.Sprintf(pollDoneJS, sampleEvery.Milliseconds())
	deadline := time.Now().Add(timeout)
	for {
		p.add(rig.tab.Memory(tb))
		var res *sinkResult
		rig.tab.Eval(tb, poll, &res)
		if res != nil {
			return *res
		}
		if time.Now().After(deadline) {
			tb.Fatalf("decryption not done after %s (%s)", timeout, p)
		}
	}
}

// checkSink fails tb unless the sink got the whole file.
func (rig *decryptRig) checkSink(tb testing.TB, res sinkResult) {
	tb.Helper()
	if res.Error != "" || res.Size != rig.size {
		tb.Fatalf("decrypted %d bytes (error %q), want %d", res.Size, res.Error, rig.size)
	}
}

// pageStatus returns the file's status line on the transfer page.
func (rig *decryptRig) pageStatus(tb testing.TB) string {
	tb.Helper()
	var s string
	rig.tab.Eval(tb, `document.querySelector("li.e2e-file .dl-status").textContent`, &s)
	return s
}

// waitPageSaved waits until the page says the file was saved (the save
// finished after the sink closed) and its button is enabled again.
func (rig *decryptRig) waitPageSaved(tb testing.TB) {
	tb.Helper()
	var ok bool
	rig.tab.Eval(tb, fmt.Sprintf(`new Promise((r) => { const t0 = Date.now(); const t = setInterval(() => {
  const li = document.querySelector("li.e2e-file"), s = li.querySelector(".dl-status").textContent;
  if ((s === %q && !li.querySelector("button").disabled) || Date.now() - t0 > 10000) { clearInterval(t); r(s === %q); } }, 20); })`,
		rig.say("saved"), rig.say("saved")), &ok)
	if !ok {
		tb.Fatalf("the page says %q after the download, want %q", rig.pageStatus(tb), rig.say("saved"))
	}
}
