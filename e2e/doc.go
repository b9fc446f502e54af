// Package e2e holds the tests that run the real sealgate binary with real
// peers: a private Postfix instance as the upstream MTA and the reinjection
// smtpd, swaks as the clerk's mail client, a capture SMTP server standing in
// for the internet, and a DKIM verifier and systemd-analyze that sealgate
// did not write. The package has no code of its own; everything is in its
// _test.go files.
//
// TestMain builds ./cmd/sealgate once per run. The Postfix tests need root
// and the Debian packages postfix, swaks and python3-dkim; they skip without
// them, or fail under SEALGATE_REQUIRE_PEERS=1 as `make test` runs them.
package e2e
