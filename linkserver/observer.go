package linkserver

// Observer is told what recipients did, for the operator's metrics. cmd
// passes sealgate's *metrics.Metrics, which has these methods; the link
// server declares the interface itself so that it does not depend on the
// metrics package. Calls come from request goroutines, concurrently, and
// must not block: they run on the request's path.
type Observer interface {
	// Download is called once per complete, counted download (see
	// countDownload) with the transfer's level and the bytes delivered:
	// the plaintext at levels 1–2, the OpenPGP message at levels 3–4.
	Download(level int, bytes int64)
	// SignIn is called once per sign-in code checked, form or API, with
	// one of the SignIn… results.
	SignIn(result string)
	// CodeSent is called once per sign-in code the Notifier accepted.
	CodeSent()
}

// Results of a sign-in attempt, as passed to Observer.SignIn. The first
// five are the strings sealgate's metrics package counts; SignInError is
// counted there as "other".
const (
	SignInOK        = "ok"           // right code, session started
	SignInWrongCode = "wrong_code"   // wrong code (also the one that locks a transfer)
	SignInNoCode    = "no_code"      // no code pending, it expired, or the address cannot be one
	SignInTooMany   = "too_many"     // the code was tried too often
	SignInLimited   = "rate_limited" // refused by a rate limit before any check
	SignInError     = "error"        // the store failed; the visitor saw the error page
)

// WithObserver reports downloads, sign-ins and mailed codes to o. Without
// it nothing is reported.
func WithObserver(o Observer) Option {
	return func(s *Server) {
		if o != nil {
			s.obs = o
		}
	}
}

// noObserver is the Observer of a server built without WithObserver, so
// that handlers need not check for nil.
type noObserver struct{}

func (noObserver) Download(int, int64) {}
func (noObserver) SignIn(string)       {}
func (noObserver) CodeSent()           {}
