package reconcile_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/reconcile"
)

// outcomeControl serves one object of each outcome; any other call panics
// (the embedded nil interface), so the test also pins what is read.
type outcomeControl struct{ reconcile.Control }

func (outcomeControl) AllObjectKeys(ctx context.Context) ([]reconcile.Key, error) {
	return []reconcile.Key{control.ClusterKey("gone"), control.NetworkKey("broken"), control.PeeringKey("waiting"), control.PeeringKey("unconsented")}, nil
}

func (outcomeControl) ReconcileCluster(ctx context.Context, id string) (*control.Cluster, error) {
	return nil, control.Errorf(control.ENOTFOUND, "cluster %s not found", id)
}

func (outcomeControl) ReconcileNetwork(ctx context.Context, id string) (*control.Network, error) {
	switch id {
	case "n-broken":
		return nil, errors.New("store unreachable")
	case "n-provisioning":
		return &control.Network{ID: id, Region: "eastus", CIDR: "10.10.0.0/16", Status: control.NetworkStatus{Phase: control.PhaseProvisioning}}, nil
	}
	return &control.Network{ID: id, Region: "eastus", CIDR: "10.10.0.0/16",
		Status: control.NetworkStatus{Phase: control.PhaseReady, AzureVNet: azure.VNetID("aaaaaaaa-0000-4000-8000-000000000002", "rg", id)}}, nil
}

func (outcomeControl) ReconcilePeering(ctx context.Context, id string) (*control.Peering, error) {
	p := &control.Peering{ID: id, NetworkID: "n-ready", EnvironmentID: "env-1", Tenant: "bbbbbbbb-0000-4000-8000-000000000001",
		VNet: azure.VNetID("bbbbbbbb-0000-4000-8000-000000000002", "rg", "vnet"), CustomerRegion: "eastus",
		Status: control.PeeringStatus{Phase: control.PhaseProvisioning}}
	if id == "waiting" {
		p.NetworkID = "n-provisioning"
	}
	return p, nil
}

func (outcomeControl) UpdatePeeringStatusFrom(ctx context.Context, id string, from, to control.PeeringStatus) (*control.Peering, error) {
	return &control.Peering{ID: id, Status: to}, nil
}

func (outcomeControl) Settings() control.Settings { return control.DefaultSettings() }

// unconsentedAzure is an Azure where the provider app has no service
// principal in any customer tenant.
type unconsentedAzure struct{ reconcile.Azure }

func (unconsentedAzure) ProviderTenantID() string { return "aaaaaaaa-0000-4000-8000-000000000001" }

func (unconsentedAzure) CheckTenantAccess(ctx context.Context, tenant string) error {
	return &azure.Error{Status: 400, Code: azure.CodeAppNotInTenant, Message: "AADSTS700016: application not found in the directory"}
}

// GetVNet and EnsureProviderVNet fail: the network a waiting peering
// queues stays PROVISIONING.
func (unconsentedAzure) ProviderVNetID(name string) string {
	return "/subscriptions/p/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/" + name
}
func (unconsentedAzure) GetVNet(ctx context.Context, tenant, id string) (*azure.VNet, error) {
	return nil, errors.New("azure unreachable")
}
func (unconsentedAzure) EnsureProviderVNet(ctx context.Context, name, location, cidr string, tags map[string]string) (*azure.VNet, error) {
	return nil, errors.New("azure unreachable")
}

// TestControllerObservesEachReconcile: Config.Observe hears of every
// reconcile with its kind and outcome: a missing object is ok, a store
// error is an error, a peering waiting for its network is requeued, and
// one without consent is failed with APP_NOT_CONSENTED.
func TestControllerObservesEachReconcile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		seen := map[reconcile.Observation]int{}
		c := reconcile.New(reconcile.Config{Control: outcomeControl{}, Azure: unconsentedAzure{},
			Backoff: reconcile.Backoff{Base: time.Hour, Max: time.Hour}, // one attempt each within the test
			Observe: func(o reconcile.Observation) {
				if o.Duration < 0 {
					t.Errorf("negative duration in %+v", o)
				}
				o.Duration = 0
				mu.Lock()
				seen[o]++
				mu.Unlock()
			}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { c.Run(ctx); close(done) }()
		synctest.Wait()
		cancel()
		<-done

		want := []reconcile.Observation{
			{Kind: "cluster", Outcome: reconcile.OutcomeOK},
			{Kind: "network", Outcome: reconcile.OutcomeError},
			{Kind: "peering", Outcome: reconcile.OutcomeRequeue},
			{Kind: "peering", Outcome: reconcile.OutcomeFailed, ErrorCode: control.PeeringAppNotConsented},
		}
		for _, o := range want {
			if seen[o] == 0 {
				t.Errorf("no observation %+v; saw %v", o, seen)
			}
		}
		for o := range seen {
			if !slices.Contains(want, o) {
				t.Errorf("unexpected observation %+v", o)
			}
		}
	})
}
