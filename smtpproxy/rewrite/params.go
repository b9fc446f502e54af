package rewrite

import (
	"bytes"
	"io"
	"mime"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/charmap"
)

// parseValue splits a structured header value such as
// `text/plain; charset="iso-8859-1"` into its first token (lower-case) and
// its parameters (names lower-case). It is lenient where mail is broken:
// duplicate parameters (the first wins), a missing closing quote (the value
// runs to the end), junk between parameters (skipped). RFC 2231 parameters
// (name*=charset'lang'%XX and name*0*=, name*1= continuations) are joined
// and decoded to UTF-8; mime.ParseMediaType gives up on all of these, or
// knows only UTF-8 and US-ASCII.
func parseValue(v string) (first string, params map[string]string) {
	i := strings.IndexByte(v, ';')
	if i < 0 {
		return strings.ToLower(strings.TrimSpace(v)), map[string]string{}
	}
	first = strings.ToLower(strings.TrimSpace(v[:i]))
	raw := map[string]string{}
	var order []string
	rest := v[i+1:]
	for len(rest) > 0 {
		rest = strings.TrimLeft(rest, " \t\r\n;")
		if rest == "" {
			break
		}
		j := strings.IndexAny(rest, "=;")
		if j < 0 || rest[j] == ';' {
			// A parameter without a value: skip it.
			if j < 0 {
				break
			}
			rest = rest[j:]
			continue
		}
		name := strings.ToLower(strings.TrimSpace(rest[:j]))
		rest = strings.TrimLeft(rest[j+1:], " \t\r\n")
		var val string
		if strings.HasPrefix(rest, `"`) {
			val, rest = quotedString(rest[1:])
		} else {
			k := strings.IndexByte(rest, ';')
			if k < 0 {
				k = len(rest)
			}
			val, rest = strings.TrimSpace(rest[:k]), rest[k:]
		}
		if name == "" {
			continue
		}
		if _, dup := raw[name]; !dup {
			raw[name] = val
			order = append(order, name)
		}
	}
	return first, joinParams(raw, order)
}

// quotedString reads a quoted-string body (after the opening quote) and
// returns its value and what follows the closing quote.
func quotedString(s string) (val, rest string) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

type section struct {
	n        int
	val      string
	extended bool
}

// joinParams resolves RFC 2231 forms: name* and name*N / name*N*.
func joinParams(raw map[string]string, order []string) map[string]string {
	out := make(map[string]string, len(raw))
	sections := map[string][]section{}
	for _, name := range order {
		val := raw[name]
		star := strings.IndexByte(name, '*')
		if star < 0 {
			if _, ok := out[name]; !ok {
				out[name] = val
			}
			continue
		}
		base, suffix := name[:star], name[star+1:]
		if base == "" {
			continue
		}
		if suffix == "" { // name*=charset'lang'value
			out[base] = decode2231(val, true)
			continue
		}
		extended := strings.HasSuffix(suffix, "*")
		n, err := strconv.Atoi(strings.TrimSuffix(suffix, "*"))
		if err != nil || n < 0 || n > 999 {
			continue
		}
		sections[base] = append(sections[base], section{n: n, val: val, extended: extended})
	}
	for base, secs := range sections {
		sort.Slice(secs, func(i, j int) bool { return secs[i].n < secs[j].n })
		if secs[0].n != 0 {
			continue
		}
		var joined strings.Builder
		cs := ""
		for k, s := range secs {
			if s.n != k {
				break // a gap: what follows it is not part of the value
			}
			v := s.val
			if s.extended {
				if k == 0 {
					cs, v = split2231(v)
				}
				v = percentDecode(v)
			}
			joined.WriteString(v)
		}
		val := joined.String()
		if secs[0].extended {
			val = toUTF8String(val, cs)
		}
		out[base] = val // RFC 2231 values win over plain ones
	}
	return out
}

// decode2231 decodes a single extended value charset'lang'%XX.
func decode2231(v string, extended bool) string {
	if !extended {
		return v
	}
	cs, rest := split2231(v)
	return toUTF8String(percentDecode(rest), cs)
}

// split2231 splits "charset'lang'value"; without the quotes the whole is value.
func split2231(v string) (cs, rest string) {
	i := strings.IndexByte(v, '\'')
	if i < 0 {
		return "", v
	}
	j := strings.IndexByte(v[i+1:], '\'')
	if j < 0 {
		return "", v
	}
	return v[:i], v[i+1+j+1:]
}

func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// toUTF8String converts s from the named charset. Unknown charsets and
// undeclared 8-bit text are read as Windows-1252, the most common guess for
// mail that does not say; invalid UTF-8 declared as UTF-8 keeps its valid
// parts.
func toUTF8String(s, cs string) string {
	out, ok := toUTF8([]byte(s), cs)
	if !ok {
		out = decodeWindows1252([]byte(s))
	}
	return string(out)
}

// toUTF8 converts text from charset cs to UTF-8. ok is false when the
// charset is not known.
func toUTF8(b []byte, cs string) (out []byte, ok bool) {
	switch cs = strings.ToLower(strings.Trim(strings.TrimSpace(cs), `"'`)); cs {
	case "utf-8", "utf8":
		if utf8.Valid(b) {
			return b, true
		}
		return bytes.ToValidUTF8(b, []byte("\uFFFD")), true
	case "", "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us":
		if utf8.Valid(b) {
			return b, true
		}
		return decodeWindows1252(b), true
	}
	r, err := charset.Reader(cs, bytes.NewReader(b))
	if err != nil {
		return nil, false
	}
	out, err = io.ReadAll(r)
	if err != nil {
		return nil, false
	}
	return bytes.ToValidUTF8(out, []byte("\uFFFD")), true
}

func decodeWindows1252(b []byte) []byte {
	out, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return bytes.ToValidUTF8(b, []byte("\uFFFD"))
	}
	return out
}

// decodeWords decodes encoded-words in a header value or file name; a value
// that is not valid UTF-8 afterwards is read as Windows-1252.
func decodeWords(s string) string {
	if strings.Contains(s, "=?") {
		dec := mime.WordDecoder{CharsetReader: charset.Reader}
		if d, err := dec.DecodeHeader(s); err == nil {
			s = d
		}
	}
	if !utf8.ValidString(s) {
		s = string(decodeWindows1252([]byte(s)))
	}
	return s
}

// validMediaType reports whether t is type/subtype made of RFC 2045 tokens.
func validMediaType(t string) bool {
	i := strings.IndexByte(t, '/')
	if i <= 0 || i == len(t)-1 {
		return false
	}
	for k := 0; k < len(t); k++ {
		c := t[k]
		if k == i {
			continue
		}
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}
