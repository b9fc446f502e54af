// Package rewrite takes the attachments out of a MIME message as it streams
// past and writes the message back with a notice in their place.
//
// It works at the textproto level of go-message: the parts it keeps are
// copied byte for byte (headers and encoded bodies as they came), and only
// what it takes out, or what it must change to insert the notice, is decoded.
// The multipart structure is scanned by this package rather than by
// textproto.MultipartReader, because that reader reads part headers without
// any bound, fails on preamble lines longer than 4 KiB, and cannot recover
// from a missing or inner boundary the way mail in the wild needs.
//
// Attachments stream into a Sink and are never held in memory. The parts
// that stay in the message (text bodies and inline images referenced from
// the HTML) are held, within Limits.MaxKeptBytes, because the notice names
// every file and belongs in the text part, which usually comes before the
// attachments: the output is written once the input has been consumed.
//
// Rewrite does it all in one call. Parse and Message.Write split it, for a
// message that goes out more than once with a different notice in each copy
// (a personal upload link per recipient), and take Options: the message
// text too (level 4), or nothing at all but the notice added (KeepAll).
// Wrap adds a notice to a message too large to hold, streaming it.
package rewrite

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-message/textproto"
)

// Default limits, used where a Limits field is zero or negative.
const (
	DefaultMaxDepth       = 32
	DefaultMaxKeptBytes   = 32 << 20
	DefaultMaxHeaderBytes = 1 << 20
	DefaultMaxParts       = 10000
)

// Limits bound what a rewrite may hold or descend into.
type Limits struct {
	// MaxDepth is the multipart nesting depth; default 32 when 0. Deeper
	// nesting is a *BadMessageError.
	MaxDepth int
	// MaxKeptBytes bounds the total bytes of kept parts held in memory;
	// default 32 MiB. A keepable part past the bound is taken out as an
	// attachment instead.
	MaxKeptBytes int64
	// MaxHeaderBytes bounds one header block; default 1 MiB. A larger block
	// is a *BadMessageError.
	MaxHeaderBytes int64
	// MaxParts bounds the number of MIME entities in the message; default
	// 10000. Each attachment becomes a stored file, so a message of a million
	// empty parts must not become a million files. More is a *BadMessageError.
	MaxParts int
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxKeptBytes <= 0 {
		l.MaxKeptBytes = DefaultMaxKeptBytes
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxParts <= 0 {
		l.MaxParts = DefaultMaxParts
	}
	return l
}

// Sink receives every part taken out, as a decoded stream.
//
// AddFile must consume r (or give up with an error) before it returns: r
// reads straight from the incoming message and is invalid afterwards. The
// name has been through SafeFileName; contentType is a bare media type such
// as "application/pdf", without parameters. An error from AddFile aborts the
// rewrite and is returned wrapped.
type Sink interface {
	AddFile(ctx context.Context, name, contentType string, r io.Reader) (Stored, error)
}

// Stored is what the sink reports about a file it stored.
type Stored struct {
	Name        string
	ContentType string
	Size        int64
}

// Notice renders what replaces the attachments, once all files are known.
// Rewrite calls each method at most once. An empty string means "no notice
// of this kind".
type Notice interface {
	// Text returns a plain-text block (lines separated by "\n" or "\r\n").
	Text(files []Stored) string
	// HTML returns an HTML fragment, already escaped, to go inside <body>.
	HTML(files []Stored) string
}

// Result says what a rewrite did.
type Result struct {
	// Files are the parts taken out, in the order they appear in the message.
	Files []Stored
	// KeptParts counts the leaf parts that stayed in the message: text bodies
	// and inline images.
	KeptParts int
	// TextParts counts the kept text/plain and text/html bodies.
	TextParts int
	// NoticeParts counts the places where the notice was put: a text body
	// that received it, or a notice part added to the message. It is zero
	// when nothing was taken out (unless Options.AlwaysNotice): such a
	// message needs no notice and keeps its parts byte for byte.
	NoticeParts int
	// Recovered is set when the structure was broken (a multipart without
	// its closing delimiter, a boundary that never appears) and the rewrite
	// repaired it as a mail reader would.
	Recovered bool
	// Text is set when the message text went to Options.Text (level 4).
	Text bool
}

// BadMessageError is returned for input that cannot be processed: nesting
// too deep, a header block too large, too many parts. The SMTP layer answers
// it with 554 5.6.0 and Reason.
type BadMessageError struct {
	// Reason is a clean sentence for the clerk, without internals.
	Reason string
}

func (e *BadMessageError) Error() string { return e.Reason }

// IsBadMessage reports whether err is, or wraps, a *BadMessageError.
func IsBadMessage(err error) bool {
	var bm *BadMessageError
	return errors.As(err, &bm)
}

var (
	errTooDeep      = &BadMessageError{Reason: "message structure nested too deep"}
	errTooManyParts = &BadMessageError{Reason: "message has too many MIME parts"}
	// errStructure guards states the parser cannot reach; refusing the
	// message is better than a temporary error that Postfix retries for days.
	errStructure = &BadMessageError{Reason: "message structure could not be processed"}
)

func errHeaderTooLarge(max int64) *BadMessageError {
	return &BadMessageError{Reason: fmt.Sprintf("a header section of the message is larger than %d bytes", max)}
}

// Rewrite reads the message body described by hdr (hdr is the already
// cleaned top-level header: the caller has removed tags and X-Sealgate-*
// fields), takes every attachment out into sink, and writes the complete
// rewritten message (header and body) to out.
//
// Nothing is written to out before body has been read to its end, so a
// failed rewrite leaves out untouched. Lines in the output always end in
// CRLF: a kept part whose lines ended in a bare LF gets CRLF (the one change
// to kept bytes), and a bare CR inside a kept part becomes a space, since
// SMTP cannot carry it and turning it into a line break could forge a
// boundary line.
//
// When nothing was taken out, no notice is added and every part is copied
// as it came (preamble and epilogue aside, see below). Otherwise the notice
// goes to the top of the first kept text/plain body and of the first kept
// text/html body, each of which is then re-encoded as quoted-printable UTF-8;
// later text bodies (Apple Mail splits text around inline attachments) are
// copied as they are, so the notice appears once in every view. A text body
// in a charset this package cannot convert is kept as it came and the notice
// is added beside it in a multipart/mixed. A message with no text body left
// gets a multipart/alternative notice as its body.
//
// Multipart preambles and epilogues are not shown by mail readers and may
// hold anything, so they are dropped; a multipart whose boundary never
// appears has only a preamble, which is then taken out as a file
// ("message-text.txt") rather than lost.
//
// Errors: *BadMessageError for input that cannot be processed; ctx.Err()
// (wrapped) when ctx ends; a wrapped read, sink or write error otherwise.
func Rewrite(ctx context.Context, hdr textproto.Header, body io.Reader, lim Limits, sink Sink, notice Notice, out io.Writer) (Result, error) {
	if notice == nil || out == nil {
		return Result{}, errors.New("rewrite: sink, notice, body and out must not be nil")
	}
	m, err := Parse(ctx, hdr, body, lim, Options{}, sink)
	if err != nil {
		return Result{}, err
	}
	return m.Write(out, notice)
}
