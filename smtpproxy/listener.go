package smtpproxy

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// maxRefusals bounds the goroutines that tell refused clients why; past it,
// further refused connections are closed without a word.
const maxRefusals = 64

// guardListener lets only smtp.allowed_clients through to go-smtp. Others
// get 554 5.7.1 instead of the greeting and are disconnected, so no command
// of theirs is ever read: there is no way to relay through sealgate from
// outside the list. go-smtp's own hooks come only after the greeting.
type guardListener struct {
	net.Listener
	s        *Server
	refusals chan struct{}
	wg       sync.WaitGroup
}

func (l *guardListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if !l.s.allowed(ip) {
			l.refuse(c, ip)
			continue
		}
		return l.s.track(c), nil
	}
}

func (l *guardListener) refuse(c net.Conn, ip netip.Addr) {
	l.s.log.Warn("smtp: connection refused: client not in smtp.allowed_clients", "client", ip.String())
	select {
	case l.refusals <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer func() { <-l.refusals }()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, "554 5.7.1 "+headerSafe(l.s.cfg.Hostname)+" access denied\r\n")
		// Closing with unread input would reset the connection and could
		// destroy the reply before the client reads it: end our side,
		// then drain a little of what the client sent.
		if tc, ok := c.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
			_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
		}
		_ = c.Close()
	}()
}

// wait waits for the refusals in progress.
func (l *guardListener) wait() { l.wg.Wait() }

func remoteIP(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

func (s *Server) allowed(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	for _, p := range s.cfg.AllowedClients {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// clientConn is an accepted client connection. The server tracks them to
// close idle ones at shutdown and to wait for the busy ones.
type clientConn struct {
	net.Conn
	s    *Server
	key  string
	busy bool // a mail transaction is open; guarded by s.mu
	once sync.Once
}

func (s *Server) track(c net.Conn) *clientConn {
	cc := &clientConn{Conn: c, s: s, key: c.RemoteAddr().String()}
	s.mu.Lock()
	s.conns[cc.key] = cc
	s.mu.Unlock()
	return cc
}

func (c *clientConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.s.mu.Lock()
		defer c.s.mu.Unlock()
		delete(c.s.conns, c.key)
		close(c.s.changed)
		c.s.changed = make(chan struct{})
	})
	return err
}

// lookupConn finds the tracked connection behind go-smtp's connection, which
// after STARTTLS is a *tls.Conn wrapped around it.
func (s *Server) lookupConn(c net.Conn) *clientConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[c.RemoteAddr().String()]
}

// setBusy marks the connection as carrying a transaction. It fails once
// the server is draining, so no transaction starts after shutdown began.
func (s *Server) setBusy(c *clientConn, busy bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if busy && s.draining {
		return false
	}
	if c != nil {
		c.busy = busy
	}
	return true
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}
