package reconcile_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/reconcile"
	"github.com/peerplane/peerplane/internal/store"
)

// idleControl lists no objects: the controllers it feeds idle.
type idleControl struct{ reconcile.Control }

func (idleControl) AllObjectKeys(ctx context.Context) ([]string, error) { return nil, nil }

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
