// Package metrics holds sealgate's Prometheus collectors. Each process makes
// one Metrics with New; it owns its own registry (never the global default
// one), and /metrics on the admin listener serves that registry.
//
// Labels come only from small fixed sets (a level 0–4, an outcome from a
// list), never from addresses, tokens, file names or anything a sender or
// recipient chooses, so the number of series stays bounded and nothing
// personal reaches the monitoring system. Values outside a set are counted
// under "other".
//
// Every method is safe on a nil *Metrics and then does nothing, so packages
// can take an optional observer without checking for nil.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Outcomes of a relayed message (MessageDone).
const (
	OutcomeRelayed  = "relayed"  // the next hop accepted; 250 went to the client
	OutcomeRefused  = "refused"  // a permanent refusal (5xx) went to the client
	OutcomeTempfail = "tempfail" // a temporary refusal (4xx) went to the client
)

// Sign-in results (SignIn).
const (
	SignInOK        = "ok"           // right code, session started
	SignInWrongCode = "wrong_code"   // wrong code
	SignInNoCode    = "no_code"      // no code pending, or it expired
	SignInTooMany   = "too_many"     // the code was tried too often
	SignInLimited   = "rate_limited" // refused by a rate limit before any check
)

// Relay failure kinds (RelayFailure): the failures an operator alerts on.
const (
	FailureDKIM       = "dkim_sign"   // a message was held with 451 because signing failed
	FailureSenderCopy = "sender_copy" // a message went out; the clerk's copy did not
	// FailureStorage: a message got 451 because storage failed.
	FailureStorage = "storage"
	// FailureCommit: the next hop accepted, but marking the transfer
	// committed failed (the links still work).
	FailureCommit = "commit"
	// FailureCleanup: removing what a failed attempt stored failed.
	FailureCleanup = "cleanup"
	// FailureDKIMUnsigned: a large level-0 upload-request mail went out
	// without sealgate's signature.
	FailureDKIMUnsigned = "dkim_unsigned"
)

// Warning kinds (WarningSent, WarningFailed).
const (
	WarningAccountInactive = "account_inactive"
	WarningExpiredUnread   = "expired_unread"
)

const other = "other"

var (
	levels        = []string{"0", "1", "2", "3", "4"}
	outcomes      = []string{OutcomeRelayed, OutcomeRefused, OutcomeTempfail}
	signInResults = []string{SignInOK, SignInWrongCode, SignInNoCode, SignInTooMany, SignInLimited}
	warningKinds  = []string{WarningAccountInactive, WarningExpiredUnread}
	mailKinds     = []string{"upload", "reply"}
	mailEvents    = []string{"queued", "delivered", "deferred", "failed"}
	failureKinds  = []string{FailureDKIM, FailureSenderCopy, FailureStorage, FailureCommit, FailureCleanup, FailureDKIMUnsigned}
	purgedKinds   = []string{"transfers", "files", "accounts", "sessions", "login_codes", "keys", "orphans"}
)

// Metrics is the set of collectors of one sealgate process.
type Metrics struct {
	reg *prometheus.Registry

	messages     *prometheus.CounterVec
	relayLatency *prometheus.HistogramVec
	relayFails   *prometheus.CounterVec
	storedBytes  *prometheus.CounterVec
	downloads    *prometheus.CounterVec
	downloadB    *prometheus.CounterVec
	signIns      *prometheus.CounterVec
	codesSent    prometheus.Counter
	purged       *prometheus.CounterVec
	sweeps       *prometheus.CounterVec
	lastSweep    prometheus.Gauge
	warnings     *prometheus.CounterVec
	warnFailures *prometheus.CounterVec
	ownMail      *prometheus.CounterVec
}

// New makes the collectors and registers them, with the Go runtime and
// process collectors, in a registry of their own.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_messages_total",
			Help: "Messages the relay finished, by security level (0-4) and outcome (relayed, refused, tempfail).",
		}, []string{"level", "outcome"}),
		relayLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sealgate_relay_duration_seconds",
			Help: "Time from the DATA command (receiving the body included) to the answer given to the client, by security level.",
			// From a pass-through on loopback (milliseconds) to a 1 GiB
			// message stored and relayed (minutes).
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"level"}),
		relayFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_relay_failures_total",
			Help: "Relay failures an operator alerts on, by kind (dkim_sign: message held with 451; sender_copy: the clerk's copy was not sent).",
		}, []string{"kind"}),
		storedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_stored_bytes_total",
			Help: "Plaintext bytes of attachments stored (encrypted) in the vault, by security level.",
		}, []string{"level"}),
		downloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_downloads_total",
			Help: "Complete file downloads, by security level.",
		}, []string{"level"}),
		downloadB: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_download_bytes_total",
			Help: "Bytes sent by complete file downloads, by security level.",
		}, []string{"level"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_signins_total",
			Help: "Sign-in attempts with a code, by result (ok, wrong_code, no_code, too_many, rate_limited).",
		}, []string{"result"}),
		codesSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealgate_login_codes_sent_total",
			Help: "Sign-in codes mailed.",
		}),
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_purged_total",
			Help: "Things deleted by retention (transfers, files, accounts, sessions, login_codes, keys, orphans).",
		}, []string{"what"}),
		sweeps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_retention_sweeps_total",
			Help: "Retention sweeps run, by result (ok, error).",
		}, []string{"result"}),
		lastSweep: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sealgate_retention_last_success_timestamp_seconds",
			Help: "Unix time of the last retention sweep that finished without error (0: none yet).",
		}),
		warnings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_warnings_sent_total",
			Help: "Retention warning mails sent, by kind (account_inactive, expired_unread).",
		}, []string{"kind"}),
		ownMail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_queued_mail_total",
			Help: "Mail sealgate writes itself and keeps until delivered (uploads and replies to clerks), by kind and event (queued, delivered, deferred, failed). Alert on failed.",
		}, []string{"kind", "event"}),
		warnFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_warnings_failed_total",
			Help: "Retention warning mails that could not be sent (retried at the next sweep), by kind.",
		}, []string{"kind"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.messages, m.relayLatency, m.relayFails, m.storedBytes, m.downloads, m.downloadB, m.signIns, m.codesSent,
		m.purged, m.sweeps, m.lastSweep, m.warnings, m.warnFailures, m.ownMail,
	)
	// Every series exists from the start at zero, so that rate() and
	// alerts see the first event and a scrape shows what is measured.
	for _, l := range levels {
		for _, o := range outcomes {
			m.messages.WithLabelValues(l, o)
		}
		m.relayLatency.WithLabelValues(l)
		m.storedBytes.WithLabelValues(l)
		m.downloads.WithLabelValues(l)
		m.downloadB.WithLabelValues(l)
	}
	for _, k := range failureKinds {
		m.relayFails.WithLabelValues(k)
	}
	for _, r := range signInResults {
		m.signIns.WithLabelValues(r)
	}
	for _, k := range purgedKinds {
		m.purged.WithLabelValues(k)
	}
	for _, r := range []string{"ok", "error"} {
		m.sweeps.WithLabelValues(r)
	}
	for _, k := range warningKinds {
		m.warnings.WithLabelValues(k)
		m.warnFailures.WithLabelValues(k)
	}
	for _, k := range mailKinds {
		for _, e := range mailEvents {
			m.ownMail.WithLabelValues(k, e)
		}
	}
	return m
}

// Registry returns the process's registry, for tests and for collectors
// that other packages may add.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, MaxRequestsInFlight: 4})
}

// MessageDone records one message the relay finished: its level (0–4),
// the outcome given to the client (OutcomeRelayed, OutcomeRefused,
// OutcomeTempfail), the time from the DATA command to that answer, and the
// plaintext bytes it stored in the vault (0 for level 0 or when nothing was
// kept). Stored bytes count only for relayed messages: a refused message's
// transfer was aborted.
func (m *Metrics) MessageDone(level int, outcome string, d time.Duration, storedBytes int64) {
	if m == nil {
		return
	}
	l := levelLabel(level)
	m.messages.WithLabelValues(l, oneOf(outcome, outcomes)).Inc()
	m.relayLatency.WithLabelValues(l).Observe(d.Seconds())
	if outcome == OutcomeRelayed && storedBytes > 0 {
		m.storedBytes.WithLabelValues(l).Add(float64(storedBytes))
	}
}

// RelayFailure records one relay failure of kind (FailureDKIM,
// FailureSenderCopy); smtpproxy calls it when its Observer implements
// smtpproxy.FailureObserver.
func (m *Metrics) RelayFailure(kind string) {
	if m == nil {
		return
	}
	m.relayFails.WithLabelValues(oneOf(kind, failureKinds)).Inc()
}

// Download records one complete file download of bytes bytes from a
// transfer of the given level.
func (m *Metrics) Download(level int, bytes int64) {
	if m == nil {
		return
	}
	l := levelLabel(level)
	m.downloads.WithLabelValues(l).Inc()
	if bytes > 0 {
		m.downloadB.WithLabelValues(l).Add(float64(bytes))
	}
}

// SignIn records one sign-in attempt with a code and its result (SignInOK,
// SignInWrongCode, SignInNoCode, SignInTooMany, SignInLimited).
func (m *Metrics) SignIn(result string) {
	if m == nil {
		return
	}
	m.signIns.WithLabelValues(oneOf(result, signInResults)).Inc()
}

// CodeSent records one sign-in code mailed.
func (m *Metrics) CodeSent() {
	if m == nil {
		return
	}
	m.codesSent.Inc()
}

// Purged records what one retention run deleted.
func (m *Metrics) Purged(transfers, files, accounts, sessions, loginCodes, keys, orphans int) {
	if m == nil {
		return
	}
	for i, n := range []int{transfers, files, accounts, sessions, loginCodes, keys, orphans} {
		if n > 0 {
			m.purged.WithLabelValues(purgedKinds[i]).Add(float64(n))
		}
	}
}

// SweepDone records the end of one retention sweep at the given time.
func (m *Metrics) SweepDone(ok bool, at time.Time) {
	if m == nil {
		return
	}
	if !ok {
		m.sweeps.WithLabelValues("error").Inc()
		return
	}
	m.sweeps.WithLabelValues("ok").Inc()
	m.lastSweep.Set(float64(at.Unix()))
}

// WarningSent records one retention warning mailed (WarningAccountInactive,
// WarningExpiredUnread).
func (m *Metrics) WarningSent(kind string) {
	if m == nil {
		return
	}
	m.warnings.WithLabelValues(oneOf(kind, warningKinds)).Inc()
}

// WarningFailed records one retention warning that could not be sent.
func (m *Metrics) WarningFailed(kind string) {
	if m == nil {
		return
	}
	m.warnFailures.WithLabelValues(oneOf(kind, warningKinds)).Inc()
}

func levelLabel(level int) string {
	if level < 0 || level >= len(levels) {
		return other
	}
	return strconv.Itoa(level)
}

// oneOf keeps label values inside a fixed set.
func oneOf(v string, set []string) string {
	for _, s := range set {
		if v == s {
			return v
		}
	}
	return other
}

func (m *Metrics) mail(kind, event string) {
	if m == nil {
		return
	}
	m.ownMail.WithLabelValues(oneOf(kind, mailKinds), event).Inc()
}

// MailQueued records one of sealgate's own mails put into the queue
// (mailqueue.Observer).
func (m *Metrics) MailQueued(kind string) { m.mail(kind, "queued") }

// MailDelivered records one queued mail accepted by the next hop.
func (m *Metrics) MailDelivered(kind string) { m.mail(kind, "delivered") }

// MailDeferred records one delivery attempt that will be retried.
func (m *Metrics) MailDeferred(kind string) { m.mail(kind, "deferred") }

// MailFailed records one queued mail given up on.
func (m *Metrics) MailFailed(kind string) { m.mail(kind, "failed") }
