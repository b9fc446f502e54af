package catalog

import (
	"strings"
	"testing"
	"time"
)

func noticeData(level int) NoticeData {
	return NoticeData{
		Level:       level,
		TransferURL: "https://files.amt.example/t/4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a99",
		HomeURL:     "https://files.amt.example/",
		AccessCode:  "ABCD-EFGH-JKMN-PQRS",
		ExpiresAt:   time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		Files: []NoticeFile{
			{Name: "Bescheid.pdf", Size: 1_500_000},
			{Name: `<script>alert("x")</script>&.pdf`, Size: 12},
		},
		SenderOrg: "Landratsamt Musterstadt",
	}
}

func TestNoticeText(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	d := noticeData(1)
	text := c.NoticeText("de", d)
	lines := strings.Split(text, "\n")
	for _, u := range []string{d.TransferURL, d.HomeURL} {
		found := 0
		for _, l := range lines {
			if l == u {
				found++
			}
		}
		if found != 2 { // once per language
			t.Errorf("URL %s stands alone on %d lines, want 2:\n%s", u, found, text)
		}
	}
	for _, want := range []string{
		"Die Anhänge dieser E-Mail wurden entfernt und sicher gespeichert.",
		"The attachments of this e-mail have been removed and stored securely.",
		"Bescheid.pdf (1,5 MB)", "Bescheid.pdf (1.5 MB)",
		"Zugangscode: ABCD-EFGH-JKMN-PQRS", "Access code: ABCD-EFGH-JKMN-PQRS",
		"26.11.2026", "26 Nov 2026",
		"Absender: Landratsamt Musterstadt",
		"Öffnen Sie den folgenden Link:",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text notice lacks %q", want)
		}
	}
	if strings.Index(text, "Sichere Übermittlung") > strings.Index(text, "Secure delivery") {
		t.Error("German does not come first")
	}
	if en := c.NoticeText("en", d); strings.Index(en, "Secure delivery") > strings.Index(en, "Sichere Übermittlung") {
		t.Error("lang en does not put English first")
	}
}

func TestNoticeLevels(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	cases := []struct {
		level    int
		want     []string
		wantNone []string
	}{
		{1, []string{"Öffnen Sie den folgenden Link:", "Open the following link:"}, []string{"Einmalcode", "passphrase"}},
		{2, []string{"Einmalcode", "one-time code"}, []string{"Passphrase"}},
		{3, []string{"Einmalcode", "Schlüssel-Passphrase", "key passphrase"}, nil},
		{4, []string{"Schlüssel-Passphrase", "Der Inhalt dieser E-Mail", "Nachricht öffnen"}, []string{"Die Anhänge"}},
	}
	for _, tc := range cases {
		d := noticeData(tc.level)
		all := c.NoticeText("de", d) + c.NoticeHTML("de", d)
		for _, w := range tc.want {
			if !strings.Contains(all, w) {
				t.Errorf("level %d: notice lacks %q", tc.level, w)
			}
		}
		for _, w := range tc.wantNone {
			if strings.Contains(all, w) {
				t.Errorf("level %d: notice has %q", tc.level, w)
			}
		}
	}
}

func TestNoticeHTMLEscapes(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	d := noticeData(2)
	h := c.NoticeHTML("de", d)
	if strings.Contains(h, "<script") || !strings.Contains(h, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;.pdf") {
		t.Errorf("file name not escaped:\n%s", h)
	}
	for _, bad := range []string{"<img", "<style", "class=", "src=", "<link", "http://"} {
		if strings.Contains(h, bad) {
			t.Errorf("HTML notice contains %q", bad)
		}
	}
	if !strings.Contains(h, `<a href="`+d.TransferURL+`" style="`) || !strings.Contains(h, `>`+d.HomeURL+`</a>`) {
		t.Errorf("links missing:\n%s", h)
	}
	if !strings.Contains(h, `Zugangscode: <strong`) || !strings.Contains(h, `>ABCD-EFGH-JKMN-PQRS</strong>`) {
		t.Errorf("access code not set apart:\n%s", h)
	}

	d.TransferURL = `javascript:alert(1)"><b>`
	d.Files = []NoticeFile{{Name: "a\r\nhttps://evil.example/\u202eexe.pdf", Size: 1}}
	h = c.NoticeHTML("en", d)
	if strings.Contains(h, `href="javascript`) || strings.Contains(h, "<b>") {
		t.Errorf("unsafe URL linked:\n%s", h)
	}
	text := c.NoticeText("en", d)
	if strings.Contains(text, "\nhttps://evil.example/") || strings.ContainsRune(text, '\u202e') {
		t.Errorf("file name breaks the text layout:\n%s", text)
	}
}

func TestNoticeOptionalParts(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	d := NoticeData{Level: 1, TransferURL: "https://x.example/t/1"}
	for _, s := range []string{c.NoticeText("de", d), c.NoticeHTML("de", d)} {
		for _, absent := range []string{"Zugangscode", "Abrufbar", "Absender", "Dateien:"} {
			if strings.Contains(s, absent) {
				t.Errorf("notice without that data mentions %q", absent)
			}
		}
	}
}

// standsAlone counts the lines of text that are exactly u.
func standsAlone(text, u string) int {
	n := 0
	for _, l := range strings.Split(text, "\n") {
		if l == u {
			n++
		}
	}
	return n
}

func TestNoticeUploadLink(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	d := noticeData(2)
	d.UploadURL = "https://files.amt.example/u/Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"
	text, h := c.NoticeText("de", d), c.NoticeHTML("de", d)
	if standsAlone(text, d.UploadURL) != 2 || standsAlone(text, d.TransferURL) != 2 {
		t.Errorf("upload and transfer links do not stand alone in each language:\n%s", text)
	}
	for _, want := range []string{"Sie können Dokumente sicher zurücksenden:", "You can send documents back securely:"} {
		if !strings.Contains(text, want) || !strings.Contains(h, esc(want)) {
			t.Errorf("notice lacks %q", want)
		}
	}
	if !strings.Contains(h, `<a href="`+d.UploadURL+`" style="`) {
		t.Errorf("upload link not linked:\n%s", h)
	}

	// Nothing stored: the notice is about the upload alone.
	only := NoticeData{UploadURL: d.UploadURL, ExpiresAt: d.ExpiresAt, SenderOrg: d.SenderOrg, Level: 0}
	text, h = c.NoticeText("en", only), c.NoticeHTML("en", only)
	if standsAlone(text, only.UploadURL) != 2 {
		t.Errorf("upload link does not stand alone:\n%s", text)
	}
	for _, want := range []string{"Send documents securely", "Dokumente sicher senden", "The link is valid until 26 Nov 2026.", "Sender: Landratsamt"} {
		if !strings.Contains(text, want) || !strings.Contains(h, want) {
			t.Errorf("upload notice lacks %q", want)
		}
	}
	if strings.Index(text, "Send documents securely") > strings.Index(text, "Dokumente sicher senden") {
		t.Error("lang en does not put English first")
	}
	for _, absent := range []string{"/t/", "Access code", "Zugangscode", "Files:", "removed", "Secure delivery"} {
		if strings.Contains(text, absent) || strings.Contains(h, absent) {
			t.Errorf("upload notice mentions %q", absent)
		}
	}
	if c.NoticeText("de", NoticeData{Level: 1}) != "" || c.NoticeHTML("de", NoticeData{Level: 1}) != "" {
		t.Error("a notice without any link is not empty")
	}
}

// TestNoticeLevel4Neutral: the level-4 notice counts the files but names
// none of them, and the neutral subject names only the organisation.
func TestNoticeLevel4Neutral(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	d := noticeData(4)
	all := c.NoticeText("de", d) + c.NoticeHTML("de", d)
	if strings.Contains(all, "Bescheid.pdf") || strings.Contains(all, "script") {
		t.Errorf("level-4 notice names a file:\n%s", all)
	}
	for _, want := range []string{"Außerdem liegen 2 Dateien für Sie bereit.", "2 files are also waiting for you.", d.TransferURL, d.AccessCode, "26.11.2026"} {
		if !strings.Contains(all, want) {
			t.Errorf("level-4 notice lacks %q", want)
		}
	}
	d.Files = d.Files[:1]
	if all := c.NoticeText("en", d); !strings.Contains(all, "A file is also waiting for you.") {
		t.Errorf("one file:\n%s", all)
	}
	d.Files = nil
	if all := c.NoticeText("en", d); strings.Contains(all, "waiting for you") {
		t.Errorf("no files, yet:\n%s", all)
	}
	for _, tc := range []struct{ lang, org, want string }{
		{"de", "Landratsamt Musterstadt", "Sichere Nachricht von Landratsamt Musterstadt"},
		{"en", "City\r\nBcc: x@evil.example", "Secure message from City  Bcc: x@evil.example"},
		{"en", " ", "Secure message"},
		{"fr", "", "Sichere Nachricht"},
	} {
		if got := c.NeutralSubject(tc.lang, tc.org); got != tc.want {
			t.Errorf("NeutralSubject(%q, %q) = %q, want %q", tc.lang, tc.org, got, tc.want)
		}
	}
}
