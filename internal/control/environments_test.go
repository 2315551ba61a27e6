package control_test

import (
	"context"
	"errors"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
)

// failingStore makes UpdatePeeringStatus fail inside Update while fail is set,
// as a database error in the middle of a transaction would.
type failingStore struct {
	control.Store
	fail *bool
}

func (s failingStore) Update(ctx context.Context, fn func(tx control.Tx) error) error {
	return s.Store.Update(ctx, func(tx control.Tx) error { return fn(failingTx{tx, s.fail}) })
}

type failingTx struct {
	control.Tx
	fail *bool
}

var errDisk = errors.New("disk on fire")

func (t failingTx) UpdatePeeringStatus(ctx context.Context, p *control.Peering) error {
	if *t.fail {
		return errDisk
	}
	return t.Tx.UpdatePeeringStatus(ctx, p)
}

// TestDeleteEnvironmentIsAtomic: when a write of the delete fails after
// the networks were marked and the clusters deleted, nothing of it stays
// (the cluster, the connector, the network's phase, the environment) and
// the reconciler is told of nothing; once the store works, the delete
// goes through and tells it of everything.
func TestDeleteEnvironmentIsAtomic(t *testing.T) {
	ctx := context.Background()
	fail := false
	svc := control.NewService(failingStore{sqliteStore(t), &fail}, control.DefaultSettings())
	var told []control.ObjectKey
	svc.OnChange = func(c control.ObjectKey) { told = append(told, c) }
	org := &control.Organization{DisplayName: "acme"}
	if err := svc.CreateOrganization(control.NewOperatorContext(ctx), org); err != nil {
		t.Fatal(err)
	}
	octx := control.NewContextWithOrganization(ctx, org)
	env := &control.Environment{DisplayName: "prod"}
	n := &control.Network{DisplayName: "n", Cloud: "AZURE", Region: "eastus", CIDR: "10.10.0.0/16", ConnectionTypes: []string{"PEERING"}}
	p := &control.Peering{DisplayName: "p", Cloud: "AZURE", CustomerRegion: "eastus", Tenant: "5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01",
		VNet: "/subscriptions/6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet"}
	c := &control.Cluster{DisplayName: "c", CKU: 1}
	for _, step := range []func() error{
		func() error { return svc.CreateEnvironment(octx, env) },
		func() error { n.EnvironmentID = env.ID; return svc.CreateNetwork(octx, n) },
		func() error { p.EnvironmentID, p.NetworkID = env.ID, n.ID; return svc.CreatePeering(octx, p) },
		func() error { c.EnvironmentID, c.NetworkID = env.ID, n.ID; return svc.CreateCluster(octx, c) },
		func() error {
			return svc.CreateConnector(octx, env.ID, c.ID, &control.Connector{Name: "sink",
				Config: map[string]string{"connector.class": "PostgresSink", "connection.url": "jdbc:postgresql://10.1.0.4:5432/db", "topics": "orders"}})
		},
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	told = nil

	fail = true
	if err := svc.DeleteEnvironment(octx, env.ID); !errors.Is(err, errDisk) {
		t.Fatalf("delete with a failing write: %v, want the store's error", err)
	}
	if len(told) != 0 {
		t.Fatalf("a failed delete told the reconciler %v", told)
	}
	if _, err := svc.FindEnvironmentByID(octx, env.ID); err != nil {
		t.Fatalf("environment after a failed delete: %v", err)
	}
	if got, err := svc.FindNetworkByID(octx, env.ID, n.ID); err != nil || got.Status.Phase != control.PhaseProvisioning {
		t.Fatalf("network after a failed delete: %+v, %v; want it untouched", got, err)
	}
	if got, err := svc.FindPeeringByID(octx, env.ID, p.ID); err != nil || got.Status.Phase != control.PhaseProvisioning {
		t.Fatalf("peering after a failed delete: %+v, %v; want it untouched", got, err)
	}
	if _, err := svc.FindConnector(octx, env.ID, c.ID, "sink"); err != nil {
		t.Fatalf("connector after a failed delete: %v", err)
	}

	fail = false
	if err := svc.DeleteEnvironment(octx, env.ID); err != nil {
		t.Fatal(err)
	}
	want := []control.ObjectKey{control.NetworkKey(n.ID), control.ClusterKey(c.ID), control.PeeringKey(p.ID), control.EnvironmentKey(env.ID)}
	if len(told) != len(want) {
		t.Fatalf("told %v, want %v", told, want)
	}
	for i := range want {
		if told[i] != want[i] {
			t.Fatalf("told %v, want %v", told, want)
		}
	}
}
