package linkserver

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientIP finds the address a request came from. X-Forwarded-For is read
// only when the direct peer is a trusted proxy, and then from the right: the
// right-most address that is not itself a trusted proxy is the client, since
// everything left of it could have been written by the client.
type clientIP struct{ trusted []netip.Prefix }

func (c clientIP) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (c clientIP) of(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		// Only odd transports (tests, unix sockets) get here; they share one bucket.
		return netip.IPv4Unspecified()
	}
	peer := ap.Addr().Unmap()
	if !c.isTrusted(peer) {
		return peer
	}
	hops := r.Header.Values("X-Forwarded-For")
	var all []string
	for _, h := range hops {
		all = append(all, strings.Split(h, ",")...)
	}
	for i := len(all) - 1; i >= 0; i-- {
		a, ok := parseHop(all[i])
		if !ok {
			// A hop we cannot read: the last address we could trust is the
			// best we know.
			return peer
		}
		if !c.isTrusted(a) {
			return a
		}
		peer = a
	}
	return peer
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port or in brackets, as some proxies write it.
func parseHop(h string) (netip.Addr, bool) {
	h = strings.TrimSpace(h)
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}
