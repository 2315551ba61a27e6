package reconcile

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/control"
)

func TestEventTarget(t *testing.T) {
	const prov, cust, app, user = "prov", "cust", "app-id", "user-oid"
	vnet := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
	provVNet := "/subscriptions/ps/resourceGroups/peerplane-networks/providers/Microsoft.Network/virtualNetworks/n-abc123"
	scope := func(tenant, scope string) wake { return wake{scope: &control.AzureScope{Tenant: tenant, Scope: scope}} }
	tests := []struct {
		what  string
		ev    azureemu.Event
		actor string
		want  wake
	}{
		{"a customer's role assignment on a VNet", azureemu.Event{Type: azureemu.EventRoleAssignment, TenantID: cust, ResourceID: vnet}, user, scope(cust, vnet)},
		{"a customer's role assignment on a subscription", azureemu.Event{Type: azureemu.EventRoleAssignment, TenantID: cust, ResourceID: "/subscriptions/s"}, user, scope(cust, "/subscriptions/s")},
		{"a customer VNet's tag", azureemu.Event{Type: azureemu.EventVNet, TenantID: cust, ResourceID: vnet}, user, scope(cust, vnet)},
		{"a customer's own half deleted", azureemu.Event{Type: azureemu.EventPeeringDeleted, TenantID: cust, ResourceID: vnet + "/virtualNetworkPeerings/p"}, user, scope(cust, vnet)},
		{"our customer half deleted by the customer", azureemu.Event{Type: azureemu.EventPeeringDeleted, TenantID: cust, ResourceID: vnet + "/virtualNetworkPeerings/peer-abc"}, user, wake{peering: "peer-abc"}},
		{"our provider half, by an unknown actor", azureemu.Event{Type: azureemu.EventPeering, TenantID: prov, ResourceID: provVNet + "/virtualNetworkPeerings/peer-abc"}, "", wake{peering: "peer-abc"}},
		{"another half of the provider's", azureemu.Event{Type: azureemu.EventPeering, TenantID: prov, ResourceID: provVNet + "/virtualNetworkPeerings/other"}, "", wake{}},
		{"a provider VNet changed by the operator", azureemu.Event{Type: azureemu.EventVNet, TenantID: prov, ResourceID: provVNet}, user, wake{network: "n-abc123"}},
		{"a provider VNet deleted", azureemu.Event{Type: azureemu.EventVNetDeleted, TenantID: prov, ResourceID: provVNet}, "", wake{network: "n-abc123"}},
		{"a provider security group", azureemu.Event{Type: azureemu.EventNSG, TenantID: prov, ResourceID: "nsg"}, user, wake{}},
		{"a consent in the provider tenant", azureemu.Event{Type: azureemu.EventConsent, TenantID: prov, ResourceID: "sp"}, user, wake{all: true}},
		{"a role assignment in the provider tenant", azureemu.Event{Type: azureemu.EventRoleAssignment, TenantID: prov, ResourceID: "/subscriptions/ps"}, user, wake{all: true}},
		{"a customer's consent", azureemu.Event{Type: azureemu.EventConsent, TenantID: cust, ResourceID: "sp"}, user, scope(cust, "")},
		{"a customer's role definition", azureemu.Event{Type: azureemu.EventRoleDefinition, TenantID: cust, ResourceID: "r"}, user, scope(cust, "")},
		{"a customer's security group", azureemu.Event{Type: azureemu.EventNSG, TenantID: cust, ResourceID: "n"}, user, wake{}},
		// The reconciler's own writes, as the provider app, wake nothing.
		{"our provider half, by the app", azureemu.Event{Type: azureemu.EventPeering, TenantID: prov, ResourceID: provVNet + "/virtualNetworkPeerings/peer-abc"}, app, wake{}},
		{"our customer half, by the app", azureemu.Event{Type: azureemu.EventPeering, TenantID: cust, ResourceID: vnet + "/virtualNetworkPeerings/peer-abc"}, "APP-ID", wake{}},
		{"a provider VNet, by the app", azureemu.Event{Type: azureemu.EventVNet, TenantID: prov, ResourceID: provVNet}, app, wake{}},
	}
	for _, tt := range tests {
		tt.ev.Actor = tt.actor
		got := eventTarget(tt.ev, prov, app)
		if got.all != tt.want.all || got.peering != tt.want.peering || got.network != tt.want.network ||
			(got.scope == nil) != (tt.want.scope == nil) || got.scope != nil && *got.scope != *tt.want.scope {
			t.Errorf("%s: eventTarget = %+v (scope %v), want %+v (scope %v)", tt.what, got, got.scope, tt.want, tt.want.scope)
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

func (q *fakeQueue) Rescan(ctx context.Context) error {
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

// scopes is a fake PeeringScopes: the peering keys of each (tenant,
// scope), and the peerings of each network.
type scopes struct {
	byScope   map[control.AzureScope][]Key
	byNetwork map[string][]string
}

func (s scopes) PeeringKeysForScopes(ctx context.Context, list []control.AzureScope) ([]Key, error) {
	var keys []Key
	for _, sc := range list {
		keys = append(keys, s.byScope[sc]...)
	}
	return keys, nil
}

func (s scopes) PeeringsOfNetwork(ctx context.Context, networkID string) ([]*control.Peering, error) {
	var ps []*control.Peering
	for _, id := range s.byNetwork[networkID] {
		ps = append(ps, &control.Peering{ID: id, NetworkID: networkID})
	}
	return ps, nil
}

// TestEventWatcherQueuesWhatAChangeAffects serves a feed of two polls and
// checks the keys queued: a peering half by name, a role assignment by its
// scope, a provider VNet by its network, the provider app's own writes
// not at all; and nothing is looked up on a replica that does not lead.
func TestEventWatcherQueuesWhatAChangeAffects(t *testing.T) {
	vnet := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
	provVNet := "/subscriptions/ps/resourceGroups/peerplane-networks/providers/Microsoft.Network/virtualNetworks/n-1"
	feed := map[string]string{
		"-1": `{"events":[],"last":7}`,
		"7": `{"events":[
			{"seq":8,"type":"virtualNetworkPeering.deleted","tenantId":"cust","resourceId":"` + vnet + `/virtualNetworkPeerings/peer-1","actor":"user"},
			{"seq":9,"type":"roleAssignment.changed","tenantId":"cust","resourceId":"` + vnet + `","actor":"user"},
			{"seq":10,"type":"networkSecurityGroup.changed","tenantId":"cust","resourceId":"nsg"},
			{"seq":11,"type":"virtualNetworkPeering.changed","tenantId":"cust","resourceId":"` + vnet + `/virtualNetworkPeerings/peer-9","actor":"app"},
			{"seq":12,"type":"virtualNetwork.changed","tenantId":"prov","resourceId":"` + provVNet + `","actor":"app"},
			{"seq":13,"type":"virtualNetwork.changed","tenantId":"prov","resourceId":"` + provVNet + `","actor":"operator"}
		],"last":13}`,
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
				w.Write([]byte(f))
			}))
			defer srv.Close()
			q := newFakeQueue(leading)
			w := &EventWatcher{Client: srv.Client(), URL: srv.URL, Token: "op", ProviderTenant: "prov", ProviderApp: "app",
				Peerings: scopes{byScope: map[control.AzureScope][]Key{{Tenant: "cust", Scope: vnet}: {peeringKey("peer-2"), peeringKey("peer-3")}},
					byNetwork: map[string][]string{"n-1": {"peer-4"}, "n-2": {"peer-5"}}}, Queue: q}
			w.Run(ctx)
			keys, _ := q.got()
			want := []Key{peeringKey("peer-1"), networkKey("n-1"), peeringKey("peer-4"), peeringKey("peer-2"), peeringKey("peer-3")}
			if !leading {
				want = nil
			}
			if !slices.Equal(keys, want) {
				t.Fatalf("queued %v, want %v", keys, want)
			}
		})
	}
}
