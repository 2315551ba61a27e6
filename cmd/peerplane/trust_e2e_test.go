package main

import (
	"net/http"
	"strings"
	"testing"

	networkingv1 "github.com/confluentinc/ccloud-sdk-go-v2/networking/v1"
)

// TestE2EProviderVNetNeverPeered: against `peerplane serve --demo`, a
// peering naming the provider's own tenant or a VNet in the provider's
// subscription (here the network's own provider VNet) is refused at create,
// through the Confluent SDK and through the built CLI as a process, naming
// the field and telling nothing of the provider VNet; nothing is created.
// The CLI's list commands page through every list within its maximum.
func TestE2EProviderVNetNeverPeered(t *testing.T) {
	e := startE2E(t, "")
	env := e.createEnv("prov")
	n := e.createNetwork(env, "net", "eastus", "10.30.0.0/16")
	provVNet := n.Status.GetCloud().NetworkingV1AzureNetwork.GetVnet()
	if !strings.Contains(strings.ToLower(provVNet), strings.ToLower(e.r.Provider.SubscriptionID)) {
		t.Fatalf("provider VNet %q is not in the provider subscription %s", provVNet, e.r.Provider.SubscriptionID)
	}

	create := func(tenant, vnet string) (*http.Response, error) {
		spec := networkingv1.NewNetworkingV1PeeringSpec()
		spec.SetDisplayName("p")
		spec.SetCloud(networkingv1.NetworkingV1AzurePeeringAsNetworkingV1PeeringSpecCloudOneOf(
			networkingv1.NewNetworkingV1AzurePeering("AzurePeering", tenant, vnet, "eastus")))
		spec.SetEnvironment(networkingv1.ObjectReference{Id: env})
		spec.SetNetwork(networkingv1.ObjectReference{Id: n.GetId()})
		_, resp, err := e.networking.PeeringsNetworkingV1Api.CreateNetworkingV1Peering(e.ctx()).NetworkingV1Peering(networkingv1.NetworkingV1Peering{Spec: spec}).Execute()
		return resp, err
	}
	for _, tt := range []struct{ name, tenant, vnet, field string }{
		{"provider tenant", e.r.Provider.TenantID, demoVNetID, "/spec/cloud/tenant"},
		{"provider VNet", demoTenant, provVNet, "/spec/cloud/vnet"},
	} {
		t.Run("sdk/"+tt.name, func(t *testing.T) {
			resp, err := create(tt.tenant, tt.vnet)
			wantHTTP(t, tt.name, resp, err, http.StatusUnprocessableEntity)
			body := sdkErr(resp, err)
			if !strings.Contains(body, `"pointer":"`+tt.field+`"`) || !strings.Contains(body, "provider's own") || strings.Contains(body, "10.30.") {
				t.Fatalf("error: %s", body)
			}
		})
	}

	// The CLI, built and run as a process.
	r := newCLIRunner(t, e.dir)
	r.env["PEERPLANE_URL"], r.env["PEERPLANE_API_KEY"], r.env["PEERPLANE_API_SECRET"] = e.r.APIURL, e.r.Credentials.APIKey, e.r.Credentials.APISecret
	cli := func(args ...string) (string, int) {
		out, stderr, code := r.exec(t, args...)
		return out + stderr, code
	}
	for _, tt := range []struct{ name, tenant, vnet, field string }{
		{"provider tenant", e.r.Provider.TenantID, demoVNetID, "/spec/cloud/tenant"},
		{"provider VNet", demoTenant, provVNet, "/spec/cloud/vnet"},
	} {
		t.Run("cli/"+tt.name, func(t *testing.T) {
			out, code := cli("network", "peering", "create", "p", "--environment", env, "--network", n.GetId(), "--cloud", "azure",
				"--cloud-account", tt.tenant, "--virtual-network", tt.vnet, "--customer-region", "eastus")
			if code != 1 || !strings.Contains(out, tt.field) || !strings.Contains(out, "provider's own") {
				t.Fatalf("peerplane network peering create: exit %d\n%s", code, out)
			}
		})
	}
	var list struct {
		Data []networkingv1.NetworkingV1Peering `json:"data"`
	}
	if code := e.peerplane("GET", "/networking/v1/peerings?environment="+env, nil, &list); code != http.StatusOK || len(list.Data) != 0 {
		t.Fatalf("peerings after refusals: %d %d", code, len(list.Data))
	}

	// Every list the CLI pages through stays within its maximum.
	for _, args := range [][]string{
		{"environment", "list"},
		{"network", "list", "--environment", env},
		{"network", "peering", "list", "--environment", env},
		{"kafka", "cluster", "list", "--environment", env},
	} {
		if out, code := cli(args...); code != 0 {
			t.Fatalf("peerplane %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
	}
}
