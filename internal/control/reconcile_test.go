package control_test

import (
	"context"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
)

// TestUpdatePeeringStatusFromKeepsARetry: a reconcile that began before a
// retry (it read the peering DISCONNECTED) may not write its outcome over
// the retry's PROVISIONING, or the retry is lost.
func TestUpdatePeeringStatusFromKeepsARetry(t *testing.T) {
	ctx := context.Background()
	svc := control.NewService(sqliteStore(t), control.DefaultSettings())
	org := &control.Organization{DisplayName: "acme"}
	if err := svc.CreateOrganization(control.NewOperatorContext(ctx), org); err != nil {
		t.Fatal(err)
	}
	octx := control.NewContextWithOrganization(ctx, org)
	env := &control.Environment{DisplayName: "prod"}
	if err := svc.CreateEnvironment(octx, env); err != nil {
		t.Fatal(err)
	}
	n := &control.Network{EnvironmentID: env.ID, DisplayName: "n", Cloud: "AZURE", Region: "eastus", CIDR: "10.10.0.0/16", ConnectionTypes: []string{"PEERING"}}
	if err := svc.CreateNetwork(octx, n); err != nil {
		t.Fatal(err)
	}
	p := &control.Peering{EnvironmentID: env.ID, NetworkID: n.ID, DisplayName: "p", Cloud: "AZURE", CustomerRegion: "eastus",
		Tenant: "5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01",
		VNet:   "/subscriptions/6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet"}
	if err := svc.CreatePeering(octx, p); err != nil {
		t.Fatal(err)
	}
	disconnected := control.PeeringStatus{Phase: control.PhaseDisconnected, ErrorMessage: "The customer's half was deleted."}
	if _, err := svc.UpdatePeeringStatusFrom(ctx, p.ID, control.PeeringStatus{Phase: control.PhaseProvisioning}, disconnected); err != nil {
		t.Fatal(err)
	}
	// The reconciler reads it DISCONNECTED; the customer retries.
	if _, err := svc.RetryPeering(octx, env.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	// The stale reconcile's outcome is refused, the retry stands.
	if _, err := svc.UpdatePeeringStatusFrom(ctx, p.ID, disconnected, disconnected); control.ErrorCode(err) != control.ECONFLICT {
		t.Fatalf("stale status write: %v, want %s", err, control.ECONFLICT)
	}
	got, err := svc.ReconcilePeering(ctx, p.ID)
	if err != nil || got.Status.Phase != control.PhaseProvisioning {
		t.Fatalf("after a stale write: %+v, %v; want the retry's PROVISIONING", got, err)
	}
	// A reconcile that read PROVISIONING writes.
	if got, err := svc.UpdatePeeringStatusFrom(ctx, p.ID, got.Status, control.PeeringStatus{Phase: control.PhaseReady}); err != nil || got.Status.Phase != control.PhaseReady {
		t.Fatalf("fresh status write: %+v, %v", got, err)
	}
}
