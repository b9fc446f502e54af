// Package smtptest is a fake next hop for tests: an SMTP server on
// 127.0.0.1:0 that captures every accepted message (envelope and raw bytes),
// can be told to fail in the ways real servers fail, and checks at the end of
// the test that every connection made to it was closed.
package smtptest

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Options configure a Server.
type Options struct {
	// STARTTLS offers STARTTLS with a self-signed certificate for 127.0.0.1.
	STARTTLS bool
	// ImplicitTLS makes the listener speak TLS from the first byte.
	ImplicitTLS bool
	// DiscardData keeps only the size and SHA-256 of each message, for
	// benchmarks and messages too large to hold.
	DiscardData bool
	// MaxMessageBytes is announced in EHLO and enforced; 0 means no limit.
	MaxMessageBytes int64
	// LeakTimeout bounds how long Close waits for clients to close their
	// connections before it reports a leak; default 5 s.
	LeakTimeout time.Duration
}

// Message is one message the server accepted.
type Message struct {
	From     string
	MailOpts smtp.MailOptions
	To       []string
	Data     []byte // nil with Options.DiscardData
	Size     int64
	SHA256   string // lower-case hex of the raw bytes
	TLS      bool   // the message came over TLS
}

// Server is a running fake next hop. Its methods are safe for concurrent use.
type Server struct {
	// Addr is host:port to dial.
	Addr string
	// TLSConfig trusts the server's certificate (nil without TLS).
	TLSConfig *tls.Config

	t    testing.TB
	opts Options
	srv  *smtp.Server
	ln   *trackingListener
	done chan struct{} // closed by Close: releases every hang
	serr chan error

	mu       sync.Mutex
	msgs     []Message
	changed  chan struct{} // closed and replaced whenever msgs grows
	faults   []*Fault
	sessions int
	mails    int
	closed   bool
}

// Start starts a server and registers its Close with t.Cleanup. Register it
// before the code under test so that cleanup, which runs last-in first-out,
// checks for leaked connections after that code has stopped.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.LeakTimeout == 0 {
		opts.LeakTimeout = 5 * time.Second
	}
	s := &Server{
		t:       t,
		opts:    opts,
		done:    make(chan struct{}),
		serr:    make(chan error, 1),
		changed: make(chan struct{}),
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s.ln = newTrackingListener(raw, s)
	s.Addr = raw.Addr().String()

	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "nexthop.test"
	s.srv.MaxMessageBytes = opts.MaxMessageBytes
	s.srv.EnableSMTPUTF8 = true
	s.srv.EnableDSN = true
	s.srv.ErrorLog = log.New(io.Discard, "", 0)

	var ln net.Listener = s.ln
	if opts.STARTTLS || opts.ImplicitTLS {
		serverCfg, clientCfg, err := selfSigned()
		if err != nil {
			t.Fatalf("smtptest: certificate: %v", err)
		}
		s.TLSConfig = clientCfg
		if opts.STARTTLS {
			s.srv.TLSConfig = serverCfg
		}
		if opts.ImplicitTLS {
			ln = tls.NewListener(s.ln, serverCfg)
		}
	}
	go func() { s.serr <- s.srv.Serve(ln) }()
	t.Cleanup(s.Close)
	return s
}

// Close stops the server, releases hanging handlers and reports connections
// that the client under test left open. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()

	// Hangs keep the client's connection open on purpose; release them
	// first so that only real leaks remain.
	close(s.done)
	open := s.ln.waitClosed(s.opts.LeakTimeout)
	if open > 0 {
		s.t.Errorf("smtptest: %d connection(s) to the next hop still open at the end of the test", open)
	}
	_ = s.srv.Close()
	<-s.serr
}

// Messages returns a copy of the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitMessages waits until at least n messages were accepted, and returns
// them all, or ctx's error.
func (s *Server) WaitMessages(ctx context.Context, n int) ([]Message, error) {
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			msgs := append([]Message(nil), s.msgs...)
			s.mu.Unlock()
			return msgs, nil
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Stats counts what clients did: SMTP sessions (EHLO/HELO), MAIL commands,
// and TCP connections accepted.
type Stats struct {
	Sessions, Mails, Conns int
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Sessions: s.sessions, Mails: s.mails, Conns: s.ln.accepted()}
}

// OpenConns returns the number of connections currently open.
func (s *Server) OpenConns() int { return s.ln.open() }

func (s *Server) store(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.s.mu.Lock()
	b.s.sessions++
	b.s.mu.Unlock()
	return &session{s: b.s, conn: c}, nil
}

type session struct {
	s    *Server
	conn *smtp.Conn
	msg  Message
}

func (se *session) Reset()        { se.msg = Message{} }
func (se *session) Logout() error { return nil }

func (se *session) Mail(from string, opts *smtp.MailOptions) error {
	se.s.mu.Lock()
	se.s.mails++
	se.s.mu.Unlock()
	if err := se.fault(StageMail, ""); err != nil {
		return err
	}
	se.msg = Message{From: from}
	if opts != nil {
		se.msg.MailOpts = *opts
	}
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := se.fault(StageRcpt, to); err != nil {
		return err
	}
	se.msg.To = append(se.msg.To, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	f := se.s.take(StageData, "")
	if f != nil && f.Hang {
		// Read nothing: a large message then fills the socket buffers and
		// the client's writes block, a small one waits for a reply.
		<-se.s.done
		return errHung
	}
	if f != nil && f.DropAfter > 0 {
		_, _ = io.CopyN(io.Discard, r, f.DropAfter)
		_ = se.conn.Close()
		return errDropped
	}
	h := sha256.New()
	var bw *byteWriter
	var w io.Writer = h
	if !se.s.opts.DiscardData {
		bw = &byteWriter{}
		w = io.MultiWriter(h, bw)
	}
	n, err := io.Copy(w, r)
	if err != nil {
		return err
	}
	if f != nil && f.Reply != nil {
		return f.Reply
	}
	m := se.msg
	_, m.TLS = se.conn.TLSConnectionState()
	m.Size = n
	m.SHA256 = hex.EncodeToString(h.Sum(nil))
	if bw != nil {
		m.Data = bw.b
	}
	se.s.store(m)
	return nil
}

type byteWriter struct{ b []byte }

func (w *byteWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

var (
	errHung    = errors.New("smtptest: hang released")
	errDropped = errors.New("smtptest: connection dropped on purpose")
)
