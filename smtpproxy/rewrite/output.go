package rewrite

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Kinds of nodes that exist only in the output.
const (
	kindNotice nodeKind = iota + 100 // a notice part: text/plain or text/html
)

// writeMessage decides where the notice goes (if withNotice) and writes
// the message. It changes the tree it is given.
func writeMessage(out io.Writer, hdr textproto.Header, root *node, notice Notice, withNotice bool, res *Result) error {
	root = prune(root)
	replaced := false // the root entity is no longer the top of the message
	if withNotice {
		var err error
		root, replaced, err = placeNotice(root, notice, res)
		if err != nil {
			return err
		}
	}
	var top textproto.Header
	switch {
	case root == nil:
		// Nothing at all to show (an empty multipart, nothing taken out).
		msg, _ := splitHeader(hdr)
		top = editHeader(msg, []field{{"Content-Type", "text/plain; charset=us-ascii"}}, true)
		root = &node{kind: kindText, raw: nil}
	case replaced:
		msg, _ := splitHeader(hdr)
		top = editHeader(msg, []field{{"Content-Type", root.hdr.Get("Content-Type")}}, true)
	default:
		top = editHeader(root.hdr, nil, res.NoticeParts > 0)
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	w := &writer{w: bw}
	w.header(top)
	w.body(root)
	if w.err == nil {
		w.err = bw.Flush()
	}
	if w.err != nil {
		return fmt.Errorf("rewrite: writing message: %w", w.err)
	}
	return nil
}

// prune drops what was taken out and multiparts left empty.
func prune(n *node) *node {
	if n == nil || n.kind == kindRemoved {
		return nil
	}
	if n.kind != kindContainer {
		return n
	}
	kept := n.children[:0]
	for _, c := range n.children {
		if c = prune(c); c != nil {
			kept = append(kept, c)
		}
	}
	n.children = kept
	if len(kept) == 0 {
		return nil
	}
	return n
}

// placeNotice puts the notice at the top of the first text/plain and the
// first text/html body, beside them when their charset is unknown, or as
// the whole body when there is no text. It returns the new root and whether
// the original root entity was wrapped or replaced.
func placeNotice(root *node, notice Notice, res *Result) (*node, bool, error) {
	textNotice := notice.Text(res.Files)
	htmlNotice := notice.HTML(res.Files)
	var plain, html *node
	var plainParent, htmlParent *node
	walk(root, nil, func(n, parent *node) {
		if n.kind != kindText {
			return
		}
		if n.media == "text/plain" && plain == nil {
			plain, plainParent = n, parent
		}
		if n.media == "text/html" && html == nil {
			html, htmlParent = n, parent
		}
	})
	if plain == nil && html == nil {
		alt, err := noticeAlternative(textNotice, htmlNotice)
		if err != nil || alt == nil {
			return root, false, err
		}
		res.NoticeParts++
		if root == nil {
			return alt, true, nil
		}
		mixed, err := syntheticContainer("multipart/mixed", alt, root)
		return mixed, true, err
	}
	replaced := false
	for _, t := range []struct {
		n, parent *node
		notice    string
	}{{plain, plainParent, textNotice}, {html, htmlParent, htmlNotice}} {
		if t.n == nil || t.notice == "" {
			continue
		}
		if out, ok := withNotice(t.n, textNotice, htmlNotice); ok {
			t.n.raw, t.n.kind = out, kindNotice
			t.n.hdr = editHeader(t.n.hdr, []field{
				{"Content-Type", textContentType(t.n)},
				{"Content-Transfer-Encoding", "quoted-printable"},
			}, false)
			res.NoticeParts++
			continue
		}
		// Unknown charset: the part stays as it came, the notice goes beside it.
		np := noticePart(t.n.media, t.notice)
		mixed, err := syntheticContainer("multipart/mixed", np, t.n)
		if err != nil {
			return nil, false, err
		}
		res.NoticeParts++
		if t.parent == nil {
			root, replaced = mixed, true
			continue
		}
		for i, c := range t.parent.children {
			if c == t.n {
				t.parent.children[i] = mixed
			}
		}
	}
	return root, replaced, nil
}

func walk(n, parent *node, f func(n, parent *node)) {
	if n == nil {
		return
	}
	f(n, parent)
	for _, c := range n.children {
		walk(c, n, f)
	}
}

// noticeAlternative builds the multipart/alternative notice that stands in
// for a message without text, or nil when both notices are empty.
func noticeAlternative(textNotice, htmlNotice string) (*node, error) {
	var parts []*node
	if textNotice != "" {
		parts = append(parts, noticePart("text/plain", textNotice))
	}
	if htmlNotice != "" {
		parts = append(parts, noticePart("text/html", htmlNotice))
	}
	switch len(parts) {
	case 0:
		return nil, nil
	case 1:
		return parts[0], nil
	}
	return syntheticContainer("multipart/alternative", parts...)
}

// noticePart is a text part holding only the notice.
func noticePart(media, notice string) *node {
	text := strings.TrimRight(notice, "\r\n") + "\r\n"
	if media == "text/html" {
		text = "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"></head><body>\r\n" +
			notice + "\r\n</body></html>\r\n"
	}
	var h textproto.Header
	h = editHeader(h, []field{
		{"Content-Type", media + "; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
	}, false)
	return &node{kind: kindNotice, media: media, hdr: h, raw: []byte(text)}
}

// syntheticContainer makes a new multipart with a fresh random boundary.
// When a child is the original root, its header holds the whole message
// header: only its Content-* fields go with it into the part.
func syntheticContainer(media string, children ...*node) (*node, error) {
	b, err := newBoundary()
	if err != nil {
		return nil, err
	}
	var h textproto.Header
	h = editHeader(h, []field{{"Content-Type", media + "; boundary=\"" + b + "\""}}, false)
	return &node{kind: kindContainer, media: media, hdr: h, boundary: b, outBoundary: b, children: children}, nil
}

func newBoundary() (string, error) {
	var rnd [24]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("rewrite: making a boundary: %w", err)
	}
	return "sealgate-" + hex.EncodeToString(rnd[:]), nil
}

// boundaryBeside makes a fresh boundary that neither begins with one of
// others nor is the beginning of one (readers would take one's delimiter
// lines for the other's). The random tail cannot be matched by chance, so
// only an other boundary shorter than the fixed head can clash, by being
// its beginning; heads that differ in their first character avoid it, and
// there are more of them than a message may nest multiparts.
func boundaryBeside(others []string) (string, error) {
	b, err := newBoundary()
	if err != nil || !prefixClash(b, others) {
		return b, err
	}
	const firsts = "=_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for i := 0; i < len(firsts); i++ {
		if c := firsts[i:i+1] + "_" + b; !prefixClash(c, others) {
			return c, nil
		}
	}
	return "", errStructure
}

// canonicalContainer makes sure mail readers find the same boundary in a
// kept multipart's header as we did. Our header parser is lenient (a
// missing closing quote, duplicate parameters); go-message and
// mime.ParseMediaType are not, and a reader that sees no boundary sees no
// parts. Where they disagree, the Content-Type field is written anew with a
// fresh boundary; the delimiter lines are ours to write in any case. So
// does a boundary that begins with an enclosing one, or the other way
// round: readers would take one's delimiter lines for the other's.
func canonicalContainer(n *node, enclosing []string) error {
	if readersSee(n.hdr, n.media, n.boundary) && !prefixClash(n.boundary, enclosing) {
		return nil
	}
	b, err := boundaryBeside(enclosing)
	if err != nil {
		return err
	}
	params := map[string]string{}
	for k, v := range n.params {
		params[k] = v
	}
	params["boundary"] = b
	ct := mime.FormatMediaType(n.media, params)
	h := editHeader(n.hdr, []field{{"Content-Type", ct}}, false)
	if ct == "" || !readersSee(h, n.media, b) {
		h = editHeader(n.hdr, []field{{"Content-Type", n.media + "; boundary=\"" + b + "\""}}, false)
	}
	n.hdr, n.outBoundary = h, b
	return nil
}

func prefixClash(b string, enclosing []string) bool {
	for _, e := range enclosing {
		if strings.HasPrefix(b, e) || strings.HasPrefix(e, b) {
			return true
		}
	}
	return false
}

// readersSee reports whether go-message reads media and boundary from h.
func readersSee(h textproto.Header, media, boundary string) bool {
	mh := message.Header{Header: h}
	mt, params, err := mh.ContentType()
	return err == nil && mt == media && params["boundary"] == boundary
}

type field struct{ key, value string }

// editHeader returns a copy of h with each field in set replacing the first
// field of its name in place (later ones dropped) or added at the end, and
// Content-Length dropped (it is wrong after any change). top adds
// MIME-Version where it is missing.
func editHeader(h textproto.Header, set []field, top bool) textproto.Header {
	if top && !h.Has("Mime-Version") {
		set = append(set, field{"MIME-Version", "1.0"})
	}
	var raws [][]byte
	done := map[string]bool{}
	replacement := func(key string) (field, bool) {
		for _, f := range set {
			if strings.EqualFold(f.key, key) {
				return f, true
			}
		}
		return field{}, false
	}
	fields := h.Fields()
	for fields.Next() {
		key := fields.Key()
		if strings.EqualFold(key, "Content-Length") {
			continue
		}
		if f, ok := replacement(key); ok {
			if !done[strings.ToLower(key)] {
				raws = append(raws, formatField(f))
				done[strings.ToLower(key)] = true
			}
			continue
		}
		raw, err := fields.Raw()
		if err != nil {
			continue // a field that cannot be written is dropped
		}
		raws = append(raws, raw)
	}
	for _, f := range set {
		if !done[strings.ToLower(f.key)] {
			raws = append(raws, formatField(f))
			done[strings.ToLower(f.key)] = true
		}
	}
	var out textproto.Header
	for i := len(raws) - 1; i >= 0; i-- {
		out.AddRaw(raws[i]) // AddRaw puts a field on top
	}
	return out
}

// formatField renders a new field as written, or folded as go-message
// folds when it is long.
func formatField(f field) []byte {
	if len(f.key)+len(f.value) < 74 {
		return []byte(f.key + ": " + f.value + "\r\n")
	}
	var h textproto.Header
	h.Add(f.key, f.value)
	raw, err := h.Raw(f.key)
	if err != nil {
		return []byte(f.key + ": \r\n")
	}
	return raw
}

// splitHeader separates the message's own fields from its Content-* fields.
func splitHeader(h textproto.Header) (msg, content textproto.Header) {
	var m, c [][]byte
	fields := h.Fields()
	for fields.Next() {
		raw, err := fields.Raw()
		if err != nil || strings.EqualFold(fields.Key(), "Content-Length") {
			continue
		}
		if strings.HasPrefix(strings.ToLower(fields.Key()), "content-") {
			c = append(c, raw)
		} else {
			m = append(m, raw)
		}
	}
	for i := len(m) - 1; i >= 0; i-- {
		msg.AddRaw(m[i])
	}
	for i := len(c) - 1; i >= 0; i-- {
		content.AddRaw(c[i])
	}
	return msg, content
}

type writer struct {
	w   *bufio.Writer
	err error
}

func (w *writer) write(b []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(b)
	}
}

func (w *writer) writeString(s string) {
	if w.err == nil {
		_, w.err = w.w.WriteString(s)
	}
}

// header writes a header block and its blank line, with every line break
// CRLF and no bare CR.
func (w *writer) header(h textproto.Header) {
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h); err != nil {
		if w.err == nil {
			w.err = err
		}
		return
	}
	w.raw(b.Bytes())
}

// body writes the body of n.
func (w *writer) body(n *node) {
	switch n.kind {
	case kindContainer:
		for _, c := range n.children {
			w.writeString("--" + n.outBoundary + "\r\n")
			h := c.hdr
			if c.top {
				// The original root, wrapped: only its Content-* fields
				// describe the part.
				_, h = splitHeader(c.hdr)
			}
			w.header(h)
			w.body(c)
			w.writeString("\r\n")
		}
		w.writeString("--" + n.outBoundary + "--\r\n")
	case kindNotice:
		if w.err == nil {
			w.err = writeQP(w.w, n.raw)
		}
	default:
		w.raw(n.raw)
	}
}

// raw writes kept bytes with every line break made CRLF and a bare CR made
// a space (see Rewrite).
func (w *writer) raw(b []byte) {
	for len(b) > 0 && w.err == nil {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			w.write(b)
			return
		}
		w.write(b[:i])
		switch {
		case b[i] == '\n':
			w.writeString("\r\n")
			b = b[i+1:]
		case i+1 < len(b) && b[i+1] == '\n':
			w.writeString("\r\n")
			b = b[i+2:]
		default:
			w.writeString(" ")
			b = b[i+1:]
		}
	}
}
