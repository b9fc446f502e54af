package browsertest

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// Download is one download of a Tab that has ended.
type Download struct {
	// Name is the file name the page gave it (Content-Disposition).
	Name string
	// Path is the saved file, in the directory given to AllowDownloads
	// and named by Chromium's download ID. Empty when Err is set.
	Path string
	// Bytes is how many bytes Chromium received.
	Bytes int64
	// Err says why the download did not complete: the page or the person
	// cancelled it, or the stream behind it failed.
	Err error
}

// downloadQueue is how many ended downloads AllowDownloads' channel holds
// for a test that has not read them yet.
const downloadQueue = 16

// AllowDownloads lets the tab save downloads into dir and returns a channel
// that receives each download of the tab once it ends, complete or not.
// Headless Chromium refuses every download until told where files go, so a
// page's download (a link, a Content-Disposition: attachment response, a
// service worker's stream) fails without this. Files are named by
// Chromium's download ID, so two downloads of one name do not collide.
// The channel stops receiving when t ends; beyond 16 unread downloads
// their order is lost.
func (tab *Tab) AllowDownloads(t testing.TB, dir string) <-chan Download {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatalf("allow downloads: %v", err)
	}
	ctx, cancel := context.WithCancel(tab.ctx)
	t.Cleanup(cancel)
	ch := make(chan Download, downloadQueue)
	var mu sync.Mutex
	names := map[string]string{} // download ID -> the page's file name
	// The behaviour is set through the tab's own session, so the download
	// events come to that session: they are this tab's downloads only.
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *browser.EventDownloadWillBegin:
			mu.Lock()
			names[ev.GUID] = ev.SuggestedFilename
			mu.Unlock()
		case *browser.EventDownloadProgress:
			if ev.State == browser.DownloadProgressStateInProgress {
				return
			}
			mu.Lock()
			d := Download{Name: names[ev.GUID], Bytes: int64(ev.ReceivedBytes)}
			delete(names, ev.GUID)
			mu.Unlock()
			if ev.State == browser.DownloadProgressStateCompleted {
				d.Path = ev.FilePath
				if d.Path == "" {
					d.Path = filepath.Join(abs, ev.GUID)
				}
			} else {
				d.Err = fmt.Errorf("download of %q ended %s after %d bytes", d.Name, ev.State, d.Bytes)
			}
			select {
			case ch <- d:
			default:
				// fn must not block Chromium's reader; see downloadQueue.
				go func() {
					select {
					case ch <- d:
					case <-ctx.Done():
					}
				}()
			}
		}
	}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}
	events := true
	cctx, ccancel := context.WithTimeout(tab.ctx, opTimeout)
	defer ccancel()
	if _, err := chromedp.Call(cctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior:         browser.SetDownloadBehaviorBehaviorAllowAndName,
		BrowserContextID: chromedp.FromContext(tab.ctx).BrowserContextID,
		DownloadPath:     abs,
		EventsEnabled:    &events,
	}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}
	return ch
}
