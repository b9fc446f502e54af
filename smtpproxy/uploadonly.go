package smtpproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"sealgate/policy"
	"sealgate/smtpproxy/rewrite"
)

// uploadOnly sends a level-0 message that asks for documents ([upload]):
// nothing of it is stored, but each external recipient's copy gains a
// notice with their personal upload link, and those links need a transfer
// to belong to (one without files, see uploadOnlyLevel).
//
// A message within the rewrite's memory bound (Rewrite.MaxKeptBytes) is
// held, keeps every part, and gets the notice at the top of its text like
// any rewritten message, and is DKIM-signed when smtp.dkim is set. One the
// rewrite would have to take apart to keep (multipart/signed, a broken
// structure) goes out whole behind the notice (rewrite.Wrap), its
// signature intact. A larger one streams through behind the notice too;
// it cannot be signed, because dkimsign signs whole messages in memory, so
// it goes out without our signature (logged and counted as
// FailureDKIMUnsigned). With several external recipients, such a message
// is spooled (encrypted, see vault.Spool) to be read once per copy.
func (se *session) uploadOnly(tx *transaction, m *message, dec policy.Decision) error {
	out := &outbound{}
	defer out.abort()
	src, err := se.teeInternal(tx, m, out)
	if err != nil {
		return err
	}
	sink := se.s.newDraftSink(tx, dec)
	defer sink.abort()
	hdr := se.outHeader(tx, m, dec)
	lim := se.s.cfg.Rewrite
	bound := lim.MaxKeptBytes
	if bound <= 0 {
		bound = rewrite.DefaultMaxKeptBytes
	}
	held, fits, err := readUpTo(src, bound)
	if err != nil {
		return err
	}
	sign := se.s.dkim != nil
	unsigned := false
	var compose composer
	switch {
	case fits:
		opts := rewrite.Options{KeepAll: true, AlwaysNotice: true}
		msg, err := rewrite.Parse(tx.ctx, hdr, bytes.NewReader(held), lim, opts, keepSink{})
		switch {
		case err == nil:
			compose = func(w io.Writer, n *notice) error {
				_, err := msg.Write(w, n)
				return err
			}
		case errors.Is(err, errMustKeep) || rewrite.IsBadMessage(err):
			// Level 0 refuses nothing the next hop would take.
			compose = func(w io.Writer, n *notice) error { return rewrite.Wrap(hdr, bytes.NewReader(held), n, w) }
		default:
			return err
		}
	case len(tx.ext.rcpts) == 1:
		body := io.MultiReader(bytes.NewReader(held), src)
		compose = func(w io.Writer, n *notice) error { return rewrite.Wrap(hdr, body, n, w) }
		unsigned, sign = sign, false
	default:
		sp, err := se.s.vault.NewSpool(tx.ctx)
		if err != nil {
			return &storageError{fmt.Errorf("spool: %w", err)}
		}
		defer sp.Close()
		if _, err := io.Copy(sp, io.MultiReader(bytes.NewReader(held), src)); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		compose = func(w io.Writer, n *notice) error {
			rd, err := sp.Reader(tx.ctx)
			if err != nil {
				return &storageError{fmt.Errorf("spool: %w", err)}
			}
			defer rd.Close()
			return rewrite.Wrap(hdr, rd, n, w)
		}
		unsigned, sign = sign, false
	}
	nb := se.s.newNotice(sink, dec.Level, m.hdr)
	if err := se.sendCopies(tx, out, m.trace, sink, nb, true, compose, sign); err != nil {
		return err
	}
	if unsigned {
		tx.log.Warn("smtp: message with an upload link too large to sign; sent without DKIM signature")
		se.s.failed(FailureDKIMUnsigned)
	}
	if sink.draft != nil {
		tx.transferID, tx.senderToken = sink.draft.ID(), sink.draft.SenderToken()
	}
	sink.commit()
	return nil
}

// readUpTo reads r into memory as long as it stays within max bytes. fits
// is false when r holds more; buf then holds its first bytes and the rest
// is still to be read from r.
func readUpTo(r io.Reader, max int64) (buf []byte, fits bool, err error) {
	var b bytes.Buffer
	n, err := io.Copy(&b, io.LimitReader(r, max+1))
	if err != nil {
		return nil, false, err
	}
	return b.Bytes(), n <= max, nil
}

// errMustKeep refuses a part that the rewrite would take out of a level-0
// message: such a message goes out whole behind the notice instead.
var errMustKeep = errors.New("level 0: nothing is taken out")

// keepSink is the sink of a level-0 message: it takes nothing.
type keepSink struct{}

func (keepSink) AddFile(_ context.Context, _, _ string, _ io.Reader) (rewrite.Stored, error) {
	return rewrite.Stored{}, errMustKeep
}
