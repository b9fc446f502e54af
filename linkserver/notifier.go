package linkserver

import (
	"context"

	"sealgate/vault"
)

// Notifier sends the mail that the web side causes. cmd hands the server
// one backed by the outbound SMTP client (package notify); each call
// returns only once the next hop accepted the mail or refused it, so a
// failure can be shown to the person waiting for it.
type Notifier interface {
	// LoginCode mails a sign-in code to the address to, in lang ("de" or
	// "en", the language of the page the code was asked for on).
	LoginCode(ctx context.Context, to, code, lang string) error
	// LockNotice tells t.Sender that t was locked after too many wrong
	// sign-in codes by its recipients.
	LockNotice(ctx context.Context, t vault.Transfer) error
	// Receipt sends t.Sender a receipt for a recipient's first complete
	// download of a file: signedText is the OpenPGP clear-signed text
	// (see receiptText), to be sent unchanged.
	Receipt(ctx context.Context, t vault.Transfer, signedText string) error
}

// Option changes how New builds the server.
type Option func(*Server)

// WithNotifier makes the server send sign-in codes, lock notices and
// receipts through n. Without a notifier, sign-in answers that mail is not
// configured (503), and no lock notice or receipt goes out.
func WithNotifier(n Notifier) Option {
	return func(s *Server) { s.notifier = n }
}
