package smtpproxy

import (
	"errors"
	"fmt"

	"github.com/emersion/go-smtp"

	"sealgate/policy"
	"sealgate/smtpproxy/rewrite"
)

// Replies of our own. go-smtp sends any error that is not exactly an
// *smtp.SMTPError as 554 with the error's text, so every error that leaves a
// session goes through reply first.
var (
	errTempFailure = &smtp.SMTPError{
		Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "temporary failure, please retry",
	}
	errBareLineEnding = &smtp.SMTPError{
		Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: "message refused: it contains a bare CR or LF; every line must end with CRLF",
	}
	errHeaderTooLarge = &smtp.SMTPError{
		Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: "message refused: its header is too large",
	}
	errMalformedHeader = &smtp.SMTPError{
		Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: "message refused: its header cannot be parsed",
	}
	errLineTooLong = &smtp.SMTPError{
		Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: fmt.Sprintf("message refused: a line is longer than %d bytes", maxLineLength),
	}
	errShuttingDown = &smtp.SMTPError{
		Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2},
		Message: "shutting down, please retry later",
	}
	errNoTransaction = &smtp.SMTPError{
		Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1},
		Message: "no mail transaction in progress",
	}
	errNoUTF8NextHop = &smtp.SMTPError{
		Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7},
		Message: "the next hop does not accept SMTPUTF8 mail",
	}
)

// hopError is the next hop's own reply to one of our commands; it is passed
// back to the client as it came.
type hopError struct {
	cmd   string // MAIL, RCPT, DATA or "end of data"
	reply *smtp.SMTPError
}

func (e *hopError) Error() string {
	return fmt.Sprintf("next hop answered %s with %d %d.%d.%d", e.cmd, e.reply.Code,
		e.reply.EnhancedCode[0], e.reply.EnhancedCode[1], e.reply.EnhancedCode[2])
}

// reply turns any error into what the client is told. The second result
// says whether the failure is ours and temporary (then the cause belongs in
// the log, never in the reply).
func reply(err error) (r *smtp.SMTPError, internal bool) {
	var he *hopError
	var bad *rewrite.BadMessageError
	var unknown *policy.UnknownLevelError
	var own *smtp.SMTPError
	switch {
	case errors.As(err, &he):
		r := *he.reply
		if r.Code == 421 {
			// 421 would tell our client that *we* are closing the
			// connection; only the next hop's connection is gone.
			r.Code = 451
		}
		return &r, false
	case errors.As(err, &bad):
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: bad.Reason}, false
	case errors.As(err, &unknown):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: unknown.Error()}, false
	case errors.Is(err, smtp.ErrTooLongLine):
		return errLineTooLong, false
	case errors.As(err, &own):
		// Our own replies above, and go-smtp's ErrDataTooLarge (552 5.3.4).
		return own, false
	}
	return errTempFailure, true
}
