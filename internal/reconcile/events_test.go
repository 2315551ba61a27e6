package reconcile

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/azureemu"
)

func TestEventTarget(t *testing.T) {
	const prov, cust = "prov", "cust"
	vnet := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
	tests := []struct {
		ev      azureemu.Event
		want    [2]string
		peering string
		wantOK  bool
	}{
		{azureemu.Event{Type: azureemu.EventRoleAssignment, TenantID: cust, ResourceID: vnet}, [2]string{cust, vnet}, "", true},
		{azureemu.Event{Type: azureemu.EventRoleAssignment, TenantID: cust, ResourceID: "/subscriptions/s"}, [2]string{cust, "/subscriptions/s"}, "", true},
		{azureemu.Event{Type: azureemu.EventVNet, TenantID: cust, ResourceID: vnet}, [2]string{cust, vnet}, "", true},
		{azureemu.Event{Type: azureemu.EventPeeringDeleted, TenantID: cust, ResourceID: vnet + "/virtualNetworkPeerings/p"}, [2]string{cust, vnet}, "", true},
		{azureemu.Event{Type: azureemu.EventPeering, TenantID: cust, ResourceID: vnet + "/virtualNetworkPeerings/peer-abc"}, [2]string{}, "peer-abc", true},
		{azureemu.Event{Type: azureemu.EventPeering, TenantID: prov, ResourceID: vnet + "/virtualNetworkPeerings/peer-abc"}, [2]string{}, "peer-abc", true},
		{azureemu.Event{Type: azureemu.EventPeering, TenantID: prov, ResourceID: vnet + "/virtualNetworkPeerings/other"}, [2]string{}, "", false},
		{azureemu.Event{Type: azureemu.EventVNet, TenantID: prov, ResourceID: vnet}, [2]string{}, "", true},
		{azureemu.Event{Type: azureemu.EventConsent, TenantID: cust, ResourceID: "sp"}, [2]string{cust, ""}, "", true},
		{azureemu.Event{Type: azureemu.EventRoleDefinition, TenantID: cust, ResourceID: "r"}, [2]string{cust, ""}, "", true},
		{azureemu.Event{Type: azureemu.EventNSG, TenantID: cust, ResourceID: "n"}, [2]string{}, "", false},
	}
	for _, tt := range tests {
		got, peering, ok := eventTarget(tt.ev, prov)
		if got != tt.want || peering != tt.peering || ok != tt.wantOK {
			t.Errorf("eventTarget(%+v) = %q, %q, %v; want %q, %q, %v", tt.ev, got, peering, ok, tt.want, tt.peering, tt.wantOK)
		}
	}
}

// fakeQueue records what an Enqueuer is given.
type fakeQueue struct {
	mu      sync.Mutex
	keys    []Key
	all     int
	leading atomic.Bool
	added   chan struct{}
}

func newFakeQueue(leading bool) *fakeQueue {
	q := &fakeQueue{added: make(chan struct{}, 1000)}
	q.leading.Store(leading)
	return q
}

func (q *fakeQueue) EnqueueKeys(keys []Key) {
	if len(keys) == 0 {
		return
	}
	q.mu.Lock()
	q.keys = append(q.keys, keys...)
	q.mu.Unlock()
	q.added <- struct{}{}
}

func (q *fakeQueue) EnqueueAll(ctx context.Context) error {
	q.mu.Lock()
	q.all++
	q.mu.Unlock()
	q.added <- struct{}{}
	return nil
}

func (q *fakeQueue) Leading() bool { return q.leading.Load() }

func (q *fakeQueue) got() ([]Key, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.keys), q.all
}

// fakeClock stands in for time.After: it records each wait and lets it
// pass at once, adding it to the time elapsed.
type fakeClock struct {
	mu      sync.Mutex
	elapsed time.Duration
	waits   []time.Duration
}

func (c *fakeClock) after(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.elapsed += d
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

// runBackingOff runs a loop that backs off with backoff on a fake clock,
// for a minute of it or until spinning reports true, and returns its
// waits after checking each is its delay less at most half.
func runBackingOff(t *testing.T, backoff Backoff, spinning func() bool, run func(ctx context.Context, after func(time.Duration) <-chan time.Time)) []time.Duration {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := &fakeClock{}
	after := func(d time.Duration) <-chan time.Time {
		clock.mu.Lock()
		elapsed := clock.elapsed
		clock.mu.Unlock()
		if elapsed >= time.Minute || spinning() {
			cancel()
		}
		return clock.after(d)
	}
	done := make(chan struct{})
	go func() { run(ctx, after); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the loop did not stop within 30s")
	}
	for i, d := range clock.waits {
		full := backoff.Delay(i + 1)
		if d < full/2 || d > full {
			t.Errorf("wait %d = %v, want within [%v, %v]", i+1, d, full/2, full)
		}
	}
	return clock.waits
}

// TestEventWatcherBacksOffOnAnErrorStatus points the watcher at a feed
// answering 500 with a JSON body (which decodes: only the status says it
// failed) and counts its polls over a minute of a fake clock.
func TestEventWatcherBacksOffOnAnErrorStatus(t *testing.T) {
	var polls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		polls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"error":{"code":"InternalServerError","message":"down"},"events":[],"last":0}`))
	}))
	defer srv.Close()
	backoff := Backoff{Base: 100 * time.Millisecond, Max: 10 * time.Second}
	waits := runBackingOff(t, backoff, func() bool { return polls.Load() > 200 }, func(ctx context.Context, after func(time.Duration) <-chan time.Time) {
		w := &EventWatcher{Client: srv.Client(), URL: srv.URL, Queue: newFakeQueue(true), Backoff: backoff, after: after}
		w.Run(ctx)
	})
	// 100ms doubling to 10s, less up to half: at most 1 + 7 + 12 polls in
	// a minute; without backoff it would be unbounded.
	if n := polls.Load(); n > 20 || n < 5 || int(n) != len(waits) {
		t.Fatalf("%d polls in a minute of fake time with waits %v; want 5 to 20, one wait after each", n, waits)
	}
}

// scopes is a fake PeeringScopes: the peering keys of each (tenant, scope).
type scopes map[[2]string][]Key

func (s scopes) PeeringKeysForScope(ctx context.Context, tenant, scope string) ([]Key, error) {
	return s[[2]string{tenant, scope}], nil
}

// TestEventWatcherQueuesWhatAChangeAffects serves a feed of two polls and
// checks the keys queued: a peering half by name, a role assignment by its
// scope; and nothing is looked up on a replica that does not lead.
func TestEventWatcherQueuesWhatAChangeAffects(t *testing.T) {
	vnet := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
	feed := map[string]eventFeed{
		"-1": {Events: []azureemu.Event{}, Last: 7},
		"7": {Events: []azureemu.Event{
			{Seq: 8, Type: azureemu.EventPeering, TenantID: "cust", ResourceID: vnet + "/virtualNetworkPeerings/peer-1"},
			{Seq: 9, Type: azureemu.EventRoleAssignment, TenantID: "cust", ResourceID: vnet},
			{Seq: 10, Type: azureemu.EventNSG, TenantID: "cust", ResourceID: "nsg"},
		}, Last: 10},
	}
	for _, leading := range []bool{true, false} {
		t.Run(strconv.FormatBool(leading), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer op" {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				f, ok := feed[r.URL.Query().Get("after")]
				if !ok {
					cancel() // both polls answered
					<-r.Context().Done()
					return
				}
				json.NewEncoder(w).Encode(f)
			}))
			defer srv.Close()
			q := newFakeQueue(leading)
			w := &EventWatcher{Client: srv.Client(), URL: srv.URL, Token: "op", ProviderTenant: "prov",
				Peerings: scopes{{"cust", vnet}: {peeringKey("peer-2"), peeringKey("peer-3")}}, Queue: q}
			w.Run(ctx)
			keys, _ := q.got()
			want := []Key{peeringKey("peer-1"), peeringKey("peer-2"), peeringKey("peer-3")}
			if !leading {
				want = nil
			}
			if !slices.Equal(keys, want) {
				t.Fatalf("queued %v, want %v", keys, want)
			}
		})
	}
}
