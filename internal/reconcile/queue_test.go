package reconcile

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestBackoffIsCappedExponential(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := b.Delay(i + 1); got != w*time.Millisecond {
			t.Errorf("Delay(%d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
}

func TestQueueDeduplicatesAndNeverRunsAKeyTwiceAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewQueue(Backoff{Base: time.Millisecond, Max: time.Second})
		var running, maxRunning, calls atomic.Int32
		release := make(chan struct{})
		r := ReconcilerFunc(func(ctx context.Context, key Key) (Result, error) {
			n := running.Add(1)
			if n > maxRunning.Load() {
				maxRunning.Store(n)
			}
			if calls.Add(1) == 1 {
				<-release
			}
			running.Add(-1)
			return Result{}, nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { Run(ctx, q, r, 4, nil); close(done) }()
		q.Add(testKey("a"))
		synctest.Wait()     // "a" is being processed
		q.Add(testKey("a")) // while processing: marked dirty
		q.Add(testKey("a")) // de-duplicated
		close(release)
		synctest.Wait()
		if got := calls.Load(); got != 2 {
			t.Fatalf("calls = %d, want 2 (once, then once more for the adds during processing)", got)
		}
		if maxRunning.Load() != 1 {
			t.Fatalf("key ran concurrently %d times", maxRunning.Load())
		}
		cancel()
		<-done
	})
}

func TestFailedKeyIsRetriedWithBackoffThenForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewQueue(Backoff{Base: time.Second, Max: 4 * time.Second})
		var mu sync.Mutex
		var at []time.Duration
		start := time.Now()
		r := ReconcilerFunc(func(ctx context.Context, key Key) (Result, error) {
			mu.Lock()
			defer mu.Unlock()
			at = append(at, time.Since(start))
			if len(at) < 5 {
				return Result{}, errors.New("not yet")
			}
			return Result{}, nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { Run(ctx, q, r, 1, nil); close(done) }()
		q.Add(testKey("k"))
		time.Sleep(time.Minute)
		synctest.Wait()
		want := []time.Duration{0, 1, 3, 7, 11} // +1s, +2s, +4s, +4s (capped)
		mu.Lock()
		if len(at) != len(want) {
			t.Fatalf("reconciled at %v, want %d calls", at, len(want))
		}
		for i := range want {
			if at[i] != want[i]*time.Second {
				t.Fatalf("call %d at %v, want %v (all: %v)", i, at[i], want[i]*time.Second, at)
			}
		}
		mu.Unlock()
		if q.Failures(testKey("k")) != 0 {
			t.Fatalf("failures not forgotten after success: %d", q.Failures(testKey("k")))
		}
		cancel()
		<-done
	})
}

func TestAddCancelsPendingDelayAndEarlierDelayWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewQueue(Backoff{Base: time.Second, Max: time.Minute})
		q.AddAfter(testKey("k"), 10*time.Second)
		q.AddAfter(testKey("k"), 20*time.Second) // later: ignored
		time.Sleep(11 * time.Second)
		synctest.Wait()
		if q.Len() != 1 {
			t.Fatalf("after 11s Len = %d, want 1", q.Len())
		}
		k, _ := q.Get()
		q.Done(k)
		q.AddAfter(testKey("k"), time.Hour)
		q.Add(testKey("k")) // now: the hour-long delay is cancelled
		if q.Len() != 1 {
			t.Fatalf("Add did not queue at once")
		}
		k, _ = q.Get()
		q.Done(k)
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		if q.Len() != 0 {
			t.Fatalf("cancelled delayed add still fired")
		}
		q.Close()
	})
}

func TestQueueStatsReportDepthDelayedAndOldestAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewQueue(Backoff{Base: time.Second, Max: time.Minute})
		defer q.Close()
		if st := q.Stats(); st != (QueueStats{}) {
			t.Fatalf("empty queue: %+v", st)
		}
		q.Add(testKey("a"))
		time.Sleep(3 * time.Second)
		q.Add(testKey("b"))
		q.Add(testKey("a")) // already queued: keeps its place and its age
		q.AddAfter(testKey("c"), time.Minute)
		if st := q.Stats(); st != (QueueStats{Depth: 2, Delayed: 1, OldestAge: 3 * time.Second}) {
			t.Fatalf("after a, 3s, b, c later: %+v", st)
		}
		if key, _ := q.Get(); key != testKey("a") {
			t.Fatalf("Get = %s, want a", key)
		}
		time.Sleep(time.Second)
		if st := q.Stats(); st != (QueueStats{Depth: 1, Delayed: 1, OldestAge: time.Second}) {
			t.Fatalf("after taking a and 1s: %+v", st)
		}
		q.Done(testKey("a"))
		q.Get()
		time.Sleep(time.Minute) // c became ready 1s ago (added at 3s, a minute later)
		if st := q.Stats(); st != (QueueStats{Depth: 1, Delayed: 0, OldestAge: time.Second}) {
			t.Fatalf("after c became ready: %+v", st)
		}
	})
}

// testKey is a peering key named s, for the queue's tests.
func testKey(s string) Key { return peeringKey(s) }
