package rewrite

import (
	"context"
	"errors"
	"io"

	"github.com/emersion/go-message/textproto"
)

// Options change what Parse takes out of a message and when a notice is
// added. The zero Options is what Rewrite does.
type Options struct {
	// Text, when set, takes the message text out too (level 4): the first
	// text/plain and the first text/html body, decoded and converted to
	// UTF-8, go to Text.AddText once the input has been read; every other
	// part, inline images and later text bodies included, goes to the Sink
	// as a file. The output then is the notice alone (the notice is always
	// added), under the message's own header fields. A text body larger
	// than what Limits.MaxKeptBytes leaves, or in a charset this package
	// cannot convert, goes to the Sink as a file instead; AddText then gets
	// an empty slice in its place, so it is always called.
	//
	// The HTML keeps its cid: references; the images they named are files
	// of their own now, so a reader of the stored HTML sees them as broken
	// images (and the link page lists them as files).
	Text TextSink
	// KeepAll takes nothing out: every part stays in the message (within
	// Limits.MaxKeptBytes), and the notice is added to it. It is for a
	// message that must stay as it is but carry a notice (an upload link at
	// level 0). A part that would have to go (past the bound, or one that
	// is taken out whole, such as multipart/signed) is handed to the Sink
	// as usual: the caller's Sink refuses it, and the caller falls back to
	// Wrap. KeepAll and Text exclude each other.
	KeepAll bool
	// AlwaysNotice adds the notice even when nothing was taken out (an
	// upload link must reach the recipient in any case). Without it, a
	// message from which nothing was taken out keeps its parts byte for
	// byte and gets no notice.
	AlwaysNotice bool
}

// TextSink receives the message text taken out at level 4 (Options.Text).
type TextSink interface {
	// AddText stores the decoded text bodies, in UTF-8; either may be
	// empty. It is called once per Parse, after the last file. An error
	// aborts the parse and is returned wrapped.
	AddText(ctx context.Context, plain, html []byte) error
}

// Message is a message whose attachments (and with Options.Text, its text)
// have been taken out: what is left of it, held in memory within
// Limits.MaxKeptBytes, ready to be written with a notice. Write may be
// called any number of times, with a different notice each time; a
// Message is used by one goroutine at a time.
type Message struct {
	hdr  textproto.Header
	root *node
	res  Result
	opts Options
}

// Parse reads the message body described by hdr (the cleaned top-level
// header, as for Rewrite), takes out what opts says into sink (and
// opts.Text), and returns what is left. It reads body to its end and writes
// nothing anywhere else. Errors are those of Rewrite.
func Parse(ctx context.Context, hdr textproto.Header, body io.Reader, lim Limits, opts Options, sink Sink) (*Message, error) {
	if sink == nil || body == nil {
		return nil, errors.New("rewrite: sink and body must not be nil")
	}
	if opts.KeepAll && opts.Text != nil {
		return nil, errors.New("rewrite: Options.KeepAll and Options.Text exclude each other")
	}
	lim = lim.withDefaults()
	p := newParser(ctx, body, lim, sink, opts)
	root, err := p.parseRoot(hdr)
	if err != nil {
		return nil, err
	}
	if !opts.KeepAll {
		if err := p.resolveInline(); err != nil {
			return nil, err
		}
	}
	if opts.Text != nil {
		if err := p.storeText(); err != nil {
			return nil, err
		}
		// Everything was taken out; only the notice goes on.
		root = nil
	}
	return &Message{hdr: hdr, root: root, res: p.result(), opts: opts}, nil
}

// Result says what Parse took out. Its NoticeParts is zero: the notice is
// placed by Write, whose Result counts it.
func (m *Message) Result() Result { return m.res }

// Write writes the complete outgoing message (header and body) to out,
// with notice in the places Rewrite describes. The Message is not changed,
// so Write can run again for another copy.
func (m *Message) Write(out io.Writer, notice Notice) (Result, error) {
	if notice == nil || out == nil {
		return Result{}, errors.New("rewrite: notice and out must not be nil")
	}
	res := m.res
	withNotice := len(res.Files) > 0 || res.Text || m.opts.AlwaysNotice
	if err := writeMessage(out, m.hdr, cloneTree(m.root), notice, withNotice, &res); err != nil {
		return Result{}, err
	}
	return res, nil
}

// cloneTree copies the node structure (not the bodies, which writing never
// changes in place), because writing prunes and edits the tree it is given.
func cloneTree(n *node) *node {
	if n == nil {
		return nil
	}
	c := *n
	if n.children != nil {
		c.children = make([]*node, len(n.children))
		for i, ch := range n.children {
			c.children[i] = cloneTree(ch)
		}
	}
	return &c
}
