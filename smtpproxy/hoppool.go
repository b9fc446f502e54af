package smtpproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Pool tuning. Dialing per message runs into TIME_WAIT limits at a few
// hundred messages per second (DESIGN.md, "Known limits"), so connections
// are kept; these bounds keep them from going stale.
const (
	maxIdleConns = 16
	// maxConnAge retires a connection however healthy it looks.
	maxConnAge = 5 * time.Minute
	// maxIdleTime drops a connection the next hop may have timed out.
	maxIdleTime = time.Minute
	// checkAfterIdle sends NOOP before reusing a connection idle that long.
	checkAfterIdle = 5 * time.Second
)

var errPoolClosed = errors.New("next-hop pool closed")

// hopPool keeps connections to the next hop. At most cap(slots) are open at
// once, idle ones included.
type hopPool struct {
	addr    string
	mode    string // NextHopTLS*
	tlsConf *tls.Config
	helo    string
	timeout time.Duration

	slots chan struct{} // one token per open connection
	avail chan *hopConn // hands a released connection to a waiting get
	mu    sync.Mutex
	idle  []*hopConn // most recently used last
	shut  bool
}

// hopConn is one connection to the next hop.
type hopConn struct {
	c      *smtp.Client
	nc     *deadlineConn
	bw     *bufio.Writer // for bulkBody; nil after STARTTLS (see bulkBody)
	born   time.Time
	used   time.Time
	reused bool // came out of the pool rather than from a dial
}

func newHopPool(cfg Config) *hopPool {
	host, _, _ := net.SplitHostPort(cfg.NextHop)
	return &hopPool{
		addr: cfg.NextHop,
		mode: cfg.NextHopTLS,
		tlsConf: &tls.Config{
			ServerName:         host,
			InsecureSkipVerify: cfg.NextHopInsecureSkipVerify, //nolint:gosec // an explicit setting for a next hop with a private certificate
			MinVersion:         tls.VersionTLS12,
		},
		helo:    cfg.Hostname,
		timeout: cfg.NextHopTimeout,
		slots:   make(chan struct{}, cfg.MaxNextHopConns),
		avail:   make(chan *hopConn),
	}
}

// get returns a connection ready for MAIL: a pooled one if a healthy one is
// idle, else a new one once the bound allows.
func (p *hopPool) get(ctx context.Context) (*hopConn, error) {
	for {
		hc, err := p.takeIdle()
		if err != nil {
			return nil, err
		}
		if hc == nil {
			break
		}
		if p.healthy(hc) {
			hc.reused = true
			return hc, nil
		}
		p.discard(hc)
	}
	wait := time.NewTimer(p.timeout)
	defer wait.Stop()
	select {
	case p.slots <- struct{}{}:
	case hc := <-p.avail:
		hc.reused = true
		return hc, nil
	case <-wait.C:
		return nil, fmt.Errorf("no next-hop connection free within %v (%d open)", p.timeout, cap(p.slots))
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a next-hop connection: %w", ctx.Err())
	}
	hc, err := p.dial(ctx)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return hc, nil
}

func (p *hopPool) takeIdle() (*hopConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shut {
		return nil, errPoolClosed
	}
	n := len(p.idle)
	if n == 0 {
		return nil, nil
	}
	hc := p.idle[n-1]
	p.idle = p.idle[:n-1]
	return hc, nil
}

// healthy checks a connection that sat in the pool.
func (p *hopPool) healthy(hc *hopConn) bool {
	now := time.Now()
	if now.Sub(hc.born) > maxConnAge || now.Sub(hc.used) > maxIdleTime {
		return false
	}
	if now.Sub(hc.used) > checkAfterIdle {
		return hc.c.Noop() == nil
	}
	return true
}

// put returns a connection that is between transactions.
func (p *hopPool) put(hc *hopConn) {
	hc.used = time.Now()
	select {
	case p.avail <- hc:
		return
	default:
	}
	p.mu.Lock()
	if p.shut || len(p.idle) >= maxIdleConns || time.Since(hc.born) > maxConnAge {
		p.mu.Unlock()
		p.quit(hc)
		return
	}
	p.idle = append(p.idle, hc)
	p.mu.Unlock()
}

// discard closes a connection whose state is unknown or broken.
func (p *hopPool) discard(hc *hopConn) {
	_ = hc.nc.Close()
	<-p.slots
}

// quit ends a healthy connection politely.
func (p *hopPool) quit(hc *hopConn) {
	hc.c.CommandTimeout = 5 * time.Second
	_ = hc.c.Quit()
	p.discard(hc)
}

// close ends the idle connections and makes every later release close its
// connection.
func (p *hopPool) close() {
	p.mu.Lock()
	p.shut = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, hc := range idle {
		p.quit(hc)
	}
}

// dial connects, greets and, if configured, starts TLS.
func (p *hopPool) dial(ctx context.Context) (*hopConn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	d := &net.Dialer{}
	var nc net.Conn
	var err error
	if p.mode == NextHopTLSImplicit {
		nc, err = (&tls.Dialer{NetDialer: d, Config: p.tlsConf}).DialContext(ctx, "tcp", p.addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", p.addr)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to next hop %s: %w", p.addr, err)
	}
	dc := &deadlineConn{Conn: nc, timeout: p.timeout}
	// The client's own timeouts cover each reply; this covers the whole
	// greeting and the caller's cancellation.
	stop := context.AfterFunc(ctx, func() { _ = dc.Close() })
	hc, err := p.greet(dc)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = dc.Close()
		// %v, not %w: a refusal in the greeting (554 "no service") or of
		// STARTTLS says nothing about the message and must not reach the
		// client as a permanent reply. It is a temporary failure here.
		return nil, fmt.Errorf("greet next hop %s: %v", p.addr, err)
	}
	return hc, nil
}

func (p *hopPool) greet(dc *deadlineConn) (*hopConn, error) {
	var c *smtp.Client
	var err error
	if p.mode == NextHopTLSStartTLS {
		// go-smtp says EHLO localhost before STARTTLS; our name follows
		// on the encrypted connection.
		if c, err = smtp.NewClientStartTLS(dc, p.tlsConf); err != nil {
			return nil, err
		}
	} else {
		c = smtp.NewClient(dc)
	}
	c.CommandTimeout = p.timeout
	c.SubmissionTimeout = p.timeout
	if err := c.Hello(p.helo); err != nil {
		return nil, err
	}
	now := time.Now()
	hc := &hopConn{c: c, nc: dc, born: now, used: now}
	if p.mode != NextHopTLSStartTLS {
		hc.bw = bufio.NewWriterSize(dc, 64<<10)
	}
	return hc, nil
}

// deadlineConn bounds every write to the next hop. go-smtp sets deadlines
// for commands and the final reply, but none while the message is written,
// so a next hop that stops reading would block us for ever.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}
