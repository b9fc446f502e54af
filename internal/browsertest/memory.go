package browsertest

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Memory is what a page holds at one moment.
type Memory struct {
	// JSHeap is the used JavaScript heap of the page's isolate.
	JSHeap int64
	// ArrayBuffers is the memory behind ArrayBuffers and external strings,
	// which JSHeap leaves out: stream chunks and typed arrays live here, so
	// a page that gathers a file in memory shows it here and not in JSHeap.
	ArrayBuffers int64
	// RendererRSS is the resident memory of the browser's page renderer
	// processes together: pages, their frames and workers (service
	// workers included), whichever process the browser put them in.
	RendererRSS int64
}

// Memory measures the page's JavaScript memory (Runtime.getHeapUsage) and
// the renderers' resident memory (/proc).
func (tab *Tab) Memory(t testing.TB) Memory {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, opTimeout)
	defer cancel()
	u, err := chromedp.Call(ctx, runtime.GetHeapUsage, cdp.Empty{})
	if err != nil {
		t.Fatalf("heap usage: %v", err)
	}
	return Memory{
		JSHeap:       int64(u.UsedSize),
		ArrayBuffers: int64(u.BackingStorageSize),
		RendererRSS:  rendererRSS(tab.b.dataDir),
	}
}

// rendererRSS adds up VmRSS of the renderer processes of the browser whose
// profile is dataDir. A process that ends meanwhile counts nothing.
func rendererRSS(dataDir string) int64 {
	var sum int64
	for _, pid := range processesUsing(dataDir) {
		p := "/proc/" + strconv.Itoa(pid)
		cmdline, err := os.ReadFile(p + "/cmdline")
		// Renderers rewrite their command line (NULs may become spaces);
		// the browser's own WebUI renderers are not pages.
		if err != nil || !bytes.Contains(cmdline, []byte("--type=renderer")) || bytes.Contains(cmdline, []byte("--top-chrome-webui")) {
			continue
		}
		status, err := os.ReadFile(p + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				if f := strings.Fields(rest); len(f) == 2 && f[1] == "kB" {
					if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
						sum += kb << 10
					}
				}
			}
		}
	}
	return sum
}
