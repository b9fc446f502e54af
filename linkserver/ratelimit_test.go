package linkserver

import (
	"net/http"
	"net/netip"
	"testing"
	"time"
)

func TestLimiterRefusesAndRefills(t *testing.T) {
	t.Parallel()
	l := newLimiter[netip.Prefix](limit{every: 10 * time.Second, burst: 3, maxKeys: 100})
	k := netip.MustParsePrefix("192.0.2.1/32")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if d := l.take(k, t0); d != 0 {
			t.Fatalf("take %d refused", i)
		}
	}
	if d := l.take(k, t0); d != 10*time.Second {
		t.Fatalf("empty bucket: wait %v, want 10s", d)
	}
	if d := l.take(k, t0.Add(4*time.Second)); d != 6*time.Second {
		t.Fatalf("after 4s: wait %v, want 6s", d)
	}
	if d := l.take(k, t0.Add(10*time.Second)); d != 0 {
		t.Fatalf("after refill: refused for %v", d)
	}
	l.refund(k, t0.Add(10*time.Second))
	if d := l.take(k, t0.Add(10*time.Second)); d != 0 {
		t.Fatal("refund did not give the token back")
	}
	other := netip.MustParsePrefix("192.0.2.2/32")
	if d := l.take(other, t0); d != 0 {
		t.Fatal("one client's limit hit another")
	}
}

func TestLimiterStaysBounded(t *testing.T) {
	t.Parallel()
	l := newLimiter[netip.Prefix](limit{every: time.Minute, burst: 2, maxKeys: 50})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.take(netip.PrefixFrom(a, 32), t0.Add(time.Duration(i)*time.Millisecond))
		if len(l.buckets) > 50 {
			t.Fatalf("%d buckets after %d clients, bound 50", len(l.buckets), i+1)
		}
	}
	// Refilled buckets are swept first; a client that is still limited
	// keeps its state.
	l2 := newLimiter[netip.Prefix](limit{every: time.Second, burst: 1, maxKeys: 3})
	for i := range 2 {
		l2.take(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 32), t0)
	}
	later := t0.Add(time.Hour)
	blocked := netip.MustParsePrefix("192.0.2.9/32")
	l2.take(blocked, later)
	l2.take(netip.MustParsePrefix("10.0.1.0/32"), later)
	if d := l2.take(blocked, later); d == 0 {
		t.Error("sweeping forgot a client that was still limited")
	}
	if len(l2.buckets) != 2 {
		t.Errorf("%d buckets after the sweep, want 2", len(l2.buckets))
	}
}

func TestGuardLimitsSubnets(t *testing.T) {
	t.Parallel()
	g := newGuard(guardLimits{
		client: limit{every: time.Hour, burst: 2, maxKeys: 100},
		subnet: limit{every: time.Hour, burst: 5, maxKeys: 100},
	})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	refused := 0
	for i := range 10 {
		if g.take(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), t0) > 0 {
			refused++
		}
	}
	if refused != 5 {
		t.Errorf("10 clients of one /24 with subnet burst 5: %d refused, want 5", refused)
	}
	// IPv6: one /64 is one client, whatever its interface identifiers.
	a := netip.MustParseAddr("2001:db8:1:2::1")
	b := netip.MustParseAddr("2001:db8:1:2:ffff::9")
	g.take(a, t0)
	g.take(b, t0)
	if g.take(a, t0) == 0 {
		t.Error("two addresses of one /64 were limited separately")
	}
	// Another /64 of the same /48 still gets through.
	if g.take(netip.MustParseAddr("2001:db8:1:3::1"), t0) != 0 {
		t.Error("a refusal spent the subnet's tokens")
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	c := clientIP{trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	cases := []struct {
		remote string
		xff    []string
		want   string
	}{
		{"192.0.2.7:1234", nil, "192.0.2.7"},
		{"192.0.2.7:1234", []string{"203.0.113.9"}, "192.0.2.7"}, // untrusted peer: header ignored
		{"10.1.2.3:80", []string{"203.0.113.9"}, "203.0.113.9"},
		{"10.1.2.3:80", []string{"1.2.3.4, 203.0.113.9, 10.9.9.9"}, "203.0.113.9"}, // right-most untrusted
		{"10.1.2.3:80", []string{"1.2.3.4", "203.0.113.9"}, "203.0.113.9"},         // several header lines
		{"10.1.2.3:80", []string{"10.2.2.2"}, "10.2.2.2"},                          // only proxies
		{"10.1.2.3:80", []string{"garbage, 10.2.2.2"}, "10.2.2.2"},
		{"10.1.2.3:80", nil, "10.1.2.3"},
		{"[::1]:80", []string{"2001:db8::5"}, "2001:db8::5"},
		{"[::ffff:10.1.2.3]:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"10.1.2.3:80", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"10.1.2.3:80", []string{"[2001:db8::7]:4711"}, "2001:db8::7"},
		{"10.1.2.3:80", []string{"[2001:db8::8]"}, "2001:db8::8"},
	}
	for _, tc := range cases {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := c.of(r); got != netip.MustParseAddr(tc.want) {
			t.Errorf("%s %v: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}
