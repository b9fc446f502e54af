package smtptest

import (
	"io"

	"github.com/emersion/go-smtp"
)

// Stage is the point of the SMTP dialogue where a Fault strikes.
type Stage int

// The stages a Fault can strike at.
const (
	// StageConnect: after the TCP connection is accepted, before the greeting.
	StageConnect Stage = iota + 1
	// StageMail: the MAIL command.
	StageMail
	// StageRcpt: the RCPT command.
	StageRcpt
	// StageData: the message body (go-smtp answers DATA with 354 before the
	// body arrives, so a refusal comes as the reply to the final dot).
	StageData
)

// Fault describes one way to misbehave. Exactly one of Reply, Hang, Drop and
// DropAfter should be set.
type Fault struct {
	Stage Stage
	// Rcpt limits a StageRcpt fault to this recipient; "" means any.
	Rcpt string
	// Reply is sent instead of accepting, e.g. a 451 or a 554.
	Reply *smtp.SMTPError
	// Hang never answers (and at StageData reads nothing) until Close.
	Hang bool
	// Drop closes the connection without a reply.
	Drop bool
	// DropAfter, at StageData, reads that many bytes of the body and then
	// closes the connection.
	DropAfter int64
	// Times makes the fault strike that many times and then vanish ("accept
	// after N failures"); 0 means it strikes every time.
	Times int
}

// Inject adds a fault. Faults are matched in the order they were added.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Clear removes every fault.
func (s *Server) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// take returns the fault that strikes now, if any, and uses up one of its
// Times.
func (s *Server) take(stage Stage, rcpt string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Stage != stage || (f.Rcpt != "" && f.Rcpt != rcpt) {
			continue
		}
		hit := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &hit
	}
	return nil
}

// fault applies a MAIL or RCPT fault; nil means carry on.
func (se *session) fault(stage Stage, rcpt string) error {
	f := se.s.take(stage, rcpt)
	switch {
	case f == nil:
		return nil
	case f.Hang:
		<-se.s.done
		return errHung
	case f.Drop:
		_ = se.conn.Close()
		return errDropped
	case f.Reply != nil:
		return f.Reply
	}
	return nil
}

// connectFault handles a StageConnect fault on a fresh connection and reports
// whether it struck (then the connection never reaches the SMTP server).
func (s *Server) connectFault(c io.ReadWriteCloser) bool {
	f := s.take(StageConnect, "")
	if f == nil {
		return false
	}
	if f.Hang {
		go func() {
			// Hold the connection silently until the client gives up or the
			// server closes.
			go func() { <-s.done; _ = c.Close() }()
			_, _ = io.Copy(io.Discard, c)
			_ = c.Close()
		}()
		return true
	}
	_ = c.Close()
	return true
}
