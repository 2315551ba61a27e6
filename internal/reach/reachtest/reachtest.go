// Package reachtest builds a small reachability world for the tests of
// the query's clients (the CLI, the console): control-plane objects in a
// real control.Service and a hand-made Azure snapshot, joined by a
// netcheck.Checker as `peerplane serve` joins them.
//
// The world: a READY network with provider VNet 10.200.0.0/16 and a
// PROVISIONED cluster at 10.200.1.10:9092; the customer's VNet
// contoso-vnet (10.1.0.0/16, subnet default with NSG contoso-nsg) peered
// with the provider VNet, both halves Connected; and spoke-vnet
// (10.2.0.0/16) peered only with contoso-vnet, so that it cannot reach the
// network (TRANSITIVE_PEERING_NOT_SUPPORTED).
package reachtest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/netcheck"
	"github.com/peerplane/peerplane/internal/reach"
	"github.com/peerplane/peerplane/internal/store"
)

// Addresses of the world.
const (
	ContosoVM = "10.1.0.4"    // in contoso-vnet, peered with the network
	SpokeVM   = "10.2.0.4"    // in spoke-vnet, peered only with contoso-vnet
	ClusterIP = "10.200.1.10" // the cluster's endpoint
)

const sub = "0a1b2c3d-2222-1e5f-8a9b-abcdefabcdef"

// VNetID is the resource id of customer VNet name.
func VNetID(name string) string {
	return "/subscriptions/" + sub + "/resourceGroups/contoso-network/providers/Microsoft.Network/virtualNetworks/" + name
}

// World is the world's ids and its snapshot, which a test may change
// between queries (the Checker reads it on each one).
type World struct {
	Env, Network, Cluster, ClusterName string
	ProviderVNet                       string
	Snapshot                           reach.Snapshot
	Checker                            *netcheck.Checker
}

// Service opens a control.Service over a new SQLite store with one
// organization, and returns it with the organization's API key.
func Service(t testing.TB) (svc *control.Service, org *control.Organization, key, secret string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "peerplane.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc = control.NewService(db.Control(), control.DefaultSettings())
	octx := control.NewOperatorContext(ctx)
	org = &control.Organization{DisplayName: "acme"}
	if err := svc.CreateOrganization(octx, org); err != nil {
		t.Fatal(err)
	}
	k, secret, err := svc.CreateAPIKey(octx, org.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	return svc, org, k.Key, secret
}

// New creates the world's environment, network and cluster in svc for
// org and returns it with a Checker over svc and the snapshot.
func New(t testing.TB, svc *control.Service, org *control.Organization) *World {
	t.Helper()
	ctx := control.NewContextWithOrganization(context.Background(), org)
	must := func(err error) {
		if err != nil {
			t.Helper()
			t.Fatal(err)
		}
	}
	env := &control.Environment{DisplayName: "prod"}
	must(svc.CreateEnvironment(ctx, env))
	n := &control.Network{EnvironmentID: env.ID, DisplayName: "prod-net", Cloud: control.CloudAzure, Region: "eastus",
		CIDR: "10.200.0.0/16", ConnectionTypes: []string{control.ConnectionTypePeering}}
	must(svc.CreateNetwork(ctx, n))
	w := &World{Env: env.ID, Network: n.ID, ClusterName: "orders",
		ProviderVNet: "/subscriptions/11111111-2222-1333-8444-555555555555/resourceGroups/peerplane-" + n.ID +
			"/providers/Microsoft.Network/virtualNetworks/" + n.ID}
	_, err := svc.UpdateNetworkStatus(ctx, n.ID, control.NetworkStatus{Phase: control.PhaseReady, AzureVNet: w.ProviderVNet,
		AzureSubscription: "11111111-2222-1333-8444-555555555555"})
	must(err)
	c := &control.Cluster{EnvironmentID: env.ID, NetworkID: n.ID, DisplayName: w.ClusterName, Availability: control.AvailabilitySingleZone, CKU: 1}
	must(svc.CreateCluster(ctx, c))
	_, err = svc.UpdateClusterStatus(ctx, c.ID, control.ClusterStatus{Phase: control.ClusterPhaseProvisioned,
		BootstrapEndpoint: "SASL_SSL://" + ClusterIP + ":9092"})
	must(err)
	w.Cluster = c.ID

	contoso, spoke := VNetID("contoso-vnet"), VNetID("spoke-vnet")
	nsg := "/subscriptions/" + sub + "/resourceGroups/contoso-network/providers/Microsoft.Network/networkSecurityGroups/contoso-nsg"
	w.Snapshot = reach.Snapshot{
		VirtualNetworks: []reach.VNet{
			{ID: w.ProviderVNet, Name: n.ID, AddressPrefixes: []string{"10.200.0.0/16"}, Subnets: []reach.Subnet{{Name: "kafka", AddressPrefix: "10.200.0.0/20"}}},
			{ID: contoso, Name: "contoso-vnet", AddressPrefixes: []string{"10.1.0.0/16"}, Subnets: []reach.Subnet{{Name: "default", AddressPrefix: "10.1.0.0/24", NetworkSecurityGroup: nsg}}},
			{ID: spoke, Name: "spoke-vnet", AddressPrefixes: []string{"10.2.0.0/16"}, Subnets: []reach.Subnet{{Name: "default", AddressPrefix: "10.2.0.0/24"}}},
		},
		NSGs: []reach.NSG{{ID: nsg, Name: "contoso-nsg"}},
	}
	w.peer(contoso, w.ProviderVNet, "contoso-to-provider", "provider-to-contoso")
	w.peer(spoke, contoso, "spoke-to-contoso", "contoso-to-spoke")
	w.Checker = &netcheck.Checker{Environments: svc, Networks: svc, Clusters: svc, Peerings: svc,
		Snapshot: func(context.Context, reach.World) (*reach.Snapshot, error) { s := w.Snapshot; return &s, nil }}
	return w
}

// peer adds both halves of a Connected peering between VNets a and b.
func (w *World) peer(a, b, ab, ba string) {
	half := func(from, to, name string) reach.Peering {
		return reach.Peering{ID: from + "/virtualNetworkPeerings/" + name, Name: name, VNetID: from, RemoteVNetID: to,
			PeeringState: reach.PeeringConnected, AllowVirtualNetworkAccess: true}
	}
	w.Snapshot.Peerings = append(w.Snapshot.Peerings, half(a, b, ab), half(b, a, ba))
}
