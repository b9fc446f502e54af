package assetcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// repoRoot is where package.json lives, two levels up from here.
const repoRoot = "../.."

var vendorDir = filepath.Join(repoRoot, "linkserver", "assets", "vendor")

func readSRI(t *testing.T) []Entry {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(vendorDir, "SRI.txt"))
	if err != nil {
		t.Fatalf("SRI.txt: %v (run scripts/assets.sh)", err)
	}
	entries, err := ParseSRI(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("SRI.txt lists no file")
	}
	return entries
}

// TestVendoredIntegrity checks that every vendored file has the integrity
// that SRI.txt records for it, so a page's integrity attribute (computed
// from the embedded bytes or copied from SRI.txt) matches what is served.
func TestVendoredIntegrity(t *testing.T) {
	t.Parallel()
	for _, e := range readSRI(t) {
		b, err := os.ReadFile(filepath.Join(vendorDir, e.File))
		if err != nil {
			t.Fatalf("%s: %v", e.File, err)
		}
		if got := Integrity(b); got != e.Integrity {
			t.Errorf("%s: integrity %s, SRI.txt says %s (run scripts/assets.sh; never edit vendored files)", e.File, got, e.Integrity)
		}
	}
}

// TestVendoredMatchesLockfile checks that SRI.txt names the version that
// package-lock.json pins, and, when node_modules is installed, that the
// vendored copy is byte for byte the package's dist file.
func TestVendoredMatchesLockfile(t *testing.T) {
	t.Parallel()
	var lock struct {
		Packages map[string]struct {
			Version   string `json:"version"`
			Integrity string `json:"integrity"`
			Resolved  string `json:"resolved"`
		} `json:"packages"`
	}
	data, err := os.ReadFile(filepath.Join(repoRoot, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &lock); err != nil {
		t.Fatalf("package-lock.json: %v", err)
	}
	pkg, ok := lock.Packages["node_modules/openpgp"]
	if !ok || pkg.Version == "" || pkg.Integrity == "" {
		t.Fatalf("package-lock.json pins no openpgp version with an integrity hash: %+v", pkg)
	}
	for name, p := range lock.Packages {
		if p.Resolved != "" {
			t.Errorf("package-lock.json records where %s came from (%q); .npmrc's omit-lockfile-registry-resolved keeps registry names out", name, p.Resolved)
		}
	}
	for _, e := range readSRI(t) {
		if e.File == "openpgp.min.mjs" && e.Version != pkg.Version {
			t.Errorf("vendored openpgp %s, package-lock.json pins %s (run scripts/assets.sh)", e.Version, pkg.Version)
		}
	}

	src, err := os.ReadFile(filepath.Join(repoRoot, "node_modules", "openpgp", "dist", "openpgp.min.mjs"))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("node_modules not installed (npm ci): the byte comparison with the npm package is skipped")
	}
	if err != nil {
		t.Fatal(err)
	}
	var mod struct {
		Version string `json:"version"`
	}
	if b, err := os.ReadFile(filepath.Join(repoRoot, "node_modules", "openpgp", "package.json")); err == nil {
		_ = json.Unmarshal(b, &mod)
	}
	if mod.Version != pkg.Version {
		t.Skipf("node_modules holds openpgp %s, the lockfile pins %s: run npm ci", mod.Version, pkg.Version)
	}
	got, err := os.ReadFile(filepath.Join(vendorDir, "openpgp.min.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, src) {
		t.Error("linkserver/assets/vendor/openpgp.min.mjs differs from node_modules/openpgp/dist/openpgp.min.mjs (run scripts/assets.sh; never edit vendored files)")
	}
}

func TestParseSRI(t *testing.T) {
	t.Parallel()
	got, err := ParseSRI([]byte("# c\n\na.mjs 1.0 sha384-AAAA\n"))
	if err != nil || len(got) != 1 || got[0] != (Entry{"a.mjs", "1.0", "sha384-AAAA"}) {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := ParseSRI([]byte("a.mjs sha384-AAAA\n")); err == nil {
		t.Fatal("short line accepted")
	}
}
