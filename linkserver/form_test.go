package linkserver

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// codeCountingVault counts how often the vault is asked for a code.
type codeCountingVault struct {
	Vault
	calls atomic.Int32
}

func (c *codeCountingVault) TokenForAccessCode(ctx context.Context, code string) (string, error) {
	c.calls.Add(1)
	return c.Vault.TokenForAccessCode(ctx, code)
}

func TestAccessCodeLeadsToTransfer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(1, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("a")})
	bare := strings.ReplaceAll(st.code, "-", "")
	for _, code := range []string{st.code, strings.ToLower(st.code), bare, strings.ToLower(bare), " " + st.code[:9] + " " + st.code[10:] + " "} {
		c := e.client()
		resp, _ := e.postCode(c, code)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/t/"+st.token {
			t.Errorf("code %q: %s to %q", code, resp.Status, resp.Header.Get("Location"))
			continue
		}
		resp, body := e.do(c, http.MethodGet, resp.Header.Get("Location"), nil)
		if resp.StatusCode != 200 || !strings.Contains(string(body), "a.pdf") {
			t.Errorf("code %q: redirect target %s", code, resp.Status)
		}
	}
}

func TestWrongCodeThenRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cv := &codeCountingVault{Vault: e.v}
	e.start(cv)
	c := e.client()
	resp, body := e.postCode(c, "ABCD-EFGH-JKMN-PQRS")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("wrong code: %s", resp.Status)
	}
	page := string(body)
	for _, want := range []string{"Zu diesem Code gibt es keine Dokumente", `value="ABCD-EFGH-JKMN-PQRS"`, `aria-invalid="true"`, `name="csrf"`} {
		if !strings.Contains(page, want) {
			t.Errorf("wrong-code page lacks %q", want)
		}
	}
	limit := int(guessLimits.client.burst)
	var refused *http.Response
	for i := 1; i <= limit+1; i++ {
		resp, _ := e.postCode(c, "ABCD-EFGH-JKMN-PQR"+strconv.Itoa(i%10))
		if resp.StatusCode == http.StatusTooManyRequests {
			refused = resp
			break
		}
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("attempt %d: %s", i, resp.Status)
		}
	}
	if refused == nil {
		t.Fatalf("no 429 after %d wrong codes", limit+1)
	}
	if s, err := strconv.Atoi(refused.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q", refused.Header.Get("Retry-After"))
	}
	if refused.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(refused.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("429 lacks security headers: %v", refused.Header)
	}
	asked := cv.calls.Load()
	if int(asked) != limit {
		t.Errorf("vault asked %d times, want %d (the limit)", asked, limit)
	}
	// Once limited, further guesses are refused without asking the vault,
	// and token guesses from the same client too.
	resp, _ = e.postCode(c, "ABCD-EFGH-JKMN-PQRS")
	if resp.StatusCode != http.StatusTooManyRequests || cv.calls.Load() != asked {
		t.Errorf("after the limit: %s, vault asked %d more times", resp.Status, cv.calls.Load()-asked)
	}
	resp, _ = e.get("/t/" + strings.Repeat("B", 43))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("token guess after the limit: %s", resp.Status)
	}
	resp, body = e.get("/api/v1/transfers/" + strings.Repeat("B", 43))
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), `"error"`) {
		t.Errorf("API guess after the limit: %s %s", resp.Status, body)
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(1, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("a")})
	post := func(c *http.Client, form url.Values, header ...string) int {
		t.Helper()
		header = append(header, "Content-Type", "application/x-www-form-urlencoded")
		resp, _ := e.do(c, http.MethodPost, "/", strings.NewReader(form.Encode()), header...)
		return resp.StatusCode
	}
	alice, bob := e.client(), e.client()
	aliceTok, bobTok := e.formToken(alice), e.formToken(bob)
	cases := []struct {
		name   string
		c      *http.Client
		form   url.Values
		header []string
		want   int
	}{
		{"no cookie, no token", e.client(), url.Values{"code": {st.code}}, nil, 403},
		{"cookie, no token", alice, url.Values{"code": {st.code}}, nil, 403},
		{"token of another browser", alice, url.Values{"code": {st.code}, "csrf": {bobTok}}, nil, 403},
		{"tampered token", alice, url.Values{"code": {st.code}, "csrf": {aliceTok[:len(aliceTok)-2] + "AA"}}, nil, 403},
		{"cross-site", alice, url.Values{"code": {st.code}, "csrf": {aliceTok}}, []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"foreign origin", alice, url.Values{"code": {st.code}, "csrf": {aliceTok}}, []string{"Origin", "https://evil.example"}, 403},
		{"valid", alice, url.Values{"code": {st.code}, "csrf": {aliceTok}}, nil, 303},
		{"valid, same-origin", bob, url.Values{"code": {st.code}, "csrf": {bobTok}}, []string{"Sec-Fetch-Site", "same-origin"}, 303},
	}
	for _, c := range cases {
		if got := post(c.c, c.form, c.header...); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
