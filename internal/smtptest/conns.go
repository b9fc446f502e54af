package smtptest

import (
	"net"
	"sync"
	"time"
)

// trackingListener counts open connections so that Close can tell whether
// the client under test closed all of its connections.
type trackingListener struct {
	net.Listener
	s *Server

	mu      sync.Mutex
	live    int
	total   int
	changed chan struct{} // closed and replaced whenever live drops
}

func newTrackingListener(l net.Listener, s *Server) *trackingListener {
	return &trackingListener{Listener: l, s: s, changed: make(chan struct{})}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		l.live++
		l.total++
		l.mu.Unlock()
		tc := &trackedConn{Conn: c, l: l}
		if l.s.connectFault(tc) {
			continue
		}
		return tc, nil
	}
}

func (l *trackingListener) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.live--
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *trackingListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live
}

func (l *trackingListener) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// waitClosed waits up to d for every connection to be closed and returns how
// many are still open.
func (l *trackingListener) waitClosed(d time.Duration) int {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		l.mu.Lock()
		live, changed := l.live, l.changed
		l.mu.Unlock()
		if live == 0 {
			return 0
		}
		select {
		case <-changed:
		case <-timer.C:
			return l.open()
		}
	}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.l.release)
	return err
}
