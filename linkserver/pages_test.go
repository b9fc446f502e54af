package linkserver

import (
	"html"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTransferPageListsFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(1,
		testFile{name: "Bescheid 2026.pdf", contentType: "application/pdf", data: []byte("%PDF-1.7 test")},
		testFile{name: "Anlage <b>&</b>.txt", contentType: "text/plain", size: 3 << 20, seed: 1},
	)
	resp, body := e.get("/t/"+st.token, "Accept-Language", "de-DE,de;q=0.9,en;q=0.8")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	page := string(body)
	for _, want := range []string{
		`<html lang="de">`,
		"Bescheid 2026.pdf",
		html.EscapeString(st.files[1].Name), // escaped, never raw markup
		"3,1 MB",                            // 3 MiB in decimal units, as the mail notice shows it
		"Stadt Musterhausen hat Ihnen Dokumente über diese gesicherte Seite geschickt",
		"Sie können die Dokumente bis zum 09.05.2026 abrufen; danach werden sie gelöscht.",
		"sachbearbeitung@musterhausen.example",
		"Stufe 1",
		`href="/t/` + st.token + `/f/` + st.files[0].ID + `"`,
		`href="/t/` + st.token + `/f/` + st.files[1].ID + `"`,
		`<time datetime="2026-05-09T`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<b>&</b>") {
		t.Error("file name reached the page unescaped")
	}
	if resp.Header.Get("Content-Language") != "de" {
		t.Errorf("Content-Language %q", resp.Header.Get("Content-Language"))
	}
}

func TestLanguageNegotiationAndSwitch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(1, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("x")})
	cases := []struct{ accept, want string }{
		{"", "de"},
		{"en-GB,en;q=0.9", "en"},
		{"fr-FR, en;q=0.5, de;q=0.4", "en"},
		{"fr, it", "de"},
		{"en;q=0.2, de;q=0.8", "de"},
	}
	for _, c := range cases {
		resp, body := e.get("/t/"+st.token, "Accept-Language", c.accept)
		if !strings.Contains(string(body), `<html lang="`+c.want+`">`) {
			t.Errorf("Accept-Language %q: want %s page (status %s)", c.accept, c.want, resp.Status)
		}
	}
	// The switch link sets a cookie that later pages follow.
	c := e.client()
	_, body := e.do(c, http.MethodGet, "/t/"+st.token, nil)
	if !strings.Contains(string(body), `href="/t/`+st.token+`?lang=en"`) {
		t.Fatal("German page has no switch to English")
	}
	_, body = e.do(c, http.MethodGet, "/t/"+st.token+"?lang=en", nil)
	if !strings.Contains(string(body), "has sent you documents through this secure page") {
		t.Fatal("?lang=en did not give English")
	}
	_, body = e.do(c, http.MethodGet, "/", nil)
	if !strings.Contains(string(body), `<html lang="en">`) {
		t.Fatal("the lang cookie was not followed")
	}
}

func TestLevel2PageShowsOnlySignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(2, testFile{name: "Geheim.pdf", contentType: "application/pdf", data: []byte("secret")})
	resp, body := e.get("/t/" + st.token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	if !strings.Contains(string(body), "Anmeldung erforderlich") {
		t.Error("no sign-in notice")
	}
	if strings.Contains(string(body), "Geheim.pdf") || strings.Contains(string(body), st.files[0].ID) {
		t.Error("level 2 page shows file data before sign-in")
	}
	resp, _ = e.get("/t/" + st.token + "/f/" + st.files[0].ID)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("level 2 download without session: %s, want 403", resp.Status)
	}
}

func TestUnknownExpiredRevoked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	live := e.add(1, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("a")})
	revoked := e.add(1, testFile{name: "b.pdf", contentType: "application/pdf", data: []byte("b")})
	if err := e.v.Revoke(t.Context(), revoked.id); err != nil {
		t.Fatal(err)
	}

	check := func(name, path string, status int, text string) {
		t.Helper()
		resp, body := e.get(path)
		if resp.StatusCode != status {
			t.Errorf("%s: %s, want %d", name, resp.Status, status)
		}
		if !strings.Contains(string(body), text) {
			t.Errorf("%s: page lacks %q", name, text)
		}
		if !strings.Contains(string(body), "Absender") {
			t.Errorf("%s: page does not say to contact the sender", name)
		}
	}
	wellFormed := strings.Repeat("A", 43)
	check("unknown token", "/t/"+wellFormed, 404, "Dieser Link ist ungültig oder abgelaufen")
	check("malformed token", "/t/x%22%3E", 404, "Dieser Link ist ungültig oder abgelaufen")
	check("unknown file", "/t/"+live.token+"/f/nope", 404, "Dieser Link ist ungültig oder abgelaufen")
	check("unknown path", "/nothing/here", 404, "Dieser Link ist ungültig oder abgelaufen")
	check("revoked", "/t/"+revoked.token, 410, "nicht mehr verfügbar")
	check("revoked file", "/t/"+revoked.token+"/f/"+revoked.files[0].ID, 410, "nicht mehr verfügbar")

	e.clock.advance(61 * 24 * time.Hour)
	check("expired", "/t/"+live.token, 410, "nicht mehr verfügbar")
	check("expired file", "/t/"+live.token+"/f/"+live.files[0].ID, 410, "nicht mehr verfügbar")

	for _, c := range []struct {
		path   string
		status int
	}{
		{"/api/v1/transfers/" + wellFormed, 404},
		{"/api/v1/transfers/" + revoked.token, 410},
		{"/api/v1/transfers/" + live.token, 410},
	} {
		resp, body := e.get(c.path)
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" ||
			!strings.HasPrefix(string(body), `{"error":"`) {
			t.Errorf("%s: %s %s %s", c.path, resp.Status, resp.Header.Get("Content-Type"), body)
		}
	}
}
