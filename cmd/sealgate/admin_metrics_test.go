package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"sealgate/vault"
)

// scrapeMetrics fetches /metrics and parses it with the Prometheus text
// parser.
func scrapeMetrics(t *testing.T, adminAddr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// counter returns the value of name's series whose labels include want.
func counter(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("%s missing from /metrics", name)
	}
series:
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v != l.GetValue() {
				continue series
			}
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("%s%v missing from /metrics", name, want)
	return 0
}

// TestMetricsOnAdminListener: /metrics parses, carries the relay's series
// from the start, and the retention counters move when an admin purges.
// No label anywhere holds an address.
func TestMetricsOnAdminListener(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	var expires time.Time
	e.withVault(func(ctx context.Context, v *vault.Vault) {
		id, _ := addTransfer(t, ctx, v, vault.NewTransfer{Level: 1, Sender: "clerk@example.org", Recipients: []string{"citizen@example.net"}}, "a.pdf", []byte("a"))
		info, _ := v.TransferByID(ctx, id)
		expires = info.ExpiresAt
	})
	e.start()
	fams := scrapeMetrics(t, e.adminAddr)
	if n := counter(t, fams, "sealgate_retention_sweeps_total", map[string]string{"result": "ok"}); n < 1 {
		t.Errorf("sweeps at start: %v, want at least 1", n)
	}
	relayed := counter(t, fams, "sealgate_messages_total", map[string]string{"level": "1", "outcome": "relayed"})
	before := counter(t, fams, "sealgate_purged_total", map[string]string{"what": "transfers"})

	e.mustCLI("purge", "--as-of", expires.Add(24*time.Hour).Format(time.RFC3339))
	fams = scrapeMetrics(t, e.adminAddr)
	if got := counter(t, fams, "sealgate_purged_total", map[string]string{"what": "transfers"}); got != before+1 {
		t.Errorf("purged transfers %v -> %v, want +1", before, got)
	}
	if got := counter(t, fams, "sealgate_purged_total", map[string]string{"what": "files"}); got != 1 {
		t.Errorf("purged files: %v, want 1", got)
	}
	// The relay's counter moves when a mail is relayed.
	sendSecure1(t, e.smtp, "x.pdf")
	fams = scrapeMetrics(t, e.adminAddr)
	if got := counter(t, fams, "sealgate_messages_total", map[string]string{"level": "1", "outcome": "relayed"}); got != relayed+1 {
		t.Errorf("relayed level-1 messages %v -> %v after one [secure1] mail, want +1", relayed, got)
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "@") {
					t.Errorf("%s has label %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}
