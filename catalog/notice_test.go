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
