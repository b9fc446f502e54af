package smtpproxy

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestInputLineEndings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in string
		ok bool
	}{
		{"", true},
		{"a\r\n", true},
		{"a\r\nb\r\n\r\n", true},
		{"a\n", false},
		{"\n", false},
		{"a\r", false}, // a CR at the very end has no LF to come
		{"a\rb\r\n", false},
		{"a\r\r\n", false},
		{"a\r\n\n", false},
		{"a\r\n.\n", false},
		{"a\n.\r\n", false},
		{"a\r\n\r", false},
		{strings.Repeat("x", inputBufSize-1) + "\r\n", true}, // CR at a chunk's end
		{strings.Repeat("x", inputBufSize-1) + "\rx", false},
		{strings.Repeat("x", inputBufSize) + "\n", false}, // LF at a chunk's start
	}
	for _, tc := range cases {
		for name, wrap := range map[string]func(io.Reader) io.Reader{
			"whole":    func(r io.Reader) io.Reader { return r },
			"one byte": iotest.OneByteReader,
			"half":     iotest.HalfReader,
		} {
			in := newInput(wrap(strings.NewReader(tc.in)), nil, 0, make([]byte, inputBufSize))
			got, err := io.ReadAll(in)
			if tc.ok {
				if err != nil || string(got) != tc.in {
					t.Errorf("%s %.20q: got %.20q, %v", name, tc.in, got, err)
				}
				continue
			}
			if !errors.Is(err, errBareLineEnding) {
				t.Errorf("%s %.20q: err %v, want a bare line ending", name, tc.in, err)
			}
			// What was released before the refusal has only CRLF line
			// endings: a line cut short never ends in a lone CR.
			if !lineEndingsOK(got, 0) || strings.HasSuffix(string(got), "\r") {
				t.Errorf("%s %.20q: released a bare line ending", name, tc.in)
			}
		}
	}
}

func TestReadHeaderBlock(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, header string
		max        int64
		err        error
	}{
		{in: "A: b\r\n\r\nbody\r\n", header: "A: b\r\n\r\n", max: 100},
		{in: "A: b\r\n c\r\nB : d\r\n\r\nbody\r\n", header: "A: b\r\n c\r\nB : d\r\n\r\n", max: 100},
		{in: "A: b\r\nno header line\r\n\r\n", header: "A: b\r\n", max: 100},
		{in: "A: b\r\n--boundary\r\n", header: "A: b\r\n", max: 100},
		{in: "// not a message\r\nA: b\r\n", header: "", max: 100},
		{in: " folded first\r\n", header: "", max: 100},
		{in: ":colon first\r\n", header: "", max: 100},
		{in: "", header: "", max: 100},
		{in: "A: b\r\n", header: "A: b\r\n", max: 100},
		{in: "\r\nbody\r\n", header: "\r\n", max: 100},
		{in: "A: " + strings.Repeat("x", 200) + "\r\n\r\n", header: "A: " + strings.Repeat("x", 200) + "\r\n\r\n", max: 1000},
		{in: "A: " + strings.Repeat("x", 200) + "\r\n\r\n", max: 100, err: errHeaderTooLarge},
	}
	for _, tc := range cases {
		br := bufio.NewReaderSize(strings.NewReader(tc.in), 16) // lines longer than the buffer
		got, err := readHeaderBlock(br, tc.max)
		if !errors.Is(err, tc.err) || (err == nil && string(got) != tc.header) {
			t.Errorf("%.30q: got %.30q, %v", tc.in, got, err)
		}
		if err == nil {
			rest, _ := io.ReadAll(br)
			if string(got)+string(rest) != tc.in {
				t.Errorf("%.30q: header and body do not add up", tc.in)
			}
		}
	}
}
