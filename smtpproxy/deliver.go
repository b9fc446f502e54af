package smtpproxy

import (
	"bufio"
	"bytes"
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
	case dec.Level == 0:
		return se.passThrough(tx, m, dec)
	default:
		return se.secure(tx, m, dec)
	}
}

// passThrough streams the message unchanged (but for our trace header, and
// for the external copy the removal of X-Sealgate-* fields or an [upload]
// tag if there were any).
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
	for _, hop := range []struct {
		t      *hopTx
		header []byte
		slot   *bodyWriter
	}{{tx.int, m.raw, &out.int}, {tx.ext, extHeader, &out.ext}} {
		if hop.t == nil || len(hop.t.rcpts) == 0 {
			continue
		}
		w, err := hop.t.data()
		if err != nil {
			return err
		}
		*hop.slot = w
		if err := writeAll(w, m.trace, hop.header); err != nil {
			return err
		}
		dst = append(dst, w)
	}
	if _, err := io.Copy(io.MultiWriter(dst...), m.body); err != nil {
		return err
	}
	return out.close()
}

// secure takes the attachments out into a vault transfer and sends the
// rewritten message to the external recipients; internal recipients get the
// original bytes, tee'd from the same input as it streams in.
func (se *session) secure(tx *transaction, m *message, dec policy.Decision) error {
	out := &outbound{}
	defer out.abort()
	src := m.body
	if tx.int != nil && len(tx.int.rcpts) > 0 {
		w, err := tx.int.data()
		if err != nil {
			return err
		}
		out.int = w
		if err := writeAll(w, m.trace, m.raw); err != nil {
			return err
		}
		src = io.TeeReader(m.body, w)
	}

	sink := se.s.newDraftSink(tx, dec)
	defer sink.abort()
	notice := se.s.newNotice(sink, dec.Level, m.hdr)
	// Rewrite writes nothing before it has read the whole input, so the
	// external DATA is opened only then: a message we refuse, or a vault
	// that fails, never gets as far as the next hop.
	lazy := &lazyBody{open: func() (bodyWriter, error) {
		w, err := tx.ext.data()
		if err != nil {
			return nil, err
		}
		out.ext = w
		return w, writeAll(w, m.trace)
	}}
	bw := bufio.NewWriterSize(lazy, 32<<10)
	hdr := cleanHeader(m.hdr, m.subject, dec)
	// The tag is gone from Subject and attachments may be gone from the
	// body: any signature made before us is broken now.
	if n := dkimsign.StripSignatures(&hdr); n > 0 {
		tx.log.Debug("smtp: removed DKIM signatures the rewrite broke", "count", n)
	}
	var rewritten io.Writer = bw
	var unsigned *bytes.Buffer
	if se.s.dkim != nil {
		// DKIM needs the whole body before the header; the rewrite holds
		// the kept parts in memory anyway (rewrite.Limits bounds them), and
		// writes nothing before the end of its input.
		unsigned = &bytes.Buffer{}
		rewritten = unsigned
	}
	res, err := rewrite.Rewrite(tx.ctx, hdr, src, se.s.cfg.Rewrite, sink, notice, rewritten)
	if err == nil {
		// The internal copy must get every byte, even past what the
		// rewrite needed.
		_, err = io.Copy(io.Discard, src)
	}
	if err == nil && unsigned != nil {
		err = se.s.sign(tx.ctx, bw, unsigned.Bytes())
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return err
	}
	if out.ext == nil {
		return fmt.Errorf("rewrite produced no output")
	}
	if err := out.close(); err != nil {
		return err
	}
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
		return fmt.Errorf("spool: %w", err)
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
		return fmt.Errorf("spool: %w", err)
	}
	defer rd.Close()
	dec = policy.ApplySize(dec, measure.total)
	tx.level = dec.Level
	tx.log.Debug("smtp: size rules settled", "attachment_bytes", measure.total, "level", dec.Level)
	m.body = bufio.NewReaderSize(rd, inputBufSize)
	if dec.Level == 0 {
		return se.passThrough(tx, m, dec)
	}
	return se.secure(tx, m, dec)
}

func writeAll(w io.Writer, bufs ...[]byte) error {
	for _, b := range bufs {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// outbound are the next-hop messages of one DATA.
type outbound struct {
	int, ext bodyWriter
	done     bool
}

// close ends the internal copy first and the external one last: if the
// external next hop accepted, every copy did, and the links it carries
// are committed. A failure before that leaves no link out in the world.
func (o *outbound) close() error {
	o.done = true
	if o.int != nil {
		if err := o.int.Close(); err != nil {
			if o.ext != nil {
				o.ext.Abort()
			}
			return err
		}
	}
	if o.ext != nil {
		return o.ext.Close()
	}
	return nil
}

// abort drops every copy not yet ended; the next hops never see a final dot.
func (o *outbound) abort() {
	if o.done {
		return
	}
	o.done = true
	for _, w := range []bodyWriter{o.int, o.ext} {
		if w != nil {
			w.Abort()
		}
	}
}

// lazyBody opens its bodyWriter at the first write.
type lazyBody struct {
	open func() (bodyWriter, error)
	w    bodyWriter
}

func (l *lazyBody) Write(p []byte) (int, error) {
	if l.w == nil {
		w, err := l.open()
		if err != nil {
			return 0, err
		}
		l.w = w
	}
	return l.w.Write(p)
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
