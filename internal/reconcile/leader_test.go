package reconcile_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/peerplane/peerplane/internal/reconcile"
	"github.com/peerplane/peerplane/internal/store"
)

// idleControl lists no objects: the controllers it feeds idle.
type idleControl struct{ reconcile.Control }

func (idleControl) AllObjectKeys(ctx context.Context) ([]reconcile.Key, error) { return nil, nil }

func TestOnlyOneReplicaLeadsAndAnotherTakesOver(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	newLeader := func(holder string) *reconcile.Leader {
		return &reconcile.Leader{Lease: db, Name: "reconciler", Holder: holder, TTL: 300 * time.Millisecond,
			New: func() *reconcile.Controller { return reconcile.New(reconcile.Config{Control: idleControl{}}) }}
	}
	a, b := newLeader("a"), newLeader("b")
	actx, stopA := context.WithCancel(ctx)
	bctx, stopB := context.WithCancel(ctx)
	defer stopB()
	doneA := make(chan struct{})
	go func() { a.Run(actx); close(doneA) }()
	waitFor(t, func() bool { return a.Current() != nil })
	go b.Run(bctx)

	var both atomic.Bool
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if a.Current() != nil && b.Current() != nil {
			both.Store(true)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if both.Load() || b.Current() != nil {
		t.Fatal("two replicas led at once")
	}
	stopA() // a resigns and releases the lease
	<-doneA
	if a.Current() != nil {
		t.Fatal("a still leads after stopping")
	}
	waitFor(t, func() bool { return b.Current() != nil })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// scriptedLease answers TryAcquireLease from a script, then keeps its last
// answer.
type scriptedLease struct {
	mu     sync.Mutex
	script []bool
}

func (l *scriptedLease) TryAcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ok := l.script[0]
	if len(l.script) > 1 {
		l.script = l.script[1:]
	}
	return ok, nil
}

func (l *scriptedLease) ReleaseLease(ctx context.Context, name, holder string) error { return nil }

// TestLeaderReportsEachTransition: OnLeading hears true when the replica
// starts leading and false when it loses the lease or stops, once each.
func TestLeaderReportsEachTransition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var got []bool
		l := &reconcile.Leader{Lease: &scriptedLease{script: []bool{true, true, false, false, true}}, Name: "reconciler", Holder: "a", TTL: 3 * time.Second,
			New: func() *reconcile.Controller { return reconcile.New(reconcile.Config{Control: idleControl{}}) },
			OnLeading: func(leading bool) {
				mu.Lock()
				got = append(got, leading)
				mu.Unlock()
			}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.Run(ctx); close(done) }()
		// Renewals every TTL/3 = 1s: held, held, lost, not held, held.
		time.Sleep(4*time.Second + time.Millisecond)
		synctest.Wait()
		if l.Current() == nil {
			t.Fatal("not leading after the lease came back")
		}
		if st := l.QueueStats(); st != (reconcile.QueueStats{}) {
			t.Fatalf("idle controller's queue: %+v", st)
		}
		cancel()
		<-done
		if want := []bool{true, false, true, false}; !slices.Equal(got, want) {
			t.Fatalf("OnLeading calls %v, want %v", got, want)
		}
	})
}
