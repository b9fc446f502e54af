package smtpproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
)

// corpusFiles lists the real-world messages in ../shared/corpus next to the
// repository root, or none when it is absent.
func corpusFiles(t *testing.T) []string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			return nil
		}
		dir = filepath.Dir(dir)
	}
	var files []string
	_ = filepath.WalkDir(filepath.Join(dir, "..", "shared", "corpus"), func(path string, d fs.DirEntry, err error) error {
		name := strings.ToUpper(d.Name())
		if err == nil && d.Type().IsRegular() && !strings.HasPrefix(name, "README") && !strings.HasPrefix(name, "LICENSE") {
			files = append(files, path)
		}
		return nil
	})
	return files
}

// TestCorpusLevel1: every corpus message, sent at level 1 the way Postfix
// would send it (CRLF lines), is either relayed as a message that a mail
// reader reads to the end, or refused with a clear 5xx and nothing stored;
// never a 451, which would mean a failure of ours.
func TestCorpusLevel1(t *testing.T) {
	t.Parallel()
	files := corpusFiles(t)
	if len(files) == 0 {
		t.Skip("corpus not found: ../shared/corpus next to the repository root is absent")
	}
	h := start(t)
	ctx := context.Background()
	transfers := func() int {
		rep, err := h.vault.Purge(ctx, time.Now().AddDate(10, 0, 0), true)
		if err != nil {
			t.Fatal(err)
		}
		return len(rep.Transfers)
	}
	relayed := 0
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(filepath.Dir(filepath.Dir(path)), path)
		msg := "X-Sealgate-Level: 1\r\n" + strings.ReplaceAll(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n", "\r\n")
		before := transfers()
		err = h.send("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(msg))
		var se *smtp.SMTPError
		switch {
		case err == nil:
			relayed++
			msgs := h.messages(relayed)
			checkReadable(t, name, stripTrace(t, msgs[relayed-1].Data))
		case errors.As(err, &se) && se.Code/100 == 5:
			t.Logf("%s: refused: %d %v %s", name, se.Code, se.EnhancedCode, se.Message)
			if after := transfers(); after != before {
				t.Errorf("%s: refused, but a transfer was stored", name)
			}
		default:
			t.Errorf("%s: %v", name, err)
		}
	}
	t.Logf("%d of %d corpus messages relayed", relayed, len(files))
}

// TestCorpusLevel0: untagged, every corpus message arrives byte for byte,
// however broken it is.
func TestCorpusLevel0(t *testing.T) {
	t.Parallel()
	files := corpusFiles(t)
	if len(files) == 0 {
		t.Skip("corpus not found: ../shared/corpus next to the repository root is absent")
	}
	h := start(t)
	for i, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		msg := strings.ReplaceAll(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n", "\r\n")
		if !strings.HasSuffix(msg, "\r\n") {
			msg += "\r\n" // SMTP cannot carry a message without a final line ending
		}
		if err := h.send("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(msg)); err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		got := h.messages(i + 1)[i].Data
		if msg[0] != ' ' && msg[0] != '\t' {
			got = stripTrace(t, got)
		}
		if string(got) != msg {
			t.Errorf("%s: changed on the way", path)
		}
	}
	h.assertNothingStored()
}

// checkReadable walks a relayed message to its end, as a mail reader would.
func checkReadable(t *testing.T, name string, data []byte) {
	t.Helper()
	if bytes.Contains(bytes.ToLower(data), []byte("x-sealgate-")) {
		t.Errorf("%s: X-Sealgate field left", name)
	}
	mr, err := mail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Errorf("%s: relayed message does not parse: %v", name, err)
		return
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return
		}
		if gomessage.IsUnknownCharset(err) {
			continue // a reader shows such a part undecoded
		}
		if err != nil {
			t.Errorf("%s: relayed message: %v", name, err)
			return
		}
		_, _ = io.Copy(io.Discard, p.Body)
	}
}
