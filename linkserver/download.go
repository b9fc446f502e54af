package linkserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"sealgate/vault"
)

const (
	// copyChunk is the unit of decryption and of writing to the client.
	copyChunk = 256 << 10
	// writeStall drops a client that takes no chunk for this long. It
	// replaces the server's WriteTimeout for downloads, which would cut off
	// a large file on a slow but steady line.
	writeStall = 60 * time.Second
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, copyChunk); return &b }}

// download streams a file's decrypted plaintext (levels 1 and 2; level 2
// needs a recipient's session, see recipientGate), or at levels 3 and 4 the
// OpenPGP message for the signed-in recipient's key (downloadMessage). HEAD answers from the
// stored metadata without decrypting anything. A complete download of the
// whole file is counted (see countDownload).
//
// Range requests are served by decrypting from the start of the file and
// discarding the bytes before the range: the stored OpenPGP message has no
// random access. A range at offset n therefore costs the CPU time of
// decrypting n bytes (about n / 3 GB/s with AES-256-GCM), bounded by one
// full download; resuming a broken download costs what the first attempt
// already read.
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	counted := false
	if s.downloadDone != nil {
		defer func() { s.downloadDone(counted) }()
	}
	token := r.PathValue("token")
	tr, p := s.findTransfer(r, token)
	if p != nil {
		s.problemPage(w, r, p)
		return
	}
	who, signIn, p := s.recipientGate(r, tr)
	if p != nil {
		s.problemPage(w, r, p)
		return
	}
	if signIn {
		s.errorPage(w, r, http.StatusForbidden, "page.error.signin")
		return
	}
	f, ok := findFile(tr, r.PathValue("fileID"))
	if !ok {
		s.senderProblemPage(w, r, problemNotFound, tr.Sender)
		return
	}
	if tr.Level >= 3 {
		counted = s.downloadMessage(w, r, tr, f, who)
		return
	}

	etag := ""
	if f.SHA256 != "" {
		etag = `"` + f.SHA256 + `"`
	}
	rng, outcome := byteRange{start: 0, length: f.Size}, rangeIgnore
	if rh := r.Header.Get("Range"); rh != "" && ifRangeAllows(r, etag) {
		if pr, o := parseRange(rh, f.Size); o != rangeIgnore {
			rng, outcome = pr, o
		}
	}
	h := w.Header()
	// Nothing in a download may run or frame anything, even if a browser
	// ignored the attachment disposition.
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox; frame-ancestors 'none'")
	h.Set("Accept-Ranges", "bytes")
	if etag != "" {
		h.Set("ETag", etag)
	}
	if outcome == rangeUnsatisfiable {
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(f.Size, 10))
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}

	var body io.ReadCloser
	rc := http.NewResponseController(w)
	if r.Method != http.MethodHead {
		if err := extendDeadlines(rc); err != nil {
			s.senderInternalError(w, r, "download", err, tr.Sender)
			return
		}
		var err error
		if body, err = s.openAt(r, tr.ID, f.ID, rng.start); err != nil {
			h.Del("ETag")
			h.Del("Accept-Ranges")
			s.fileError(w, r, err, tr.Sender)
			return
		}
		defer body.Close()
	}

	h.Set("Content-Type", downloadType(f.ContentType))
	h.Set("Content-Disposition", contentDisposition(f.Name))
	h.Set("Content-Length", strconv.FormatInt(rng.length, 10))
	status := http.StatusOK
	if outcome == rangePartial {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rng.start, rng.start+rng.length-1, f.Size))
	}
	w.WriteHeader(status)
	if body == nil {
		return
	}
	toEOF := rng.start+rng.length == f.Size
	if err := copyOut(w, rc, body, rng.length, toEOF); err != nil {
		if r.Context().Err() == nil {
			s.log.Error("download interrupted", "transfer", tr.ID, "file", f.ID, "err", err)
		}
		// Content-Length promised more: abort the connection so the client
		// sees a broken download, never a silently short file.
		panic(http.ErrAbortHandler)
	}
	// Only the whole file, every byte handed to the connection and the
	// final authentication tag checked (copyOut with toEOF), is a download;
	// HEAD, ranges and broken transfers never get here.
	if outcome == rangePartial || !toEOF {
		return
	}
	if err := rc.Flush(); err != nil {
		return // the client is gone: the last bytes never reached it
	}
	if counted = s.countDownload(r, tr, f, who); counted {
		s.obs.Download(tr.Level, f.Size)
	}
}

// openAt opens the plaintext and discards the bytes before offset.
func (s *Server) openAt(r *http.Request, transferID, fileID string, offset int64) (io.ReadCloser, error) {
	body, _, err := s.vault.OpenFile(r.Context(), transferID, fileID)
	if err != nil {
		return nil, err
	}
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	for offset > 0 {
		n, err := body.Read(buf[:min(int64(len(buf)), offset)])
		offset -= int64(n)
		if err != nil && offset > 0 {
			body.Close()
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("skipping to range start: %w", err)
		}
	}
	return body, nil
}

// fileError answers a failure to open a file that the transfer lists. The
// visitor passed the transfer's gate, so the page names its sender.
func (s *Server) fileError(w http.ResponseWriter, r *http.Request, err error, sender string) {
	switch {
	case errors.Is(err, vault.ErrNotFound):
		s.senderProblemPage(w, r, problemNotFound, sender)
	case errors.Is(err, vault.ErrRevoked):
		s.senderProblemPage(w, r, problemWithdrawn, sender)
	case errors.Is(err, vault.ErrExpired):
		s.senderProblemPage(w, r, problemGone, sender)
	case errors.Is(err, vault.ErrLocked):
		s.senderProblemPage(w, r, problemLocked, sender)
	case errors.Is(err, vault.ErrEndToEnd):
		s.errorPage(w, r, http.StatusForbidden, "page.error.signin")
	default:
		s.senderInternalError(w, r, "opening file for download", err, sender)
	}
}

// extendDeadlines replaces the server's WriteTimeout for a download with
// writeStall from now, renewed per chunk by copyOut, so that skipping to a
// range start and a long transfer both fit. ReadTimeout needs nothing: it
// covers reading the request, and net/http clears the read deadline before
// its background read while the handler runs.
func extendDeadlines(rc *http.ResponseController) error {
	if err := rc.SetWriteDeadline(time.Now().Add(writeStall)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("setting write deadline: %w", err)
	}
	return nil
}

// ifRangeAllows applies If-Range: the range is served only when the
// validator is our strong ETag. A date or another tag means the client's
// partial copy may be of something else, so it gets the whole file.
func ifRangeAllows(r *http.Request, etag string) bool {
	v := r.Header.Get("If-Range")
	return v == "" || etag != "" && v == etag
}

// copyOut writes exactly n bytes of src to w. With toEOF it also reads src
// to its end before sending the last chunk, because the decryptor checks the
// message's final authentication tag only there: a tampered tail then
// aborts the download instead of passing unnoticed.
//
// Decryption runs one chunk ahead of the socket in a second goroutine
// (readAhead), so that the CPU decrypts while the kernel sends: serially,
// the two costs add up and downloads fall well behind a plain file server.
//
// Before each chunk it renews the write deadline, so the whole download may
// take as long as the client keeps taking data.
func copyOut(w http.ResponseWriter, rc *http.ResponseController, src io.Reader, n int64, toEOF bool) error {
	if n == 0 && toEOF {
		return checkEOF(src) // an empty file has a tag too
	}
	ra := startReadAhead(src, n, toEOF)
	defer ra.stop()
	for c := range ra.full {
		if len(c.data) > 0 {
			if err := rc.SetWriteDeadline(time.Now().Add(writeStall)); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return fmt.Errorf("setting write deadline: %w", err)
			}
			if _, err := w.Write(c.data); err != nil {
				return fmt.Errorf("writing to client: %w", err)
			}
		}
		if c.err != nil {
			return c.err
		}
		ra.free <- c.buf
	}
	return nil
}
