package api

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyLimiter limits requests per API key with a token bucket each: burst
// tokens, refilled at limit per second; a request takes one.
type keyLimiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu   sync.Mutex
	keys map[string]*keyBucket
}

type keyBucket struct {
	lim  *rate.Limiter
	used time.Time
}

// maxLimitedKeys bounds the map: past it, buckets idle for a minute go.
const maxLimitedKeys = 10000

// maxResetSeconds caps X-RateLimit-Reset, so that a tiny rate cannot
// overflow a time.Duration.
const maxResetSeconds = 1e9

func newKeyLimiter(perSecond float64, burst int, now func() time.Time) *keyLimiter {
	if now == nil {
		now = time.Now
	}
	return &keyLimiter{limit: rate.Limit(perSecond), burst: burst, now: now, keys: map[string]*keyBucket{}}
}

// quota is a key's standing after one request, in the terms of Confluent's
// X-RateLimit-* headers (see setHeaders).
type quota struct {
	limit     int           // the bucket's size, the burst
	remaining int           // whole tokens left
	reset     time.Duration // until the bucket is full again
	wait      time.Duration // 0 when the request was allowed, else until a token is free
}

// reserve takes a token for key and returns the key's quota: wait is 0 when
// the request may go on, else how long until a token is free (none is
// taken). A nil limiter allows everything and returns ok false.
func (l *keyLimiter) reserve(key string) (q quota, ok bool) {
	if l == nil {
		return quota{}, false
	}
	now := l.now()
	l.mu.Lock()
	b := l.keys[key]
	if b == nil {
		if len(l.keys) >= maxLimitedKeys {
			for k, old := range l.keys {
				if now.Sub(old.used) > time.Minute {
					delete(l.keys, k)
				}
			}
		}
		b = &keyBucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.keys[key] = b
	}
	b.used = now
	l.mu.Unlock()
	q = quota{limit: l.burst}
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		q.wait = d
	}
	if l.limit == rate.Inf { // an infinite rate's bucket is always full
		q.remaining = l.burst
		return q, true
	}
	tokens := min(max(b.lim.TokensAt(now), 0), float64(l.burst))
	q.remaining = int(tokens)
	if missing := float64(l.burst) - tokens; missing > 0 {
		q.reset = time.Duration(min(missing/float64(l.limit), maxResetSeconds) * float64(time.Second))
	}
	return q, true
}

// setHeaders writes q as Confluent's rate-limit headers: X-RateLimit-Limit
// the burst (requests at once), X-RateLimit-Remaining the requests the key
// may send now, X-RateLimit-Reset the whole seconds (rounded up, relative,
// not an epoch) until the bucket is full again, so Remaining is back to
// Limit; on 429, Retry-After the whole seconds until one request may go.
func (q quota) setHeaders(h http.Header) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(q.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(q.remaining))
	h.Set("X-RateLimit-Reset", strconv.Itoa(ceilSeconds(q.reset)))
	if q.wait > 0 {
		h.Set("Retry-After", strconv.Itoa(ceilSeconds(q.wait)))
	}
}

// ceilSeconds returns d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}
