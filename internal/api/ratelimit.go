package api

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyLimiter limits requests per API key with a token bucket each.
type keyLimiter struct {
	limit rate.Limit
	burst int

	mu   sync.Mutex
	keys map[string]*keyBucket
}

type keyBucket struct {
	lim  *rate.Limiter
	used time.Time
}

// maxLimitedKeys bounds the map: past it, buckets idle for a minute go.
const maxLimitedKeys = 10000

func newKeyLimiter(perSecond float64, burst int) *keyLimiter {
	return &keyLimiter{limit: rate.Limit(perSecond), burst: burst, keys: map[string]*keyBucket{}}
}

// reserve takes a token for key and returns 0, or how long until one is
// free (taking none). A nil limiter allows everything.
func (l *keyLimiter) reserve(key string) time.Duration {
	if l == nil {
		return 0
	}
	now := time.Now()
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
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}
