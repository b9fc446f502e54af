package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"sealgate/internal/browsertest"
)

// signInCodeRE is a sign-in code as mailed: 8 digits.
var signInCodeRE = regexp.MustCompile(`\b[0-9]{8}\b`)

// testSignIn walks the level-2 journey in the browser: the transfer page
// asks for sign-in, the code comes by mail, a wrong code is explained at
// its field, the right one opens the files. Every page on the way passes
// checkPage and is photographed.
func testSignIn(t *testing.T, b *browsertest.Browser, s *browserSite, shots string) {
	for _, c := range []struct {
		lang  string
		width int
	}{{"de", 360}, {"en", 1280}} {
		t.Run(fmt.Sprintf("%s/%d", c.lang, c.width), func(t *testing.T) {
			vp := viewports[slices.IndexFunc(viewports, func(v struct{ w, h int }) bool { return v.w == c.width })]
			tab := b.Tab(t, vp.w, vp.h, c.lang)
			shot := func(name string) {
				tab.Screenshot(t, filepath.Join(shots, fmt.Sprintf("%s-%s-%d.png", name, c.lang, c.width)))
			}
			tab.Navigate(t, s.L2)
			tab.Fill(t, "#email", citizen)
			before := len(s.internet.Messages())
			if st := tab.ClickAndWait(t, "main form button[type=submit]"); st != http.StatusOK {
				t.Fatalf("asking for a sign-in code: status %d", st)
			}
			tab.WaitVisible(t, "main input#code")
			checkPage(t, tab, c.lang, c.width)
			shot("transfer-l2-code")

			code := mailedCode(t, s, before, citizen)
			tab.Fill(t, "#code", "00000000")
			if code == "00000000" {
				tab.Fill(t, "#code", "11111111")
			}
			if st := tab.ClickAndWait(t, "main form button[type=submit]"); st != http.StatusBadRequest {
				t.Errorf("wrong sign-in code: status %d, want 400", st)
			}
			var tied bool
			tab.Eval(t, `(f => !!f && f.getAttribute("aria-invalid") === "true" &&
				f.getAttribute("aria-describedby").split(" ").includes("code-error") &&
				!!document.getElementById("code-error"))(document.querySelector("main input#code"))`, &tied)
			if !tied {
				t.Error("wrong sign-in code: the message is not tied to the code field (aria-invalid, aria-describedby)")
			}
			checkPage(t, tab, c.lang, c.width)
			shot("transfer-l2-wrong-code")

			tab.Fill(t, "#code", code)
			if st := tab.ClickAndWait(t, "main form button[type=submit]"); st != http.StatusOK {
				t.Fatalf("right sign-in code: status %d", st)
			}
			if loc := tab.Location(t); loc != s.L2 {
				t.Errorf("signed in, the browser is at %s, want the transfer %s", loc, s.L2)
			}
			tab.WaitVisible(t, "main a.button[download]")
			checkPage(t, tab, c.lang, c.width)
			shot("transfer-l2")
			var want []browsertest.Focus
			tab.Eval(t, focusablesJS, &want)
			tab.Navigate(t, s.L2) // start the Tab walk from the top
			if got := tab.TabThrough(t, len(want)+5); keys(got) != keys(want) {
				t.Errorf("Tab order when signed in:\n got  %s\n want %s", keys(got), keys(want))
			}
		})
	}
}

// testSenderStatus signs the clerk in on the status page of L1 (the code
// comes by mail), checks the downloads table, the refused withdrawal
// without confirmation (message tied to the checkbox), and the status page
// of the withdrawn transfer.
func testSenderStatus(t *testing.T, b *browsertest.Browser, s *browserSite, shots string) {
	for _, c := range []struct {
		lang  string
		width int
	}{{"de", 360}, {"en", 1280}} {
		t.Run(fmt.Sprintf("%s/%d", c.lang, c.width), func(t *testing.T) {
			vp := viewports[slices.IndexFunc(viewports, func(v struct{ w, h int }) bool { return v.w == c.width })]
			tab := b.Tab(t, vp.w, vp.h, c.lang)
			shot := func(name string) {
				tab.Screenshot(t, filepath.Join(shots, fmt.Sprintf("%s-%s-%d.png", name, c.lang, c.width)))
			}
			tab.Navigate(t, s.Status)
			tab.Fill(t, "#email", clerk)
			before := len(s.internet.Messages())
			if st := tab.ClickAndWait(t, "main form button[type=submit]"); st != http.StatusOK {
				t.Fatalf("asking for a sign-in code: status %d", st)
			}
			tab.Fill(t, "#code", mailedCode(t, s, before, clerk))
			if st := tab.ClickAndWait(t, "main form button[type=submit]"); st != http.StatusOK {
				t.Fatalf("right sign-in code: status %d", st)
			}
			if loc := tab.Location(t); loc != s.Status {
				t.Errorf("signed in, the browser is at %s, want the status page %s", loc, s.Status)
			}
			tab.WaitVisible(t, "main table.downloads")
			checkPage(t, tab, c.lang, c.width)
			shot("sender-status-signed-in")

			// Withdrawing needs the checkbox: without it, nothing happens
			// and the message says so at the checkbox.
			tab.ClickAndWait(t, `main form[action$="/revoke"] button[type=submit]`)
			var tied bool
			tab.Eval(t, `(f => !!f && f.getAttribute("aria-invalid") === "true" &&
				f.getAttribute("aria-describedby").split(" ").includes("confirm-error") &&
				!!document.getElementById("confirm-error"))(document.querySelector("main input#confirm"))`, &tied)
			if !tied {
				t.Error("withdrawal without confirmation: no message tied to the checkbox")
			}
			checkPage(t, tab, c.lang, c.width)
			shot("sender-status-unconfirmed")

			if s.StatusRevoked == "" {
				t.Skip("no withdrawn transfer to show")
			}
			if st := tab.Navigate(t, s.StatusRevoked); st != http.StatusOK {
				t.Errorf("status page of the withdrawn transfer: status %d", st)
			}
			tab.WaitVisible(t, "main table.downloads")
			checkPage(t, tab, c.lang, c.width)
			shot("sender-status-withdrawn-signed-in")
		})
	}
}

// mailedCode waits for the sign-in mail to addr after the first `after`
// captured messages and returns its code.
func mailedCode(t *testing.T, s *browserSite, after int, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for n := after + 1; ; n++ {
		msgs, err := s.internet.WaitMessages(ctx, n)
		if err != nil {
			t.Fatalf("no sign-in mail to %s: %v", addr, err)
		}
		m := msgs[n-1]
		if !slices.Contains(m.To, addr) {
			continue
		}
		if code := signInCodeRE.FindString(parse(t, m.Data).text()); code != "" {
			return code
		}
	}
}
