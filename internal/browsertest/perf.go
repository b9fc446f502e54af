package browsertest

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"
)

// JSHeapUsed returns the bytes of JavaScript heap the page uses now, from
// the Performance domain's JSHeapUsedSize metric.
func (tab *Tab) JSHeapUsed(t testing.TB) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, opTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, performance.Enable, performance.EnableParams{}); err != nil {
		t.Fatalf("performance metrics: %v", err)
	}
	res, err := chromedp.Call(ctx, performance.GetMetrics, cdp.Empty{})
	if err != nil {
		t.Fatalf("performance metrics: %v", err)
	}
	for _, m := range res.Metrics {
		if m.Name == "JSHeapUsedSize" {
			return int64(m.Value)
		}
	}
	t.Fatal("performance metrics: no JSHeapUsedSize")
	return 0
}
