package linkserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"sealgate/vault"
)

// downloadMessage serves a level-3/4 file (or level-4 text item) as the
// OpenPGP message made for the signed-in recipient who: their key packet,
// then the encrypted blob. The server cannot decrypt it; the page does, in
// the browser, or the recipient does with GnuPG (hence the ".pgp" name).
// It reports whether the download was counted.
//
// The message's length is not stored (the key packet is the recipient's
// own), so there is no Content-Length and no range support: a broken
// download is started again. A download counts once the last byte of the
// message went to the client; whether it decrypts is for the browser to
// find out, and a tampered blob fails there, not here.
func (s *Server) downloadMessage(w http.ResponseWriter, r *http.Request, tr vault.Transfer, f vault.File, who string) bool {
	body, _, err := s.vault.OpenMessage(r.Context(), tr.ID, f.ID, who)
	if err != nil {
		s.messageError(w, r, err, tr.Sender)
		return false
	}
	defer body.Close()
	rc := http.NewResponseController(w)
	if err := extendDeadlines(rc); err != nil {
		s.senderInternalError(w, r, "download", err, tr.Sender)
		return false
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox; frame-ancestors 'none'")
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", contentDisposition(f.Name+".pgp"))
	h.Set("Accept-Ranges", "none")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return false
	}
	n, err := copyStream(w, rc, body)
	if err != nil {
		if r.Context().Err() == nil {
			s.log.Error("download interrupted", "transfer", tr.ID, "file", f.ID, "err", err)
		}
		// Without a Content-Length a short body would look complete:
		// abort the connection so the client sees the break.
		panic(http.ErrAbortHandler)
	}
	if err := rc.Flush(); err != nil {
		return false // the client is gone: the last bytes never reached it
	}
	if !s.countDownload(r, tr, f, who) {
		return false
	}
	s.obs.Download(tr.Level, n)
	return true
}

// messageError answers a failure to open a level-3/4 message for the
// visitor: pages and the page's scripts tell the cases apart by status.
func (s *Server) messageError(w http.ResponseWriter, r *http.Request, err error, sender string) {
	switch {
	case errors.Is(err, vault.ErrNoKey):
		// 409: the request is fine, the account is not ready for it.
		s.senderErrorPage(w, r, http.StatusConflict, "page.error.key_needed", sender)
	case errors.Is(err, vault.ErrUnreadable):
		s.senderErrorPage(w, r, http.StatusGone, "page.error.unreadable", sender)
	default:
		s.fileError(w, r, err, sender)
	}
}

// copyStream writes src to w in chunks until EOF, renewing the write
// deadline before each chunk (see extendDeadlines), so a large message may
// take as long as the client keeps taking data. It returns the bytes
// written.
func copyStream(w io.Writer, rc *http.ResponseController, src io.Reader) (int64, error) {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	var written int64
	for {
		// Fill the chunk: the message is a key packet and then the blob,
		// and the first read would otherwise send the packet alone.
		n, rerr := 0, error(nil)
		for n < len(buf) && rerr == nil {
			var m int
			m, rerr = src.Read(buf[n:])
			n += m
		}
		if n > 0 {
			if err := rc.SetWriteDeadline(time.Now().Add(writeStall)); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return written, fmt.Errorf("setting write deadline: %w", err)
			}
			m, err := w.Write(buf[:n])
			written += int64(m)
			if err != nil {
				return written, fmt.Errorf("writing to client: %w", err)
			}
		}
		switch {
		case rerr == io.EOF:
			return written, nil
		case rerr != nil:
			return written, fmt.Errorf("reading message: %w", rerr)
		}
	}
}
