package devoutbox

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

func TestOutboxKeepsAndShowsMail(t *testing.T) {
	t.Parallel()
	o := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	msg := "From: clerk@example.org\r\nTo: a@example.net\r\nSubject: Hello <b>\r\nContent-Type: text/plain\r\n\r\nOpen https://x.example/t/abc now\r\n"
	c, err := smtp.Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("clerk@example.org", []string{"a@example.net"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	c.Close()
	if got := o.Messages(); len(got) != 1 || got[0].From != "clerk@example.org" || got[0].To[0] != "a@example.net" {
		t.Fatalf("kept %+v", got)
	}

	srv := httptest.NewServer(o.Handler("/dev/outbox"))
	t.Cleanup(srv.Close)
	body := get(t, srv.URL+"/dev/outbox/")
	if !strings.Contains(body, "Hello &lt;b&gt;") {
		t.Errorf("list does not show the escaped subject:\n%s", body)
	}
	body = get(t, srv.URL+"/dev/outbox/1")
	if !strings.Contains(body, `<a href="https://x.example/t/abc">`) {
		t.Errorf("mail view does not link the URL:\n%s", body)
	}
	resp, err := http.Get(srv.URL + "/dev/outbox/99")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown mail: status %d, want 404", resp.StatusCode)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	return string(b)
}
