package rewrite

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDir finds ../shared/corpus next to the repository root (the
// directory holding go.mod), or "" when it is not there.
func corpusDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
	c := filepath.Join(dir, "..", "shared", "corpus")
	if st, err := os.Stat(c); err != nil || !st.IsDir() {
		return ""
	}
	return c
}

// corpusFiles lists the messages of the corpus: every regular file except
// the README and LICENSE files.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	dir := corpusDir(t)
	if dir == "" {
		return nil
	}
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base := strings.ToUpper(d.Name())
		if d.Type().IsRegular() && !strings.HasPrefix(base, "README") && !strings.HasPrefix(base, "LICENSE") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// checkRewrite rewrites msg and checks the properties every input must
// have: no panic; either a *BadMessageError or an output with CRLF line
// endings only that go-message reads to the end, in which no attachment of
// 16 bytes or more survives. It returns a one-line summary.
func checkRewrite(t testing.TB, msg []byte) string {
	t.Helper()
	out, res, sink, err := rewriteBytes(t, msg, Limits{})
	if dir := os.Getenv("REWRITE_DUMP_DIR"); dir != "" && err == nil {
		// For a look at what recipients would get: REWRITE_DUMP_DIR=/tmp/x go test -run TestCorpus
		name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + ".eml"
		if werr := os.WriteFile(filepath.Join(dir, name), out, 0o600); werr != nil {
			t.Fatal(werr)
		}
	}
	if err != nil {
		var bm *BadMessageError
		if !errors.As(err, &bm) {
			t.Fatalf("error is not a BadMessageError: %v", err)
		}
		if bm.Reason == "" || strings.ContainsAny(bm.Reason, "\r\n") {
			t.Fatalf("unclear reason %q", bm.Reason)
		}
		return "refused: " + bm.Reason
	}
	checkLineEndings(t, out)
	parts, err := parseOutput(out)
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	var inParts []outPart
	flatIn := unfold(msg)
	for _, f := range sink.files {
		data := f.data
		if f.contentType == "message/rfc822" {
			// A message file starts with a header, which may well be the
			// message's own (a signed message taken out whole): only its
			// body must not survive.
			if i := bytes.Index(data, []byte("\n\r\n")); i >= 0 {
				data = data[i+3:]
			} else if i := bytes.Index(data, []byte("\n\n")); i >= 0 {
				data = data[i+2:]
			} else {
				continue
			}
		}
		if len(data) < 16 {
			continue
		}
		for _, p := range parts {
			if !bytes.Contains(p.body, data) {
				continue
			}
			// Legitimate only when the same bytes also stand elsewhere in
			// the input, e.g. a text body repeated as an attachment.
			if inParts == nil {
				inParts, _ = parseOutput(msg)
			}
			if bytes.Count(msg, data) < 2 && countParts(inParts, data) < 2 {
				t.Fatalf("bytes of attachment %q (%d bytes) survive in output part %s", f.name, len(data), p.path)
			}
		}
		for _, form := range encodedForms(data)[1:] {
			form = unfold(form)
			if len(form) < 16 || bytes.Count(flatIn, form) >= 2 {
				continue
			}
			for _, p := range parts {
				if bytes.Contains(unfold(p.raw), form) {
					t.Fatalf("encoded bytes of attachment %q survive in output part %s", f.name, p.path)
				}
			}
		}
	}
	return fmt.Sprintf("ok: %d files, %d kept parts (%d text), %d notices, recovered=%v, %d output parts",
		len(res.Files), res.KeptParts, res.TextParts, res.NoticeParts, res.Recovered, len(parts))
}

// checkTakeText parses msg with Options.Text (level 4) and checks that the
// output is the notice alone: two parts, text and HTML, holding none of
// the text that went to the TextSink.
func checkTakeText(t testing.TB, msg []byte) {
	t.Helper()
	hdr, body, err := ReadHeader(bufio.NewReader(bytes.NewReader(msg)), 0)
	if err != nil {
		return
	}
	text := &memText{}
	m, err := Parse(context.Background(), hdr, body, Limits{}, Options{Text: text}, &memSink{})
	if err != nil {
		if !IsBadMessage(err) {
			t.Fatalf("level 4: error is not a BadMessageError: %v", err)
		}
		return
	}
	if text.calls != 1 {
		t.Fatalf("level 4: AddText called %d times", text.calls)
	}
	var out bytes.Buffer
	res, err := m.Write(&out, testNotice{})
	if err != nil {
		t.Fatal(err)
	}
	checkLineEndings(t, out.Bytes())
	parts, err := parseOutput(out.Bytes())
	if err != nil {
		t.Fatalf("level 4 output does not parse: %v", err)
	}
	// Exactly the notice, and nothing of the message besides.
	lf := func(b []byte) string { return strings.TrimSpace(strings.ReplaceAll(string(b), "\r\n", "\n")) }
	if len(parts) != 2 || lf(parts[0].body) != lf([]byte(testNotice{}.Text(res.Files))) ||
		!strings.Contains(lf(parts[1].body), "<body>\n"+testNotice{}.HTML(res.Files)+"\n</body>") {
		t.Fatalf("level 4 output is more than the notice: %d parts", len(parts))
	}
}

func countParts(parts []outPart, data []byte) int {
	n := 0
	for _, p := range parts {
		if bytes.Contains(p.body, data) {
			n++
		}
	}
	return n
}

func TestCorpus(t *testing.T) {
	t.Parallel()
	files := corpusFiles(t)
	if len(files) == 0 {
		t.Skip("corpus not found: ../shared/corpus next to the repository root is absent")
	}
	root := corpusDir(t)
	for _, path := range files {
		rel, _ := filepath.Rel(root, path)
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			msg, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s", rel, checkRewrite(t, msg))
			checkTakeText(t, msg)
		})
	}
}
