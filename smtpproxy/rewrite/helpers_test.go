package rewrite

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"mime/quotedprintable"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // charsets for message.Read
)

// memSink keeps every file in memory, for tests.
type memSink struct {
	mu    sync.Mutex
	files []memFile
	fail  error // returned by AddFile after reading, when set
}

type memFile struct {
	name, contentType string
	data              []byte
}

func (s *memSink) AddFile(ctx context.Context, name, contentType string, r io.Reader) (Stored, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Stored{}, err
	}
	if s.fail != nil {
		return Stored{}, s.fail
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files = append(s.files, memFile{name: name, contentType: contentType, data: data})
	return Stored{Name: name, ContentType: contentType, Size: int64(len(data))}, nil
}

// testNotice renders a recognisable notice that lists the files.
type testNotice struct{}

const (
	noticeTextMark = "SEALGATE-NOTICE-TEXT"
	noticeHTMLMark = "SEALGATE-NOTICE-HTML"
)

func (testNotice) Text(files []Stored) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s Anhänge entfernt: %d\n", noticeTextMark, len(files))
	for _, f := range files {
		fmt.Fprintf(&b, "- %s (%d)\n", f.Name, f.Size)
	}
	b.WriteString("https://example.org/t/abc\n")
	return b.String()
}

func (testNotice) HTML(files []Stored) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<div><p>%s Anhänge entfernt</p><ul>", noticeHTMLMark)
	for _, f := range files {
		fmt.Fprintf(&b, "<li>%s</li>", html.EscapeString(f.Name))
	}
	b.WriteString("</ul></div>")
	return b.String()
}

// rewriteString runs Rewrite on a whole message (header and body).
func rewriteString(t testing.TB, msg string, lim Limits) ([]byte, Result, *memSink, error) {
	t.Helper()
	return rewriteBytes(t, []byte(msg), lim)
}

func rewriteBytes(t testing.TB, msg []byte, lim Limits) ([]byte, Result, *memSink, error) {
	t.Helper()
	hdr, body, err := ReadHeader(bufio.NewReader(bytes.NewReader(msg)), lim.MaxHeaderBytes)
	if err != nil {
		return nil, Result{}, nil, err
	}
	sink := &memSink{}
	var out bytes.Buffer
	res, err := Rewrite(context.Background(), hdr, body, lim, sink, testNotice{}, &out)
	return out.Bytes(), res, sink, err
}

// outPart is one leaf of a parsed output message.
type outPart struct {
	path  string
	media string
	hdr   message.Header
	body  []byte // decoded
}

// parseOutput reads a message with go-message, as a recipient's reader
// would, and returns its leaves decoded.
func parseOutput(out []byte) ([]outPart, error) {
	e, err := message.Read(bytes.NewReader(out))
	if err != nil && !message.IsUnknownCharset(err) {
		return nil, fmt.Errorf("reading output: %w", err)
	}
	var parts []outPart
	if err := collectParts(e, "0", &parts, 0); err != nil {
		return nil, err
	}
	return parts, nil
}

func collectParts(e *message.Entity, path string, parts *[]outPart, depth int) error {
	if depth > 100 {
		return fmt.Errorf("output nested deeper than 100")
	}
	media, _, _ := e.Header.ContentType()
	if mr := e.MultipartReader(); mr != nil {
		for i := 0; ; i++ {
			p, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			if err != nil && !message.IsUnknownCharset(err) {
				return fmt.Errorf("part %s.%d: %w", path, i, err)
			}
			if err := collectParts(p, fmt.Sprintf("%s.%d", path, i), parts, depth+1); err != nil {
				return err
			}
		}
	}
	b, err := io.ReadAll(e.Body)
	if err != nil {
		return fmt.Errorf("part %s body: %w", path, err)
	}
	*parts = append(*parts, outPart{path: path, media: media, hdr: e.Header, body: b})
	return nil
}

// checkLineEndings fails if out holds a CR or LF that is not part of CRLF.
func checkLineEndings(t testing.TB, out []byte) {
	t.Helper()
	for i, c := range out {
		switch {
		case c == '\r' && (i+1 >= len(out) || out[i+1] != '\n'):
			t.Fatalf("bare CR at byte %d: %q", i, context40(out, i))
		case c == '\n' && (i == 0 || out[i-1] != '\r'):
			t.Fatalf("bare LF at byte %d: %q", i, context40(out, i))
		}
	}
}

func context40(b []byte, i int) []byte {
	lo, hi := max(0, i-20), min(len(b), i+20)
	return b[lo:hi]
}

func randomMarker(t testing.TB) string {
	t.Helper()
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "MARK" + hex.EncodeToString(b[:])
}

// encodedForms returns data as it could stand in a message: raw, in base64
// at each of the three alignments (the stable middle of each), and in
// quoted-printable.
func encodedForms(data []byte) [][]byte {
	forms := [][]byte{data}
	for off := 0; off < 3; off++ {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, off), data...))
		if len(enc) > 16 {
			forms = append(forms, []byte(enc[4:len(enc)-4]))
		}
	}
	var qp bytes.Buffer
	w := quotedprintable.NewWriter(&qp)
	w.Write(data)
	w.Close()
	forms = append(forms, qp.Bytes())
	return forms
}

// unfold removes line breaks, so that encoded forms split over lines match.
func unfold(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("=\r\n"), nil)
	return bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r\n"), nil), []byte("\n"), nil)
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
