package browsertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// AxeTags are the axe-core rule tags checked by default: WCAG 2.0 and 2.1,
// levels A and AA (what BITV 2.0 requires).
var AxeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

// axePath is axe-core's browser build inside the repository, installed by
// `npm ci` from package.json's devDependencies.
const axePath = "node_modules/axe-core/axe.min.js"

// Violation is one axe-core rule that the page breaks.
type Violation struct {
	ID          string `json:"id"`
	Impact      string `json:"impact"`
	Description string `json:"description"`
	Help        string `json:"help"`
	HelpURL     string `json:"helpUrl"`
	Nodes       []struct {
		// Target is the CSS selector path of the element.
		Target         json.RawMessage `json:"target"`
		HTML           string          `json:"html"`
		FailureSummary string          `json:"failureSummary"`
	} `json:"nodes"`
}

// String describes the violation and the elements it concerns.
func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n    %s %s\n      %s", n.Target, n.HTML, strings.ReplaceAll(n.FailureSummary, "\n", "\n      "))
	}
	return b.String()
}

// Axe runs axe-core on the current page with the rules tagged tags (AxeTags
// when none) and returns the violations.
func (tab *Tab) Axe(t testing.TB, tags ...string) []Violation {
	t.Helper()
	src := tab.b.axeSource(t)
	if len(tags) == 0 {
		tags = AxeTags
	}
	// DevTools evaluation is not subject to the page's CSP, so axe-core
	// can be injected into pages that allow no inline script.
	var loaded bool
	tab.Eval(t, `typeof window.axe === "object"`, &loaded)
	if !loaded {
		if err := tab.eval(src+"\n;true", nil); err != nil {
			t.Fatalf("inject axe-core: %v", err)
		}
	}
	opts, _ := json.Marshal(map[string]any{
		"runOnly":     map[string]any{"type": "tag", "values": tags},
		"resultTypes": []string{"violations"},
	})
	var vs []Violation
	tab.Eval(t, `axe.run(document, `+string(opts)+`).then(r => r.violations.map(v => ({
		id: v.id, impact: v.impact, description: v.description, help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map(n => ({target: n.target, html: n.html, failureSummary: n.failureSummary})),
	})))`, &vs)
	return vs
}

// axeSource reads axe-core once per browser.
func (b *Browser) axeSource(t testing.TB) string {
	t.Helper()
	b.axeOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			b.axeErr = err
			return
		}
		src, err := os.ReadFile(filepath.Join(root, axePath))
		if err != nil {
			b.axeErr = fmt.Errorf("axe-core not installed (run `npm ci` in the repository): %w", err)
			return
		}
		b.axeSrc = string(src)
	})
	if b.axeErr != nil {
		missingPeer(t, "%v", b.axeErr)
	}
	return b.axeSrc
}

// repoRoot walks up from the working directory to sealgate's go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module sealgate\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("sealgate's go.mod not found above the working directory")
		}
		dir = parent
	}
}
