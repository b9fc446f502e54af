package smtpproxy

import (
	"context"
	"errors"
	"time"

	"github.com/emersion/go-smtp"

	"sealgate/vault"
)

// SenderCopier sends the clerk a copy of what went out (notify.sender_summary):
// *notify.Notifier implements it.
type SenderCopier interface {
	// SenderCopy mails t.Sender the summary of t with a link to the status
	// page /s/{senderToken}.
	SenderCopy(ctx context.Context, t vault.Transfer, senderToken string) error
}

// Observer hears how each message ended; internal/metrics implements it.
type Observer interface {
	// MessageDone is called once per message (each DATA or BDAT), after
	// its reply was decided. level is the message's security level (0 when
	// it failed before the policy decided), outcome one of OutcomeRelayed,
	// OutcomeRefused and OutcomeTempfail, d the time from the start of DATA
	// to the reply, storedBytes the plaintext bytes of the attachments
	// stored for a relayed message (0 otherwise).
	MessageDone(level int, outcome string, d time.Duration, storedBytes int64)
}

// FailureObserver may be implemented by an Observer as well, to count the
// failures an operator alerts on (the Failure* kinds below).
type FailureObserver interface {
	RelayFailure(kind string)
}

// Outcomes passed to Observer.MessageDone.
const (
	OutcomeRelayed  = "relayed"  // every next hop accepted; the client heard 250
	OutcomeRefused  = "refused"  // the client heard a permanent refusal (5xx)
	OutcomeTempfail = "tempfail" // the client heard a temporary refusal (4xx)
)

// Failure kinds passed to FailureObserver.RelayFailure.
const (
	// FailureDKIM: a message was held with 451 because signing failed.
	FailureDKIM = "dkim_sign"
	// FailureSenderCopy: a message was relayed; the clerk's copy was not
	// sent.
	FailureSenderCopy = "sender_copy"
	// FailureStorage: a message was held with 451 because the vault failed
	// (a full disk, a broken database).
	FailureStorage = "storage"
	// FailureCommit: a message was relayed, but its transfer could not be
	// marked committed (it is served all the same; see vault.Draft).
	FailureCommit = "commit"
	// FailureCleanup: what a failed attempt stored could not be removed.
	FailureCleanup = "cleanup"
	// FailureDKIMUnsigned: a level-0 message with an upload link was too
	// large to hold for signing and went out without our signature.
	FailureDKIMUnsigned = "dkim_unsigned"
)

// Sender copies run after the reply, in goroutines of their own, at most
// maxSenderCopies at once. A message waits at most senderCopyWait for a
// free slot before its 250 (the mail is out by then; only the copy is at
// stake), and each copy gets senderCopyTimeout.
const (
	maxSenderCopies   = 16
	senderCopyWait    = 10 * time.Second
	senderCopyTimeout = 2 * time.Minute
)

// observe reports the end of a message; rep is the reply the client gets
// (nil for 250).
func (s *Server) observe(tx *transaction, rep error, d time.Duration) {
	if s.cfg.Observer == nil {
		return
	}
	outcome := OutcomeRelayed
	var stored int64
	var se *smtp.SMTPError
	switch {
	case rep == nil:
		stored = tx.stored
	case errors.As(rep, &se) && se.Code >= 500:
		outcome = OutcomeRefused
	default:
		outcome = OutcomeTempfail
	}
	s.cfg.Observer.MessageDone(tx.level, outcome, d, stored)
}

// failed counts a failure of kind, if the observer counts failures.
func (s *Server) failed(kind string) {
	if fo, ok := s.cfg.Observer.(FailureObserver); ok {
		fo.RelayFailure(kind)
	}
}

// startSenderCopy sends the clerk's copy of a relayed message that stored
// a transfer. It never changes the message's outcome: a copy that cannot
// be sent is logged and counted.
func (s *Server) startSenderCopy(tx *transaction) {
	if s.cfg.SenderCopy == nil || tx.senderToken == "" {
		return
	}
	wait := time.NewTimer(senderCopyWait)
	defer wait.Stop()
	select {
	case s.copySlots <- struct{}{}:
	case <-wait.C:
		tx.log.Warn("smtp: sender copy not sent: too many copies in flight", "transfer", tx.transferID)
		s.failed(FailureSenderCopy)
		return
	case <-s.hardCtx.Done():
		tx.log.Warn("smtp: sender copy not sent: shutting down", "transfer", tx.transferID)
		s.failed(FailureSenderCopy)
		return
	}
	s.copies.Add(1)
	token, id, log := tx.senderToken, tx.transferID, tx.log
	go func() {
		defer s.copies.Done()
		defer func() { <-s.copySlots }()
		// From hardCtx, not the message's context, which ends with the
		// reply: a copy may outlive the session, never the server.
		ctx, cancel := context.WithTimeout(s.hardCtx, senderCopyTimeout)
		defer cancel()
		t, err := s.vault.TransferBySenderToken(ctx, token)
		if err == nil {
			err = s.cfg.SenderCopy.SenderCopy(ctx, t, token)
		}
		if err != nil {
			log.Warn("smtp: sender copy failed", "transfer", id, "err", err)
			s.failed(FailureSenderCopy)
			return
		}
		log.Info("smtp: sender copy sent", "transfer", id)
	}()
}
