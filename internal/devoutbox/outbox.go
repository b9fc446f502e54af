// Package devoutbox is the development next hop: an SMTP server on loopback
// that keeps the last mails it received in memory and shows them as web
// pages, so that a newcomer can try sealgate without any other mail server.
// It exists only when the configuration says dev.outbox: true.
package devoutbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

const (
	keepMessages = 100
	// maxMessage bounds one kept mail; the outbox is for looking at
	// notices, not for storing large untagged mail.
	maxMessage = 32 << 20
)

// Message is one mail the outbox received.
type Message struct {
	ID       int
	Received time.Time
	From     string
	To       []string
	Raw      []byte
}

// Outbox is an in-memory mail sink with a web view.
type Outbox struct {
	mu   sync.Mutex
	msgs []Message
	next int
	log  *slog.Logger
}

// New returns an empty outbox.
func New(log *slog.Logger) *Outbox { return &Outbox{log: log, next: 1} }

// Messages returns the kept mails, newest first.
func (o *Outbox) Messages() []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Message, len(o.msgs))
	for i, m := range o.msgs {
		out[len(o.msgs)-1-i] = m
	}
	return out
}

func (o *Outbox) message(id int) (Message, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range o.msgs {
		if m.ID == id {
			return m, true
		}
	}
	return Message{}, false
}

func (o *Outbox) add(m Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	m.ID = o.next
	o.next++
	o.msgs = append(o.msgs, m)
	if len(o.msgs) > keepMessages {
		o.msgs = o.msgs[len(o.msgs)-keepMessages:]
	}
}

// Serve accepts SMTP on ln until ctx ends.
func (o *Outbox) Serve(ctx context.Context, ln net.Listener) error {
	srv := smtp.NewServer(backend{o})
	srv.Domain = "dev-outbox.localhost"
	srv.MaxMessageBytes = 1 << 30
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = slogAdapter{o.log}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	err := srv.Serve(ln)
	if err == nil || (ctx.Err() != nil && (errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed))) {
		return nil
	}
	return fmt.Errorf("dev outbox: %w", err)
}

type backend struct{ o *Outbox }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{o: b.o}, nil }

type session struct {
	o    *Outbox
	from string
	to   []string
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; s.to = nil; return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error   { s.to = append(s.to, to); return nil }
func (s *session) Reset()                                      { s.from, s.to = "", nil }
func (s *session) Logout() error                               { return nil }

func (s *session) Data(r io.Reader) error {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, maxMessage))
	if err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "dev outbox: read failed"}
	}
	if n == maxMessage {
		_, _ = io.Copy(io.Discard, r)
		buf.WriteString("\r\n[dev outbox: the rest of this mail was not kept]\r\n")
	}
	s.o.add(Message{Received: time.Now(), From: s.from, To: append([]string(nil), s.to...), Raw: buf.Bytes()})
	s.o.log.Debug("dev outbox kept a mail", "recipients", len(s.to), "bytes", n)
	return nil
}

type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) {
	a.log.Debug("dev outbox", "msg", strings.TrimSpace(fmt.Sprintf(format, v...)))
}
func (a slogAdapter) Println(v ...any) { a.log.Debug("dev outbox", "msg", fmt.Sprint(v...)) }
