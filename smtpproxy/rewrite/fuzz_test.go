package rewrite

import (
	"os"
	"testing"
)

// FuzzRewrite checks, for any input, what TestCorpus checks for the corpus:
// no panic; a *BadMessageError or an output that parses again; no bytes of
// a removed attachment (16 bytes or more) in the output; and with the text
// taken out (level 4), an output that is the notice alone. Run it with
// go test -fuzz=FuzzRewrite ./smtpproxy/rewrite
func FuzzRewrite(f *testing.F) {
	for _, path := range corpusFiles(f) {
		msg, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msg)
	}
	for _, s := range []string{
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQgc2VjcmV0IGNvbnRlbnQgb2YgdGhlIGF0dGFjaG1lbnQ=\r\n--b--\r\n",
		"Content-Type: multipart/related; boundary=r\n\n--r\nContent-Type: text/html; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n<body><img src=3D\"cid:x@y\">K=F6ln</body>\n--r\nContent-Type: image/png\nContent-ID: <x@y>\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--r\nContent-Type: image/png\nContent-ID: <z@y>\n\nunreferenced image bytes here\n--r--\n",
		"Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nforwarded message text body\r\n--a--\r\n",
		"Content-Type: text/plain; charset=x-unknown\r\nContent-Disposition: attachment; filename*=utf-8''%E2%80%AEtxt.exe\r\n\r\nabcdefghijklmnopqrstuvwxyz\r\n",
		"Content-Type: multipart/signed; boundary=s; protocol=\"application/pgp-signature\"\r\n\r\n--s\r\n\r\nsigned\r\n--s--\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		checkRewrite(t, msg)
		checkTakeText(t, msg)
	})
}
