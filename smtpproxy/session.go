package smtpproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	if b.s.isDraining() {
		return nil, errShuttingDown
	}
	nc := c.Conn()
	_, isTLS := c.TLSConnectionState()
	return &session{
		s:    b.s,
		conn: c,
		cc:   b.s.lookupConn(nc),
		ip:   remoteIP(nc),
		helo: c.Hostname(),
		tls:  isTLS,
	}, nil
}

// session is one SMTP session (from EHLO to QUIT or the next STARTTLS).
// go-smtp calls Mail, Rcpt and Data from the connection's goroutine, except
// that with BDAT, Data runs in a goroutine of its own while Reset or Logout
// may be called; the mutexes cover that.
type session struct {
	s    *Server
	conn *smtp.Conn
	cc   *clientConn // nil only if tracking lost it; then shutdown cannot see it busy
	ip   netip.Addr
	helo string
	tls  bool

	mu sync.Mutex
	tx *transaction // between MAIL and the start of DATA
}

// transaction is one message: the envelope, its next-hop transactions and
// the context that ends them.
type transaction struct {
	id       string
	ctx      context.Context
	cancel   context.CancelFunc
	from     string
	mailOpts *smtp.MailOptions
	log      *slog.Logger
	started  time.Time

	mu  sync.Mutex // held while a next-hop transaction is in use
	ext *hopTx     // external recipients; opened at MAIL
	int *hopTx     // internal recipients; opened at the first one

	// For the log line at the end and the observer.
	level  int
	files  int
	size   int64
	stored int64 // plaintext bytes of the attachments stored

	// Set when a relayed message stored a transfer, for the sender copy.
	transferID  string
	senderToken string
}

func (se *session) Mail(from string, opts *smtp.MailOptions) error {
	se.endTx(false)
	if !se.s.setBusy(se.cc, true) {
		return errShuttingDown
	}
	ctx, cancel := context.WithCancel(se.s.hardCtx)
	id := newMessageID()
	tx := &transaction{
		id:      id,
		ctx:     ctx,
		cancel:  cancel,
		from:    from,
		log:     se.s.log.With("msg_id", id),
		started: time.Now(),
	}
	if opts != nil {
		o := *opts
		tx.mailOpts = &o
	}
	tx.log.Debug("smtp: MAIL", "client", se.ip.String(), "from", from)
	ext, err := se.s.pool.begin(ctx, from, tx.mailOpts)
	if err != nil {
		cancel()
		se.s.setBusy(se.cc, false)
		return se.fail(tx, "MAIL", err)
	}
	tx.ext = ext
	se.mu.Lock()
	se.tx = tx
	se.mu.Unlock()
	return nil
}

func (se *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	se.mu.Lock()
	tx := se.tx
	se.mu.Unlock()
	if tx == nil {
		return errNoTransaction
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.ctx.Err(); err != nil {
		return se.fail(tx, "RCPT", err)
	}
	hop := tx.ext
	if se.s.isInternal(to) {
		if tx.int == nil {
			t, err := se.s.pool.begin(tx.ctx, tx.from, tx.mailOpts)
			if err != nil {
				return se.fail(tx, "RCPT", err)
			}
			tx.int = t
		}
		hop = tx.int
	}
	tx.log.Debug("smtp: RCPT", "to", to)
	if err := hop.rcpt(to, opts); err != nil {
		return se.fail(tx, "RCPT", err)
	}
	return nil
}

func (se *session) Data(r io.Reader) error {
	se.mu.Lock()
	tx := se.tx
	se.tx = nil
	se.mu.Unlock()
	if tx == nil {
		return errNoTransaction
	}
	se.s.inData.Add(1)
	defer se.s.inData.Done()
	tx.mu.Lock()
	defer tx.mu.Unlock()
	defer tx.cancel()

	start := time.Now()
	err := se.deliver(tx, r)
	tx.release()
	if err != nil {
		switch {
		case errors.As(err, new(*signError)):
			se.s.failed(FailureDKIM)
		case errors.As(err, new(*storageError)):
			se.s.failed(FailureStorage)
		}
		rep := se.fail(tx, "DATA", err)
		se.s.observe(tx, rep, time.Since(start))
		return rep
	}
	tx.log.Info("smtp: message relayed", "security_level", tx.level, "bytes", tx.size, "files", tx.files,
		"recipients", tx.recipients(), "ms", time.Since(tx.started).Milliseconds())
	se.s.observe(tx, nil, time.Since(start))
	se.s.startSenderCopy(tx)
	// go-smtp sends any *SMTPError as it is, so a 250 carries our
	// reference into the client's log next to its own queue ID.
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK: relayed as " + tx.id}
}

// Reset ends the transaction. go-smtp calls it after RSET, after the reply
// to DATA has been written, and before a new EHLO.
func (se *session) Reset() {
	se.endTx(false)
	se.s.setBusy(se.cc, false)
	if se.s.isDraining() && se.cc != nil {
		// The reply to the last message is out; nothing more may start.
		_ = se.cc.Close()
	}
}

// Logout is called when the connection closes, possibly from another
// goroutine while a command is in flight.
func (se *session) Logout() error {
	se.endTx(true)
	se.s.setBusy(se.cc, false)
	return nil
}

// endTx gives up the open transaction. abrupt cancels it first, so that a
// command in flight on another goroutine lets go of it at once.
func (se *session) endTx(abrupt bool) {
	se.mu.Lock()
	tx := se.tx
	se.tx = nil
	se.mu.Unlock()
	if tx == nil {
		return
	}
	if abrupt {
		tx.cancel()
	}
	tx.mu.Lock()
	tx.release()
	tx.mu.Unlock()
	tx.cancel()
}

// release hands the next-hop connections back (or closes them).
func (tx *transaction) release() {
	tx.int.release()
	tx.ext.release()
}

func (tx *transaction) recipients() int {
	n := 0
	for _, t := range []*hopTx{tx.ext, tx.int} {
		if t != nil {
			n += len(t.rcpts)
		}
	}
	return n
}

// fail turns err into the reply and logs it: our own failures with their
// cause (the client only hears 451), refusals with the code alone.
func (se *session) fail(tx *transaction, stage string, err error) error {
	r, internal := reply(err)
	if internal {
		tx.log.Warn("smtp: "+stage+" failed, client told to retry", "err", err)
	} else {
		tx.log.Info("smtp: "+stage+" refused", "code", r.Code,
			"enhanced", enhanced(r.EnhancedCode))
		tx.log.Debug("smtp: refusal", "reason", err.Error())
	}
	return r
}

func enhanced(c smtp.EnhancedCode) string {
	return fmt.Sprintf("%d.%d.%d", c[0], c[1], c[2])
}

func (s *Server) isInternal(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return false
	}
	domain := strings.TrimSuffix(strings.ToLower(addr[at+1:]), ".")
	for _, d := range s.internal {
		if sub, ok := strings.CutPrefix(d, "."); ok {
			if domain == sub || strings.HasSuffix(domain, d) {
				return true
			}
			continue
		}
		if domain == d {
			return true
		}
	}
	return false
}
