package linkserver_test

import (
	"testing"

	"sealgate/internal/metrics"
	"sealgate/linkserver"
)

// The link server declares its Observer instead of importing the metrics
// package; this keeps the two in step: cmd passes a *metrics.Metrics, and
// each result string is one that metrics counts under its own name.
var _ linkserver.Observer = (*metrics.Metrics)(nil)

func TestSignInResultsMatchMetrics(t *testing.T) {
	t.Parallel()
	for got, want := range map[string]string{
		linkserver.SignInOK:        metrics.SignInOK,
		linkserver.SignInWrongCode: metrics.SignInWrongCode,
		linkserver.SignInNoCode:    metrics.SignInNoCode,
		linkserver.SignInTooMany:   metrics.SignInTooMany,
		linkserver.SignInLimited:   metrics.SignInLimited,
	} {
		if got != want {
			t.Errorf("linkserver passes %q where metrics counts %q", got, want)
		}
	}
}
