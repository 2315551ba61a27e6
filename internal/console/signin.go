package console

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Failed sign-ins per API key: signInBurst at once, then one every
// signInEvery; past that the form refuses the key, right secret or not,
// until a try is free again. It slows down guessing a key's secret.
const (
	signInBurst = 10
	signInEvery = 6 * time.Second
)

type signInGuard struct {
	mu   sync.Mutex
	keys map[string]*rate.Limiter
}

func (g *signInGuard) limiter(key string) *rate.Limiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.keys == nil || len(g.keys) >= 10000 {
		g.keys = map[string]*rate.Limiter{}
	}
	l := g.keys[key]
	if l == nil {
		l = rate.NewLimiter(rate.Every(signInEvery), signInBurst)
		g.keys[key] = l
	}
	return l
}

// wait returns how long key must wait before its next try, 0 if none.
func (g *signInGuard) wait(key string, now time.Time) time.Duration {
	l := g.limiter(key)
	if l.TokensAt(now) >= 1 {
		return 0
	}
	r := l.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return d
}

// failed counts a failed sign-in of key.
func (g *signInGuard) failed(key string, now time.Time) { g.limiter(key).AllowN(now, 1) }
