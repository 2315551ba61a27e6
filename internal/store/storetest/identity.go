package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/store"
)

func testIdentityRoundTrip(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	db := open(t)
	if got, err := db.LoadIdentity(ctx, "provider"); err != nil || got != nil {
		t.Fatalf("LoadIdentity of a missing document = %q, %v; want nil, nil", got, err)
	}
	if err := db.SaveIdentity(ctx, "", []byte("x")); err == nil {
		t.Fatal("SaveIdentity with an empty name: no error")
	}
	if err := db.SaveIdentity(ctx, "provider", []byte(`{"v":1}`)); err != nil {
		t.Fatalf("SaveIdentity: %v", err)
	}
	if err := db.SaveIdentity(ctx, "provider", []byte(`{"v":2}`)); err != nil {
		t.Fatalf("SaveIdentity again: %v", err)
	}
	if err := db.SaveIdentity(ctx, "ca", allBytes()); err != nil {
		t.Fatalf("SaveIdentity: %v", err)
	}
	db.Close()

	db = open(t) // another process, or a restart
	for name, want := range map[string][]byte{"provider": []byte(`{"v":2}`), "ca": allBytes()} {
		got, err := db.LoadIdentity(ctx, name)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("LoadIdentity(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
}

// testIdentityLock holds the bootstrap lock on one handle and checks that
// another handle on the same database cannot take it until it is given
// back.
func testIdentityLock(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	a, b := open(t), open(t) // two replicas
	unlock, err := a.LockIdentity(ctx)
	if err != nil {
		t.Fatalf("LockIdentity: %v", err)
	}
	// While a holds it, b waits: give up after a while to see that b did
	// not get it (the bound only ends the wait; it asserts no timing).
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = b.LockIdentity(wctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockIdentity while another holds it = %v, want it to wait until its context ends", err)
	}
	got := make(chan error, 1)
	go func() {
		unlockB, err := b.LockIdentity(ctx)
		if err == nil {
			unlockB()
		}
		got <- err
	}()
	unlock()
	unlock() // twice is harmless
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("LockIdentity after the holder unlocked: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("LockIdentity still waits 10s after the holder unlocked")
	}
	// And a takes it again: b gave it back.
	unlock, err = a.LockIdentity(ctx)
	if err != nil {
		t.Fatalf("LockIdentity again: %v", err)
	}
	unlock()
}
