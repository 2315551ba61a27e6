package reconcile

import (
	"context"
	"errors"
	"time"
)

// Outcomes of a reconcile, as Observation.Outcome reports them.
const (
	// OutcomeOK: the object is settled (or gone) until its next resync.
	OutcomeOK = "ok"
	// OutcomeRequeue: it made progress but is not settled (waiting for its
	// network, a half being provisioned, children being deleted), so it is
	// reconciled again sooner than the resync.
	OutcomeRequeue = "requeue"
	// OutcomeFailed: it was left FAILED with an error code (ErrorCode) and
	// is retried with backoff.
	OutcomeFailed = "failed"
	// OutcomeError: a transient error (the store, Azure unreachable or
	// throttled); the key is retried with backoff.
	OutcomeError = "error"
)

// Observation is what the controller reports of one reconcile.
type Observation struct {
	// Kind is the kind of the key: "network", "peering", "cluster", …
	Kind string
	// Outcome is one of OutcomeOK, OutcomeRequeue, OutcomeFailed and
	// OutcomeError.
	Outcome string
	// ErrorCode is the object's error_code with OutcomeFailed, else "".
	ErrorCode string
	Duration  time.Duration
}

// observed reconciles key and reports it to Config.Observe.
func (c *Controller) observed(ctx context.Context, key Key) (Result, error) {
	if c.cfg.Observe == nil {
		return c.Reconcile(ctx, key)
	}
	start := time.Now()
	res, err := c.Reconcile(ctx, key)
	o := Observation{Kind: key.Kind.String(), Outcome: OutcomeOK, Duration: time.Since(start)}
	var f *failed
	switch {
	case errors.As(err, &f):
		o.Outcome, o.ErrorCode = OutcomeFailed, f.code
	case err != nil:
		o.Outcome = OutcomeError
	case res.RequeueAfter > 0 && !res.Resync:
		o.Outcome = OutcomeRequeue
	}
	c.cfg.Observe(o)
	return res, err
}

// QueueStats returns a snapshot of the controller's queue.
func (c *Controller) QueueStats() QueueStats { return c.q.Stats() }
