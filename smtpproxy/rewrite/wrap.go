package rewrite

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// Wrap writes a message that keeps its whole body, streamed as it came,
// and gains a notice: a new multipart/mixed whose first part is the notice
// (multipart/alternative, text and HTML; Notice is called with no files)
// and whose second part is the original body under its own Content-*
// fields. hdr is the cleaned top-level header. It is for a message that
// must stay as it is but is too large to hold for Parse with KeepAll, or
// whose structure Parse would have to take apart (multipart/signed, whose
// signature Wrap leaves intact).
//
// The body is copied byte for byte and never held: the caller makes sure
// its lines end in CRLF (smtpproxy's input refuses any other line ending).
// When the notice is empty, the message is written as it came.
func Wrap(hdr textproto.Header, body io.Reader, notice Notice, out io.Writer) error {
	if body == nil || notice == nil || out == nil {
		return fmt.Errorf("rewrite: body, notice and out must not be nil")
	}
	alt, err := noticeAlternative(notice.Text(nil), notice.HTML(nil))
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	w := &writer{w: bw}
	closing := ""
	if alt == nil {
		w.header(hdr)
	} else {
		msg, content := splitHeader(hdr)
		var inner []string
		if media, params := parseValue(content.Get("Content-Type")); strings.HasPrefix(media, "multipart/") {
			inner = append(inner, params["boundary"])
		}
		b, err := boundaryBeside(inner)
		if err != nil {
			return err
		}
		set := []field{{"Content-Type", "multipart/mixed; boundary=\"" + b + "\""}}
		if cte := normCTE(content.Get("Content-Transfer-Encoding")); cte == "8bit" || cte == "binary" {
			// A multipart says what its parts need.
			set = append(set, field{"Content-Transfer-Encoding", cte})
		}
		w.header(editHeader(msg, set, true))
		w.writeString("--" + b + "\r\n")
		w.header(alt.hdr)
		w.body(alt)
		w.writeString("\r\n--" + b + "\r\n")
		w.header(content)
		closing = "\r\n--" + b + "--\r\n"
	}
	if w.err == nil {
		_, w.err = io.Copy(bw, body)
	}
	w.writeString(closing)
	if w.err == nil {
		w.err = bw.Flush()
	}
	if w.err != nil {
		return fmt.Errorf("rewrite: writing message: %w", w.err)
	}
	return nil
}
