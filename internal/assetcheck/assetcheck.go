// Package assetcheck computes and checks the Subresource Integrity of the
// browser libraries that sealgate embeds (linkserver/assets/vendor). The
// copies there come from npm through scripts/assets.sh and are never
// edited by hand; this package's tests fail when a copy drifts from
// node_modules or from its recorded hash, and pages use Integrity to print
// the integrity attribute of their script tags.
package assetcheck

import (
	"bufio"
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"strings"
)

// Integrity returns the Subresource Integrity value of b, as a script
// tag's integrity attribute takes it: "sha384-" and the base64 digest.
func Integrity(b []byte) string {
	sum := sha512.Sum384(b)
	return "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
}

// Entry is one line of SRI.txt: a vendored file, the npm package version
// it came from, and its integrity.
type Entry struct {
	File      string
	Version   string
	Integrity string
}

// ParseSRI reads SRI.txt as scripts/assets.sh writes it: comment lines
// start with '#', every other line is "file version integrity".
func ParseSRI(data []byte) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || !strings.HasPrefix(f[2], "sha384-") {
			return nil, fmt.Errorf("assetcheck: SRI.txt line %d: want \"file version sha384-...\"", n)
		}
		out = append(out, Entry{File: f[0], Version: f[1], Integrity: f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("assetcheck: reading SRI.txt: %w", err)
	}
	return out, nil
}
