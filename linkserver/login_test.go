package linkserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// untranslatedRE finds a catalog key that a page printed instead of its text.
var untranslatedRE = regexp.MustCompile(`\bpage\.[a-z_.]+\b`)

func TestSignInForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	resp, body := e.do(c, http.MethodGet, "/login?next=/t/"+strings.Repeat("A", 43)+"&lang=en", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `name="next" value="/t/`+strings.Repeat("A", 43)+`"`) {
		t.Fatalf("sign-in page: %s", resp.Status)
	}
	resp, body = e.postForm(c, "/login", url.Values{"email": {"  Alice@Example.ORG "}, "next": {"/"}})
	page := string(body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /login: %s", resp.Status)
	}
	for _, want := range []string{"We have sent an e-mail with an 8-digit code to alice@example.org", `name="email" value="alice@example.org"`, `autocomplete="one-time-code"`} {
		if !strings.Contains(page, want) {
			t.Errorf("code page lacks %q", want)
		}
	}
	sent := e.notes.lastCode(t, alice)
	if len(sent.code) != 8 || strings.Trim(sent.code, "0123456789") != "" || sent.lang != "en" {
		t.Errorf("mailed code %q in %q, want 8 digits in en", sent.code, sent.lang)
	}

	// A wrong code shows the form again; the right one, typed with a
	// space, signs in and goes back to next.
	wrong := "00000000"
	if sent.code == wrong {
		wrong = "11111111"
	}
	resp, body = e.postForm(c, "/login/verify", url.Values{"email": {alice}, "code": {wrong}, "next": {"/"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "This code is not right") || !strings.Contains(string(body), `aria-invalid="true"`) {
		t.Errorf("wrong code: %s", resp.Status)
	}
	resp, _ = e.postForm(c, "/login/verify", url.Values{"email": {alice}, "code": {sent.code[:4] + " " + sent.code[4:]}, "next": {"/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("right code: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	acct, err := e.v.Account(t.Context(), alice)
	if err != nil || acct.Lang != "en" {
		t.Errorf("account after first sign-in: %+v, %v; want one with language en", acct, err)
	}
	resp, body = e.do(c, http.MethodGet, "/", nil)
	if !strings.Contains(string(body), "Signed in as alice@example.org") || !strings.Contains(string(body), `action="/logout"`) {
		t.Errorf("home page does not show the session: %s", resp.Status)
	}

	// The code is used up.
	resp, body = e.postForm(c, "/login/verify", url.Values{"email": {alice}, "code": {sent.code}, "next": {"/"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "no valid code") {
		t.Errorf("used code: %s", resp.Status)
	}

	// Sign-out ends the session in the store too.
	session := cookieValue(e, c, "session")
	resp, _ = e.postForm(c, "/logout", url.Values{"next": {"https://evil.example/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("sign-out: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if _, err := e.v.SessionEmail(t.Context(), session); err == nil {
		t.Error("the session still works after sign-out")
	}
	if _, body := e.do(c, http.MethodGet, "/", nil); strings.Contains(string(body), "alice@example.org") {
		t.Error("still signed in after sign-out")
	}

	resp, body = e.postForm(c, "/login", url.Values{"email": {"not an address"}, "next": {"/"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "not a valid e-mail address") || !strings.Contains(string(body), `value="not an address"`) {
		t.Errorf("bad address: %s", resp.Status)
	}
	for _, b := range [][]byte{body} {
		if k := untranslatedRE.Find(b); k != nil {
			t.Errorf("page shows the key %s", k)
		}
	}
}

// TestPagesHaveNoMissingTexts renders every sign-in and status page state
// in both languages and looks for catalog keys printed as text.
func TestPagesHaveNoMissingTexts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.addFor(1, []string{alice}, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("a")})
	for _, lang := range []string{"de", "en"} {
		e.clock.advance(time.Hour) // refills the limits
		c := e.client()
		e.do(c, http.MethodGet, "/?lang="+lang, nil)
		var bodies [][]byte
		add := func(_ *http.Response, b []byte) { bodies = append(bodies, b) }
		add(e.do(c, http.MethodGet, "/login", nil))
		add(e.postForm(c, "/login", url.Values{"email": {"x"}}))
		add(e.postForm(c, "/login", url.Values{"email": {clerk}, "next": {"/s/" + st.sender}}))
		add(e.postForm(c, "/login/verify", url.Values{"email": {clerk}, "code": {"1"}}))
		add(e.postForm(c, "/login/verify", url.Values{"email": {eve}, "code": {"1"}}))
		add(e.do(c, http.MethodGet, "/s/"+st.sender, nil))
		e.signIn(c, clerk, "/s/"+st.sender)
		add(e.do(c, http.MethodGet, "/s/"+st.sender, nil))
		add(e.postForm(c, "/s/"+st.sender+"/revoke", url.Values{}))
		add(e.postForm(c, "/s/"+st.sender+"/revoke", url.Values{"confirm": {"yes"}}))
		add(e.do(c, http.MethodGet, "/s/"+st.sender, nil))
		add(e.do(c, http.MethodGet, "/t/"+st.token, nil))
		for i, b := range bodies {
			if k := untranslatedRE.Find(b); k != nil {
				t.Errorf("%s page %d shows the key %s", lang, i, k)
			}
		}
	}
}

func cookieValue(e *env, c *http.Client, name string) string {
	u, _ := url.Parse(e.http.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	e.t.Fatalf("no cookie %s", name)
	return ""
}

func TestSignInJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	resp, out := e.postJSON(c, "/api/v1/login/start", map[string]string{"email": alice}, "Accept-Language", "en-GB")
	if resp.StatusCode != http.StatusAccepted || !strings.HasPrefix(out["message"], "if this address may sign in") {
		t.Fatalf("start: %s %v", resp.Status, out)
	}
	code := e.notes.lastCode(t, alice)
	if code.lang != "en" {
		t.Errorf("code mail in %q, want en (Accept-Language)", code.lang)
	}
	for _, tc := range []struct {
		body   any
		status int
		reason string
	}{
		{map[string]string{"email": alice, "code": "x"}, 400, "wrong_code"},
		{map[string]string{"email": "nope"}, 400, "invalid_address"},
		{map[string]string{"email": bob, "code": "12345678"}, 400, "no_code"},
		{map[string]any{"email": 5}, 400, ""},
		{[]string{"email"}, 400, ""},
	} {
		resp, out := e.postJSON(c, "/api/v1/login/verify", tc.body)
		if resp.StatusCode != tc.status || out["reason"] != tc.reason || out["error"] == "" {
			t.Errorf("verify %v: %s %v", tc.body, resp.Status, out)
		}
	}
	resp, out = e.postJSON(c, "/api/v1/login/verify", map[string]string{"email": alice, "code": code.code})
	if resp.StatusCode != 200 || out["email"] != alice {
		t.Fatalf("verify: %s %v", resp.Status, out)
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "session" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" || session.Secure {
		t.Errorf("session cookie %+v", session)
	}
	resp, _ = e.postJSON(c, "/api/v1/logout", nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("logout: %s", resp.Status)
	}
	if _, err := e.v.SessionEmail(t.Context(), session.Value); err == nil {
		t.Error("the session still works after logout")
	}
}

// TestSessionCookieUnderTLS: behind HTTPS the cookie is __Host-session and
// Secure.
func TestSessionCookieUnderTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv, err := New(Config{PublicURL: "https://secure.example.org"}, e.v, nil, nil, WithNotifier(e.notes))
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	post := func(path, body string) *http.Response {
		req := httptest.NewRequest(http.MethodPost, "https://secure.example.org"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result()
	}
	if resp := post("/api/v1/login/start", `{"email":"alice@example.org"}`); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start: %s", resp.Status)
	}
	resp := post("/api/v1/login/verify", `{"email":"alice@example.org","code":"`+e.notes.lastCode(t, alice).code+`"}`)
	cookies := resp.Cookies()
	if resp.StatusCode != 200 || len(cookies) != 1 {
		t.Fatalf("verify: %s, cookies %v", resp.Status, cookies)
	}
	ck := cookies[0]
	if ck.Name != "__Host-session" || !ck.Secure || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie under TLS: %+v", ck)
	}
}

// TestSignInRevealsNothing: an address with an account, one without, and
// a recipient of a transfer get the same answer, and each gets a code.
func TestSignInRevealsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addFor(2, []string{bob}, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("a")})
	if _, err := e.v.TouchAccount(t.Context(), alice, "de"); err != nil {
		t.Fatal(err)
	}
	var pages []string
	var apis []string
	for _, addr := range []string{alice, bob, eve} {
		c := e.client()
		_, body := e.postForm(c, "/login", url.Values{"email": {addr}, "next": {"/"}})
		pages = append(pages, normalised(body, addr))
		resp, out := e.postJSON(c, "/api/v1/login/start", map[string]string{"email": addr})
		apis = append(apis, resp.Status+" "+out["message"])
		if n := e.notes.codesTo(addr); n != 2 {
			t.Errorf("%s got %d codes, want 2", addr, n)
		}
	}
	for i := 1; i < len(pages); i++ {
		if pages[i] != pages[0] || apis[i] != apis[0] {
			t.Errorf("answer %d differs:\n%s\n%s", i, apis[i], apis[0])
		}
	}
	if _, err := e.v.Account(t.Context(), eve); err == nil {
		t.Error("asking for a code made an account")
	}
}

func TestSixthTryFailsEvenWithTheRightCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	e.postJSON(c, "/api/v1/login/start", map[string]string{"email": alice})
	code := e.notes.lastCode(t, alice).code
	wrong := "00000000"
	if code == wrong {
		wrong = "11111111"
	}
	for i := range 5 {
		resp, out := e.postJSON(c, "/api/v1/login/verify", map[string]string{"email": alice, "code": wrong})
		if resp.StatusCode != 400 || out["reason"] != "wrong_code" {
			t.Fatalf("try %d: %s %v", i+1, resp.Status, out)
		}
	}
	resp, out := e.postJSON(c, "/api/v1/login/verify", map[string]string{"email": alice, "code": code})
	if resp.StatusCode != 400 || out["reason"] != "too_many_tries" || len(resp.Cookies()) != 0 {
		t.Errorf("sixth try with the right code: %s %v", resp.Status, out)
	}
	resp, body := e.postForm(c, "/login/verify", url.Values{"email": {alice}, "code": {code}})
	if resp.StatusCode != 400 || !strings.Contains(string(body), "zu oft falsch eingegeben") {
		t.Errorf("seventh try in the form: %s", resp.Status)
	}
}

// TestWrongCodesLockTransfer: wrong codes typed by a recipient for a
// transfer count against it; the tenth locks it, the clerk is told once,
// and the transfer's pages say so.
func TestWrongCodesLockTransfer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.addFor(2, []string{alice}, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("a")})
	other := e.addFor(2, []string{bob}, testFile{name: "b.pdf", contentType: "application/pdf", data: []byte("b")})
	page := "/t/" + st.token
	c := e.client()
	wrongFor := func(code string) string {
		if code == "00000000" {
			return "11111111"
		}
		return "00000000"
	}
	// Eve's wrong codes on Alice's transfer and Bob's on another transfer
	// do not count against it.
	e.postJSON(c, "/api/v1/login/start", map[string]string{"email": eve})
	e.postJSON(c, "/api/v1/login/start", map[string]string{"email": bob})
	for range 3 {
		e.postForm(c, "/login/verify", url.Values{"email": {eve}, "code": {wrongFor(e.notes.lastCode(t, eve).code)}, "next": {page}})
		e.postJSON(c, "/api/v1/login/verify", map[string]string{"email": bob, "code": wrongFor(e.notes.lastCode(t, bob).code), "transfer": other.token})
	}
	e.clock.advance(10 * time.Minute) // refills the guessing limit
	var last *http.Response
	var lastBody []byte
	for round := range 2 {
		e.postForm(c, "/login", url.Values{"email": {alice}, "next": {page}})
		code := e.notes.lastCode(t, alice).code
		for try := range 5 {
			last, lastBody = e.postForm(c, "/login/verify", url.Values{"email": {alice}, "code": {wrongFor(code)}, "next": {page}})
			if n := round*5 + try + 1; n < 10 && last.StatusCode != http.StatusBadRequest {
				t.Fatalf("wrong code %d: %s", n, last.Status)
			}
		}
		e.clock.advance(5 * time.Minute)
	}
	if last.StatusCode != http.StatusLocked || !strings.Contains(string(lastBody), "gesperrt") {
		t.Errorf("tenth wrong code: %s, want 423 and the locked page", last.Status)
	}
	locks := e.notes.lockList()
	if len(locks) != 1 || locks[0].ID != st.id || locks[0].Sender != clerk {
		t.Fatalf("lock notices %+v, want one for %s", locks, st.id)
	}
	resp, _ := e.get(page)
	if resp.StatusCode != http.StatusLocked {
		t.Errorf("page of the locked transfer: %s", resp.Status)
	}
	// More wrong codes, now through the API: still locked, no second notice.
	e.postJSON(c, "/api/v1/login/start", map[string]string{"email": alice})
	resp, out := e.postJSON(c, "/api/v1/login/verify", map[string]string{"email": alice, "code": wrongFor(e.notes.lastCode(t, alice).code), "transfer": st.token})
	if resp.StatusCode != http.StatusLocked || out["error"] == "" {
		t.Errorf("wrong code after the lock: %s %v", resp.Status, out)
	}
	if n := len(e.notes.lockList()); n != 1 {
		t.Errorf("%d lock notices, want 1", n)
	}
	if _, err := e.v.TransferByToken(t.Context(), other.token); err != nil {
		t.Errorf("the other transfer: %v", err)
	}
}

// TestSignInRateLimitsAnswerAtOnce: beyond the limits per address and per
// client, login/start answers 429 with a Retry-After far longer than the
// client's deadline: the server refused at once instead of waiting.
func TestSignInRateLimitsAnswerAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const deadline = 5 * time.Second
	start := func(addr string) (*http.Response, map[string]string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), deadline)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.http.URL+"/api/v1/login/start", strings.NewReader(`{"email":"`+addr+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("login/start for %s: %v", addr, err)
		}
		resp.Body.Close()
		return resp, nil
	}
	checkRefused := func(what string, resp *http.Response) {
		t.Helper()
		sec, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusTooManyRequests || err != nil || time.Duration(sec)*time.Second <= deadline {
			t.Errorf("%s: %s, Retry-After %q; want 429 with more than %v", what, resp.Status, resp.Header.Get("Retry-After"), deadline)
		}
	}

	// Per address, whatever the spelling.
	for i, addr := range []string{alice, "ALICE@example.org", " alice@EXAMPLE.org"} {
		if resp, _ := start(addr); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("code %d: %s", i+1, resp.Status)
		}
	}
	resp, _ := start("Alice@Example.org")
	checkRefused("fourth code to one address", resp)
	if n := e.notes.codesTo(alice); n != 3 {
		t.Errorf("%d codes mailed to %s, want 3", n, alice)
	}

	// Per client: other addresses, until the client's burst is spent (the
	// refused request above was charged to the client too).
	limit := int(mailLimits.client.burst)
	for i := 5; i <= limit; i++ {
		if resp, _ := start("person" + strconv.Itoa(i) + "@example.org"); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("code %d: %s", i, resp.Status)
		}
	}
	resp, _ = start("someone.new@example.org")
	checkRefused("one code too many from one client", resp)
	if n := e.notes.codesTo("someone.new@example.org"); n != 0 {
		t.Error("a refused request sent a code")
	}
	// The HTML form is refused alike.
	resp, _ = e.postForm(e.client(), "/login", url.Values{"email": {"form@example.org"}})
	checkRefused("form", resp)
}

func TestSignInWithoutMail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startWith(e.v, func(*Config) {}) // no notifier
	resp, out := e.postJSON(e.client(), "/api/v1/login/start", map[string]string{"email": alice})
	if resp.StatusCode != http.StatusServiceUnavailable || out["reason"] != "mail_unavailable" {
		t.Errorf("API: %s %v", resp.Status, out)
	}
	resp, body := e.postForm(e.client(), "/login", url.Values{"email": {alice}})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "keine E-Mails versenden") {
		t.Errorf("form: %s", resp.Status)
	}

	// A notifier whose sends fail: the visitor is told, the address kept.
	f := &fakeNotifier{fail: true}
	e.startWith(e.v, func(*Config) {}, WithNotifier(f))
	resp, out = e.postJSON(e.client(), "/api/v1/login/start", map[string]string{"email": alice})
	if resp.StatusCode != http.StatusServiceUnavailable || out["reason"] != "send_failed" {
		t.Errorf("API, failed send: %s %v", resp.Status, out)
	}
	resp, body = e.postForm(e.client(), "/login", url.Values{"email": {bob}})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "konnte nicht gesendet werden") || !strings.Contains(string(body), `value="`+bob+`"`) {
		t.Errorf("form, failed send: %s", resp.Status)
	}
	if !strings.Contains(e.logs.String(), "sending a sign-in code") {
		t.Error("the failed send was not logged")
	}
}

// TestNextStaysLocal: after sign-in the browser goes only to our own pages.
func TestNextStaysLocal(t *testing.T) {
	t.Parallel()
	tok := strings.Repeat("T", 43)
	cases := map[string]string{
		"/":                         "/",
		"/t/" + tok:                 "/t/" + tok,
		"/s/" + tok:                 "/s/" + tok,
		"":                          "/",
		"https://evil.example/":     "/",
		"//evil.example/t/" + tok:   "/",
		"/\\evil.example":           "/",
		"/t/" + tok + "/../../x":    "/",
		"/t/" + tok + "?x=1":        "/",
		"/t/short":                  "/",
		"javascript:alert(1)":       "/",
		"/t/" + tok + "\r\nX: y":    "/",
		"/static/style.css":         "/",
		"/t/" + tok + "/f/anything": "/",
	}
	for in, want := range cases {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
	e := newEnv(t)
	c := e.client()
	e.postForm(c, "/login", url.Values{"email": {alice}, "next": {"//evil.example/"}})
	resp, _ := e.postForm(c, "/login/verify", url.Values{"email": {alice}, "code": {e.notes.lastCode(t, alice).code}, "next": {"//evil.example/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("verify with a foreign next: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
}

// TestEveryPostIsProtected: forms need their CSRF token; JSON needs its
// content type and a same-origin browser.
func TestEveryPostIsProtected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.addFor(2, []string{alice}, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("a")})
	c := e.client()
	e.formToken(c) // has a CSRF cookie, but sends no token
	for _, p := range []string{"/", "/login", "/login/verify", "/logout", "/s/" + st.sender + "/revoke"} {
		resp, _ := e.do(c, http.MethodPost, p, strings.NewReader("email="+alice+"&code=1&confirm=yes"), "Content-Type", "application/x-www-form-urlencoded")
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without CSRF token: %s", p, resp.Status)
		}
	}
	body := `{"email":"` + alice + `"}`
	for _, tc := range []struct {
		name   string
		header []string
		want   int
	}{
		{"form type", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},
		{"text/plain", []string{"Content-Type", "text/plain"}, 415},
		{"no type", nil, 415},
		{"cross-site", []string{"Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"}, 403},
		{"foreign origin", []string{"Content-Type", "application/json", "Origin", "https://evil.example"}, 403},
		{"same-origin", []string{"Content-Type", "application/json; charset=utf-8", "Sec-Fetch-Site", "same-origin"}, 202},
	} {
		for _, p := range []string{"/api/v1/login/start", "/api/v1/login/verify", "/api/v1/logout"} {
			resp, _ := e.do(c, http.MethodPost, p, strings.NewReader(body), tc.header...)
			want := tc.want
			if want == 202 {
				want = map[string]int{"/api/v1/login/start": 202, "/api/v1/login/verify": 400, "/api/v1/logout": 204}[p]
			}
			if resp.StatusCode != want {
				t.Errorf("%s %s: %s, want %d", tc.name, p, resp.Status, want)
			}
		}
	}
	if n := e.notes.codesTo(alice); n != 1 {
		t.Errorf("%d codes sent, want 1 (from the same-origin request only)", n)
	}
	if _, err := e.v.TransferByToken(t.Context(), st.token); err != nil {
		t.Errorf("transfer after the forged revoke: %v", err)
	}
}

// TestSignInLogsNoSecrets: codes, session tokens, sender tokens and
// addresses stay out of the log.
func TestSignInLogsNoSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.addFor(2, []string{alice}, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("a")})
	c := e.client()
	e.postForm(c, "/login", url.Values{"email": {alice}, "next": {"/t/" + st.token}})
	e.postForm(c, "/login/verify", url.Values{"email": {alice}, "code": {"99999999"}, "next": {"/t/" + st.token}})
	e.signIn(c, alice, "/t/"+st.token)
	e.do(c, http.MethodGet, "/t/"+st.token+"/f/"+st.files[0].ID, nil)
	e.waitDownload()
	cc := e.client()
	e.signInJSON(cc, clerk, "")
	e.do(cc, http.MethodGet, "/s/"+st.sender, nil)
	e.postForm(cc, "/s/"+st.sender+"/revoke", url.Values{"confirm": {"yes"}})
	logs := e.logs.String()
	secrets := []string{st.token, st.sender, "99999999", alice, clerk, cookieValue(e, c, "session"), cookieValue(e, cc, "session")}
	for _, sc := range e.notes.allCodes() {
		secrets = append(secrets, sc.code)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("log contains %q", s)
		}
	}
	if !strings.Contains(logs, "path=/s/…/revoke") || !strings.Contains(logs, "transfer revoked by its sender") {
		t.Errorf("log lacks the redacted revoke:\n%s", logs)
	}
}
