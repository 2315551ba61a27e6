package control_test

import (
	"context"
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
)

// TestCreateDrawsAgainOnATakenID: six random characters collide (among
// 10,000 peerings about once in 40 sets). Each create here first draws the
// id of the object of its kind created before it, and must succeed with
// another id, not fail with a conflict about something else.
func TestCreateDrawsAgainOnATakenID(t *testing.T) {
	ctx := context.Background()
	svc := control.NewService(sqliteStore(t), control.DefaultSettings())
	last := map[string]string{} // prefix → the last id drawn
	taken := false              // draw a taken id next
	svc.NewID = func(prefix string) string {
		if id, ok := last[prefix]; ok && taken {
			taken = false
			return id
		}
		taken = true
		last[prefix] = control.NewID(prefix)
		return last[prefix]
	}
	org := &control.Organization{DisplayName: "acme"}
	if err := svc.CreateOrganization(control.NewOperatorContext(ctx), org); err != nil {
		t.Fatal(err)
	}
	octx := control.NewContextWithOrganization(ctx, org)
	vnet := "/subscriptions/6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet"
	for i := range 2 {
		env := &control.Environment{DisplayName: "env" + string(rune('a'+i))}
		if err := svc.CreateEnvironment(octx, env); err != nil {
			t.Fatalf("environment %d: %v", i, err)
		}
		n := &control.Network{DisplayName: "n", EnvironmentID: env.ID, Cloud: "AZURE", Region: "eastus", CIDR: "10.10.0.0/16", ConnectionTypes: []string{"PEERING"}}
		if err := svc.CreateNetwork(octx, n); err != nil {
			t.Fatalf("network %d: %v", i, err)
		}
		p := &control.Peering{DisplayName: "p", EnvironmentID: env.ID, NetworkID: n.ID, Cloud: "AZURE", CustomerRegion: "eastus",
			Tenant: "5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01", VNet: vnet + string(rune('a'+i))}
		if err := svc.CreatePeering(octx, p); err != nil {
			t.Fatalf("peering %d: %v", i, err)
		}
		c := &control.Cluster{DisplayName: "c", EnvironmentID: env.ID, NetworkID: n.ID, CKU: 1}
		if err := svc.CreateCluster(octx, c); err != nil {
			t.Fatalf("cluster %d: %v", i, err)
		}
		for _, id := range []string{env.ID, n.ID, p.ID, c.ID} {
			if prefix := id[:strings.IndexByte(id, '-')+1]; last[prefix] != id {
				t.Errorf("%s: created with %s, want the last id drawn, %s", prefix, id, last[prefix])
			}
		}
	}
}
