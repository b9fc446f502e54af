package dkimsign

import "github.com/emersion/go-message/textproto"

// signatureField is the header field a DKIM signature lives in.
const signatureField = "DKIM-Signature"

// StripSignatures removes every DKIM-Signature field from h and reports how
// many there were. Call it on the top-level header of every message the
// rewrite changed: taking out attachments changes the body and removing the
// tag changes Subject, so every signature made before sealgate is broken,
// and a broken signature is worse than none (DMARC treats it as a failure
// and some receivers score it as forgery). Untouched level-0 mail keeps its
// signatures.
func StripSignatures(h *textproto.Header) int {
	n := len(h.Values(signatureField))
	h.Del(signatureField)
	return n
}
