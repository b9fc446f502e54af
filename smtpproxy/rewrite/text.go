package rewrite

import (
	"bytes"
	"io"
	"mime"
	"regexp"
	"strings"
)

// normalizeCID turns a Content-ID value into the form cid: URLs are matched
// against: without angle brackets, lower case (mailers disagree on case).
func normalizeCID(v string) string {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "<")
	v = strings.TrimSuffix(v, ">")
	return strings.ToLower(strings.TrimSpace(v))
}

// collectCIDs adds every content ID that html refers to with a cid: URL
// (RFC 2392: percent-encoded) to refs.
func collectCIDs(refs map[string]bool, html []byte) {
	for {
		i := indexFold(html, "cid:")
		if i < 0 {
			return
		}
		html = html[i+4:]
		j := bytes.IndexAny(html, "\"'<> \t\r\n)")
		if j < 0 {
			j = len(html)
		}
		if id := normalizeCID(percentDecode(string(html[:j]))); id != "" {
			refs[id] = true
		}
		html = html[j:]
	}
}

// indexFold is bytes.Index for an ASCII lower-case needle, ignoring case.
func indexFold(s []byte, needle string) int {
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		if c := s[i] | 0x20; c != needle[0] {
			continue
		}
		if strings.EqualFold(string(s[i:i+n]), needle) {
			return i
		}
	}
	return -1
}

// bodyTagEnd returns the index just after the <body ...> start tag, or 0
// when there is none (the notice then goes first).
func bodyTagEnd(html []byte) int {
	off := 0
	for {
		i := indexFold(html[off:], "<body")
		if i < 0 {
			return 0
		}
		i += off + len("<body")
		if i < len(html) {
			switch html[i] {
			case '>', ' ', '\t', '\r', '\n', '/', '\f':
			default:
				off = i // <bodyx>: not our tag
				continue
			}
		}
		var quote byte
		for ; i < len(html); i++ {
			c := html[i]
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'':
				quote = c
			case c == '>':
				return i + 1
			}
		}
		return 0
	}
}

var metaCharset = regexp.MustCompile(`(?i)(<meta\b[^>]*?\bcharset\s*=\s*["']?\s*)([a-z0-9_:.\-]+)`)

// htmlMetaCharset returns the charset an HTML document declares in a
// <meta> tag, for HTML parts whose Content-Type does not say.
func htmlMetaCharset(html []byte) string {
	m := metaCharset.FindSubmatch(html)
	if m == nil {
		return ""
	}
	return string(m[2])
}

// textCharset returns the charset a text part is written in.
func textCharset(n *node, decoded []byte) string {
	cs := strings.TrimSpace(n.params["charset"])
	if cs == "" && n.media == "text/html" {
		cs = htmlMetaCharset(decoded)
	}
	return cs
}

// withNotice returns the text of a kept text part, converted to UTF-8, with
// the notice at its top, or ok false when its charset is unknown.
func withNotice(n *node, textNotice, htmlNotice string) (out []byte, ok bool) {
	decoded := decodeAll(n.cte, n.raw)
	text, ok := toUTF8(decoded, textCharset(n, decoded))
	if !ok {
		return nil, false
	}
	if n.media == "text/html" {
		// The part is relabelled UTF-8; a <meta> saying otherwise would make
		// some readers show mojibake.
		text = metaCharset.ReplaceAll(text, []byte("${1}utf-8"))
		at := bodyTagEnd(text)
		var b bytes.Buffer
		b.Grow(len(text) + len(htmlNotice))
		b.Write(text[:at])
		b.WriteString(htmlNotice)
		b.Write(text[at:])
		return b.Bytes(), true
	}
	var b bytes.Buffer
	b.Grow(len(text) + len(textNotice) + 4)
	b.WriteString(strings.TrimRight(textNotice, "\r\n"))
	b.WriteString("\r\n\r\n")
	b.Write(text)
	return b.Bytes(), true
}

// textContentType is the Content-Type of a re-encoded text part: its media
// type and parameters, with charset=utf-8.
func textContentType(n *node) string {
	params := make(map[string]string, len(n.params)+1)
	for k, v := range n.params {
		if k != "charset" {
			params[k] = v
		}
	}
	params["charset"] = "utf-8"
	if ct := mime.FormatMediaType(n.media, params); ct != "" {
		return ct
	}
	return n.media + "; charset=utf-8"
}

// qpLineMax is the longest encoded line, RFC 2045's 76 characters.
const qpLineMax = 76

// writeQP encodes text as quoted-printable with CRLF line breaks ("\n"
// and "\r\n" in text are line breaks; a lone "\r" is encoded). No encoded
// line starts with '-', so no line of it can ever read as a delimiter line,
// whatever boundary encloses it; nor with '.', which some relays mangle.
func writeQP(w io.Writer, text []byte) error {
	var line []byte
	out := make([]byte, 0, 8192)
	flush := func(force bool) error {
		if len(out) >= 4096 || force {
			_, err := w.Write(out)
			out = out[:0]
			return err
		}
		return nil
	}
	for len(text) > 0 {
		i := bytes.IndexByte(text, '\n')
		last := i < 0
		if last {
			line, text = text, nil
		} else {
			line, text = text[:i], text[i+1:]
			line = bytes.TrimSuffix(line, []byte("\r"))
		}
		out = qpLine(out, line)
		if !last {
			out = append(out, '\r', '\n')
		}
		if err := flush(false); err != nil {
			return err
		}
	}
	return flush(true)
}

const upperHex = "0123456789ABCDEF"

// qpLine appends one encoded source line, with soft breaks.
func qpLine(out, line []byte) []byte {
	col := 0
	for i, c := range line {
		var tok [3]byte
		var t []byte
		switch {
		case (c == ' ' || c == '\t') && i == len(line)-1,
			c == '=', c < ' ' && c != '\t', c > '~',
			(c == '-' || c == '.') && col == 0:
			tok = [3]byte{'=', upperHex[c>>4], upperHex[c&15]}
			t = tok[:]
		default:
			tok[0] = c
			t = tok[:1]
		}
		// Leave room for the soft break's '=' unless this is the last token.
		room := qpLineMax - 1
		if i == len(line)-1 {
			room = qpLineMax
		}
		if col+len(t) > room {
			out = append(out, '=', '\r', '\n')
			col = 0
			if c == '-' || c == '.' {
				t = []byte{'=', upperHex[c>>4], upperHex[c&15]}
			}
		}
		out = append(out, t...)
		col += len(t)
	}
	return out
}
