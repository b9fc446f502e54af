package rewrite

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/emersion/go-message/textproto"
)

type nodeKind int

const (
	kindContainer nodeKind = iota // a multipart, kept with its own boundary
	kindText                      // a text/plain or text/html body
	kindInline                    // an image with a Content-ID, kept if the HTML refers to it
	kindRemoved                   // taken out; written nowhere
	kindLeaf                      // any other leaf, kept as it came (Options.KeepAll)
)

// node is a kept entity of the message tree.
type node struct {
	kind     nodeKind
	hdr      textproto.Header
	media    string            // lower-case type/subtype
	params   map[string]string // Content-Type parameters
	cte      string
	raw      []byte // encoded body as it came (leaves)
	children []*node
	boundary string // delimits the parts in the input
	pos      int    // document order, for Result.Files
	cid      string
	top      bool // the message's root entity: hdr is the message header

	outBoundary string // delimits the parts in the output
}

type fileSlot struct {
	pos    int
	stored Stored
}

// preambleKeep bounds the preamble held to see whether any part follows it.
const preambleKeep = 64 << 10

type parser struct {
	ctx   context.Context
	s     *scanner
	lim   Limits
	opts  Options
	sink  Sink
	kept  int64
	parts int
	files []fileSlot
	nodes []*node // kept leaves in document order
	pos   int

	recovered bool
	outBounds []string // output boundaries of the open multiparts

	// With Options.Text: the text bodies held for TextSink, and which
	// media types have had their first body.
	text     map[string]*node
	textSeen map[string]bool
	textDone bool
}

func newParser(ctx context.Context, r io.Reader, lim Limits, sink Sink, opts Options) *parser {
	return &parser{ctx: ctx, s: newScanner(ctx, r), lim: lim, sink: sink, opts: opts,
		text: map[string]*node{}, textSeen: map[string]bool{}}
}

// parseRoot reads the whole body and returns the tree of kept entities
// (nil when nothing is kept).
func (p *parser) parseRoot(hdr textproto.Header) (*node, error) {
	n, end, err := p.entity(hdr, 0, "text/plain")
	if err != nil {
		return nil, err
	}
	if end.level >= 0 {
		// Cannot happen: no multipart is open at the root.
		return nil, errStructure
	}
	if n != nil {
		n.top = true
	}
	return n, nil
}

func (p *parser) nextPos() int {
	p.pos++
	return p.pos
}

// entity reads the body of the entity whose header is h and returns its
// node (nil when taken out or empty) and the delimiter that ended it.
func (p *parser) entity(h textproto.Header, depth int, defaultType string) (*node, delim, error) {
	p.parts++
	if p.parts > p.lim.MaxParts {
		return nil, delim{}, errTooManyParts
	}
	n := &node{hdr: h, pos: p.nextPos(), cte: normCTE(h.Get("Content-Transfer-Encoding"))}
	ct := h.Get("Content-Type")
	if strings.TrimSpace(ct) == "" {
		n.media, n.params = defaultType, map[string]string{}
	} else {
		n.media, n.params = parseValue(ct)
		if !validMediaType(n.media) {
			// An unreadable type could be anything: take it out rather than
			// show it as text.
			n.media = "application/octet-stream"
		}
	}

	switch {
	case n.media == "multipart/signed" || n.media == "multipart/encrypted":
		// Taking a part out of a signed or encrypted message breaks its
		// signature or makes it undecryptable, so the whole entity goes out
		// as one message file that the recipient's mail program can check
		// or decrypt as it came.
		name := "signed-message.eml"
		if n.media == "multipart/encrypted" {
			name = "encrypted-message.eml"
		}
		return p.takeOutWhole(n, name)
	case strings.HasPrefix(n.media, "multipart/"):
		b := n.params["boundary"]
		if b == "" || len(b) > 200 || !identityCTE(n.cte) {
			// No way to find its parts: keep it whole, as a message file.
			p.recovered = true
			return p.takeOutWhole(n, "message.eml")
		}
		n.kind, n.boundary, n.outBoundary = kindContainer, b, b
		if err := canonicalContainer(n, p.outBounds); err != nil {
			return nil, delim{}, err
		}
		end, err := p.container(n, depth+1)
		if err != nil || len(n.children) == 0 {
			return nil, end, err
		}
		p.kept += int64(headerSize(h))
		return n, end, nil
	case p.isBodyText(n):
		n.kind = kindText
		if p.opts.Text != nil {
			return p.holdText(n)
		}
		return p.keepOrTake(n)
	case p.opts.Text == nil && p.isInlineCandidate(n):
		n.kind = kindInline
		n.cid = normalizeCID(h.Get("Content-Id"))
		return p.keepOrTake(n)
	case p.opts.KeepAll:
		n.kind = kindLeaf
		return p.keepOrTake(n)
	default:
		return p.takeOut(n, nil, p.s.body())
	}
}

// isBodyText reports whether n is message text: text/plain or text/html
// that is not an attachment and not a named file (an inline part with only
// a Content-Type name still counts as text), in an encoding we can decode.
func (p *parser) isBodyText(n *node) bool {
	if n.media != "text/plain" && n.media != "text/html" {
		return false
	}
	if !knownCTE(n.cte) {
		return false
	}
	disp, dp := parseValue(n.hdr.Get("Content-Disposition"))
	if disp == "attachment" || strings.TrimSpace(dp["filename"]) != "" {
		return false
	}
	if disp != "inline" && strings.TrimSpace(n.params["name"]) != "" {
		return false
	}
	return true
}

// isInlineCandidate reports whether n is an image that HTML could show by
// its Content-ID. Only encodings whose lines SMTP carries as they are can be
// kept byte for byte.
func (p *parser) isInlineCandidate(n *node) bool {
	if !strings.HasPrefix(n.media, "image/") || normalizeCID(n.hdr.Get("Content-Id")) == "" {
		return false
	}
	switch n.cte {
	case "base64", "quoted-printable", "7bit", "":
		return true
	}
	return false
}

// keepOrTake holds a keepable leaf within the kept-bytes budget, or takes
// it out when it does not fit.
func (p *parser) keepOrTake(n *node) (*node, delim, error) {
	b := p.s.body()
	budget := p.lim.MaxKeptBytes - p.kept - int64(headerSize(n.hdr))
	if budget < 0 {
		budget = 0
	}
	buf, fits, err := b.readUpTo(budget)
	if err != nil {
		return nil, delim{}, err
	}
	if !fits {
		return p.takeOut(n, buf, b)
	}
	n.raw = buf
	p.kept += int64(len(buf)) + int64(headerSize(n.hdr))
	p.nodes = append(p.nodes, n)
	return n, b.end, nil
}

// takeOut streams a leaf into the sink, decoded; prefix holds bytes of the
// body already read.
func (p *parser) takeOut(n *node, prefix []byte, b *body) (*node, delim, error) {
	var r io.Reader = b
	if len(prefix) > 0 {
		r = io.MultiReader(bytes.NewReader(prefix), b)
	}
	media := n.media
	if knownCTE(n.cte) {
		r = decoder(n.cte, r)
	} else {
		media = "application/octet-stream" // still encoded: say so
	}
	name := partName(n.hdr, n.params)
	if name == "" {
		name = fallbackName(n.media, len(p.files)+1)
	}
	if n.media == "message/rfc822" || n.media == "message/global" {
		name = withExt(name, ".eml")
	}
	if err := p.store(n.pos, name, media, r, b); err != nil {
		return nil, delim{}, err
	}
	end, err := b.finish()
	return nil, end, err
}

// takeOutWhole stores the entity as it came, header and raw body, as a
// message file.
func (p *parser) takeOutWhole(n *node, name string) (*node, delim, error) {
	var head bytes.Buffer
	if err := textproto.WriteHeader(&head, n.hdr); err != nil {
		return nil, delim{}, fmt.Errorf("rewrite: writing part header: %w", err)
	}
	b := p.s.body()
	if err := p.store(n.pos, name, "message/rfc822", io.MultiReader(&head, b), b); err != nil {
		return nil, delim{}, err
	}
	end, err := b.finish()
	return nil, end, err
}

// store hands one file to the sink. A read error of the message itself is
// reported rather than the sink's view of it.
func (p *parser) store(pos int, name, media string, r io.Reader, b *body) error {
	st, err := p.sink.AddFile(p.ctx, SafeFileName(name), media, r)
	if b != nil && b.err != nil {
		return b.err
	}
	if err != nil {
		return fmt.Errorf("rewrite: storing attachment: %w", err)
	}
	p.files = append(p.files, fileSlot{pos: pos, stored: st})
	return nil
}

// container reads the parts of a multipart whose boundary is n.boundary.
func (p *parser) container(n *node, depth int) (delim, error) {
	if depth > p.lim.MaxDepth {
		return delim{}, errTooDeep
	}
	level := p.s.push(n.boundary)
	p.outBounds = append(p.outBounds, n.outBoundary)
	end, err := p.readParts(n, level, depth)
	p.s.pop()
	p.outBounds = p.outBounds[:len(p.outBounds)-1]
	if err != nil {
		return delim{}, err
	}
	if end.level == level && end.close {
		// The epilogue runs to the next outer delimiter or the end; our own
		// boundary means nothing in it any more.
		return p.s.body().finish()
	}
	if end.level == level {
		// Cannot happen: readParts returns only at a close or a foreign end.
		return delim{}, errStructure
	}
	// An outer delimiter or the end of input came before our closing one.
	p.recovered = true
	return end, nil
}

// readParts reads the preamble and the parts of a multipart at stack level
// level, up to its close delimiter or whatever else ends it.
func (p *parser) readParts(n *node, level, depth int) (delim, error) {
	end, err := p.preamble(n)
	if err != nil {
		return delim{}, err
	}
	childType := "text/plain"
	if n.media == "multipart/digest" {
		childType = "message/rfc822"
	}
	for end.level == level && !end.close {
		h, err := p.s.readHeader(p.lim.MaxHeaderBytes)
		if err != nil {
			return delim{}, err
		}
		var child *node
		child, end, err = p.entity(h, depth, childType)
		if err != nil {
			return delim{}, err
		}
		if child != nil {
			n.children = append(n.children, child)
		}
	}
	return end, nil
}

// preamble skips the text before the first delimiter. If no part follows,
// that text is all the multipart has and is taken out as a file; a
// preamble too long to hold is taken out in any case.
func (p *parser) preamble(n *node) (delim, error) {
	b := p.s.body()
	buf, fits, err := b.readUpTo(preambleKeep)
	if err != nil {
		return delim{}, err
	}
	level := len(p.s.bounds) - 1
	if fits && b.end.level == level && !b.end.close {
		return b.end, nil
	}
	if fits && len(bytes.TrimSpace(buf)) == 0 {
		if b.end.level != level {
			p.recovered = true
		}
		return b.end, nil
	}
	if fits && b.end.level != level {
		p.recovered = true
	}
	r := io.MultiReader(bytes.NewReader(buf), b)
	if err := p.store(p.nextPos(), "message-text.txt", "text/plain", r, b); err != nil {
		return delim{}, err
	}
	return b.finish()
}

// resolveInline decides the inline images now that every kept HTML body is
// known: an image the HTML refers to by cid: stays, any other is taken out
// from memory.
func (p *parser) resolveInline() error {
	refs := map[string]bool{}
	for _, n := range p.nodes {
		if n.kind == kindText && n.media == "text/html" {
			collectCIDs(refs, decodeAll(n.cte, n.raw))
		}
	}
	for _, n := range p.nodes {
		if n.kind != kindInline || refs[n.cid] {
			continue
		}
		name := partName(n.hdr, n.params)
		if name == "" {
			name = fallbackName(n.media, len(p.files)+1)
		}
		r := decoder(n.cte, bytes.NewReader(n.raw))
		if err := p.store(n.pos, name, n.media, r, nil); err != nil {
			return err
		}
		n.kind, n.raw = kindRemoved, nil
	}
	return nil
}

func (p *parser) result() Result {
	sort.SliceStable(p.files, func(i, j int) bool { return p.files[i].pos < p.files[j].pos })
	res := Result{Recovered: p.recovered}
	for _, f := range p.files {
		res.Files = append(res.Files, f.stored)
	}
	for _, n := range p.nodes {
		switch n.kind {
		case kindText:
			res.KeptParts++
			res.TextParts++
		case kindInline, kindLeaf:
			res.KeptParts++
		}
	}
	res.Text = p.textDone
	return res
}

func decodeAll(cte string, raw []byte) []byte {
	out, err := io.ReadAll(decoder(cte, bytes.NewReader(raw)))
	if err != nil {
		return raw // the lenient decoders do not fail on a bytes.Reader
	}
	return out
}

func headerSize(h textproto.Header) int {
	n := 0
	fields := h.Fields()
	for fields.Next() {
		if raw, err := fields.Raw(); err == nil {
			n += len(raw)
		}
	}
	return n
}

func withExt(name, ext string) string {
	if strings.HasSuffix(strings.ToLower(name), ext) {
		return name
	}
	return name + ext
}
