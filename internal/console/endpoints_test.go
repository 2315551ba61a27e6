package console_test

import (
	"context"
	"html"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
)

// TestClusterEndpointsBlock: the network page shows each PROVISIONED
// cluster's bootstrap and REST endpoints and brokers, and the command that
// lists its brokers from a VNet: a placeholder VNet until a peering of the
// network is Active, then the peered VNet's resource group and name.
func TestClusterEndpointsBlock(t *testing.T) {
	f := newFixture(t)
	f.signIn(f.secret)
	ctx := control.NewContextWithOrganization(context.Background(), mustOrg(t, f))
	env := &control.Environment{DisplayName: "prod"}
	if err := f.svc.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	n := &control.Network{EnvironmentID: env.ID, DisplayName: "net", Cloud: "AZURE", Region: "eastus", CIDR: "10.10.0.0/16", ConnectionTypes: []string{"PEERING"}}
	if err := f.svc.CreateNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	c := &control.Cluster{EnvironmentID: env.ID, NetworkID: n.ID, DisplayName: "orders", CKU: 1}
	if err := f.svc.CreateCluster(ctx, c); err != nil {
		t.Fatal(err)
	}
	netURL := "/console/environments/" + env.ID + "/networks/" + n.ID
	if _, body, _ := f.get(netURL); strings.Contains(body, `id="endpoints-`+c.ID) {
		t.Fatal("a PROVISIONING cluster shows endpoints")
	}
	st := control.PrivateEndpoints(c, n, control.DefaultPrivateDNSDomain, []netip.Addr{netip.MustParseAddr("10.10.20.4")})
	if _, err := f.svc.UpdateClusterStatus(context.Background(), c.ID, st); err != nil {
		t.Fatal(err)
	}
	code, body, _ := f.get(netURL)
	body = html.UnescapeString(body)
	for _, want := range []string{`id="endpoints-` + c.ID, st.BootstrapEndpoint, st.HTTPEndpoint, "10.10.20.4:9092",
		"peerplane vnet exec --vnet <resource-group>/<vnet> -- kcat -b " + st.BootstrapEndpoint + " -L", "No peering of this network is Active"} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("network page (%d) lacks %q", code, want)
		}
	}

	p := &control.Peering{EnvironmentID: env.ID, NetworkID: n.ID, DisplayName: "contoso", Cloud: "AZURE", CustomerRegion: "eastus",
		Tenant: "5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01",
		VNet:   "/subscriptions/6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02/resourceGroups/contoso-network/providers/Microsoft.Network/virtualNetworks/contoso-vnet"}
	if err := f.svc.CreatePeering(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UpdatePeeringStatus(context.Background(), p.ID, control.PeeringStatus{Phase: control.PhaseReady}); err != nil {
		t.Fatal(err)
	}
	_, body, _ = f.get(netURL)
	body = html.UnescapeString(body)
	if !strings.Contains(body, "peerplane vnet exec --vnet contoso-network/contoso-vnet -- kcat -b "+st.BootstrapEndpoint+" -L") ||
		strings.Contains(body, "<resource-group>/<vnet>") {
		t.Fatal("with an Active peering, the command does not name its VNet")
	}
}
