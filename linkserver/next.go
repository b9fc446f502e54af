package linkserver

import (
	"net/url"
	"strings"
)

// safeNext returns where to send the browser after sign-in or sign-out:
// next when it is one of our own pages that a sign-in is for (the home
// page, a transfer page, a status page, the key page), otherwise "/".
// Anything else (another host, "//host", a backslash, a path with dot
// segments) is ignored, so a crafted link cannot turn the sign-in into an
// open redirect.
func safeNext(next string) string {
	switch {
	case next == "/", next == "/key":
		return next
	case transferTokenOf(next) != "", senderTokenOf(next) != "":
		return next
	case tokenAfter(next, "/u/") != "", tokenAfter(next, "/r/") != "":
		return next
	case transferTokenOf(strings.TrimSuffix(next, "/reply")) != "" && strings.HasSuffix(next, "/reply"):
		return next
	}
	return "/"
}

// transferTokenOf returns the link token of a transfer page path
// "/t/{token}", or "".
func transferTokenOf(p string) string { return tokenAfter(p, "/t/") }

// senderTokenOf returns the token of a status page path "/s/{token}", or "".
func senderTokenOf(p string) string { return tokenAfter(p, "/s/") }

func tokenAfter(p, prefix string) string {
	tok, ok := strings.CutPrefix(p, prefix)
	if !ok || !plausibleToken(tok) {
		return ""
	}
	return tok
}

// transferPath is the root-relative address of a transfer page.
func transferPath(token string) string { return "/t/" + url.PathEscape(token) }

// statusPath is the root-relative address of a sender status page.
func statusPath(token string) string { return "/s/" + url.PathEscape(token) }
