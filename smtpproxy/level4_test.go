package smtpproxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"mime"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"

	"sealgate/internal/smtptest"
	"sealgate/vault"
)

func randomMarker(t *testing.T) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "MARK" + hex.EncodeToString(b[:])
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// leaf is one leaf part of a message as a mail reader sees it.
type leaf struct {
	media string
	body  string // decoded
}

// leaves reads every leaf part of msg, decoded.
func leaves(t *testing.T, msg []byte) (*mail.Reader, []leaf) {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("message does not parse: %v", err)
	}
	var out []leaf
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("message: %v", err)
		}
		body, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("reading part: %v", err)
		}
		media, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out = append(out, leaf{media: media, body: string(body)})
	}
	return mr, out
}

// TestLevel4EndToEnd: a [secure4] mail with text, HTML, a cid image and an
// attachment goes out as the neutral notice alone: none of its text, none
// of its files, not even their names; the vault holds the text (plain and
// HTML, byte for byte) and the image and the attachment as files. With
// NeutralSubject the subject is neutral; without, it is the clerk's minus
// the tag. The internal colleague gets the original.
func TestLevel4EndToEnd(t *testing.T) {
	t.Parallel()
	for _, neutral := range []bool{false, true} {
		name := "own subject"
		if neutral {
			name = "neutral subject"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := start(t, func(c *Config, _ *smtptest.Options) {
				c.NeutralSubject = neutral
				c.OrgName = "Landratsamt Test"
			})
			plainMark, htmlMark := randomMarker(t), randomMarker(t)
			pdf := &genFile{name: "befund-mueller.pdf", ctype: "application/pdf", size: 20 << 10, seed: 41}
			msg := &taggedMessage{subject: "[secure4] Ihr Befund", files: []*genFile{pdf},
				text: "Sehr geehrte Frau Muster,\n\nIhr Befund: " + plainMark,
				html: "<p>Ihr Befund: " + htmlMark + "</p>"}
			orig := msg.bytes()
			if err := h.send("clerk@example.org", []string{"citizen@example.net", "colleague@intern.example"}, bytes.NewReader(orig)); err != nil {
				t.Fatal(err)
			}
			var external []byte
			for _, m := range h.messages(2) {
				switch strings.Join(m.To, ",") {
				case "colleague@intern.example":
					if !bytes.Equal(stripTrace(t, m.Data), orig) {
						t.Error("the internal copy is not the original")
					}
				case "citizen@example.net":
					external = stripTrace(t, m.Data)
				}
			}
			if external == nil {
				t.Fatal("no external copy")
			}
			for _, secret := range []string{plainMark, htmlMark, pdf.marker(), logoPNG[:40], "Frau Muster", "befund-mueller", "logo.png", "Befund:"} {
				if bytes.Contains(external, []byte(secret)) {
					t.Errorf("%q reached the recipient", secret)
				}
			}
			mr, parts := leaves(t, external)
			if len(parts) != 2 || parts[0].media != "text/plain" || parts[1].media != "text/html" {
				t.Fatalf("the relayed mail is more than the notice: %+v", parts)
			}
			rw := parseRewritten(t, external)
			if rw.token == "" || rw.code == "" || !strings.Contains(rw.html, rw.token) || !strings.Contains(rw.html, rw.code) {
				t.Fatalf("link or access code missing:\n%s", rw.text)
			}
			for _, want := range []string{"Der Inhalt dieser E-Mail wurde sicher gespeichert.", "Außerdem liegen 2 Dateien für Sie bereit."} {
				if !strings.Contains(rw.text, want) {
					t.Errorf("notice lacks %q:\n%s", want, rw.text)
				}
			}
			wantSubject := "Ihr Befund"
			if neutral {
				wantSubject = "Sichere Nachricht von Landratsamt Test"
			}
			if subj, _ := mr.Header.Subject(); subj != wantSubject {
				t.Errorf("subject %q, want %q", subj, wantSubject)
			}
			if from := mr.Header.Get("From"); from != "Clerk <clerk@example.org>" {
				t.Errorf("From %q", from)
			}

			tr, err := h.vault.TransferByToken(context.Background(), rw.token)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Level != 4 || !tr.Committed {
				t.Errorf("transfer level %d committed %v", tr.Level, tr.Committed)
			}
			got := map[string]vault.File{}
			for _, f := range tr.Files {
				got[f.Kind+":"+f.Name] = f
			}
			want := map[string]string{
				vault.KindText + ":message.txt":  sum(lines(msg.text)),
				vault.KindText + ":message.html": sum(`<html><body>` + msg.html + `<img src="cid:logo@example.org"></body></html>`),
				":befund-mueller.pdf":            pdf.sum,
				":logo.png":                      "",
			}
			if len(got) != len(want) {
				t.Errorf("stored %v, want %v", keys(got), keys(want))
			}
			for k, s := range want {
				f, ok := got[k]
				if !ok {
					t.Errorf("%s not stored", k)
				} else if s != "" && f.SHA256 != s {
					t.Errorf("%s stored with SHA-256 %s, want %s", k, f.SHA256, s)
				}
			}
		})
	}
}

func keys(m any) []string {
	var out []string
	switch m := m.(type) {
	case map[string]vault.File:
		for k := range m {
			out = append(out, k)
		}
	case map[string]string:
		for k := range m {
			out = append(out, k)
		}
	}
	return out
}

// TestLevel4WithoutAttachments: level 4 always stores the text.
func TestLevel4WithoutAttachments(t *testing.T) {
	t.Parallel()
	h := start(t)
	if err := h.send("clerk@example.org", []string{"citizen@example.net"}, strings.NewReader(simpleMessage("[secure4] Termin"))); err != nil {
		t.Fatal(err)
	}
	out := stripTrace(t, h.messages(1)[0].Data)
	if bytes.Contains(out, []byte("Hello,")) || bytes.Contains(out, []byte("this is the text")) {
		t.Errorf("the text reached the recipient:\n%s", out)
	}
	rw := parseRewritten(t, out)
	if rw.subject != "Termin" || rw.token == "" {
		t.Fatalf("subject %q, link %q:\n%s", rw.subject, rw.token, rw.text)
	}
	if strings.Contains(rw.text, "Dateien") {
		t.Errorf("notice speaks of files:\n%s", rw.text)
	}
	tr, err := h.vault.TransferByToken(context.Background(), rw.token)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Files) != 1 || tr.Files[0].Kind != vault.KindText || tr.Files[0].SHA256 != sum("Hello,\r\nthis is the text.\r\n") {
		t.Errorf("stored %+v", tr.Files)
	}
}
