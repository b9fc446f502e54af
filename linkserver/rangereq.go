package linkserver

import (
	"strconv"
	"strings"
)

// byteRange is a satisfiable single range: length bytes from start.
type byteRange struct{ start, length int64 }

// rangeOutcome says how to answer a Range header.
type rangeOutcome int

const (
	rangeIgnore        rangeOutcome = iota // absent, malformed or several ranges: send everything (200)
	rangePartial                           // send the byteRange (206)
	rangeUnsatisfiable                     // 416
)

// parseRange interprets a Range header for a representation of size bytes.
// Only a single range is served; a request for several gets the whole file,
// which RFC 9110 allows and which spares us multipart/byteranges for a case
// no download manager needs. An empty file ignores the header, like net/http
// does, because some clients put a Range on every request.
func parseRange(h string, size int64) (byteRange, rangeOutcome) {
	unit, spec, ok := strings.Cut(h, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(spec, ",") {
		return byteRange{}, rangeIgnore
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return byteRange{}, rangeIgnore
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" { // suffix range: the last n bytes
		n, ok := parseDigits(last)
		if !ok {
			return byteRange{}, rangeIgnore
		}
		if size == 0 {
			return byteRange{}, rangeIgnore
		}
		if n == 0 {
			return byteRange{}, rangeUnsatisfiable
		}
		n = min(n, size)
		return byteRange{start: size - n, length: n}, rangePartial
	}
	start, ok := parseDigits(first)
	if !ok {
		return byteRange{}, rangeIgnore
	}
	end := size - 1
	if last != "" {
		e, ok := parseDigits(last)
		if !ok || e < start {
			return byteRange{}, rangeIgnore
		}
		end = min(e, size-1)
	}
	if size == 0 {
		return byteRange{}, rangeIgnore
	}
	if start >= size {
		return byteRange{}, rangeUnsatisfiable
	}
	return byteRange{start: start, length: end - start + 1}, rangePartial
}

// parseDigits parses a non-empty run of ASCII digits (no sign, no spaces).
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
