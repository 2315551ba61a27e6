package reconcile

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/control"
)

// hangingLease grants the lease once, then hangs every renewal until its
// context ends, as a database that stopped answering does.
type hangingLease struct {
	mu        sync.Mutex
	calls     int
	granted   time.Time       // when the grant was asked for
	deadlines []time.Duration // each hanging call's deadline, from its start
}

func (l *hangingLease) TryAcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	l.mu.Lock()
	l.calls++
	first := l.calls == 1
	if first {
		l.granted = time.Now()
	}
	if dl, ok := ctx.Deadline(); ok && !first {
		l.deadlines = append(l.deadlines, time.Until(dl))
	}
	l.mu.Unlock()
	if first {
		return true, nil
	}
	<-ctx.Done()
	return false, ctx.Err()
}

func (l *hangingLease) ReleaseLease(ctx context.Context, name, holder string) error { return nil }

// idle is a Control with nothing to reconcile that counts its listings:
// of every object, and of those being created or deleted.
type idle struct {
	Control
	lists, rescans atomic.Int32
}

func (c *idle) AllObjectKeys(ctx context.Context) ([]Key, error) {
	c.lists.Add(1)
	return nil, nil
}

func (c *idle) UnsettledObjectKeys(ctx context.Context) ([]Key, error) {
	c.rescans.Add(1)
	return nil, nil
}

func TestLeaderStopsBeforeItsLeaseExpiresWhenRenewalHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = 3 * time.Second
		lease := &hangingLease{}
		l := &Leader{Lease: lease, Name: "reconciler", Holder: "a", TTL: ttl,
			New: func() *Controller { return New(Config{Control: &idle{}}) }}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.Run(ctx); close(done) }()
		synctest.Wait()
		if !l.Leading() {
			t.Fatal("not leading after the lease was granted")
		}
		// Just before the lease granted at the start expires, another
		// replica may take over at any moment: this one must have stopped.
		time.Sleep(ttl - time.Millisecond)
		synctest.Wait()
		if l.Leading() {
			t.Errorf("still leading %v after the last renewal, with a lease of %v whose renewals hang", time.Since(lease.granted), ttl)
		}
		lease.mu.Lock()
		for _, d := range lease.deadlines {
			if d <= 0 || d > ttl/3 {
				t.Errorf("a renewal had a deadline %v away, want within TTL/3 = %v", d, ttl/3)
			}
		}
		lease.mu.Unlock()
		cancel()
		<-done
	})
}

func TestLeaderRescansWhileLeading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctrl := &idle{}
		l := &Leader{Lease: grantAll{}, Name: "reconciler", Holder: "a", TTL: 3 * time.Second, RescanEvery: time.Minute,
			New: func() *Controller { return New(Config{Control: ctrl}) }}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.Run(ctx); close(done) }()
		time.Sleep(3*time.Minute + time.Second)
		synctest.Wait()
		if n, r := ctrl.lists.Load(), ctrl.rescans.Load(); n != 1 || r != 3 {
			t.Fatalf("listed every object %d times and rescanned %d times in 3m, want every object once at the start, then a rescan every minute", n, r)
		}
		cancel()
		<-done
	})
}

// grantAll is a lease that is always granted.
type grantAll struct{}

func (grantAll) TryAcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	return true, nil
}
func (grantAll) ReleaseLease(ctx context.Context, name, holder string) error { return nil }

// oneNetwork is a Control holding one network to create.
type oneNetwork struct{ Control }

func (oneNetwork) ReconcileNetwork(ctx context.Context, id string) (*control.Network, error) {
	return &control.Network{ID: id, Region: "eastus", CIDR: "10.200.0.0/16", Status: control.NetworkStatus{Phase: control.PhaseProvisioning}}, nil
}

// hangingAzure never answers GetVNet nor EnsureProviderVNet before its
// context ends.
type hangingAzure struct{ Azure }

func (hangingAzure) ProviderTenantID() string { return "prov" }
func (hangingAzure) ProviderVNetID(name string) string {
	return "/subscriptions/p/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/" + name
}
func (hangingAzure) GetVNet(ctx context.Context, tenant, id string) (*azure.VNet, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (hangingAzure) EnsureProviderVNet(ctx context.Context, name, location, cidr string, tags map[string]string) (*azure.VNet, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestReconcileEndsAtItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Config{Control: oneNetwork{}, Azure: hangingAzure{}, Timeout: 4 * time.Second})
		start := time.Now()
		_, err := c.Reconcile(context.Background(), networkKey("n-1"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Reconcile = %v, want the deadline exceeded", err)
		}
		if d := time.Since(start); d != 4*time.Second {
			t.Fatalf("Reconcile returned after %v, want at its 4s deadline", d)
		}
	})
}
