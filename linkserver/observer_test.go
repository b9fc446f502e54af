package linkserver

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
)

// fakeObserver records what the server reported.
type fakeObserver struct {
	mu        sync.Mutex
	downloads []string // "level/bytes"
	signIns   []string
	codes     int
}

func (o *fakeObserver) Download(level int, bytes int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.downloads = append(o.downloads, fmt.Sprintf("%d/%d", level, bytes))
}

func (o *fakeObserver) SignIn(result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.signIns = append(o.signIns, result)
}

func (o *fakeObserver) CodeSent() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.codes++
}

func (o *fakeObserver) state() (downloads, signIns []string, codes int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.downloads), slices.Clone(o.signIns), o.codes
}

func observed(t *testing.T) (*env, *fakeObserver) {
	e := newEnv(t)
	o := &fakeObserver{}
	e.startWith(e.v, func(*Config) {}, WithNotifier(e.notes), WithObserver(o))
	return e, o
}

// TestObserverDownloads: only a complete download is reported, with its
// level and the bytes delivered; HEAD, ranges and refused downloads are
// not.
func TestObserverDownloads(t *testing.T) {
	t.Parallel()
	e, o := observed(t)
	l1 := e.add(1, testFile{name: "a.pdf", contentType: "application/pdf", size: 300 << 10, seed: 3})
	path := fileURL(l1.token, l1.files[0].ID)
	e.do(nil, http.MethodHead, path, nil)
	e.waitDownload()
	e.get(path, "Range", "bytes=0-99")
	e.waitDownload()
	if d, _, _ := o.state(); len(d) != 0 {
		t.Fatalf("HEAD and a range were reported: %v", d)
	}
	e.get(path)
	if !e.waitDownload() {
		t.Fatal("the download was not counted")
	}

	l3 := e.add(3, testFile{name: "b.pdf", contentType: "application/pdf", size: 100 << 10, seed: 4})
	c := e.client()
	e.signIn(c, citizen, transferPath(l3.token))
	path3 := fileURL(l3.token, l3.files[0].ID)
	e.do(c, http.MethodGet, path3, nil) // no key yet: 409
	e.waitDownload()
	e.setKey(c, ownKey(t, citizen), false)
	_, msg := e.do(c, http.MethodGet, path3, nil)
	if !e.waitDownload() {
		t.Fatal("the level-3 download was not counted")
	}
	want := []string{fmt.Sprintf("1/%d", 300<<10), fmt.Sprintf("3/%d", len(msg))}
	if d, _, _ := o.state(); !slices.Equal(d, want) {
		t.Errorf("downloads reported %v, want %v", d, want)
	}
}

// TestObserverSignIns: every code check is reported with its result, forms
// and API alike; a code is reported as sent only when the notifier took it.
func TestObserverSignIns(t *testing.T) {
	t.Parallel()
	e, o := observed(t)
	c := e.client()
	verify := func(email, code string) {
		t.Helper()
		e.postForm(c, "/login/verify", url.Values{"email": {email}, "code": {code}, "next": {"/"}})
	}
	e.postForm(c, "/login", url.Values{"email": {alice}, "next": {"/"}})
	code := e.notes.lastCode(t, alice).code
	wrong := "00000000"
	if code == wrong {
		wrong = "11111111"
	}
	for range 5 {
		verify(alice, wrong)
	}
	verify(alice, code) // the sixth try fails even with the right code
	e.postJSON(c, "/api/v1/login/start", map[string]string{"email": alice})
	code = e.notes.lastCode(t, alice).code
	e.postJSON(c, "/api/v1/login/verify", map[string]string{"email": alice, "code": code})
	verify(alice, code)           // used up
	verify("not an address", "1") // nothing could have been sent to it
	for range 3 {
		verify(bob, "12345678")
	}
	verify(bob, "12345678") // the guessing limit: 10 failures per client
	_, got, codes := o.state()
	want := []string{
		SignInWrongCode, SignInWrongCode, SignInWrongCode, SignInWrongCode, SignInWrongCode, SignInTooMany,
		SignInOK, SignInNoCode, SignInNoCode, SignInNoCode, SignInNoCode, SignInNoCode, SignInLimited,
	}
	if !slices.Equal(got, want) {
		t.Errorf("sign-ins reported\n%v\nwant\n%v", got, want)
	}
	if codes != 2 {
		t.Errorf("%d codes reported sent, want 2", codes)
	}

	e.notes.mu.Lock()
	e.notes.fail = true
	e.notes.mu.Unlock()
	resp, _ := e.postForm(c, "/login", url.Values{"email": {bob}, "next": {"/"}})
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("code with a failing notifier: %s", resp.Status)
	}
	if _, _, codes := o.state(); codes != 2 {
		t.Errorf("a code the notifier refused was reported sent (%d)", codes)
	}
}

// TestObserverSignInResults: every problem verifyLogin can give has a
// result, and store failures are not passed off as a visitor's mistake.
func TestObserverSignInResults(t *testing.T) {
	t.Parallel()
	for p, want := range map[*problem]string{
		nil: SignInOK, problemWrongCode: SignInWrongCode, problemLocked: SignInWrongCode,
		problemNoCode: SignInNoCode, problemBadAddress: SignInNoCode, problemTooManyTries: SignInTooMany,
		rateLimited(1): SignInLimited, problemInternal: SignInError,
	} {
		if got := signInResult(p); got != want {
			t.Errorf("signInResult(%v) = %q, want %q", p, got, want)
		}
	}
}
