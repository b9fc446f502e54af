package postfixtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The shipped snippets are what the tests run, so that a mistake in them
// fails a test instead of an installation.
const (
	snippetDir = "configs/postfix"
	// snippetReinject is the reinjection address the master.cf snippet
	// uses (smtp.next_hop's default); tests rebind it to a free port.
	snippetReinject = "127.0.0.1:10026"
)

// snippets returns the active (uncommented) parts of the shipped main.cf
// and master.cf snippets, the reinjection smtpd moved to reinject.
func snippets(reinject string) (mainCF, masterCF string, err error) {
	root, err := repoRoot()
	if err != nil {
		return "", "", err
	}
	mainRaw, err := os.ReadFile(filepath.Join(root, snippetDir, "main.cf.snippet"))
	if err != nil {
		return "", "", err
	}
	masterRaw, err := os.ReadFile(filepath.Join(root, snippetDir, "master.cf.snippet"))
	if err != nil {
		return "", "", err
	}
	entries := activeEntries(string(masterRaw))
	var services []string
	for i, e := range entries {
		name := strings.Fields(e)[0]
		services = append(services, name)
		if name == snippetReinject {
			entries[i] = reinject + strings.TrimPrefix(e, snippetReinject)
		}
	}
	if strings.Join(services, " ") != "sealgate "+snippetReinject {
		return "", "", fmt.Errorf("master.cf.snippet: want exactly the active services sealgate and %s, found %v", snippetReinject, services)
	}
	return strings.Join(activeEntries(string(mainRaw)), "\n"), strings.Join(entries, "\n"), nil
}

// activeEntries splits Postfix configuration text into its active entries:
// a line that starts in column one plus its indented continuation lines.
// Comment lines (even indented ones) end nothing and are dropped, as
// Postfix does.
func activeEntries(text string) []string {
	var entries []string
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
		case line[0] == ' ' || line[0] == '\t':
			if len(entries) > 0 {
				entries[len(entries)-1] += "\n" + strings.TrimRight(line, " \t")
			}
		default:
			entries = append(entries, strings.TrimRight(line, " \t"))
		}
	}
	return entries
}

// repoRoot walks up from the working directory (a package directory under
// go test) to sealgate's go.mod.
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
			return "", errors.New("sealgate's repository root (go.mod) not found above the working directory")
		}
		dir = parent
	}
}
