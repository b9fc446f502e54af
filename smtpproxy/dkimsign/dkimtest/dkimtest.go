// Package dkimtest verifies DKIM signatures in tests with a verifier that
// sealgate did not write: python3-dkim (dkimpy), the library behind Debian's
// dkimverify. dkimverify itself can only ask real DNS, so the test answers
// the key query itself through dkim.verify's dnsfunc hook.
package dkimtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// dkimverify is the Debian command whose interpreter has the dkim module.
const dkimverify = "/usr/bin/dkimverify"

// script reads the message on stdin and the DNS answers as name/value
// argument pairs; it exits 0 for a valid first signature, 1 otherwise, and
// logs dkimpy's reasons to stderr.
const script = `
import logging, sys
import dkim
records = {}
args = sys.argv[1:]
for i in range(0, len(args), 2):
    records[args[i].rstrip('.').lower()] = args[i + 1].encode()
asked = []
def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    name = name.rstrip('.').lower()
    asked.append(name)
    return records.get(name)
logging.basicConfig(stream=sys.stderr, level=logging.DEBUG, format='dkimpy: %(message)s')
msg = sys.stdin.buffer.read()
ok = dkim.verify(msg, logger=logging.getLogger('dkimpy'), dnsfunc=dnsfunc)
print('dkimpy: %s (asked DNS for %s)' % ('pass' if ok else 'fail', ', '.join(asked) or 'nothing'))
sys.exit(0 if ok else 1)
`

// Python returns the interpreter that has python3-dkim, or skips t (fails
// it under SEALGATE_REQUIRE_PEERS=1) when there is none.
func Python(t testing.TB) string {
	t.Helper()
	py := interpreter()
	if py != "" {
		if err := exec.Command(py, "-c", "import dkim").Run(); err == nil {
			return py
		}
	}
	msg := "python3-dkim is not installed (Debian package python3-dkim provides " + dkimverify + "); cannot check DKIM with an independent verifier"
	if os.Getenv("SEALGATE_REQUIRE_PEERS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// interpreter reads dkimverify's #! line, so that the python that has the
// module is used even when another python3 comes first in PATH.
func interpreter() string {
	f, err := os.Open(dkimverify)
	if err != nil {
		if p, err := exec.LookPath("python3"); err == nil {
			return p
		}
		return ""
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	if py, ok := strings.CutPrefix(strings.TrimSpace(line), "#!"); ok {
		fields := strings.Fields(py)
		if len(fields) > 0 {
			if fields[0] == "/usr/bin/env" && len(fields) > 1 {
				p, _ := exec.LookPath(fields[1])
				return p
			}
			return fields[0]
		}
	}
	return ""
}

// Verify checks the first DKIM-Signature of msg with dkimpy. records maps
// DNS names (selector._domainkey.domain) to TXT values. It returns nil for a
// valid signature and otherwise an error carrying dkimpy's own explanation.
func Verify(t testing.TB, msg []byte, records map[string]string) error {
	t.Helper()
	py := Python(t)
	args := []string{"-c", script}
	for name, txt := range records {
		args = append(args, name, txt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, args...)
	cmd.Stdin = bytes.NewReader(msg)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("dkimpy: %w\n%s", err, out.String())
	}
	return nil
}
