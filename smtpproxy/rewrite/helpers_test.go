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
	"github.com/emersion/go-message/textproto"
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
	path      string
	media     string
	hdr       message.Header
	body      []byte // decoded; raw when it does not decode
	raw       []byte // as it stands in the message
	decodeErr error
}

// parseOutput reads a message with go-message's textproto layer, as a
// recipient's reader would, and returns its leaves, decoded with go-message.
// A structural error (a header that does not parse, a multipart that does
// not end) fails; a body that does not decode (kept as the sender wrote it)
// is returned raw, with decodeErr set.
func parseOutput(out []byte) ([]outPart, error) {
	br := bufio.NewReader(bytes.NewReader(out))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("reading output header: %w", err)
	}
	var parts []outPart
	if err := collectParts(message.Header{Header: h}, br, "0", &parts, 0); err != nil {
		return nil, err
	}
	return parts, nil
}

func collectParts(h message.Header, body io.Reader, path string, parts *[]outPart, depth int) error {
	if depth > 100 {
		return fmt.Errorf("output nested deeper than 100")
	}
	media, params, _ := h.ContentType()
	if strings.HasPrefix(media, "multipart/") {
		mr := textproto.NewMultipartReader(body, params["boundary"])
		for i := 0; ; i++ {
			p, err := mr.NextPart()
			if err == io.EOF {
				if i == 0 {
					return fmt.Errorf("part %s: multipart without parts", path)
				}
				return nil
			}
			if err != nil {
				return fmt.Errorf("part %s.%d: %w", path, i, err)
			}
			if err := collectParts(message.Header{Header: p.Header}, p, fmt.Sprintf("%s.%d", path, i), parts, depth+1); err != nil {
				return err
			}
		}
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("part %s body: %w", path, err)
	}
	p := outPart{path: path, media: media, hdr: h, body: raw, raw: raw}
	e, err := message.New(h, bytes.NewReader(raw))
	if err == nil || message.IsUnknownCharset(err) {
		if dec, derr := io.ReadAll(e.Body); derr == nil {
			p.body = dec
		} else {
			p.decodeErr = derr
		}
	} else {
		p.decodeErr = err
	}
	*parts = append(*parts, p)
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
