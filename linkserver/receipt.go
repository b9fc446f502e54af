package linkserver

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sealgate/vault"
)

// countDownload records a complete download of f by who ("" at level 1,
// where nobody signs in) and reports whether it was recorded. The first
// complete download of a file by a signed-in recipient sends the clerk a
// signed receipt when receipts are on. The vault decides "first" in the
// same transaction that records it, so parallel downloads send one receipt.
//
// The bytes are out by now, so the request's end must not cut this short.
func (s *Server) countDownload(r *http.Request, tr vault.Transfer, f vault.File, who string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), notifyTimeout)
	defer cancel()
	at := s.now().UTC().Truncate(time.Second)
	first, err := s.vault.RecordDownload(ctx, tr.ID, f.ID, who, at)
	if err != nil {
		s.log.Error("recording a download", "transfer", tr.ID, "file", f.ID, "err", err)
		return false
	}
	// A level-4 message is one thing to the clerk: the plain text, which
	// every reader fetches, stands for it, and its HTML twin sends no
	// second receipt.
	htmlTwin := f.Kind == vault.KindText && f.ID == vault.TextHTMLID
	if !first || who == "" || !s.cfg.Receipts || s.notifier == nil || htmlTwin {
		return true
	}
	signed, err := s.vault.SignReceipt(ctx, receiptText(s.cfg.PublicURL, tr, f, who, at))
	if err != nil {
		s.log.Error("signing a receipt", "transfer", tr.ID, "file", f.ID, "err", err)
		return true
	}
	if err := s.notifier.Receipt(ctx, tr, signed); err != nil {
		s.log.Error("receipt not sent", "transfer", tr.ID, "file", f.ID, "err", err)
	}
	return true
}

// receiptText is what a receipt states and the gateway signs: one fact per
// line, "Name: value", so that a person reads it and a program parses it
// alike. The names are English and fixed, whatever the clerk's language:
// a receipt is evidence for a case file and must read the same in ten
// years. Times are UTC (RFC 3339).
func receiptText(gateway string, tr vault.Transfer, f vault.File, recipient string, at time.Time) string {
	var b strings.Builder
	line := func(name, value string) {
		// The vault sanitises file names; this keeps one fact per line
		// whatever reaches here.
		value = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, value)
		b.WriteString(name + ": " + value + "\n")
	}
	b.WriteString("sealgate download receipt\n\n")
	line("Reference", tr.ID)
	line("File", f.Name)
	line("SHA-256", f.SHA256)
	line("Size", strconv.FormatInt(f.Size, 10)+" bytes")
	line("Recipient", recipient)
	line("Downloaded", at.UTC().Format(time.RFC3339))
	line("Sender", tr.Sender)
	line("Gateway", gateway)
	return b.String()
}

// receiptKey serves the public key that receipts are signed with.
func (s *Server) receiptKey(w http.ResponseWriter, r *http.Request) {
	b := s.vault.ReceiptPublicKey()
	h := w.Header()
	h.Set("Content-Type", "application/pgp-keys")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	// Public, and meant to be fetched from anywhere (a case-file system,
	// a verifier's script), unlike everything else here.
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
