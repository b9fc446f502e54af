package linkserver

import (
	"net/netip"
	"sync"
	"time"
)

// limit is a token bucket: burst tokens, one more every interval.
type limit struct {
	every   time.Duration
	burst   float64
	maxKeys int // bound on remembered clients; beyond it the oldest state is dropped
}

// guardLimits pairs the limit per client (/32 for IPv4, /64 for IPv6) with a
// looser one per subnet (/24, /48), so that an attacker who owns a block of
// addresses gets little more than one client.
type guardLimits struct{ client, subnet limit }

var (
	// guessLimits charge failed look-ups of tokens and access codes. Guessing
	// a 256-bit token or an 80-bit code is hopeless anyway; the limit keeps
	// scanners from turning the vault into a load test and the log into noise.
	guessLimits = guardLimits{
		client: limit{every: 30 * time.Second, burst: 10, maxKeys: 10000},
		subnet: limit{every: 5 * time.Second, burst: 50, maxKeys: 10000},
	}
	// formLimits charge every access-code submission, right or wrong.
	formLimits = guardLimits{
		client: limit{every: 5 * time.Second, burst: 20, maxKeys: 10000},
		subnet: limit{every: time.Second, burst: 100, maxKeys: 10000},
	}
	// mailLimits charge every request for a sign-in code, whatever its
	// outcome: each one mails an address of the requester's choosing, so a
	// client must not turn the gateway into a mail cannon.
	mailLimits = guardLimits{
		client: limit{every: time.Minute, burst: 10, maxKeys: 10000},
		subnet: limit{every: 20 * time.Second, burst: 30, maxKeys: 10000},
	}
	// addressLimit charges every sign-in code mailed to one address,
	// requested from anywhere: three at once (a lost mail, a second try),
	// then one every three minutes, so nobody floods a person's inbox.
	addressLimit = limit{every: 3 * time.Minute, burst: 3, maxKeys: 10000}
	// keyLimits and keyAccountLimit charge every key upload (setting,
	// changing the passphrase, resetting, bringing one's own key), per
	// client and per account. A person needs a handful; each one rewrites
	// the database (compaction), so a script must not loop on it.
	keyLimits = guardLimits{
		client: limit{every: time.Minute, burst: 10, maxKeys: 10000},
		subnet: limit{every: 20 * time.Second, burst: 30, maxKeys: 10000},
	}
	keyAccountLimit = limit{every: 2 * time.Minute, burst: 6, maxKeys: 10000}
)

// limiter holds token buckets by key (a client's prefix, an e-mail
// address). It never sleeps and starts no goroutine: a refused caller learns
// at once how long to wait. Memory is bounded by maxKeys; a bucket that has
// refilled is the same as none, so such buckets are swept when room is
// needed.
type limiter[K comparable] struct {
	limit
	mu      sync.Mutex
	buckets map[K]bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter[K comparable](l limit) *limiter[K] {
	return &limiter[K]{limit: l, buckets: make(map[K]bucket)}
}

// level returns the bucket's tokens at now.
func (l *limiter[K]) level(b bucket, now time.Time) float64 {
	t := b.tokens + float64(now.Sub(b.at))/float64(l.every)
	return min(t, l.burst)
}

// take spends one token of key. When none is left it spends nothing and
// returns how long until one is available.
func (l *limiter[K]) take(key K, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	t := l.burst
	if ok {
		t = l.level(b, now)
	} else {
		l.makeRoom(now)
	}
	if t < 1 {
		return time.Duration((1 - t) * float64(l.every))
	}
	l.buckets[key] = bucket{tokens: t - 1, at: now}
	return 0
}

// refund gives back a token spent on something that turned out not to need
// limiting (a look-up that found what it was looking for).
func (l *limiter[K]) refund(key K, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return
	}
	if t := l.level(b, now) + 1; t >= l.burst {
		delete(l.buckets, key)
	} else {
		l.buckets[key] = bucket{tokens: t, at: now}
	}
}

// makeRoom keeps the map below maxKeys. Sweeping is O(n), so it runs at most
// once per second; if every bucket is still in use, one arbitrary bucket is
// forgotten, which at worst gives that client a fresh burst.
func (l *limiter[K]) makeRoom(now time.Time) {
	if len(l.buckets) < l.maxKeys {
		return
	}
	if now.Sub(l.swept) >= time.Second {
		l.swept = now
		for k, b := range l.buckets {
			if l.level(b, now) >= l.burst {
				delete(l.buckets, k)
			}
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.maxKeys {
			break
		}
		delete(l.buckets, k)
	}
}

// guard limits per client and per subnet together.
type guard struct{ client, subnet *limiter[netip.Prefix] }

func newGuard(g guardLimits) *guard {
	return &guard{client: newLimiter[netip.Prefix](g.client), subnet: newLimiter[netip.Prefix](g.subnet)}
}

// take spends a token of the client and of its subnet, or neither; when
// refused it returns how long to wait.
func (g *guard) take(addr netip.Addr, now time.Time) time.Duration {
	c, sn := prefixes(addr)
	if d := g.client.take(c, now); d > 0 {
		return d
	}
	if d := g.subnet.take(sn, now); d > 0 {
		g.client.refund(c, now)
		return d
	}
	return 0
}

func (g *guard) refund(addr netip.Addr, now time.Time) {
	c, sn := prefixes(addr)
	g.client.refund(c, now)
	g.subnet.refund(sn, now)
}

// prefixes returns the client's and the subnet's prefix: /32 and /24 for
// IPv4, /64 and /48 for IPv6 (one IPv6 customer usually holds a /64 or more).
func prefixes(a netip.Addr) (client, subnet netip.Prefix) {
	a = a.Unmap()
	if a.Is4() {
		client, _ = a.Prefix(32)
		subnet, _ = a.Prefix(24)
		return client, subnet
	}
	client, _ = a.Prefix(64)
	subnet, _ = a.Prefix(48)
	return client, subnet
}
