package linkserver

import (
	"net/http"

	"sealgate/vault"
)

// recipientGate decides what the visitor may see of tr. Level 1: everything,
// and nobody signs in (who is ""). Level 2 and above: everything once signed
// in as one of tr's recipients (who is that address); before that, only how
// to sign in (signIn). A visitor signed in as anyone else gets exactly what
// a wrong token gets, charged as a failed guess like one, so the answer
// reveals neither that the link is real nor anything about its recipients.
func (s *Server) recipientGate(r *http.Request, tr vault.Transfer) (who string, signIn bool, p *problem) {
	if tr.Level < 2 {
		return "", false, nil
	}
	email, err := s.signedIn(r)
	switch {
	case err != nil:
		s.logErr(r, "session look-up", err)
		return "", false, problemInternal
	case email == "":
		return "", true, nil
	case vault.IsRecipient(tr, email):
		return email, false, nil
	}
	if d := s.guesses.take(s.clients.of(r), s.now()); d > 0 {
		return "", false, rateLimited(d)
	}
	return "", false, problemNotFound
}
