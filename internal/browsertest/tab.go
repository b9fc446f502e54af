package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// opTimeout bounds every single browser operation of a Tab.
const opTimeout = 30 * time.Second

// mobileBelow is the width under which a Tab emulates a phone (mobile
// viewport rules and touch).
const mobileBelow = 768

// Tab is one page in its own browser context: cookies, storage and cache are
// its own. Its methods fail the test on browser errors; use a Tab from one
// goroutine at a time.
type Tab struct {
	b   *Browser
	ctx context.Context

	mu sync.Mutex
	// errs are console errors, uncaught exceptions and CSP violations not
	// yet reported.
	errs []string
	// docs are the URLs of the documents the tab loaded: their own HTTP
	// status is expected (error pages answer 404), not a console error.
	docs map[string]bool
}

// Tab opens a tab of width×height CSS pixels (a phone below 768 px wide)
// that sends acceptLanguage ("de", "en-GB,en;q=0.8", or "" for Chromium's
// default). The tab closes, and reports console errors it saw last, when t
// ends.
func (b *Browser) Tab(t testing.TB, width, height int, acceptLanguage string) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	tab := &Tab{b: b, ctx: ctx, docs: map[string]bool{}}
	t.Cleanup(func() {
		tab.CheckConsole(t)
		cancel()
	})
	// The listener sees every event before the command that follows it
	// returns, so errors of a page are recorded when its load returns.
	// Listen opens the tab; its context must live as long as the tab, so
	// the time limit watches from outside.
	opened := make(chan error, 1)
	go func() { opened <- chromedp.Listen(ctx, tab.record) }()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("open tab: %v", err)
		}
	case <-time.After(opTimeout):
		cancel()
		t.Fatalf("open tab: no answer from the browser within %s", opTimeout)
	}
	opts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait}
	if width < mobileBelow {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	tab.do(t, "set up tab",
		chromedp.EmulateViewport(int64(width), int64(height), opts...),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			v, err := chromedp.CallBrowser(ctx, browser.GetVersion, cdp.Empty{})
			if err != nil {
				return err
			}
			_, err = cdp.Call(ctx, tg, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
				UserAgent: v.UserAgent, AcceptLanguage: acceptLanguage,
			})
			return err
		}),
	)
	return tab
}

// record runs on chromedp's reader goroutine: it must be quick and must
// not call the browser.
func (tab *Tab) record(ev any) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventResponseReceived:
		if ev.Type == network.ResourceTypeDocument && ev.Response != nil {
			tab.docs[ev.Response.URL] = true
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		tab.errs = append(tab.errs, fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var parts []string
		for _, a := range ev.Args {
			if a.Description != "" {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, string(a.Value))
			}
		}
		tab.errs = append(tab.errs, "console."+string(ev.Type)+": "+strings.Join(parts, " "))
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		if e == nil || e.Level != cdplog.EntryLevelError {
			return
		}
		// "Failed to load resource: 404" for the page itself is the
		// error page working; for a stylesheet or image it is a bug.
		if e.Source == cdplog.EntrySourceNetwork && tab.docs[e.URL] {
			return
		}
		tab.errs = append(tab.errs, fmt.Sprintf("%s error: %s (%s)", e.Source, e.Text, e.URL))
	}
}

// TakeConsoleErrors returns the console errors, uncaught exceptions and CSP
// violations seen since the last call, and forgets them.
func (tab *Tab) TakeConsoleErrors() []string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	errs := tab.errs
	tab.errs = nil
	return errs
}

// CheckConsole fails t with every console error not yet reported.
func (tab *Tab) CheckConsole(t testing.TB) {
	t.Helper()
	for _, e := range tab.TakeConsoleErrors() {
		t.Errorf("browser: %s", e)
	}
}

// do runs actions with the operation timeout and fails t on error.
func (tab *Tab) do(t testing.TB, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, opTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Navigate loads url, waits for its load event and returns the document's
// HTTP status. Console errors of the page fail t.
func (tab *Tab) Navigate(t testing.TB, url string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, opTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		t.Fatalf("navigate to %s: %v", url, err)
	}
	tab.CheckConsole(t)
	if resp == nil {
		return 0 // about:, data: and the like
	}
	return int(resp.Status)
}

// ClickAndWait clicks the first element matching the CSS selector sel,
// waits for the page the click leads to, and returns its HTTP status (after
// redirects). Console errors of the new page fail t.
func (tab *Tab) ClickAndWait(t testing.TB, sel string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, opTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("click %s and wait for the next page: %v", sel, err)
	}
	tab.CheckConsole(t)
	return int(resp.Status)
}

// Click clicks the first visible element matching the CSS selector sel.
func (tab *Tab) Click(t testing.TB, sel string) {
	t.Helper()
	tab.do(t, "click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// Fill replaces the value of the field matching sel by typing value, as a
// person would (key events, input events).
func (tab *Tab) Fill(t testing.TB, sel, value string) {
	t.Helper()
	tab.do(t, "fill "+sel,
		chromedp.Clear(chromedp.CSS(sel)),
		chromedp.SendKeys(chromedp.CSS(sel), value),
	)
}

// WaitVisible waits until an element matching sel is visible.
func (tab *Tab) WaitVisible(t testing.TB, sel string) {
	t.Helper()
	tab.do(t, "wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Text returns the visible text of the first element matching sel.
func (tab *Tab) Text(t testing.TB, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, opTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// Location returns the URL of the current page.
func (tab *Tab) Location(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, opTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("location: %v", err)
	}
	return s
}

// Eval evaluates the JavaScript expression expr in the page (awaiting a
// promise) and decodes its JSON value into out (nil: ignore the value).
func (tab *Tab) Eval(t testing.TB, expr string, out any) {
	t.Helper()
	if err := tab.eval(expr, out); err != nil {
		t.Fatalf("evaluate %.60q: %v", expr, err)
	}
}

func (tab *Tab) eval(expr string, out any) error {
	ctx, cancel := context.WithTimeout(tab.ctx, opTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// Press sends key presses to the page, as from a keyboard: "\t" is the Tab
// key (see package github.com/chromedp/chromedp/kb for others).
func (tab *Tab) Press(t testing.TB, keys string) {
	t.Helper()
	tab.do(t, "press keys", chromedp.KeyEvent(keys))
}

// PressAndWait sends key presses that lead to another page (Enter in a
// form field, Enter on a focused link), waits for that page and returns its
// HTTP status. Console errors of the new page fail t.
func (tab *Tab) PressAndWait(t testing.TB, keys string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, opTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.KeyEvent(keys))
	if err != nil {
		t.Fatalf("press keys and wait for the next page: %v", err)
	}
	tab.CheckConsole(t)
	return int(resp.Status)
}

// Overflow returns how many CSS pixels the page is wider than its viewport
// (0 when nothing scrolls sideways).
func (tab *Tab) Overflow(t testing.TB) int {
	t.Helper()
	var px int
	tab.Eval(t, `Math.max(0, document.documentElement.scrollWidth - document.documentElement.clientWidth)`, &px)
	return px
}

// Screenshot saves the whole page (not only the viewport) as a PNG file at
// path, creating its directory.
func (tab *Tab) Screenshot(t testing.TB, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, opTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
}
