package smtpproxy

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-smtp"
)

type txState int

const (
	txOpen   txState = iota // MAIL accepted, no DATA yet: RSET makes it reusable
	txData                  // DATA accepted, the message is being written
	txDone                  // the next hop answered the end of data
	txBroken                // state unknown: the connection must go
)

// hopTx is one mail transaction on a next-hop connection. It is used by one
// goroutine at a time.
type hopTx struct {
	pool  *hopPool
	hc    *hopConn
	stop  func() bool // detaches the transaction's context from the connection
	rcpts []string
	// rcptOpts are the options each recipient came with (DSN), for a copy
	// of its own (see sendCopies).
	rcptOpts []*smtp.RcptOptions
	state    txState
}

// begin opens a transaction: a connection from the pool and MAIL FROM.
func (p *hopPool) begin(ctx context.Context, from string, opts *smtp.MailOptions) (*hopTx, error) {
	for attempt := 0; ; attempt++ {
		hc, err := p.get(ctx)
		if err != nil {
			return nil, err
		}
		t := &hopTx{pool: p, hc: hc}
		// Cancelling the transaction closes the connection, which ends
		// any command or write in flight at once.
		t.stop = context.AfterFunc(ctx, func() { _ = hc.nc.Close() })
		err = t.mail(from, opts)
		if err == nil {
			return t, nil
		}
		t.release()
		// A pooled connection may have been closed by the next hop while it
		// sat idle: its MAIL fails with an I/O error or an unsolicited 421.
		// That says nothing about the next hop, so try another connection.
		if hc.reused && stale(err) && attempt <= maxIdleConns && ctx.Err() == nil {
			continue
		}
		return nil, err
	}
}

func stale(err error) bool {
	var he *hopError
	return !errors.As(err, &he) || he.reply.Code == 421
}

func (t *hopTx) mail(from string, opts *smtp.MailOptions) error {
	mo := &smtp.MailOptions{}
	if opts != nil {
		// SIZE is left out: the rewritten message has another size.
		mo.UTF8 = opts.UTF8
		mo.Return = opts.Return
		mo.EnvelopeID = opts.EnvelopeID
	}
	if mo.UTF8 {
		if ok, _ := t.hc.c.Extension("SMTPUTF8"); !ok {
			return errNoUTF8NextHop
		}
	}
	return t.check("MAIL", t.hc.c.Mail(from, mo), txOpen)
}

// rcpt mirrors one RCPT.
func (t *hopTx) rcpt(to string, opts *smtp.RcptOptions) error {
	ro := &smtp.RcptOptions{}
	if opts != nil {
		ro.Notify = opts.Notify
		ro.OriginalRecipientType = opts.OriginalRecipientType
		ro.OriginalRecipient = opts.OriginalRecipient
	}
	if err := t.check("RCPT", t.hc.c.Rcpt(to, ro), txOpen); err != nil {
		return err
	}
	t.rcpts = append(t.rcpts, to)
	t.rcptOpts = append(t.rcptOpts, ro)
	return nil
}

// data sends DATA and returns the writer for the message.
func (t *hopTx) data() (bodyWriter, error) {
	w, err := t.hc.c.Data()
	if err := t.check("DATA", err, txOpen); err != nil {
		return nil, err
	}
	t.state = txData
	if t.hc.bw != nil {
		return newBulkBody(t, w), nil
	}
	return &hopBody{t: t, w: w}, nil
}

// check classifies err: a reply from the next hop leaves the connection in
// state ifReply and is passed back; anything else breaks it.
func (t *hopTx) check(cmd string, err error, ifReply txState) error {
	if err == nil {
		return nil
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		t.state = ifReply
		return &hopError{cmd: cmd, reply: se}
	}
	t.state = txBroken
	return fmt.Errorf("next hop %s %s: %w", t.pool.addr, cmd, err)
}

// release gives the connection back to the pool if it is in a known state,
// and closes it otherwise. It may be called more than once.
func (t *hopTx) release() {
	if t == nil || t.hc == nil {
		return
	}
	hc := t.hc
	t.hc = nil
	if !t.stop() {
		// The context fired and closed the connection.
		t.pool.discard(hc)
		return
	}
	switch t.state {
	case txDone:
		t.pool.put(hc)
	case txOpen:
		if err := hc.c.Reset(); err != nil {
			t.pool.discard(hc)
			return
		}
		t.pool.put(hc)
	default:
		t.pool.discard(hc)
	}
}

// bodyWriter carries one message to the next hop. It is the seam where
// go-smtp's byte-at-a-time DATA writer can be replaced by a bulk writer (or
// BDAT) without touching the rest of the data path.
type bodyWriter interface {
	io.Writer
	// Close ends the message and returns the next hop's answer.
	Close() error
	// Abort gives the transaction up without ending the message: the
	// connection is closed before the final dot, so the next hop discards
	// what it received.
	Abort()
}

// hopBody is go-smtp's own DATA writer, for connections where bulkBody
// cannot reach the connection.
type hopBody struct {
	t *hopTx
	w *smtp.DataCommand
}

func (b *hopBody) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	if err != nil {
		b.t.state = txBroken
		return n, fmt.Errorf("write to next hop %s: %w", b.t.pool.addr, err)
	}
	return n, nil
}

func (b *hopBody) Close() error {
	if b.t.state != txData {
		return fmt.Errorf("next hop %s: message already ended", b.t.pool.addr)
	}
	if err := b.t.check("end of data", b.w.Close(), txDone); err != nil {
		return err
	}
	b.t.state = txDone
	return nil
}

func (b *hopBody) Abort() {
	b.t.state = txBroken
	b.t.release()
}
