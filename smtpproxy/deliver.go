package smtpproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/emersion/go-message/textproto"

	"sealgate/policy"
	"sealgate/smtpproxy/dkimsign"
	"sealgate/smtpproxy/rewrite"
)

// message is one DATA after its header was read and the policy asked.
type message struct {
	hdr     textproto.Header
	subject string    // decoded
	raw     []byte    // the header block as it came, blank line included
	trace   []byte    // our Received: line
	body    io.Reader // the rest of the input
}

// deliver reads the message, decides what to do with it, and sends it to
// the next hop(s). It returns nil only when every next-hop transaction
// accepted the message.
func (se *session) deliver(tx *transaction, r io.Reader) error {
	cfg := se.s.cfg
	bufs := se.s.bufs.Get().(*dataBufs)
	defer se.s.bufs.Put(bufs)
	in := newInput(r, se.conn.Conn(), cfg.ReadTimeout, bufs.in)
	br := bufs.br
	br.Reset(in)
	defer br.Reset(nil)
	raw, err := readHeaderBlock(br, cfg.Rewrite.MaxHeaderBytes)
	if err != nil {
		return err
	}
	hdr, err := parseHeader(raw)
	if err != nil {
		return err
	}
	m := &message{
		hdr:     hdr,
		subject: decodedSubject(hdr),
		raw:     raw,
		trace:   traceHeader(se.helo, se.ip, cfg.Hostname, tx.id, se.tls, time.Now()),
		body:    br,
	}
	defer func() { tx.size = in.n }()
	if b, _ := br.Peek(1); len(raw) == 0 && len(b) == 1 && (b[0] == ' ' || b[0] == '\t') {
		// A message that starts with a blank would fold its first line
		// into our trace header.
		m.trace = nil
	}

	ext := tx.ext.rcpts
	dec, err := policy.Decide(cfg.Policy, policyMessage(hdr, m.subject, tx.from, ext))
	if err != nil {
		return err
	}
	tx.level = dec.Level
	switch {
	case len(ext) == 0:
		// Only internal recipients: they get the original, whatever it says.
		tx.level = 0
		return se.passThrough(tx, m, dec)
	case len(dec.SizeRules) > 0:
		return se.sizeDependent(tx, m, dec)
	default:
		return se.route(tx, m, dec)
	}
}

// route sends the message down the path its settled decision asks for.
func (se *session) route(tx *transaction, m *message, dec policy.Decision) error {
	switch {
	case dec.Level >= 1:
		return se.secure(tx, m, dec)
	case dec.Upload:
		return se.uploadOnly(tx, m, dec)
	default:
		return se.passThrough(tx, m, dec)
	}
}

// passThrough streams the message unchanged (but for our trace header, and
// for the external copy the removal of X-Sealgate-* fields if there were
// any).
func (se *session) passThrough(tx *transaction, m *message, dec policy.Decision) error {
	extHeader := m.raw
	if needsCleaning(m.hdr, m.subject, dec) {
		h, err := writeHeader(cleanHeader(m.hdr, m.subject, dec))
		if err != nil {
			return fmt.Errorf("write cleaned header: %w", err)
		}
		extHeader = h
	}
	out := &outbound{}
	defer out.abort()
	var dst []io.Writer
	if tx.int != nil && len(tx.int.rcpts) > 0 {
		w, err := tx.int.data()
		if err != nil {
			return err
		}
		out.int = w
		if err := writeAll(w, m.trace, m.raw); err != nil {
			return err
		}
		dst = append(dst, w)
	}
	if len(tx.ext.rcpts) > 0 {
		w, err := tx.ext.data()
		if err != nil {
			return err
		}
		out.ext = append(out.ext, w)
		if err := writeAll(w, m.trace, extHeader); err != nil {
			return err
		}
		dst = append(dst, w)
	}
	if _, err := io.Copy(io.MultiWriter(dst...), m.body); err != nil {
		return err
	}
	return out.close()
}

// teeInternal opens the internal copy when there are internal recipients
// and returns the body to read: the input, tee'd into that copy (the
// original bytes) as it streams in.
func (se *session) teeInternal(tx *transaction, m *message, out *outbound) (io.Reader, error) {
	if tx.int == nil || len(tx.int.rcpts) == 0 {
		return m.body, nil
	}
	w, err := tx.int.data()
	if err != nil {
		return nil, err
	}
	out.int = w
	if err := writeAll(w, m.trace, m.raw); err != nil {
		return nil, err
	}
	return io.TeeReader(m.body, w), nil
}

// outHeader is the top-level header of a rewritten message: tags and
// X-Sealgate-* fields removed, and the DKIM signatures made before us,
// which the rewrite broke (the tag left Subject, attachments the body);
// at level 4 with NeutralSubject, the neutral subject.
func (se *session) outHeader(tx *transaction, m *message, dec policy.Decision) textproto.Header {
	hdr := cleanHeader(m.hdr, m.subject, dec)
	if n := dkimsign.StripSignatures(&hdr); n > 0 {
		tx.log.Debug("smtp: removed DKIM signatures the rewrite broke", "count", n)
	}
	if dec.Level >= 4 && se.s.cfg.NeutralSubject {
		neutralize(&hdr, se.s.cat.NeutralSubject(noticeLang(m.hdr), se.s.cfg.OrgName))
	}
	return hdr
}

// secure takes the attachments (at level 4 the text too) out into a vault
// transfer and sends the rewritten message to the external recipients;
// internal recipients get the original bytes, tee'd from the same input as
// it streams in.
func (se *session) secure(tx *transaction, m *message, dec policy.Decision) error {
	out := &outbound{}
	defer out.abort()
	src, err := se.teeInternal(tx, m, out)
	if err != nil {
		return err
	}
	sink := se.s.newDraftSink(tx, dec)
	defer sink.abort()
	opts := rewrite.Options{AlwaysNotice: dec.Upload}
	if dec.Level >= 4 {
		opts.Text = sink
	}
	// Parse writes nothing anywhere, so the external DATA is opened only
	// after it: a message we refuse, or a vault that fails, never gets as
	// far as the next hop.
	msg, err := rewrite.Parse(tx.ctx, se.outHeader(tx, m, dec), src, se.s.cfg.Rewrite, opts, sink)
	if err == nil {
		// The internal copy must get every byte, even past what the
		// rewrite needed.
		_, err = io.Copy(io.Discard, src)
	}
	if err != nil {
		return err
	}
	compose := func(w io.Writer, n *notice) error {
		_, err := msg.Write(w, n)
		return err
	}
	nb := se.s.newNotice(sink, dec.Level, m.hdr)
	if err := se.sendCopies(tx, out, m.trace, sink, nb, dec.Upload, compose, se.s.dkim != nil); err != nil {
		return err
	}
	res := msg.Result()
	tx.files = len(res.Files)
	for _, f := range res.Files {
		tx.stored += f.Size
	}
	if sink.draft != nil {
		tx.transferID, tx.senderToken = sink.draft.ID(), sink.draft.SenderToken()
	}
	sink.commit()
	return nil
}

// signError is a DKIM signing failure: the message is held (451), and the
// failure counted.
type signError struct{ err error }

func (e *signError) Error() string { return "DKIM signing: " + e.err.Error() }
func (e *signError) Unwrap() error { return e.err }

// sign DKIM-signs the rewritten message msg and writes the result to w.
func (s *Server) sign(ctx context.Context, w io.Writer, msg []byte) error {
	signed, err := s.dkim.Sign(ctx, msg)
	if err != nil {
		return &signError{err}
	}
	_, err = w.Write(signed)
	return err
}

// sizeDependent handles a message whose level depends on the size of its
// attachments, which is known only at its end. The message goes into an
// encrypted spool while a first rewrite pass measures the attachments
// (storing nothing); then the settled decision replays the spool through
// the ordinary path. Two passes cost a second parse, but the transfer is
// created once, at its final level.
func (se *session) sizeDependent(tx *transaction, m *message, dec policy.Decision) error {
	sp, err := se.s.vault.NewSpool(tx.ctx)
	if err != nil {
		return &storageError{fmt.Errorf("spool: %w", err)}
	}
	defer sp.Close()
	var measure measureSink
	tee := io.TeeReader(m.body, sp)
	if _, err := rewrite.Rewrite(tx.ctx, m.hdr, tee, se.s.cfg.Rewrite, &measure, noNotice{}, io.Discard); err != nil {
		return err
	}
	if _, err := io.Copy(sp, m.body); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	rd, err := sp.Reader(tx.ctx)
	if err != nil {
		return &storageError{fmt.Errorf("spool: %w", err)}
	}
	defer rd.Close()
	dec = policy.ApplySize(dec, measure.total)
	tx.level = dec.Level
	tx.log.Debug("smtp: size rules settled", "attachment_bytes", measure.total, "security_level", dec.Level)
	m.body = bufio.NewReaderSize(rd, inputBufSize)
	return se.route(tx, m, dec)
}

func writeAll(w io.Writer, bufs ...[]byte) error {
	for _, b := range bufs {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// outbound are the next-hop messages of one DATA that are written and not
// yet ended.
type outbound struct {
	int bodyWriter
	ext []bodyWriter
}

// close ends the internal copy first and the external ones last: if the
// external next hop accepted, every copy did, and the links it carries
// are committed. A failure before that leaves no link out in the world.
func (o *outbound) close() error {
	if o.int != nil {
		w := o.int
		o.int = nil
		if err := w.Close(); err != nil {
			o.abort()
			return err
		}
	}
	for len(o.ext) > 0 {
		w := o.ext[0]
		o.ext = o.ext[1:]
		if err := w.Close(); err != nil {
			o.abort()
			return err
		}
	}
	return nil
}

// abort drops every copy not yet ended; the next hops never see a final dot.
func (o *outbound) abort() {
	if o.int != nil {
		o.int.Abort()
		o.int = nil
	}
	for _, w := range o.ext {
		w.Abort()
	}
	o.ext = nil
}

// measureSink counts the decoded bytes of the attachments and keeps none.
type measureSink struct{ total int64 }

func (m *measureSink) AddFile(_ context.Context, name, contentType string, r io.Reader) (rewrite.Stored, error) {
	n, err := io.Copy(io.Discard, r)
	m.total += n
	return rewrite.Stored{Name: name, ContentType: contentType, Size: n}, err
}

type noNotice struct{}

func (noNotice) Text([]rewrite.Stored) string { return "" }
func (noNotice) HTML([]rewrite.Stored) string { return "" }
