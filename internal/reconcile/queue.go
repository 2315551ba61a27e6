// Package reconcile runs level-based reconcilers: a queue of keys (not
// objects) with de-duplication, per-key capped exponential backoff and
// delayed re-adds, drained by a fixed number of workers. A key is never
// processed by two workers at once; a key added while it is being
// processed is processed again afterwards.
package reconcile

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Backoff is a capped exponential backoff policy.
type Backoff struct {
	Base time.Duration // first delay
	Max  time.Duration // cap
}

// Delay returns the delay before the n-th retry (n starts at 1).
func (b Backoff) Delay(n int) time.Duration {
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Jitter returns Delay(n) less a random part of up to half of it, so that
// clients failing together (replicas losing one database) do not retry in
// step.
func (b Backoff) Jitter(n int) time.Duration {
	d := b.Delay(n)
	if d <= 0 {
		return d
	}
	return d - rand.N(d/2+1)
}

// Queue is a de-duplicating work queue of keys with delayed adds.
type Queue struct {
	backoff Backoff
	now     func() time.Time

	mu         sync.Mutex
	cond       *sync.Cond
	queue      []Key
	queued     map[Key]time.Time // when each key in queue became ready
	processing map[Key]bool
	dirty      map[Key]bool // added while processing
	failures   map[Key]int
	timers     map[Key]*time.Timer
	due        map[Key]time.Time
	closed     bool
}

// NewQueue returns an empty queue using backoff for AddRateLimited.
func NewQueue(backoff Backoff) *Queue {
	q := &Queue{
		backoff:    backoff,
		now:        time.Now,
		queued:     map[Key]time.Time{},
		processing: map[Key]bool{},
		dirty:      map[Key]bool{},
		failures:   map[Key]int{},
		timers:     map[Key]*time.Timer{},
		due:        map[Key]time.Time{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues key now, cancelling any delayed add of it.
func (q *Queue) Add(key Key) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopTimerLocked(key)
	q.addLocked(key)
}

func (q *Queue) addLocked(key Key) {
	if q.closed {
		return
	}
	if q.processing[key] {
		q.dirty[key] = true
		return
	}
	if _, ok := q.queued[key]; ok {
		return
	}
	q.queued[key] = q.now()
	q.queue = append(q.queue, key)
	q.cond.Signal()
}

func (q *Queue) stopTimerLocked(key Key) {
	if t := q.timers[key]; t != nil {
		t.Stop()
		delete(q.timers, key)
		delete(q.due, key)
	}
}

// AddAfter queues key after d. An earlier pending delayed add wins over a
// later one, so that a short retry is not postponed by a long one.
func (q *Queue) AddAfter(key Key, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	at := q.now().Add(d)
	if due, ok := q.due[key]; ok && !due.After(at) {
		return
	}
	q.stopTimerLocked(key)
	q.due[key] = at
	q.timers[key] = time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.due[key] == at {
			delete(q.timers, key)
			delete(q.due, key)
			q.addLocked(key)
		}
	})
}

// AddRateLimited queues key after its next backoff delay and returns it.
func (q *Queue) AddRateLimited(key Key) time.Duration {
	q.mu.Lock()
	q.failures[key]++
	d := q.backoff.Delay(q.failures[key])
	q.mu.Unlock()
	q.AddAfter(key, d)
	return d
}

// Failures returns how many times key was rate-limited since its last Forget.
func (q *Queue) Failures(key Key) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.failures[key]
}

// Forget resets key's backoff.
func (q *Queue) Forget(key Key) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.failures, key)
}

// Get blocks until a key is ready or the queue is closed (ok false). The
// caller must call Done(key) when it has processed the key.
func (q *Queue) Get() (key Key, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.queue) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return Key{}, false
	}
	key, q.queue = q.queue[0], q.queue[1:]
	delete(q.queued, key)
	q.processing[key] = true
	return key, true
}

// Done marks key processed, re-queueing it if it was added meanwhile.
func (q *Queue) Done(key Key) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if q.dirty[key] {
		delete(q.dirty, key)
		q.addLocked(key)
	}
}

// Len returns the number of keys ready to be processed.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue)
}

// QueueStats is a snapshot of a queue, for metrics.
type QueueStats struct {
	// Depth is the number of keys ready to be processed (Len).
	Depth int
	// Delayed is the number of keys waiting for a delayed add: a retry's
	// backoff or a periodic resync.
	Delayed int
	// OldestAge is how long the key ready the longest has waited; 0 when
	// none is ready.
	OldestAge time.Duration
}

// Stats returns a snapshot of the queue.
func (q *Queue) Stats() QueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := QueueStats{Depth: len(q.queue), Delayed: len(q.timers)}
	if len(q.queue) > 0 {
		// Keys are taken in the order they became ready: the first waited longest.
		st.OldestAge = max(q.now().Sub(q.queued[q.queue[0]]), 0)
	}
	return st
}

// Close wakes every Get with ok false and drops delayed adds.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for k := range q.timers {
		q.stopTimerLocked(k)
	}
	q.cond.Broadcast()
}

// Result tells the controller what to do after a successful Reconcile.
type Result struct {
	// RequeueAfter, when positive, reconciles the key again after it
	// (polling an external state that sends no events).
	RequeueAfter time.Duration
	// Resync says RequeueAfter is the periodic re-check of an object
	// that is settled, not a wait for progress.
	Resync bool
}

// Reconciler brings the object named by key towards its desired state.
// An error re-queues the key with backoff; success forgets its backoff.
type Reconciler interface {
	Reconcile(ctx context.Context, key Key) (Result, error)
}

// ReconcilerFunc adapts a function to Reconciler.
type ReconcilerFunc func(ctx context.Context, key Key) (Result, error)

// Reconcile calls f.
func (f ReconcilerFunc) Reconcile(ctx context.Context, key Key) (Result, error) {
	return f(ctx, key)
}

// Run drains q with workers goroutines calling r until ctx is done, then
// closes q and waits for the workers. onError, if not nil, is told of
// each failed reconcile and the delay before the retry.
func Run(ctx context.Context, q *Queue, r Reconciler, workers int, onError func(key Key, err error, retryIn time.Duration)) {
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				key, ok := q.Get()
				if !ok {
					return
				}
				res, err := r.Reconcile(ctx, key)
				switch {
				case ctx.Err() != nil:
				case err != nil:
					d := q.AddRateLimited(key)
					if onError != nil {
						onError(key, err, d)
					}
				default:
					q.Forget(key)
					if res.RequeueAfter > 0 {
						q.AddAfter(key, res.RequeueAfter)
					}
				}
				q.Done(key)
			}
		}()
	}
	<-ctx.Done()
	q.Close()
	wg.Wait()
}
