package linkserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"sealgate/vault"
)

// fakeNotifier records what the server asked to send.
type fakeNotifier struct {
	mu       sync.Mutex
	codes    []sentCode
	locks    []vault.Transfer
	receipts []string
	fail     bool // LoginCode fails, as when the next hop is down
}

type sentCode struct{ to, code, lang string }

func (f *fakeNotifier) LoginCode(_ context.Context, to, code, lang string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("next hop: 421 service not available")
	}
	f.codes = append(f.codes, sentCode{to, code, lang})
	return nil
}

func (f *fakeNotifier) LockNotice(_ context.Context, t vault.Transfer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.locks = append(f.locks, t)
	return nil
}

func (f *fakeNotifier) Receipt(_ context.Context, _ vault.Transfer, signed string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.receipts = append(f.receipts, signed)
	return nil
}

// count returns how many mails were sent of every kind.
func (f *fakeNotifier) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.codes) + len(f.locks) + len(f.receipts)
}

// lastCode returns the newest code mailed to addr.
func (f *fakeNotifier) lastCode(t testing.TB, addr string) sentCode {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.codes) - 1; i >= 0; i-- {
		if f.codes[i].to == addr {
			return f.codes[i]
		}
	}
	t.Fatalf("no code was mailed to %s", addr)
	return sentCode{}
}

func (f *fakeNotifier) codesTo(addr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.codes {
		if c.to == addr {
			n++
		}
	}
	return n
}

func (f *fakeNotifier) allCodes() []sentCode {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentCode(nil), f.codes...)
}

func (f *fakeNotifier) receiptList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.receipts...)
}

func (f *fakeNotifier) lockList() []vault.Transfer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]vault.Transfer(nil), f.locks...)
}

// postForm loads the home page for a CSRF token (unless form has one) and
// posts form to path.
func (e *env) postForm(c *http.Client, path string, form url.Values, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", e.formToken(c))
	}
	header = append(header, "Content-Type", "application/x-www-form-urlencoded")
	return e.do(c, http.MethodPost, path, strings.NewReader(form.Encode()), header...)
}

// postJSON posts v as JSON to path and decodes the answer, if any, into a
// map.
func (e *env) postJSON(c *http.Client, path string, v any, header ...string) (*http.Response, map[string]string) {
	e.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	header = append(header, "Content-Type", "application/json")
	resp, body := e.do(c, http.MethodPost, path, bytes.NewReader(b), header...)
	var out map[string]string
	if len(body) > 0 {
		if err := json.Unmarshal(body, &out); err != nil {
			e.t.Fatalf("POST %s: answer is not a JSON object of strings: %s", path, body)
		}
	}
	return resp, out
}

// signIn signs c in as addr with the HTML forms, starting from the page
// next, and checks that it lands there again.
func (e *env) signIn(c *http.Client, addr, next string) {
	e.t.Helper()
	resp, body := e.postForm(c, "/login", url.Values{"email": {addr}, "next": {next}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `action="/login/verify"`) {
		e.t.Fatalf("POST /login for %s: %s", addr, resp.Status)
	}
	code := e.notes.lastCode(e.t, strings.ToLower(addr)).code
	resp, _ = e.postForm(c, "/login/verify", url.Values{"email": {addr}, "code": {code}, "next": {next}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next {
		e.t.Fatalf("POST /login/verify for %s: %s to %q, want 303 to %q", addr, resp.Status, resp.Header.Get("Location"), next)
	}
}

// signInJSON signs c in as addr through the JSON API.
func (e *env) signInJSON(c *http.Client, addr, transfer string) {
	e.t.Helper()
	resp, out := e.postJSON(c, "/api/v1/login/start", map[string]string{"email": addr})
	if resp.StatusCode != http.StatusAccepted {
		e.t.Fatalf("login/start for %s: %s %v", addr, resp.Status, out)
	}
	code := e.notes.lastCode(e.t, strings.ToLower(addr)).code
	resp, out = e.postJSON(c, "/api/v1/login/verify", map[string]string{"email": addr, "code": code, "transfer": transfer})
	if resp.StatusCode != http.StatusOK || out["email"] != strings.ToLower(addr) {
		e.t.Fatalf("login/verify for %s: %s %v", addr, resp.Status, out)
	}
}

// waitDownload waits for the next download request to end and returns
// whether it was counted.
func (e *env) waitDownload() bool {
	e.t.Helper()
	select {
	case counted := <-e.done:
		return counted
	case <-time.After(time.Minute):
		e.t.Fatal("a download handler did not end within a minute")
		return false
	}
}

var (
	nonceAttrRE = regexp.MustCompile(`nonce-[A-Za-z0-9+/=]+`)
	csrfValueRE = regexp.MustCompile(`name="csrf" value="[^"]*"`)
)

// normalised replaces what legitimately differs between two answers that
// must otherwise be identical: nonces, CSRF tokens, and the given tokens
// (the path a page was asked for shows in its language switch).
func normalised(body []byte, tokens ...string) string {
	s := nonceAttrRE.ReplaceAllString(string(body), "nonce-N")
	s = csrfValueRE.ReplaceAllString(s, `name="csrf" value="C"`)
	for _, t := range tokens {
		s = strings.ReplaceAll(s, t, "TOKEN")
	}
	return s
}
