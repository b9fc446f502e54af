package rewrite

import (
	"bytes"
	"fmt"
)

// holdText handles a text body when the text is taken out (Options.Text):
// the first body of each of text/plain and text/html is held for the
// TextSink within the kept-bytes budget; any later one, or one too large,
// is taken out as a file. The held body is written nowhere.
func (p *parser) holdText(n *node) (*node, delim, error) {
	b := p.s.body()
	if p.textSeen[n.media] {
		return p.takeOut(n, nil, b)
	}
	p.textSeen[n.media] = true
	budget := p.lim.MaxKeptBytes - p.kept
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
	p.kept += int64(len(buf))
	p.text[n.media] = n
	return nil, b.end, nil
}

// storeText hands the held text bodies to the TextSink, decoded and in
// UTF-8. A body in a charset that cannot be converted is stored as a file
// as it came (decoded from its transfer encoding), so that nothing is
// lost or garbled; its place in AddText is then empty.
func (p *parser) storeText() error {
	var out [2][]byte
	for i, media := range []string{"text/plain", "text/html"} {
		n := p.text[media]
		if n == nil {
			continue
		}
		decoded := decodeAll(n.cte, n.raw)
		text, ok := toUTF8(decoded, textCharset(n, decoded))
		if !ok {
			name := partName(n.hdr, n.params)
			if name == "" {
				name = "message" + knownExt[media]
			}
			if err := p.store(n.pos, name, media, bytes.NewReader(decoded), nil); err != nil {
				return err
			}
			continue
		}
		if media == "text/html" {
			// Stored as UTF-8 now: a <meta> saying otherwise would make
			// the page show mojibake.
			text = metaCharset.ReplaceAll(text, []byte("${1}utf-8"))
		}
		out[i] = text
	}
	if out[0] == nil {
		out[0] = []byte{}
	}
	if err := p.opts.Text.AddText(p.ctx, out[0], out[1]); err != nil {
		return fmt.Errorf("rewrite: storing message text: %w", err)
	}
	p.textDone = true
	return nil
}
