package browsertest

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// SetFiles chooses the files at paths in the file input matching sel, as a
// person does in the file picker: the input's change event fires.
func (tab *Tab) SetFiles(t testing.TB, sel string, paths ...string) {
	t.Helper()
	tab.do(t, "choose files for "+sel, chromedp.SetUploadFiles(chromedp.CSS(sel), paths))
}
