package rewrite_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"

	"sealgate/catalog"
	"sealgate/smtpproxy/rewrite"
)

// catalogNotice adapts the catalog's bilingual notice to rewrite.Notice, as
// the SMTP layer does with the transfer's link and code.
type catalogNotice struct {
	c    *catalog.Catalog
	data catalog.NoticeData
}

func (n catalogNotice) withFiles(files []rewrite.Stored) catalog.NoticeData {
	d := n.data
	d.Files = nil
	for _, f := range files {
		d.Files = append(d.Files, catalog.NoticeFile{Name: f.Name, Size: f.Size})
	}
	return d
}

func (n catalogNotice) Text(files []rewrite.Stored) string {
	return n.c.NoticeText(catalog.DefaultLanguage, n.withFiles(files))
}

func (n catalogNotice) HTML(files []rewrite.Stored) string {
	return n.c.NoticeHTML(catalog.DefaultLanguage, n.withFiles(files))
}

// countingSink stands in for the vault: it reads each file and counts it.
type countingSink struct{}

func (countingSink) AddFile(ctx context.Context, name, contentType string, r io.Reader) (rewrite.Stored, error) {
	n, err := io.Copy(io.Discard, r)
	return rewrite.Stored{Name: name, ContentType: contentType, Size: n}, err
}

func Example() {
	msg := "From: clerk@amt.example\r\n" +
		"Subject: Ihr Bescheid\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n" +
		"\r\n" +
		"--b\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Sehr geehrte Damen und Herren,\r\n" +
		"--b\r\n" +
		"Content-Type: application/pdf; name=\"Bescheid.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"\r\n" +
		"JVBERi0xLjQK\r\n" +
		"--b--\r\n"
	hdr, body, err := rewrite.ReadHeader(bufio.NewReader(strings.NewReader(msg)), 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	cat, err := catalog.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	notice := catalogNotice{c: cat, data: catalog.NoticeData{
		Level:       1,
		TransferURL: "https://files.amt.example/t/Zx9",
		HomeURL:     "https://files.amt.example/",
		AccessCode:  "ABCD-EFGH-JKMN-PQRS",
		ExpiresAt:   time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
	}}
	var out strings.Builder
	res, err := rewrite.Rewrite(context.Background(), hdr, body, rewrite.Limits{}, countingSink{}, notice, &out)
	if rewrite.IsBadMessage(err) {
		fmt.Println("554 5.6.0", err) // the reason is a sentence for the clerk
		return
	}
	if err != nil {
		fmt.Println("451 4.3.0 try again later")
		return
	}
	for _, f := range res.Files {
		fmt.Fprintf(os.Stdout, "%s %s %d\n", f.Name, f.ContentType, f.Size)
	}
	fmt.Println(strings.Contains(out.String(), "https://files.amt.example/t/Zx9\r\n"))
	// Output:
	// Bescheid.pdf application/pdf 9
	// true
}

// TestCatalogNoticeSurvivesEncoding runs the real notice through a rewrite
// and reads it back as a mail reader would: long URLs stand whole on their
// own lines in the decoded text, and file names with markup stay escaped in
// the HTML.
func TestCatalogNoticeSurvivesEncoding(t *testing.T) {
	t.Parallel()
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	url := "https://dateiaustausch.landratsamt-musterstadt.example/t/" + strings.Repeat("Ab9_", 11)
	msg := "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n" +
		"--a\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nGr\xfc\xdfe\r\n" +
		"--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Gr\xc3\xbc\xc3\x9fe</p></body></html>\r\n--a--\r\n" +
		"--b\r\nContent-Type: application/pdf; name=\"<img src=x onerror=alert(1)>.pdf\"\r\n\r\n%PDF\r\n--b--\r\n"
	hdr, body, err := rewrite.ReadHeader(bufio.NewReader(strings.NewReader(msg)), 0)
	if err != nil {
		t.Fatal(err)
	}
	n := catalogNotice{c: cat, data: catalog.NoticeData{Level: 2, TransferURL: url, HomeURL: "https://dateiaustausch.landratsamt-musterstadt.example/", AccessCode: "ABCD-EFGH-JKMN-PQRS"}}
	var out bytes.Buffer
	if _, err := rewrite.Rewrite(context.Background(), hdr, body, rewrite.Limits{}, countingSink{}, n, &out); err != nil {
		t.Fatal(err)
	}
	e, err := message.Read(&out)
	if err != nil {
		t.Fatal(err)
	}
	var text, html string
	err = e.Walk(func(path []int, p *message.Entity, err error) error {
		if err != nil {
			return err
		}
		media, _, _ := p.Header.ContentType()
		if strings.HasPrefix(media, "multipart/") {
			return nil
		}
		b, err := io.ReadAll(p.Body)
		switch media {
		case "text/plain":
			text = string(b)
		case "text/html":
			html = string(b)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	if !slices.Contains(lines, url) || !strings.Contains(text, "Grüße") {
		t.Errorf("decoded text lacks the URL on its own line or the original text:\n%s", text)
	}
	if strings.Contains(html, "<img") || !strings.Contains(html, "&lt;img src=x onerror=alert(1)&gt;.pdf") || !strings.Contains(html, "<p>Grüße</p>") {
		t.Errorf("HTML notice wrong:\n%s", html)
	}
}
