package uploadproto

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// progressReader is a PATCH body whose read deadline moves with the
// client's progress: each read may take IdleTimeout, however long the
// whole upload takes (the server's ReadTimeout would cut off a large
// upload on a slow line). The write deadline moves with it, so that the
// answer can still be written at the end. interrupt ends it at once (a
// newer request for the same file took over).
type progressReader struct {
	rc   *http.ResponseController
	body io.Reader
	idle time.Duration

	mu          sync.Mutex
	interrupted bool
	lastExtend  time.Time
	err         error // the body's error other than EOF
}

func newProgressReader(w http.ResponseWriter, body io.Reader, idle time.Duration) *progressReader {
	p := &progressReader{rc: http.NewResponseController(w), body: body, idle: idle}
	p.extend(time.Now())
	return p
}

// extend moves the deadlines; errors mean the ResponseWriter cannot (a
// test recorder), and then there are no deadlines to move.
func (p *progressReader) extend(now time.Time) {
	p.lastExtend = now
	_ = p.rc.SetReadDeadline(now.Add(p.idle))
	_ = p.rc.SetWriteDeadline(now.Add(p.idle))
}

func (p *progressReader) Read(b []byte) (int, error) {
	p.mu.Lock()
	if !p.interrupted {
		// Moving the deadline once a second is plenty.
		if now := time.Now(); now.Sub(p.lastExtend) > time.Second {
			p.extend(now)
		}
	}
	p.mu.Unlock()
	n, err := p.body.Read(b)
	if err != nil && err != io.EOF {
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
	}
	return n, err
}

// interrupt makes a pending and every later Read fail.
func (p *progressReader) interrupt() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.interrupted = true
	_ = p.rc.SetReadDeadline(time.Now())
}

// failed reports whether the body broke off (client gone, stalled or
// superseded) rather than ending.
func (p *progressReader) failed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err != nil || p.interrupted
}

// extendWrite gives the answer d more time to be written (a long check
// of a completed file comes before it).
func extendWrite(w http.ResponseWriter, d time.Duration) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
}
