package rewrite

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"
)

// discardSink reads each file to its end and keeps nothing.
type discardSink struct{}

func (discardSink) AddFile(ctx context.Context, name, contentType string, r io.Reader) (Stored, error) {
	n, err := io.Copy(io.Discard, r)
	return Stored{Name: name, ContentType: contentType, Size: n}, err
}

// BenchmarkRewrite10MiBAttachment measures the rewrite of a message with a
// text, an HTML part and a 10 MiB base64 attachment; MB/s counts message
// bytes.
func BenchmarkRewrite10MiBAttachment(b *testing.B) {
	data := make([]byte, 10<<20)
	if _, err := rand.Read(data); err != nil {
		b.Fatal(err)
	}
	msg := []byte(crlf("From: a@example.org\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n" +
		"--b\nContent-Type: multipart/alternative; boundary=a\n\n--a\nContent-Type: text/plain; charset=utf-8\n\nHallo\n" +
		"--a\nContent-Type: text/html; charset=utf-8\n\n<html><body><p>Hallo</p></body></html>\n--a--\n" +
		"--b\nContent-Type: application/octet-stream; name=big.bin\nContent-Transfer-Encoding: base64\n\n" +
		b64Lines(data) + "--b--\n"))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		br := bufio.NewReader(bytes.NewReader(msg))
		hdr, body, err := ReadHeader(br, 0)
		if err != nil {
			b.Fatal(err)
		}
		res, err := Rewrite(context.Background(), hdr, body, Limits{}, discardSink{}, testNotice{}, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Files) != 1 || res.Files[0].Size != int64(len(data)) {
			b.Fatalf("files = %+v", res.Files)
		}
	}
}
