package reconcile

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/store"
)

// controlled is a Controller over the real control service on SQLite and
// a fake Azure, with one READY network and a peering of it.
type controlled struct {
	svc   *control.Service
	octx  context.Context
	c     *Controller
	az    *fakeAzure
	env   *control.Environment
	n     *control.Network
	p     *control.Peering
	clock time.Time
}

func newControlled(t *testing.T, networkReady bool) *controlled {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	k := &controlled{svc: control.NewService(db.Control(), control.DefaultSettings()), az: newFakeAzure(provTenant), clock: testClock}
	k.svc.Now = func() time.Time { return k.clock }
	org := &control.Organization{DisplayName: "acme"}
	if err := k.svc.CreateOrganization(control.NewOperatorContext(ctx), org); err != nil {
		t.Fatal(err)
	}
	k.octx = control.NewContextWithOrganization(ctx, org)
	k.env = &control.Environment{DisplayName: "prod"}
	if err := k.svc.CreateEnvironment(k.octx, k.env); err != nil {
		t.Fatal(err)
	}
	k.n = &control.Network{EnvironmentID: k.env.ID, DisplayName: "n", Cloud: "AZURE", Region: "eastus", CIDR: "10.10.0.0/16", ConnectionTypes: []string{"PEERING"}}
	if err := k.svc.CreateNetwork(k.octx, k.n); err != nil {
		t.Fatal(err)
	}
	if networkReady {
		provVNet := k.az.ProviderVNetID(k.n.ID)
		k.az.addVNet(provVNet, "eastus", nil, k.n.CIDR)
		if k.n, err = k.svc.UpdateNetworkStatus(ctx, k.n.ID, control.NetworkStatus{Phase: control.PhaseReady, AzureVNet: provVNet}); err != nil {
			t.Fatal(err)
		}
	}
	k.az.addVNet(custVNet, "eastus", map[string]string{control.EnvTag: k.env.ID}, "10.1.0.0/16")
	k.p = &control.Peering{EnvironmentID: k.env.ID, NetworkID: k.n.ID, DisplayName: "p", Cloud: "AZURE", CustomerRegion: "eastus", Tenant: custTenant, VNet: custVNet}
	if err := k.svc.CreatePeering(k.octx, k.p); err != nil {
		t.Fatal(err)
	}
	k.c = New(Config{Control: k.svc, Azure: k.az, App: testApp, Now: func() time.Time { return k.clock }})
	return k
}

// reconcile runs one reconcile of the peering and returns it as stored.
func (k *controlled) reconcile(t *testing.T) (*control.Peering, error) {
	t.Helper()
	k.clock = k.clock.Add(time.Minute)
	_, err := k.c.Reconcile(context.Background(), peeringKey(k.p.ID))
	p, ferr := k.svc.ReconcilePeering(context.Background(), k.p.ID)
	if ferr != nil {
		t.Fatal(ferr)
	}
	return p, err
}

// TestReconcilePeeringStoresTheChecklist drives a peering through the
// reconciler over the real control service: each pass stores its
// checklist with the status, and a pass that finds nothing new writes
// nothing and changes nothing in Azure.
func TestReconcilePeeringStoresTheChecklist(t *testing.T) {
	k := newControlled(t, true)
	k.az.consent[custTenant] = azErr(400, azure.CodeAppNotInTenant, "AADSTS700016: not found")

	p, err := k.reconcile(t)
	var f *failed
	if !errors.As(err, &f) || f.code != control.PeeringAppNotConsented {
		t.Fatalf("reconcile: %v, want failed APP_NOT_CONSENTED", err)
	}
	l := p.Status.Checklist
	if p.Status.Phase != control.PhaseFailed || p.Status.ErrorMessage != l.Check(control.StepConsent).Evidence || !l.CheckedAt.Equal(k.clock) {
		t.Fatalf("status %+v", p.Status)
	}
	for i, c := range l.Checks {
		if c.Step != control.PeeringSteps[i] || (i == 0) != (c.Status == control.CheckFail) || i > 0 && c.Status != control.CheckSkipped {
			t.Fatalf("check %d: %+v, want consent FAIL then SKIPPED", i, c)
		}
	}
	if !strings.Contains(l.Fixes.ConsentURL, custTenant) || !strings.Contains(l.Fixes.Tag, "ConfluentEnvIDs=${TAG:+$TAG,}"+k.env.ID) {
		t.Fatalf("fixes %+v", l.Fixes)
	}

	// Nothing changed: nothing written (CheckedAt and UpdatedAt stay).
	stored := p
	if p, _ = k.reconcile(t); !p.UpdatedAt.Equal(stored.UpdatedAt) || !p.Status.Checklist.CheckedAt.Equal(l.CheckedAt) {
		t.Fatalf("an unchanged pass wrote: updated %s → %s", stored.UpdatedAt, p.UpdatedAt)
	}

	// Consent: READY, every check passes, both halves made once.
	delete(k.az.consent, custTenant)
	if p, err = k.reconcile(t); err != nil || p.Status.Phase != control.PhaseReady || p.Status.ErrorCode != "" || p.Status.ErrorMessage != "" {
		t.Fatalf("after consent: %+v, %v", p.Status, err)
	}
	for _, c := range p.Status.Checklist.Checks {
		if c.Status != control.CheckPass || c.Fix != "" {
			t.Fatalf("READY with %+v", c)
		}
	}
	if k.az.called("put ") != 2 {
		t.Fatalf("calls %v: want both halves created once", k.az.calls)
	}

	// A READY re-check: reads only, writes nothing.
	k.az.calls = nil
	ready := p
	if p, _ = k.reconcile(t); !p.UpdatedAt.Equal(ready.UpdatedAt) || !p.Status.Equal(ready.Status) {
		t.Fatalf("a READY re-check wrote %+v", p.Status)
	}
	if len(k.az.calls) != 0 {
		t.Fatalf("a READY re-check called %v", k.az.calls)
	}

	// The customer deletes their half: DISCONNECTED, nothing re-created.
	k.az.DeletePeering(context.Background(), custTenant, custVNet, k.p.ID)
	k.az.calls = nil
	if p, err = k.reconcile(t); err != nil || p.Status.Phase != control.PhaseDisconnected || p.Status.ErrorCode != control.PeeringDisconnected ||
		!strings.Contains(p.Status.ErrorMessage, "Disconnected") {
		t.Fatalf("after the customer's delete: %+v, %v", p.Status, err)
	}
	if k.az.called("put ") != 0 {
		t.Fatalf("a DISCONNECTED peering re-created a half: %v", k.az.calls)
	}

	// A retry keeps the checklist until the next pass, which re-creates
	// both halves.
	retried, err := k.svc.RetryPeering(k.octx, k.env.ID, k.p.ID)
	if err != nil || retried.Status.Phase != control.PhaseProvisioning || !retried.Status.Checklist.Equal(p.Status.Checklist) {
		t.Fatalf("retry: %+v, %v", retried.Status, err)
	}
	if p, err = k.reconcile(t); err != nil || p.Status.Phase != control.PhaseReady {
		t.Fatalf("after retry: %+v, %v", p.Status, err)
	}
	if h := k.az.half(custVNet, k.p.ID); h == nil || h.State != azure.PeeringConnected {
		t.Fatalf("customer half after retry: %+v", h)
	}
}

// TestReconcilePeeringWaitingForTheNetwork: a peering of a network not
// READY yet shows every step PENDING, with the grant commands, at once.
func TestReconcilePeeringWaitingForTheNetwork(t *testing.T) {
	k := newControlled(t, false)
	p, err := k.reconcile(t)
	if err != nil {
		t.Fatal(err)
	}
	l := p.Status.Checklist
	if p.Status.Phase != control.PhaseProvisioning || len(l.Checks) != len(control.PeeringSteps) || l.Fixes.RoleAssignmentCreate == "" {
		t.Fatalf("status %+v", p.Status)
	}
	for _, c := range l.Checks {
		if c.Status != control.CheckPending || !strings.Contains(c.Evidence, k.n.ID+" is PROVISIONING") {
			t.Fatalf("check %+v", c)
		}
	}
	if len(k.az.calls) != 0 {
		t.Fatalf("waiting for the network called Azure: %v", k.az.calls)
	}
	// Once written, it is not rewritten while the network is still not READY.
	if again, _ := k.reconcile(t); !again.UpdatedAt.Equal(p.UpdatedAt) {
		t.Fatalf("the pending checklist was rewritten")
	}
}

// TestReconcileNetworkObservesBeforeItActs: a READY network's resync reads
// its provider VNet and writes it only when it differs from what the
// network wants (location, address space, tags), nor rewrites the
// network's status when nothing changed.
func TestReconcileNetworkObservesBeforeItActs(t *testing.T) {
	k := newControlled(t, false)
	ctx := context.Background()
	reconcileNetwork := func() *control.Network {
		t.Helper()
		k.clock = k.clock.Add(time.Minute)
		res, err := k.c.Reconcile(ctx, networkKey(k.n.ID))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Resync || res.RequeueAfter < DefaultNetworkResync/2 || res.RequeueAfter > DefaultNetworkResync {
			t.Fatalf("a READY network's next check: %+v, want a resync within [%v, %v]", res, DefaultNetworkResync/2, DefaultNetworkResync)
		}
		n, err := k.svc.ReconcileNetwork(ctx, k.n.ID)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := reconcileNetwork()
	if n.Status.Phase != control.PhaseReady || k.az.called("ensure-vnet ") != 1 {
		t.Fatalf("a new network: %+v after %v, want READY after one write", n.Status, k.az.calls)
	}
	ready := n
	for range 5 {
		n = reconcileNetwork()
	}
	if w := k.az.called("ensure-vnet "); w != 1 || !n.UpdatedAt.Equal(ready.UpdatedAt) {
		t.Fatalf("5 resyncs of an unchanged network: %d VNet writes in all (%v), updated %v → %v; want no new write", w, k.az.calls, ready.UpdatedAt, n.UpdatedAt)
	}

	provVNet := strings.ToLower(k.az.ProviderVNetID(k.n.ID))
	for _, c := range []struct {
		what   string
		change func(v *azure.VNet)
	}{
		{"a tag removed", func(v *azure.VNet) { delete(v.Tags, TagEnvironment) }},
		{"a tag added", func(v *azure.VNet) { v.Tags["owner"] = "someone" }},
		{"a tag changed", func(v *azure.VNet) { v.Tags[TagNetwork] = "n-other" }},
		{"another location", func(v *azure.VNet) { v.Location = "westus" }},
		{"another address space", func(v *azure.VNet) { v.AddressPrefixes = []string{"10.11.0.0/16"} }},
		{"a second prefix", func(v *azure.VNet) { v.AddressPrefixes = append(v.AddressPrefixes, "10.12.0.0/16") }},
		{"deleted", nil},
	} {
		k.az.mu.Lock()
		if c.change == nil {
			delete(k.az.vnets, provVNet)
		} else {
			c.change(k.az.vnets[provVNet])
		}
		k.az.mu.Unlock()
		before := k.az.called("ensure-vnet ")
		reconcileNetwork()
		if k.az.called("ensure-vnet ") != before+1 {
			t.Fatalf("%s: the resync did not write the provider VNet back", c.what)
		}
		v, _ := k.az.GetVNet(ctx, provTenant, provVNet)
		if !providerVNetAsWanted(v, k.n, ProviderVNetTags(k.n)) {
			t.Fatalf("%s: the provider VNet is %+v after the resync", c.what, v)
		}
		reconcileNetwork()
		if k.az.called("ensure-vnet ") != before+1 {
			t.Fatalf("%s: the next resync wrote again", c.what)
		}
	}
}

// TestResyncsAreSpread: a READY peering's next re-check is drawn between
// half the resync and all of it, so that peerings that became READY
// together do not come back together.
func TestResyncsAreSpread(t *testing.T) {
	k := newControlled(t, true)
	seen := map[time.Duration]bool{}
	for range 20 {
		res, err := k.c.Reconcile(context.Background(), peeringKey(k.p.ID))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Resync || res.RequeueAfter < DefaultResync/2 || res.RequeueAfter > DefaultResync {
			t.Fatalf("a READY peering's next check: %+v, want a resync within [%v, %v]", res, DefaultResync/2, DefaultResync)
		}
		seen[res.RequeueAfter] = true
	}
	if len(seen) < 10 {
		t.Fatalf("20 resyncs drew %d distinct delays, want them spread", len(seen))
	}
}

// TestRescanFindsALostWakeUp: the periodic rescan queues a peering whose
// delete the leader was never told of, and leaves the settled network and
// peerings to their resync.
func TestRescanFindsALostWakeUp(t *testing.T) {
	k := newControlled(t, true)
	if p, err := k.reconcile(t); err != nil || p.Status.Phase != control.PhaseReady {
		t.Fatalf("peering: %+v, %v", p.Status, err)
	}
	ctx := context.Background()
	if err := k.c.Rescan(ctx); err != nil {
		t.Fatal(err)
	}
	if n := k.c.q.Len(); n != 0 {
		t.Fatalf("a rescan of a settled world queued %d keys", n)
	}
	// The delete commits; its wake-up is lost (no OnChange).
	if err := k.svc.DeletePeering(k.octx, k.env.ID, k.p.ID); err != nil {
		t.Fatal(err)
	}
	if err := k.c.Rescan(ctx); err != nil {
		t.Fatal(err)
	}
	if n := k.c.q.Len(); n != 1 {
		t.Fatalf("the rescan queued %d keys, want the deleted peering's", n)
	}
	if key, _ := k.c.q.Get(); key != peeringKey(k.p.ID) {
		t.Fatalf("the rescan queued %v, want the deleted peering", key)
	}
}

// TestPeeringKeysForScopes: the peerings an Azure change may affect, found
// by tenant and ARM scope on the real store, in one read for many scopes.
func TestPeeringKeysForScopes(t *testing.T) {
	k := newControlled(t, true)
	rid, _ := azure.ParseVNetID(custVNet)
	rg := "/subscriptions/" + rid.SubscriptionID + "/resourceGroups/" + rid.ResourceGroup
	for _, c := range []struct {
		what   string
		scopes []control.AzureScope
		want   bool
	}{
		{"the VNet", []control.AzureScope{{Tenant: custTenant, Scope: custVNet}}, true},
		{"the VNet, upper-case, with a slash", []control.AzureScope{{Tenant: strings.ToUpper(custTenant), Scope: strings.ToUpper(custVNet) + "/"}}, true},
		{"its resource group", []control.AzureScope{{Tenant: custTenant, Scope: rg}}, true},
		{"its subscription", []control.AzureScope{{Tenant: custTenant, Scope: "/subscriptions/" + rid.SubscriptionID}}, true},
		{"its tenant", []control.AzureScope{{Tenant: custTenant}}, true},
		{"everything", []control.AzureScope{{}}, true},
		{"another resource group with the same prefix", []control.AzureScope{{Tenant: custTenant, Scope: rg + "2"}}, false},
		{"another tenant", []control.AzureScope{{Tenant: provTenant}}, false},
		{"none", nil, false},
		{"one of two", []control.AzureScope{{Tenant: provTenant}, {Tenant: custTenant, Scope: rg}}, true},
	} {
		keys, err := k.svc.PeeringKeysForScopes(context.Background(), c.scopes)
		if err != nil {
			t.Fatal(err)
		}
		want := []Key(nil)
		if c.want {
			want = []Key{peeringKey(k.p.ID)}
		}
		if !slices.Equal(keys, want) {
			t.Errorf("%s: %v, want %v", c.what, keys, want)
		}
	}
}
