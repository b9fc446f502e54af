package smtptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

const body = "Subject: hi\r\n\r\nhello\r\n"

func send(addr, from string, to []string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, to, strings.NewReader(body)); err != nil {
		return err
	}
	return c.Quit()
}

func code(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestCapture(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	if err := send(s.Addr, "a@example.org", []string{"b@example.net", "c@example.net"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := s.WaitMessages(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if m.From != "a@example.org" || strings.Join(m.To, ",") != "b@example.net,c@example.net" || string(m.Data) != body || m.Size != int64(len(body)) {
		t.Errorf("captured %+v", m)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	s.Inject(Fault{Stage: StageMail, Reply: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "later"}, Times: 2})
	s.Inject(Fault{Stage: StageRcpt, Rcpt: "bad@example.net", Reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}})
	s.Inject(Fault{Stage: StageData, Reply: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "content refused"}, Times: 1})
	for i := range 2 {
		if err := send(s.Addr, "a@example.org", []string{"b@example.net"}); code(err) != 451 {
			t.Fatalf("attempt %d: got %v, want 451", i, err)
		}
	}
	if err := send(s.Addr, "a@example.org", []string{"bad@example.net"}); code(err) != 550 {
		t.Fatalf("RCPT: got %v, want 550", err)
	}
	if err := send(s.Addr, "a@example.org", []string{"b@example.net"}); code(err) != 554 {
		t.Fatalf("DATA: got %v, want 554", err)
	}
	if err := send(s.Addr, "a@example.org", []string{"b@example.net"}); err != nil {
		t.Fatalf("after the faults: %v", err)
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("%d messages captured, want 1", n)
	}
	if st := s.Stats(); st.Mails != 5 || st.Conns != 5 {
		t.Errorf("stats %+v", st)
	}
}

func TestHangAndDrop(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	s.Inject(Fault{Stage: StageData, Hang: true, Times: 1})
	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SubmissionTimeout = 200 * time.Millisecond
	if err := c.SendMail("a@example.org", []string{"b@example.net"}, strings.NewReader(body)); err == nil {
		t.Fatal("hang: no error")
	} else if ne, ok := errors.Unwrap(err).(net.Error); ok && !ne.Timeout() {
		t.Fatalf("hang: %v", err)
	}
	c.Close()

	s.Inject(Fault{Stage: StageData, DropAfter: 3, Times: 1})
	if err := send(s.Addr, "a@example.org", []string{"b@example.net"}); err == nil || code(err) != 0 {
		t.Fatalf("drop: got %v, want a connection error", err)
	}
	s.Inject(Fault{Stage: StageConnect, Drop: true, Times: 1})
	if err := send(s.Addr, "a@example.org", []string{"b@example.net"}); err == nil {
		t.Fatal("connect drop: no error")
	}
	if err := send(s.Addr, "a@example.org", []string{"b@example.net"}); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("%d messages captured, want 1", n)
	}
	s.Inject(Fault{Stage: StageConnect, Hang: true, Times: 1})
	c, err = smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c.CommandTimeout = 100 * time.Millisecond
	if err := c.Hello("x"); err == nil {
		t.Fatal("greeting hang: no error")
	}
	c.Close()
}

func TestTLS(t *testing.T) {
	t.Parallel()
	for _, implicit := range []bool{false, true} {
		s := Start(t, Options{STARTTLS: !implicit, ImplicitTLS: implicit})
		var c *smtp.Client
		var err error
		if implicit {
			c, err = smtp.DialTLS(s.Addr, s.TLSConfig)
		} else {
			c, err = smtp.DialStartTLS(s.Addr, s.TLSConfig)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SendMail("a@example.org", []string{"b@example.net"}, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.TLSConnectionState(); !ok {
			t.Error("not TLS")
		}
		c.Quit()
	}
}

// recorder catches the leak report instead of failing the test.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Cleanup(func()) {}

func TestLeakCheck(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	s := Start(rec, Options{LeakTimeout: 100 * time.Millisecond})
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	c.Close()
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "1 connection") {
		t.Errorf("leak report: %q", rec.errs)
	}
}
