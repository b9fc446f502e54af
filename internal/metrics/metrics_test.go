package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches the handler's output and parses it with the Prometheus
// text parser, as a Prometheus server would.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return fams
}

// value returns the value of the series of family name whose labels
// include want, and how many series matched.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, int) {
	f := fams[name]
	if f == nil {
		return 0, 0
	}
	var v float64
	var n int
series:
	for _, s := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range s.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, val := range want {
			if have[k] != val {
				continue series
			}
		}
		n++
		switch {
		case s.Counter != nil:
			v += s.GetCounter().GetValue()
		case s.Gauge != nil:
			v += s.GetGauge().GetValue()
		case s.Histogram != nil:
			v += float64(s.GetHistogram().GetSampleCount())
		}
	}
	return v, n
}

func TestCountersMoveAndLabelsStayBounded(t *testing.T) {
	t.Parallel()
	m := New()
	before := scrape(t, m)
	if v, n := value(before, "sealgate_messages_total", map[string]string{"level": "1", "outcome": "relayed"}); n != 1 || v != 0 {
		t.Fatalf("relayed level 1 before: %v (%d series), want one series at 0", v, n)
	}
	for _, want := range []string{"go_goroutines", "process_start_time_seconds"} {
		if before[want] == nil {
			t.Errorf("%s missing: Go and process collectors not registered", want)
		}
	}

	m.MessageDone(1, OutcomeRelayed, 30*time.Millisecond, 4096)
	m.MessageDone(1, OutcomeRelayed, 40*time.Millisecond, 1000)
	m.MessageDone(3, OutcomeTempfail, time.Second, 999) // aborted: stores nothing
	// Unknown values are folded, never turned into new label values.
	m.MessageDone(17, "alice@example.org", time.Second, 0)
	m.SignIn("token-abc")
	m.Download(2, 100)
	m.CodeSent()
	m.Purged(2, 3, 1, 0, 0, 0, 0)
	m.SweepDone(true, time.Unix(1700000000, 0))
	m.WarningSent(WarningExpiredUnread)
	m.RelayFailure(FailureSenderCopy)

	after := scrape(t, m)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"sealgate_messages_total", map[string]string{"level": "1", "outcome": "relayed"}, 2},
		{"sealgate_messages_total", map[string]string{"level": "3", "outcome": "tempfail"}, 1},
		{"sealgate_messages_total", map[string]string{"level": "other", "outcome": "other"}, 1},
		{"sealgate_relay_duration_seconds", map[string]string{"level": "1"}, 2},
		{"sealgate_stored_bytes_total", map[string]string{"level": "1"}, 5096},
		{"sealgate_stored_bytes_total", map[string]string{"level": "3"}, 0},
		{"sealgate_signins_total", map[string]string{"result": "other"}, 1},
		{"sealgate_downloads_total", map[string]string{"level": "2"}, 1},
		{"sealgate_download_bytes_total", map[string]string{"level": "2"}, 100},
		{"sealgate_login_codes_sent_total", nil, 1},
		{"sealgate_purged_total", map[string]string{"what": "transfers"}, 2},
		{"sealgate_purged_total", map[string]string{"what": "files"}, 3},
		{"sealgate_purged_total", map[string]string{"what": "accounts"}, 1},
		{"sealgate_retention_sweeps_total", map[string]string{"result": "ok"}, 1},
		{"sealgate_retention_last_success_timestamp_seconds", nil, 1700000000},
		{"sealgate_warnings_sent_total", map[string]string{"kind": "expired_unread"}, 1},
		{"sealgate_relay_failures_total", map[string]string{"kind": "sender_copy"}, 1},
		{"sealgate_relay_failures_total", map[string]string{"kind": "dkim_sign"}, 0},
	}
	for _, c := range checks {
		if got, n := value(after, c.name, c.labels); n == 0 || got != c.want {
			t.Errorf("%s%v = %v (%d series), want %v", c.name, c.labels, got, n, c.want)
		}
	}
	for name, f := range after {
		if !strings.HasPrefix(name, "sealgate_") {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if strings.ContainsAny(l.GetValue(), "@-") {
					t.Errorf("%s has label %s=%q: labels must come from fixed sets", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

func TestRegistriesAreIndependent(t *testing.T) {
	t.Parallel()
	a, b := New(), New()
	a.CodeSent()
	if v, _ := value(scrape(t, b), "sealgate_login_codes_sent_total", nil); v != 0 {
		t.Errorf("a second Metrics sees the first one's count %v: shared state", v)
	}
}

func TestNilMetricsIsANoOp(t *testing.T) {
	t.Parallel()
	var m *Metrics
	m.MessageDone(1, OutcomeRelayed, time.Second, 1)
	m.Download(1, 1)
	m.SignIn(SignInOK)
	m.CodeSent()
	m.Purged(1, 1, 1, 1, 1, 1, 1)
	m.SweepDone(false, time.Now())
	m.WarningSent(WarningAccountInactive)
	m.WarningFailed(WarningAccountInactive)
	m.RelayFailure(FailureDKIM)
}

func TestQueuedMailEvents(t *testing.T) {
	m := New()
	m.MailQueued("upload")
	m.MailDeferred("upload")
	m.MailDelivered("upload")
	m.MailFailed("reply")
	m.MailQueued("someone@example.org") // never a label of its own
	fams := scrape(t, m)
	for _, c := range []struct {
		kind, event string
		want        float64
	}{{"upload", "queued", 1}, {"upload", "deferred", 1}, {"upload", "delivered", 1}, {"reply", "failed", 1}, {"reply", "queued", 0}, {"other", "queued", 1}} {
		if v, n := value(fams, "sealgate_queued_mail_total", map[string]string{"kind": c.kind, "event": c.event}); v != c.want || n != 1 {
			t.Errorf("%s/%s: %v in %d series, want %v in 1", c.kind, c.event, v, n, c.want)
		}
	}
}
