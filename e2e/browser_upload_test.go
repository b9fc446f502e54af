package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"sealgate/catalog"
	"sealgate/internal/browsertest"
	"sealgate/internal/smtptest"
)

// TestBrowserUpload uploads documents through the upload page in Chromium
// (issue 7, the browser proof; issue 8, the upload page's checks): per
// language and width, a citizen of a [secure2][upload] mail signs in with
// the code from the mail, chooses two files, sees each file's progress
// reach 100 % and "done", types a message, sends, and sees the delivery
// state; the clerk's mail then reaches the next hop. Every state passes
// checkPage (axe-core 0 violations, branding, no sideways scrolling and
// large touch targets on a phone), and the page is photographed as
// upload-{lang}-{width}.png.
func TestBrowserUpload(t *testing.T) {
	b := browsertest.New(t)
	internet := smtptest.Start(t, smtptest.Options{})
	g, config := startBrandedGate(t, internet.Addr)
	s := &browserSite{gate: g, config: config, internet: internet}
	shots := os.Getenv(screenshotsEnv)
	if shots == "" {
		shots = t.TempDir()
	}
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}

	// One recipient per case: sign-in codes to one address are limited
	// to three in a row, and each recipient has their own upload link.
	type upCase struct {
		lang  string
		width int
		addr  string
		link  string
	}
	var cases []*upCase
	var rcpts []string
	for _, lang := range langs {
		for _, vp := range viewports {
			c := &upCase{lang: lang, width: vp.w, addr: fmt.Sprintf("buerger.%s%d@example.net", lang, vp.w)}
			cases = append(cases, c)
			rcpts = append(rcpts, c.addr)
		}
	}
	m := rawMail{Subject: "[secure2][upload] Ihr Antrag", Body: "Guten Tag,\r\nbitte laden Sie die Nachweise hoch.",
		Attachment: []byte("%PDF-1.4\n% Formular\n"), AttachmentName: "Formular.pdf", MessageID: "up1@sealgate.test"}
	sendTo(t, s.SMTPAddr, rcpts, m)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A copy per recipient and the clerk's sender copy.
	msgs, err := internet.WaitMessages(ctx, len(cases)+1)
	if err != nil {
		t.Fatalf("the [upload] mail did not reach the next hop: %v\n%s", err, s.Logs())
	}
	uploadLink := regexp.MustCompile(regexp.QuoteMeta(s.WebURL) + `/u/[A-Za-z0-9_-]{43}`)
	for _, c := range cases {
		for _, m := range msgs {
			if slices.Contains(m.To, c.addr) {
				c.link = uploadLink.FindString(parse(t, m.Data).text())
			}
		}
		if c.link == "" {
			t.Fatalf("no upload link in the copy for %s", c.addr)
		}
	}

	dir := t.TempDir()
	files := map[string][]byte{
		"Nachweis.pdf":           append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("Nachweis "), 30000)...),
		"Meldebescheinigung.jpg": bytes.Repeat([]byte{0xff, 0xd8, 0x42}, 50000),
	}
	var paths []string
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	slices.Sort(paths)

	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%d", c.lang, c.width), func(t *testing.T) {
			t.Parallel()
			vp := viewports[slices.IndexFunc(viewports, func(v struct{ w, h int }) bool { return v.w == c.width })]
			tab := b.Tab(t, vp.w, vp.h, c.lang)
			shot := func(name string) {
				tab.Screenshot(t, filepath.Join(shots, fmt.Sprintf("%s-%s-%d.png", name, c.lang, c.width)))
			}

			// Sign in with the code from the mail.
			tab.Navigate(t, c.link)
			tab.Fill(t, "#email", c.addr)
			before := len(internet.Messages())
			if st := tab.ClickAndWait(t, "main form button[type=submit]"); st != http.StatusOK {
				t.Fatalf("asking for a sign-in code: status %d", st)
			}
			tab.WaitVisible(t, "main input#code")
			tab.Fill(t, "#code", mailedCode(t, s, before, c.addr))
			if st := tab.ClickAndWait(t, "main form button[type=submit]"); st != http.StatusOK {
				t.Fatalf("sign-in code: status %d", st)
			}
			if loc := tab.Location(t); loc != c.link {
				t.Fatalf("after sign-in at %s, want %s", loc, c.link)
			}
			tab.WaitVisible(t, "#upload-input")
			checkPage(t, tab, c.lang, c.width)

			// Two files through the file picker; each row's bar reaches 1.
			tab.SetFiles(t, "#upload-input", paths...)
			var rows []struct {
				Name, State string
				Value       float64
			}
			tab.Eval(t, `new Promise((resolve) => {
				const look = () => {
					const rows = [...document.querySelectorAll("#upload-progress li")].filter((li) => li.querySelector("progress"));
					const done = document.querySelectorAll("#upload-progress li").length > rows.length;
					if (rows.length === 2 && done) {
						resolve(rows.map((li) => ({name: li.querySelector(".name").textContent,
							state: li.querySelector("[role=status]").textContent, value: li.querySelector("progress").value})));
					} else setTimeout(look, 50);
				};
				look();
			})`, &rows)
			doneText := cat.T(c.lang, "page.upload.js.done")
			for _, r := range rows {
				if _, ok := files[r.Name]; !ok || r.Value != 1 || r.State != doneText {
					t.Errorf("progress row %q: value %v, state %q (want 1, %q)", r.Name, r.Value, r.State, doneText)
				}
			}
			// Fill's Clear fails on an empty textarea; click and type.
			tab.Click(t, "#message")
			tab.Press(t, messageFor(c.lang))
			checkPage(t, tab, c.lang, c.width)
			shot("upload")

			// Save the message, send, and see the delivery state.
			if st := tab.ClickAndWait(t, `main form[action$="/message"] button[type=submit]`); st != http.StatusOK {
				t.Fatalf("saving the message: status %d", st)
			}
			var saved string
			tab.Eval(t, `document.getElementById("message").value`, &saved)
			if saved != messageFor(c.lang) {
				t.Errorf("the saved message on the page: %q, want %q", saved, messageFor(c.lang))
			}
			for name := range files {
				if !strings.Contains(tab.Text(t, "#upload-files"), name) {
					t.Errorf("after reload the page does not list %s", name)
				}
			}
			before = len(internet.Messages())
			if st := tab.ClickAndWait(t, `main form[action$="/send"] button[type=submit]`); st != http.StatusOK {
				t.Fatalf("send: status %d", st)
			}
			sent := tab.Text(t, "main")
			pending, delivered := cat.T(c.lang, "page.upload.state.queued"), cat.T(c.lang, "page.upload.state.delivered")
			if !strings.Contains(sent, pending) && !strings.Contains(sent, delivered) {
				t.Errorf("after send the page says neither %q nor %q:\n%s", pending, delivered, sent)
			}
			checkPage(t, tab, c.lang, c.width)
			shot("upload-sent")
			clerkMail(t, s, before, c.addr)
		})
	}
}

func messageFor(lang string) string {
	if lang == "en" {
		return "Please find the documents attached."
	}
	return "Anbei die Nachweise. Mit freundlichen Grüßen"
}

// clerkMail waits for the upload's delivery to the clerk, Reply-To from.
func clerkMail(t *testing.T, s *browserSite, after int, from string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for n := after + 1; ; n++ {
		msgs, err := s.internet.WaitMessages(ctx, n)
		if err != nil {
			t.Fatalf("no delivery mail to the clerk from %s: %v", from, err)
		}
		m := msgs[n-1]
		p := parse(t, m.Data)
		if rt, _ := p.Header.AddressList("Reply-To"); slices.Contains(m.To, clerk) && len(rt) == 1 && rt[0].Address == from {
			return
		}
	}
}

// sendTo sends m from the clerk to rcpts (the envelope; the header still
// names the citizen).
func sendTo(t *testing.T, addr string, rcpts []string, m rawMail) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = 30*time.Second, 30*time.Second
	if err := c.SendMail(clerk, rcpts, bytes.NewReader(m.bytes())); err != nil {
		t.Fatalf("send %q: %v", m.Subject, err)
	}
}
