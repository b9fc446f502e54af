package smtpproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-smtp"
)

// maxHeldCopies bounds the per-recipient copies of one message that are
// written and held open, before their final dot, at once. Each holds a
// next-hop connection; a larger message goes out in batches, and only a
// failure in a later batch can find earlier copies already accepted.
const maxHeldCopies = 8

// composer writes one outgoing copy (everything after our trace header)
// with the notice n. It may be called once per copy.
type composer func(w io.Writer, n *notice) error

// sendCopies writes the external copies of a rewritten message and ends
// every copy, the internal one first.
//
// Without an upload request, one copy goes to all external recipients in
// the transaction opened at MAIL. With one, each recipient's copy carries
// their own upload link, so SPEC 3's "every recipient receives the same
// message" yields: the transfer link and the access code are the same in
// every copy, only the upload link differs, and each external recipient
// gets a next-hop transaction of their own. These are all written before
// any is ended (up to maxHeldCopies at a time), so that a failure on the
// way (a refused recipient, a next hop that goes away) leaves no copy out
// in the world. The envelope was mirrored at RCPT time already, so a
// refusal now of a recipient's own MAIL or RCPT is a temporary failure for
// the whole message: the retry mirrors the envelope anew, and there the
// next hop's answer reaches the client.
func (se *session) sendCopies(tx *transaction, out *outbound, trace []byte, sink *draftSink, nb *notice, upload bool, compose composer, sign bool) error {
	rcpts := tx.ext.rcpts
	if !upload || len(rcpts) == 1 {
		n := nb
		if upload {
			url, err := sink.uploadURL(tx.ctx, se.s.cfg.PublicURL, rcpts[0])
			if err != nil {
				return err
			}
			n = nb.withUpload(url)
		}
		w, err := tx.ext.data()
		if err != nil {
			return err
		}
		out.ext = append(out.ext, w)
		if err := se.s.writeCopy(tx.ctx, w, trace, n, compose, sign); err != nil {
			return err
		}
		return out.close()
	}
	// The transaction opened at MAIL holds every recipient; it goes back
	// to the pool unused.
	opts := tx.ext.rcptOpts
	tx.ext.release()
	for start := 0; start < len(rcpts); start += maxHeldCopies {
		end := min(start+maxHeldCopies, len(rcpts))
		if err := se.sendBatch(tx, out, trace, sink, nb, compose, sign, rcpts[start:end], opts[start:end]); err != nil {
			return err
		}
	}
	return nil
}

// sendBatch writes one copy per recipient, each in a transaction of its
// own, and then ends them all (and the internal copy, if still open).
func (se *session) sendBatch(tx *transaction, out *outbound, trace []byte, sink *draftSink, nb *notice,
	compose composer, sign bool, rcpts []string, opts []*smtp.RcptOptions) (err error) {
	var held []*hopTx
	defer func() {
		if err != nil {
			out.abort()
		}
		for _, t := range held {
			t.release()
		}
	}()
	for i, r := range rcpts {
		url, err := sink.uploadURL(tx.ctx, se.s.cfg.PublicURL, r)
		if err != nil {
			return err
		}
		t, err := se.s.pool.begin(tx.ctx, tx.from, tx.mailOpts)
		if err != nil {
			return copyRefused(err)
		}
		held = append(held, t)
		var o *smtp.RcptOptions
		if i < len(opts) {
			o = opts[i]
		}
		if err := t.rcpt(r, o); err != nil {
			return copyRefused(err)
		}
		w, err := t.data()
		if err != nil {
			return err
		}
		out.ext = append(out.ext, w)
		if err := se.s.writeCopy(tx.ctx, w, trace, nb.withUpload(url), compose, sign); err != nil {
			return err
		}
	}
	return out.close()
}

// copyRefused turns the next hop's refusal of a recipient's own copy at
// MAIL or RCPT into a temporary failure (see sendCopies); the reply stays
// in the log.
func copyRefused(err error) error {
	var he *hopError
	if errors.As(err, &he) {
		return fmt.Errorf("next hop refused a recipient's own copy: %v", he)
	}
	return err
}

// writeCopy writes one external copy to w: our trace header, then what
// compose writes, DKIM-signed when sign is set.
func (s *Server) writeCopy(ctx context.Context, w bodyWriter, trace []byte, n *notice, compose composer, sign bool) error {
	if err := writeAll(w, trace); err != nil {
		return err
	}
	if sign {
		// DKIM needs the whole body before the header; a composed copy is
		// bounded by the rewrite's limits (see uploadOnly for the one that
		// is not, which is never signed).
		var buf bytes.Buffer
		if err := compose(&buf, n); err != nil {
			return err
		}
		return s.sign(ctx, w, buf.Bytes())
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	if err := compose(bw, n); err != nil {
		return err
	}
	return bw.Flush()
}
