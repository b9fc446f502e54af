// Package browsertest drives Debian's Chromium from Go tests, so that
// sealgate's pages are checked the way recipients see them: rendered, with
// their CSS and scripts, at a phone's and a desktop's width, in a language
// chosen by Accept-Language.
//
// One Browser (one Chromium process, headless, talking to the test over a
// pipe, no network port) serves a whole test and its subtests; each Tab is
// a fresh browser context (own cookies and storage) with its own viewport
// and Accept-Language. Everything a Tab loads must come from 127.0.0.1: the
// browser is started with its background networking switched off.
//
// A Tab fails its test when a page throws a JavaScript error, logs a console
// error, or violates its Content-Security-Policy. Axe runs axe-core (the npm
// devDependency in the repository's node_modules) against the current page.
//
// Without /usr/bin/chromium the tests skip, unless SEALGATE_REQUIRE_PEERS=1
// (set by `make test`) makes them fail.
package browsertest
