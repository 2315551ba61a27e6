package reconcile

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Lease is a named leader lease shared by replicas (internal/store
// implements it in SQLite and PostgreSQL).
type Lease interface {
	TryAcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Leader runs a fresh controller while this replica holds the lease, and
// stops it as soon as the lease cannot be renewed; another replica then
// takes over within the lease's TTL.
type Leader struct {
	Lease  Lease
	Name   string // lease name, e.g. "reconciler"
	Holder string // this replica's unique id
	TTL    time.Duration
	// RenewTimeout bounds each attempt to acquire or renew the lease;
	// default and at most TTL/3. Attempts start every TTL/3, so a replica
	// whose renewal hangs (a database that stopped answering) stops its
	// controller within 2/3 of the TTL of its last renewal: before its
	// lease expires and another replica may take over.
	RenewTimeout time.Duration
	// RescanEvery is how often the running controller queues the stored
	// objects being created or deleted again (Controller.Rescan): the
	// safety net for a wake-up lost on its way (a notification sent while
	// the leader was reconnecting, a replica that died between a commit and
	// its notification). Default 2m; negative turns it off.
	RescanEvery time.Duration
	New         func() *Controller
	Logger      *slog.Logger
	// OnLeading, when set, is told each time this replica starts (true) or
	// stops (false) leading: once per lease transition.
	OnLeading func(leading bool)

	mu      sync.Mutex
	current *Controller
}

// Current returns the running controller, or nil when not leading.
func (l *Leader) Current() *Controller {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.current
}

// QueueStats returns a snapshot of the running controller's queue; the
// zero QueueStats when not leading.
func (l *Leader) QueueStats() QueueStats {
	if c := l.Current(); c != nil {
		return c.QueueStats()
	}
	return QueueStats{}
}

// EnqueueKeys passes keys to the running controller, if any.
func (l *Leader) EnqueueKeys(keys []Key) {
	if c := l.Current(); c != nil {
		for _, k := range keys {
			c.q.Add(k)
		}
	}
}

// Rescan asks the running controller, if any, to reconcile every stored
// object being created or deleted now (Controller.Rescan). It returns the
// error of listing them.
func (l *Leader) Rescan(ctx context.Context) error {
	if c := l.Current(); c != nil {
		return c.Rescan(ctx)
	}
	return nil
}

// Leading reports whether this replica runs the controller.
func (l *Leader) Leading() bool { return l.Current() != nil }

// renewTimeout is RenewTimeout, defaulted and capped at TTL/3.
func (l *Leader) renewTimeout() time.Duration {
	if l.RenewTimeout <= 0 || l.RenewTimeout > l.TTL/3 {
		return l.TTL / 3
	}
	return l.RenewTimeout
}

// tryAcquire acquires or renews the lease within renewTimeout.
func (l *Leader) tryAcquire(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, l.renewTimeout())
	defer cancel()
	return l.Lease.TryAcquireLease(ctx, l.Name, l.Holder, l.TTL)
}

// run runs c, and its rescans, until ctx is done.
func (l *Leader) run(ctx context.Context, c *Controller, log *slog.Logger) {
	every := l.RescanEvery
	if every == 0 {
		every = 2 * time.Minute
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if every > 0 {
		wg.Go(func() {
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if err := c.Rescan(ctx); err != nil && ctx.Err() == nil {
						log.Warn("rescan stored objects", "err", err)
					}
				}
			}
		})
	}
	c.Run(ctx)
}

// Run campaigns for the lease until ctx is done, renewing it every TTL/3,
// each attempt bounded by RenewTimeout.
func (l *Leader) Run(ctx context.Context) {
	log := l.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var stop context.CancelFunc
	var done chan struct{}
	resign := func() {
		if stop != nil {
			stop()
			<-done
			stop = nil
			l.mu.Lock()
			l.current = nil
			l.mu.Unlock()
			if l.OnLeading != nil {
				l.OnLeading(false)
			}
		}
	}
	tick := time.NewTicker(l.TTL / 3)
	defer tick.Stop()
	for {
		ok, err := l.tryAcquire(ctx)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			log.Warn("renew leader lease", "err", err)
			if stop != nil {
				log.Warn("cannot renew the leader lease: stopping the reconciler")
				resign()
			}
		case ok && stop == nil:
			log.Info("leading: starting the reconciler", "holder", l.Holder)
			c := l.New()
			cctx, cancel := context.WithCancel(ctx)
			stop = cancel
			done = make(chan struct{})
			l.mu.Lock()
			l.current = c
			l.mu.Unlock()
			if l.OnLeading != nil {
				l.OnLeading(true)
			}
			go func() { defer close(done); l.run(cctx, c, log) }()
		case !ok && stop != nil:
			log.Warn("lost the leader lease: stopping the reconciler")
			resign()
		}
		select {
		case <-ctx.Done():
			resign()
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = l.Lease.ReleaseLease(rctx, l.Name, l.Holder)
			cancel()
			return
		case <-tick.C:
		}
	}
}
