package smtpproxy

import (
	"bufio"
	"bytes"
	"fmt"

	"github.com/emersion/go-smtp"
)

// bulkBody writes a message to the next hop in bulk: it dot-stuffs whole
// lines at once straight onto the connection, where go-smtp's DATA writer
// handles one byte at a time through a 4 KiB buffer.
//
// It cooperates with go-smtp instead of replacing its client: DATA and the
// 354 went through the client (whose output buffer is flushed after every
// command), the body goes to the connection directly, and the client's
// DataCommand.Close ends the message and reads the reply. That Close, with
// nothing written through it, sends "\r\n.\r\n"; so the stream's last two
// bytes are held back, and a final CRLF is left for Close to supply.
//
// It needs the connection go-smtp writes to, which it only has when
// sealgate made it (plain or implicit TLS); after STARTTLS, go-smtp keeps
// its tls.Conn to itself and hopBody is used instead.
type bulkBody struct {
	t      *hopTx
	cmd    *smtp.DataCommand
	bw     *bufio.Writer // onto the connection
	bol    bool          // the next byte emitted starts a line
	lastCR bool          // the last byte emitted was a CR
	// tail holds back the last bytes written (at most 2).
	tail  [2]byte
	ntail int
	err   error
}

func newBulkBody(t *hopTx, cmd *smtp.DataCommand) *bulkBody {
	bw := t.hc.bw
	bw.Reset(t.hc.nc)
	return &bulkBody{t: t, cmd: cmd, bw: bw, bol: true}
}

func (b *bulkBody) Write(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n := len(p)
	if n >= 2 {
		b.emit(b.tail[:b.ntail])
		b.emit(p[:n-2])
		b.ntail = copy(b.tail[:], p[n-2:])
	} else if n == 1 {
		if b.ntail == 2 {
			b.emit(b.tail[:1])
			b.tail[0] = b.tail[1]
			b.ntail = 1
		}
		b.tail[b.ntail] = p[0]
		b.ntail++
	}
	if b.err != nil {
		b.t.state = txBroken
		return 0, b.err
	}
	return n, nil
}

// emit dot-stuffs p onto the connection: a line that starts with "." gets
// another one. Like go-smtp's writer (net/textproto's), it turns a bare LF
// into CRLF and starts a line after it, so no sequence in p can end the
// data early or be read as a line ending differently downstream. (Input
// with bare line endings never gets here; this is a second line of defence.)
func (b *bulkBody) emit(p []byte) {
	for len(p) > 0 && b.err == nil {
		if b.bol && p[0] == '.' {
			b.setErr(b.bw.WriteByte('.'))
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			_, err := b.bw.Write(p)
			b.setErr(err)
			b.bol = false
			b.lastCR = p[len(p)-1] == '\r'
			return
		}
		if (i > 0 && p[i-1] == '\r') || (i == 0 && b.lastCR) {
			_, err := b.bw.Write(p[:i+1])
			b.setErr(err)
		} else {
			_, err := b.bw.Write(p[:i])
			b.setErr(err)
			_, err = b.bw.WriteString("\r\n")
			b.setErr(err)
		}
		p = p[i+1:]
		b.bol = true
		b.lastCR = false
	}
}

func (b *bulkBody) setErr(err error) {
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("write to next hop %s: %w", b.t.pool.addr, err)
	}
}

func (b *bulkBody) Close() error {
	if b.t.state != txData {
		return fmt.Errorf("next hop %s: message already ended", b.t.pool.addr)
	}
	// Close's "\r\n.\r\n" (its writer's state is "nothing written yet")
	// supplies a held-back final CRLF, or the lone CR's LF, or the line
	// ending a message without one needs.
	b.emit(finalTail(b.tail[:b.ntail]))
	if b.err == nil {
		b.setErr(b.bw.Flush())
	}
	if b.err != nil {
		b.t.state = txBroken
		return b.err
	}
	if err := b.t.check("end of data", b.cmd.Close(), txDone); err != nil {
		return err
	}
	b.t.state = txDone
	return nil
}

// finalTail drops the line ending (CRLF, LF or a lone CR) that Close's
// "\r\n.\r\n" supplies.
func finalTail(tail []byte) []byte {
	for _, end := range []string{"\r\n", "\n", "\r"} {
		if bytes.HasSuffix(tail, []byte(end)) {
			return tail[:len(tail)-len(end)]
		}
	}
	return tail
}

func (b *bulkBody) Abort() {
	b.t.state = txBroken
	b.t.release()
}
