package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TestServeDevEndToEnd wires every part as `sealgate serve --dev` does and
// follows a [secure1] mail from SMTP through the development outbox to the
// download, and the access code through the home page.
func TestServeDevEndToEnd(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SEALGATE_STORAGE_DIR", dir)
	t.Setenv("SEALGATE_SMTP_LISTEN", "127.0.0.1:0")
	t.Setenv("SEALGATE_WEB_LISTEN", "127.0.0.1:0")
	t.Setenv("SEALGATE_ADMIN_LISTEN", "127.0.0.1:0")
	s, err := loadSettings("")
	if err != nil {
		t.Fatal(err)
	}
	lns, err := listen(s)
	if err != nil {
		t.Fatal(err)
	}
	defer lns.close()
	webURL := "http://" + lns.web.Addr().String()
	s.Web.PublicURL, s.SMTP.PublicURL = webURL, webURL

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, s, lns, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("run did not stop within 30 s of cancellation")
		}
	}()

	attachment := []byte(strings.Repeat("Steuerbescheid 2026, Seite 1\n", 4000))
	msg := "From: clerk@example.org\r\nTo: citizen@example.net\r\nSubject: [secure1] Ihr Bescheid\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGuten Tag,\r\nanbei der Bescheid.\r\n" +
		"--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"bescheid.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		wrap(base64.StdEncoding.EncodeToString(attachment)) + "--b1--\r\n"
	c, err := smtp.Dial(lns.smtp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("send: %v", err)
	}
	c.Close()

	outbox := httpGet(t, webURL+"/dev/outbox/1")
	link := regexp.MustCompile(regexp.QuoteMeta(webURL) + `/t/[A-Za-z0-9_-]{43}`).FindString(outbox)
	if link == "" {
		t.Fatalf("no transfer link in the outbox view:\n%s", outbox)
	}
	if strings.Contains(outbox, "Steuerbescheid 2026") {
		t.Error("attachment text reached the outbox")
	}
	page := httpGet(t, link)
	if !strings.Contains(page, "bescheid.pdf") {
		t.Fatalf("transfer page does not list the file:\n%s", page)
	}
	href := regexp.MustCompile(`href="(/t/[^"]+/f/[^"]+)"`).FindStringSubmatch(page)
	if href == nil {
		t.Fatalf("no download link on the transfer page:\n%s", page)
	}
	got := httpGet(t, webURL+strings.ReplaceAll(href[1], "&amp;", "&"))
	if sha256.Sum256([]byte(got)) != sha256.Sum256(attachment) {
		t.Error("downloaded bytes differ from the attachment")
	}

	// The access code printed beside the link leads to the same transfer.
	code := regexp.MustCompile(`[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(outbox)
	if code == "" {
		t.Fatal("no access code in the mail")
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	home := httpGetWith(t, client, webURL+"/")
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(home)
	if csrf == nil {
		t.Fatalf("no CSRF token on the home page:\n%s", home)
	}
	resp, err := client.PostForm(webURL+"/", url.Values{"csrf": {csrf[1]}, "code": {strings.ToLower(code)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != strings.TrimPrefix(link, webURL) {
		t.Errorf("access code: %d to %q, want 303 to %q", resp.StatusCode, resp.Header.Get("Location"), strings.TrimPrefix(link, webURL))
	}

	// Health checks on the admin listener.
	if body := httpGet(t, "http://"+lns.admin.Addr().String()+"/readyz"); !strings.Contains(body, "ready") {
		t.Errorf("readyz: %q", body)
	}
}

func wrap(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	return b.String() + s + "\r\n"
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	return httpGetWith(t, http.DefaultClient, u)
}

func httpGetWith(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	return string(b)
}
