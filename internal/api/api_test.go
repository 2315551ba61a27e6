package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	cmkv2 "github.com/confluentinc/ccloud-sdk-go-v2/cmk/v2"
	networkingv1 "github.com/confluentinc/ccloud-sdk-go-v2/networking/v1"
	orgv2 "github.com/confluentinc/ccloud-sdk-go-v2/org/v2"
	"sigs.k8s.io/yaml"

	"github.com/peerplane/peerplane/internal/api"
	"github.com/peerplane/peerplane/internal/control"
)

func ptr[T any](v T) *T { return &v }

func wantStatus(t *testing.T, resp *http.Response, err error, status int) {
	t.Helper()
	if resp == nil {
		t.Fatalf("no response: %v", err)
	}
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d (%v)", resp.StatusCode, status, err)
	}
}

// setup creates an environment and a network through the raw API.
func (h *harness) setup(cidr string) (envID, netID string) {
	h.t.Helper()
	r := h.do("POST", "/org/v2/environments", map[string]any{"display_name": "prod"})
	if r.status != http.StatusCreated {
		h.t.Fatalf("create environment: %d %s", r.status, r.body)
	}
	envID = r.json(h.t)["id"].(string)
	return envID, h.network(envID, cidr)
}

func (h *harness) network(envID, cidr string) string {
	h.t.Helper()
	r := h.do("POST", "/networking/v1/networks", networkBody(envID, cidr))
	if r.status != http.StatusAccepted {
		h.t.Fatalf("create network: %d %s", r.status, r.body)
	}
	return r.json(h.t)["id"].(string)
}

func networkBody(envID, cidr string) map[string]any {
	return map[string]any{"spec": map[string]any{
		"display_name": "net", "cloud": "AZURE", "region": "eastus", "connection_types": []string{"PEERING"},
		"cidr": cidr, "environment": map[string]any{"id": envID},
	}}
}

func peeringBody(envID, netID, vnet string) map[string]any {
	return map[string]any{"spec": map[string]any{
		"display_name": "to-" + vnet,
		"cloud":        map[string]any{"kind": "AzurePeering", "tenant": tenantID, "vnet": vnetID("rg", vnet), "customer_region": "eastus"},
		"environment":  map[string]any{"id": envID}, "network": map[string]any{"id": netID},
	}}
}

func clusterBody(envID, netID string, cku int) map[string]any {
	return map[string]any{"spec": map[string]any{
		"display_name": "kafka", "availability": "SINGLE_ZONE", "cloud": "AZURE", "region": "eastus",
		"config":      map[string]any{"kind": "Dedicated", "cku": cku},
		"environment": map[string]any{"id": envID}, "network": map[string]any{"id": netID},
	}}
}

// sdkNetwork creates an Azure PEERING network through the networking SDK.
func (h *harness) sdkNetwork(ctx context.Context, envID, name, cidr string) (networkingv1.NetworkingV1Network, *http.Response, error) {
	spec := networkingv1.NewNetworkingV1NetworkSpec()
	spec.SetDisplayName(name)
	spec.SetCloud("AZURE")
	spec.SetRegion("eastus")
	spec.SetConnectionTypes([]string{"PEERING"})
	spec.SetCidr(cidr)
	spec.SetEnvironment(networkingv1.ObjectReference{Id: envID})
	return h.networking.NetworksNetworkingV1Api.CreateNetworkingV1Network(ctx).NetworkingV1Network(networkingv1.NetworkingV1Network{Spec: spec}).Execute()
}

// sdkPeering creates a peering (cloud kind kind) to vnet through the
// networking SDK.
func (h *harness) sdkPeering(ctx context.Context, envID, netID, name, kind, vnet string) (networkingv1.NetworkingV1Peering, *http.Response, error) {
	spec := networkingv1.NewNetworkingV1PeeringSpec()
	spec.SetDisplayName(name)
	spec.SetCloud(networkingv1.NetworkingV1AzurePeeringAsNetworkingV1PeeringSpecCloudOneOf(&networkingv1.NetworkingV1AzurePeering{
		Kind: kind, Tenant: tenantID, Vnet: vnet, CustomerRegion: "eastus",
	}))
	spec.SetEnvironment(networkingv1.ObjectReference{Id: envID})
	spec.SetNetwork(networkingv1.ObjectReference{Id: netID})
	return h.networking.PeeringsNetworkingV1Api.CreateNetworkingV1Peering(ctx).NetworkingV1Peering(networkingv1.NetworkingV1Peering{Spec: spec}).Execute()
}

// sdkCluster creates a Dedicated cluster "kafka" through the cmk SDK.
func (h *harness) sdkCluster(ctx context.Context, envID, netID, availability string, cku int32) (cmkv2.CmkV2Cluster, *http.Response, error) {
	spec := cmkv2.NewCmkV2ClusterSpec()
	spec.SetDisplayName("kafka")
	spec.SetAvailability(availability)
	spec.SetCloud("AZURE")
	spec.SetRegion("eastus")
	spec.SetConfig(cmkv2.CmkV2DedicatedAsCmkV2ClusterSpecConfigOneOf(&cmkv2.CmkV2Dedicated{Kind: "Dedicated", Cku: cku}))
	spec.SetEnvironment(cmkv2.EnvScopedObjectReference{Id: envID})
	spec.SetNetwork(cmkv2.EnvScopedObjectReference{Id: netID})
	return h.cmk.ClustersCmkV2Api.CreateCmkV2Cluster(ctx).CmkV2Cluster(cmkv2.CmkV2Cluster{Spec: spec}).Execute()
}

// TestFlow drives the Confluent SDKs through the life of an environment,
// a network, a peering and a cluster.
func TestFlow(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx()

	// Environment: POST → 201, flat object.
	env, resp, err := h.orgs.EnvironmentsOrgV2Api.CreateOrgV2Environment(ctx).OrgV2Environment(orgv2.OrgV2Environment{DisplayName: ptr("prod")}).Execute()
	wantStatus(t, resp, err, http.StatusCreated)
	if env.GetId() == "" || !strings.HasPrefix(env.GetId(), "env-") || env.GetDisplayName() != "prod" || env.Metadata.GetSelf() == "" {
		t.Fatalf("environment %+v", env)
	}
	envID := env.GetId()
	t.Run("environment", func(t *testing.T) {
		r := h.do("GET", "/org/v2/environments/"+envID, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		golden(t, r)
	})

	// Network: POST → 202 + Location, PROVISIONING, zones 1-3, no status.cloud yet.
	n, resp, err := h.sdkNetwork(ctx, envID, "net-east", "10.10.0.0/16")
	wantStatus(t, resp, err, http.StatusAccepted)
	netID := n.GetId()
	if resp.Header.Get("Location") != n.Metadata.GetSelf() || !strings.HasSuffix(n.Metadata.GetSelf(), "/networking/v1/networks/"+netID) {
		t.Fatalf("Location %q self %q", resp.Header.Get("Location"), n.Metadata.GetSelf())
	}
	if n.Status.GetPhase() != "PROVISIONING" || fmt.Sprint(n.Spec.GetZones()) != "[1 2 3]" || n.Status.Cloud != nil {
		t.Fatalf("network %+v status %+v", n.Spec, n.Status)
	}
	t.Run("network", func(t *testing.T) {
		r := h.do("GET", "/networking/v1/networks/"+netID+"?environment="+envID, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		golden(t, r)
	})

	// The reconciler (simulated) provisions the VNet: status.cloud appears.
	provider := "/subscriptions/11111111-2222-1333-8444-555555555555/resourceGroups/peerplane-" + netID + "/providers/Microsoft.Network/virtualNetworks/" + netID
	if _, err := h.svc.UpdateNetworkStatus(context.Background(), netID, control.NetworkStatus{
		Phase: control.PhaseReady, AzureVNet: provider, AzureSubscription: "11111111-2222-1333-8444-555555555555",
	}); err != nil {
		t.Fatal(err)
	}
	n, resp, err = h.networking.NetworksNetworkingV1Api.GetNetworkingV1Network(ctx, netID).Environment(envID).Execute()
	wantStatus(t, resp, err, http.StatusOK)
	if az := n.Status.GetCloud().NetworkingV1AzureNetwork; n.Status.GetPhase() != "READY" || az == nil || az.GetVnet() != provider || az.GetKind() != "AzureNetwork" {
		t.Fatalf("ready network status %+v", n.Status)
	}
	t.Run("network_ready", func(t *testing.T) {
		r := h.do("GET", "/networking/v1/networks/"+netID+"?environment="+envID, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		golden(t, r)
	})

	// PATCH display_name.
	n, resp, err = h.networking.NetworksNetworkingV1Api.UpdateNetworkingV1Network(ctx, netID).NetworkingV1NetworkUpdate(networkingv1.NetworkingV1NetworkUpdate{
		Spec: &networkingv1.NetworkingV1NetworkSpecUpdate{DisplayName: ptr("renamed"), Environment: &networkingv1.ObjectReference{Id: envID}},
	}).Execute()
	wantStatus(t, resp, err, http.StatusOK)
	if n.Spec.GetDisplayName() != "renamed" || n.Spec.GetCidr() != "10.10.0.0/16" {
		t.Fatalf("updated network %+v", n.Spec)
	}

	// Peerings: three, created with both kinds, then paginated.
	var peerIDs []string
	for i, kind := range []string{"AzurePeering", "networking.v1.AzurePeering", "AzurePeering"} {
		p, resp, err := h.sdkPeering(ctx, envID, netID, fmt.Sprint("peer", i), kind, vnetID("customer-rg", fmt.Sprint("vnet", i)))
		wantStatus(t, resp, err, http.StatusAccepted)
		if resp.Header.Get("Location") == "" || p.Status.GetPhase() != "PROVISIONING" || p.Spec.Cloud.NetworkingV1AzurePeering == nil ||
			p.Spec.Cloud.NetworkingV1AzurePeering.Kind != "AzurePeering" || p.Spec.Network.GetId() != netID {
			t.Fatalf("peering %+v", p)
		}
		peerIDs = append(peerIDs, p.GetId())
	}
	t.Run("peering", func(t *testing.T) {
		r := h.do("GET", "/networking/v1/peerings/"+peerIDs[0]+"?environment="+envID, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		golden(t, r)
	})
	var listed []string
	token := ""
	for pages := 0; ; pages++ {
		req := h.networking.PeeringsNetworkingV1Api.ListNetworkingV1Peerings(ctx).Environment(envID).SpecNetwork([]string{netID}).PageSize(2)
		if token != "" {
			req = req.PageToken(token)
		}
		list, resp, err := req.Execute()
		wantStatus(t, resp, err, http.StatusOK)
		for _, p := range list.GetData() {
			listed = append(listed, p.GetId())
		}
		next := list.Metadata.GetNext()
		if next == "" {
			break
		}
		u, err := url.Parse(next)
		if err != nil || pages > 2 {
			t.Fatalf("next %q: %v", next, err)
		}
		token = u.Query().Get("page_token")
	}
	if len(listed) != 3 {
		t.Fatalf("paginated peerings %v, want 3", listed)
	}
	t.Run("peering_list", func(t *testing.T) {
		// Filtered to two peerings: which of three fill a page depends on random ids.
		r := h.do("GET", "/networking/v1/peerings?environment="+envID+"&spec.display_name=peer0&spec.display_name=peer1&page_size=2", nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		golden(t, r)
	})

	// The reconciler fails a peering: error_code and error_message show.
	if _, err := h.svc.UpdatePeeringStatus(context.Background(), peerIDs[1], control.PeeringStatus{
		Phase: control.PhaseFailed, ErrorCode: control.PeeringAppNotConsented, ErrorMessage: "Consent first.",
	}); err != nil {
		t.Fatal(err)
	}
	p, resp, err := h.networking.PeeringsNetworkingV1Api.GetNetworkingV1Peering(ctx, peerIDs[1]).Environment(envID).Execute()
	wantStatus(t, resp, err, http.StatusOK)
	if p.Status.GetPhase() != "FAILED" || p.Status.GetErrorCode() != "APP_NOT_CONSENTED" || p.Status.GetErrorMessage() != "Consent first." {
		t.Fatalf("failed peering status %+v", p.Status)
	}
	failed, _, _ := h.networking.PeeringsNetworkingV1Api.ListNetworkingV1Peerings(ctx).Environment(envID).StatusPhase([]string{"FAILED"}).Execute()
	if len(failed.GetData()) != 1 || failed.GetData()[0].GetId() != peerIDs[1] {
		t.Fatalf("status.phase filter: %+v", failed.GetData())
	}

	// PATCH a peering's display name.
	p, resp, err = h.networking.PeeringsNetworkingV1Api.UpdateNetworkingV1Peering(ctx, peerIDs[0]).NetworkingV1PeeringUpdate(networkingv1.NetworkingV1PeeringUpdate{
		Spec: &networkingv1.NetworkingV1PeeringSpecUpdate{DisplayName: ptr("renamed"), Environment: &networkingv1.ObjectReference{Id: envID}},
	}).Execute()
	wantStatus(t, resp, err, http.StatusOK)
	if p.Spec.GetDisplayName() != "renamed" {
		t.Fatalf("peering name %q", p.Spec.GetDisplayName())
	}

	// DELETE → 204, DEPROVISIONING until the reconciler purges it, then 404.
	resp, err = h.networking.PeeringsNetworkingV1Api.DeleteNetworkingV1Peering(ctx, peerIDs[0]).Environment(envID).Execute()
	wantStatus(t, resp, err, http.StatusNoContent)
	p, resp, err = h.networking.PeeringsNetworkingV1Api.GetNetworkingV1Peering(ctx, peerIDs[0]).Environment(envID).Execute()
	wantStatus(t, resp, err, http.StatusOK)
	if p.Status.GetPhase() != "DEPROVISIONING" {
		t.Fatalf("phase after delete %q", p.Status.GetPhase())
	}
	if err := h.svc.PurgePeering(context.Background(), peerIDs[0]); err != nil {
		t.Fatal(err)
	}
	_, resp, err = h.networking.PeeringsNetworkingV1Api.GetNetworkingV1Peering(ctx, peerIDs[0]).Environment(envID).Execute()
	wantStatus(t, resp, err, http.StatusNotFound)

	// Dedicated cluster in the network.
	c, resp, err := h.sdkCluster(ctx, envID, netID, "MULTI_ZONE", 2)
	wantStatus(t, resp, err, http.StatusAccepted)
	clusterID := c.GetId()
	if !strings.HasPrefix(clusterID, "lkc-") || c.Status.GetPhase() != "PROVISIONING" || c.Spec.Config.CmkV2Dedicated == nil ||
		c.Spec.Config.CmkV2Dedicated.Cku != 2 || c.Spec.Network.GetId() != netID {
		t.Fatalf("cluster %+v", c)
	}
	t.Run("cluster", func(t *testing.T) {
		r := h.do("GET", "/cmk/v2/clusters/"+clusterID+"?environment="+envID, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		golden(t, r)
	})
	c, resp, err = h.cmk.ClustersCmkV2Api.UpdateCmkV2Cluster(ctx, clusterID).CmkV2ClusterUpdate(cmkv2.CmkV2ClusterUpdate{Spec: &cmkv2.CmkV2ClusterSpecUpdate{
		Config:      ptr(cmkv2.CmkV2DedicatedAsCmkV2ClusterSpecUpdateConfigOneOf(&cmkv2.CmkV2Dedicated{Kind: "Dedicated", Cku: 4})),
		Environment: &cmkv2.EnvScopedObjectReference{Id: envID},
	}}).Execute()
	wantStatus(t, resp, err, http.StatusOK)
	if c.Spec.Config.CmkV2Dedicated.Cku != 4 {
		t.Fatalf("resized cluster %+v", c.Spec.Config)
	}
	clusters, resp, err := h.cmk.ClustersCmkV2Api.ListCmkV2Clusters(ctx).Environment(envID).SpecNetwork([]string{netID}).Execute()
	wantStatus(t, resp, err, http.StatusOK)
	if len(clusters.GetData()) != 1 {
		t.Fatalf("clusters %+v", clusters.GetData())
	}

	// A network with a cluster or peerings cannot be deleted.
	resp, err = h.networking.NetworksNetworkingV1Api.DeleteNetworkingV1Network(ctx, netID).Environment(envID).Execute()
	wantStatus(t, resp, err, http.StatusConflict)

	resp, err = h.cmk.ClustersCmkV2Api.DeleteCmkV2Cluster(ctx, clusterID).Environment(envID).Execute()
	wantStatus(t, resp, err, http.StatusNoContent)
	_, resp, err = h.cmk.ClustersCmkV2Api.GetCmkV2Cluster(ctx, clusterID).Environment(envID).Execute()
	wantStatus(t, resp, err, http.StatusNotFound)

	// Remove the peerings, then the network goes through DEPROVISIONING.
	for _, id := range peerIDs[1:] {
		resp, err = h.networking.PeeringsNetworkingV1Api.DeleteNetworkingV1Peering(ctx, id).Environment(envID).Execute()
		wantStatus(t, resp, err, http.StatusNoContent)
		if err := h.svc.PurgePeering(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	resp, err = h.networking.NetworksNetworkingV1Api.DeleteNetworkingV1Network(ctx, netID).Environment(envID).Execute()
	wantStatus(t, resp, err, http.StatusNoContent)
	n, _, _ = h.networking.NetworksNetworkingV1Api.GetNetworkingV1Network(ctx, netID).Environment(envID).Execute()
	if n.Status.GetPhase() != "DEPROVISIONING" {
		t.Fatalf("network phase after delete %q", n.Status.GetPhase())
	}
	if err := h.svc.PurgeNetwork(context.Background(), netID); err != nil {
		t.Fatal(err)
	}
	_, resp, err = h.networking.NetworksNetworkingV1Api.GetNetworkingV1Network(ctx, netID).Environment(envID).Execute()
	wantStatus(t, resp, err, http.StatusNotFound)

	// The environment, empty now, can go.
	resp, err = h.orgs.EnvironmentsOrgV2Api.DeleteOrgV2Environment(ctx, envID).Execute()
	wantStatus(t, resp, err, http.StatusNoContent)
	_, resp, err = h.orgs.EnvironmentsOrgV2Api.GetOrgV2Environment(ctx, envID).Execute()
	wantStatus(t, resp, err, http.StatusNotFound)
}

// TestRules checks every input rule: its status, code and field, and pins
// the error body.
func TestRules(t *testing.T) {
	h := newHarness(t)
	envID, netID := h.setup("10.1.0.0/16")
	otherEnv, otherNet := h.setup("10.2.0.0/16")
	if r := h.do("POST", "/networking/v1/peerings", peeringBody(envID, netID, "taken")); r.status != http.StatusAccepted {
		t.Fatalf("seed peering: %d %s", r.status, r.body)
	}
	withSpec := func(body map[string]any, key string, v any) map[string]any {
		spec := body["spec"].(map[string]any)
		if strings.Contains(key, ".") {
			parent, child, _ := strings.Cut(key, ".")
			spec[parent].(map[string]any)[child] = v
		} else if v == nil {
			delete(spec, key)
		} else {
			spec[key] = v
		}
		return body
	}
	net := func(key string, v any) map[string]any { return withSpec(networkBody(envID, "10.50.0.0/16"), key, v) }
	peer := func(key string, v any) map[string]any { return withSpec(peeringBody(envID, netID, "vnet-new"), key, v) }
	clus := func(key string, v any) map[string]any { return withSpec(clusterBody(envID, netID, 1), key, v) }

	tests := []struct {
		name         string
		method, path string
		body         any
		status       int
		code, source string
	}{
		// Networks.
		{"network_aws", "POST", "/networking/v1/networks", net("cloud", "AWS"), 422, "invalid_configuration", "/spec/cloud"},
		{"network_region", "POST", "/networking/v1/networks", net("region", "us-east-1"), 422, "invalid_configuration", "/spec/region"},
		{"network_no_peering", "POST", "/networking/v1/networks", net("connection_types", []string{"PRIVATELINK"}), 422, "invalid_configuration", "/spec/connection_types"},
		{"network_zones", "POST", "/networking/v1/networks", net("zones", []string{"1", "2"}), 422, "invalid_configuration", "/spec/zones"},
		{"network_cidr_24", "POST", "/networking/v1/networks", net("cidr", "10.50.0.0/24"), 422, "invalid_configuration", "/spec/cidr"},
		{"network_cidr_public", "POST", "/networking/v1/networks", net("cidr", "52.10.0.0/16"), 422, "invalid_configuration", "/spec/cidr"},
		{"network_cidr_reserved", "POST", "/networking/v1/networks", net("cidr", "172.17.0.0/16"), 422, "invalid_configuration", "/spec/cidr"},
		{"network_cidr_overlap", "POST", "/networking/v1/networks", net("cidr", "10.1.0.0/16"), 422, "invalid_configuration", "/spec/cidr"},
		{"network_cidr_missing", "POST", "/networking/v1/networks", net("cidr", nil), 422, "invalid_configuration", "/spec/cidr"},
		{"network_env_missing", "POST", "/networking/v1/networks", net("environment", map[string]any{"id": "env-nope00"}), 404, "not_found", "/spec/environment/id"},
		{"network_cidr_immutable", "PATCH", "/networking/v1/networks/" + netID, map[string]any{"spec": map[string]any{"cidr": "10.9.0.0/16", "environment": map[string]any{"id": envID}}}, 422, "invalid_configuration", "/spec/cidr"},
		{"network_patch_no_env", "PATCH", "/networking/v1/networks/" + netID, map[string]any{"spec": map[string]any{"display_name": "x"}}, 422, "invalid_configuration", "/spec/environment/id"},
		{"network_get_no_env", "GET", "/networking/v1/networks/" + netID, nil, 400, "invalid_parameter", "environment"},
		{"network_get_other_env", "GET", "/networking/v1/networks/" + netID + "?environment=" + otherEnv, nil, 404, "not_found", ""},
		{"network_list_no_env", "GET", "/networking/v1/networks", nil, 400, "invalid_parameter", "environment"},
		{"network_list_page_size", "GET", "/networking/v1/networks?environment=" + envID + "&page_size=x", nil, 400, "invalid_parameter", "page_size"},
		{"network_list_page_token", "GET", "/networking/v1/networks?environment=" + envID + "&page_token=%21%21", nil, 400, "invalid_parameter", "page_token"},
		{"network_delete_in_use", "DELETE", "/networking/v1/networks/" + netID + "?environment=" + envID, nil, 409, "conflict", ""},
		// Peerings.
		{"peering_tenant", "POST", "/networking/v1/peerings", peer("cloud.tenant", "contoso.onmicrosoft.com"), 422, "invalid_configuration", "/spec/cloud/tenant"},
		{"peering_vnet_not_id", "POST", "/networking/v1/peerings", peer("cloud.vnet", "my-vnet"), 422, "invalid_configuration", "/spec/cloud/vnet"},
		{"peering_subscription", "POST", "/networking/v1/peerings", peer("cloud.vnet", "/subscriptions/abc/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v1"), 422, "invalid_configuration", "/spec/cloud/vnet"},
		{"peering_resource_group", "POST", "/networking/v1/peerings", peer("cloud.vnet", vnetID("rg.", "v1")), 422, "invalid_configuration", "/spec/cloud/vnet"},
		{"peering_vnet_name", "POST", "/networking/v1/peerings", peer("cloud.vnet", vnetID("rg", "v-")), 422, "invalid_configuration", "/spec/cloud/vnet"},
		{"peering_region", "POST", "/networking/v1/peerings", peer("cloud.customer_region", "East US"), 422, "invalid_configuration", "/spec/cloud/customer_region"},
		{"peering_kind", "POST", "/networking/v1/peerings", peer("cloud.kind", "AwsPeering"), 422, "invalid_configuration", "/spec/cloud/kind"},
		{"peering_no_kind", "POST", "/networking/v1/peerings", peer("cloud.kind", ""), 422, "invalid_configuration", "/spec/cloud/kind"},
		{"peering_same_vnet", "POST", "/networking/v1/peerings", peeringBody(envID, netID, "TAKEN"), 409, "resource_already_exists", "/spec/cloud/vnet"},
		{"peering_network_of_other_env", "POST", "/networking/v1/peerings", peeringBody(envID, otherNet, "v1"), 404, "not_found", "/spec/network/id"},
		{"peering_get_no_env", "GET", "/networking/v1/peerings/peer-nope00", nil, 400, "invalid_parameter", "environment"},
		{"peering_missing", "GET", "/networking/v1/peerings/peer-nope00?environment=" + envID, nil, 404, "not_found", ""},
		// Clusters.
		{"cluster_basic", "POST", "/cmk/v2/clusters", clus("config", map[string]any{"kind": "Basic"}), 422, "invalid_configuration", "/spec/config/kind"},
		{"cluster_no_cku", "POST", "/cmk/v2/clusters", clus("config", map[string]any{"kind": "Dedicated"}), 422, "invalid_configuration", "/spec/config/cku"},
		{"cluster_cku_0", "POST", "/cmk/v2/clusters", clus("config", map[string]any{"kind": "Dedicated", "cku": 0}), 422, "invalid_configuration", "/spec/config/cku"},
		{"cluster_multi_zone_1", "POST", "/cmk/v2/clusters", clus("availability", "MULTI_ZONE"), 422, "invalid_configuration", "/spec/config/cku"},
		{"cluster_cku_type", "POST", "/cmk/v2/clusters", clus("config", map[string]any{"kind": "Dedicated", "cku": "two"}), 400, "invalid_parameter", "/spec/config/cku"},
		{"cluster_no_network", "POST", "/cmk/v2/clusters", clus("network", nil), 422, "invalid_configuration", "/spec/network/id"},
		{"cluster_region", "POST", "/cmk/v2/clusters", clus("region", "westus"), 422, "invalid_configuration", "/spec/region"},
		{"cluster_ckus_over_budget", "POST", "/cmk/v2/clusters", clus("config", map[string]any{"kind": "Dedicated", "cku": 65}), 402, "quota_exceeded", ""},
		// Bodies and routes.
		{"malformed_json", "POST", "/networking/v1/networks", "{", 400, "invalid_parameter", ""},
		{"no_spec", "POST", "/networking/v1/networks", map[string]any{}, 422, "invalid_configuration", "/spec"},
		{"environment_no_name", "POST", "/org/v2/environments", map[string]any{}, 422, "invalid_configuration", "/display_name"},
		{"environment_missing", "DELETE", "/org/v2/environments/env-nope00", nil, 404, "not_found", ""},
		// Lists under an environment the caller cannot see: Confluent's 403.
		{"network_list_unknown_env", "GET", "/networking/v1/networks?environment=env-nope00", nil, 403, "user_unauthorized", "environment"},
		{"peering_list_unknown_env", "GET", "/networking/v1/peerings?environment=env-nope00", nil, 403, "user_unauthorized", "environment"},
		{"cluster_list_unknown_env", "GET", "/cmk/v2/clusters?environment=env-nope00", nil, 403, "user_unauthorized", "environment"},
		{"unknown_route", "GET", "/networking/v1/gateways", nil, 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(tt.method, tt.path, tt.body)
			r.wantError(t, tt.status, tt.code, tt.source)
			golden(t, r)
		})
	}
	// Nothing above changed anything.
	r := h.do("GET", "/networking/v1/networks?environment="+envID, nil)
	if d := r.json(t)["data"].([]any); len(d) != 1 {
		t.Fatalf("networks after bad requests: %d", len(d))
	}
}

// TestQuotas fills every quota to its default limit and checks the next
// create is 402 quota_exceeded naming the quota.
func TestQuotas(t *testing.T) {
	wantQuota := func(t *testing.T, r response, quota string) {
		t.Helper()
		r.wantError(t, http.StatusPaymentRequired, "quota_exceeded", "")
		if !strings.Contains(string(r.body), quota) {
			t.Fatalf("error does not name %s: %s", quota, r.body)
		}
	}
	mustCreate := func(t *testing.T, h *harness, path string, body any) string {
		t.Helper()
		r := h.do("POST", path, body)
		if r.status != http.StatusCreated && r.status != http.StatusAccepted {
			t.Fatalf("POST %s: %d %s", path, r.status, r.body)
		}
		return r.json(t)["id"].(string)
	}

	t.Run("environments_per_org", func(t *testing.T) {
		h := newHarness(t)
		for i := range 25 {
			mustCreate(t, h, "/org/v2/environments", map[string]any{"display_name": fmt.Sprint("e", i)})
		}
		wantQuota(t, h.do("POST", "/org/v2/environments", map[string]any{"display_name": "one too many"}), control.QuotaEnvironmentsPerOrg)
	})
	t.Run("networks_per_environment", func(t *testing.T) {
		h := newHarness(t)
		envID := mustCreate(t, h, "/org/v2/environments", map[string]any{"display_name": "nets"})
		for i := range 10 {
			mustCreate(t, h, "/networking/v1/networks", networkBody(envID, fmt.Sprintf("10.%d.0.0/16", i+1)))
		}
		wantQuota(t, h.do("POST", "/networking/v1/networks", networkBody(envID, "10.99.0.0/16")), control.QuotaNetworksPerEnvironment)
	})
	t.Run("peerings_per_network", func(t *testing.T) {
		h := newHarness(t)
		envID, netID := h.setup("10.1.0.0/16")
		for i := range 25 {
			mustCreate(t, h, "/networking/v1/peerings", peeringBody(envID, netID, fmt.Sprint("vnet", i)))
		}
		r := h.do("POST", "/networking/v1/peerings", peeringBody(envID, netID, "vnet-extra"))
		wantQuota(t, r, control.QuotaPeeringsPerNetwork)
		golden(t, r)
	})
	t.Run("clusters_per_network", func(t *testing.T) {
		h := newHarness(t)
		envID, netID := h.setup("10.1.0.0/16")
		for range 10 {
			mustCreate(t, h, "/cmk/v2/clusters", clusterBody(envID, netID, 1))
		}
		wantQuota(t, h.do("POST", "/cmk/v2/clusters", clusterBody(envID, netID, 1)), control.QuotaDedicatedClustersPerNetwork)
	})
	t.Run("ckus_per_network", func(t *testing.T) {
		h := newHarness(t)
		envID, netID := h.setup("10.1.0.0/16")
		mustCreate(t, h, "/cmk/v2/clusters", clusterBody(envID, netID, 60))
		id := mustCreate(t, h, "/cmk/v2/clusters", clusterBody(envID, netID, 4))
		r := h.do("POST", "/cmk/v2/clusters", clusterBody(envID, netID, 1))
		wantQuota(t, r, control.QuotaDedicatedCKUsPerNetwork)
		golden(t, r)
		// Resizing past the budget is refused too.
		wantQuota(t, h.do("PATCH", "/cmk/v2/clusters/"+id, map[string]any{"spec": map[string]any{
			"config": map[string]any{"kind": "Dedicated", "cku": 5}, "environment": map[string]any{"id": envID},
		}}), control.QuotaDedicatedCKUsPerNetwork)
	})
	t.Run("clusters_per_environment", func(t *testing.T) {
		h := newHarness(t)
		envID, net1 := h.setup("10.1.0.0/16")
		net2 := h.network(envID, "10.2.0.0/16")
		net3 := h.network(envID, "10.3.0.0/16")
		for i := range 20 {
			mustCreate(t, h, "/cmk/v2/clusters", clusterBody(envID, []string{net1, net2}[i%2], 1))
		}
		wantQuota(t, h.do("POST", "/cmk/v2/clusters", clusterBody(envID, net3, 1)), control.QuotaKafkaClustersPerEnvironment)
	})
}

// TestOrgIsolation checks another organization sees nothing of this one.
func TestOrgIsolation(t *testing.T) {
	h := newHarness(t)
	envID, netID := h.setup("10.1.0.0/16")
	r := h.do("POST", "/networking/v1/peerings", peeringBody(envID, netID, "v1"))
	peerID := r.json(t)["id"].(string)
	_, key, secret := h.newOrg("other", false)
	other := key + ":" + secret
	for _, path := range []string{
		"/org/v2/environments/" + envID,
		"/networking/v1/networks/" + netID + "?environment=" + envID,
		"/networking/v1/peerings/" + peerID + "?environment=" + envID,
	} {
		h.do("GET", path, nil, other).wantError(t, 404, "not_found", "")
		h.do("DELETE", path, nil, other).wantError(t, 404, "not_found", "")
	}
	if r := h.do("GET", "/org/v2/environments", nil, other); r.status != 200 || len(r.json(t)["data"].([]any)) != 0 {
		t.Fatalf("GET /org/v2/environments as another org: %d %s", r.status, r.body)
	}
	// Lists in another org's environment answer as for an unknown one.
	errorDetail := func(t *testing.T, r response) string {
		return r.json(t)["errors"].([]any)[0].(map[string]any)["detail"].(string)
	}
	for _, path := range []string{"/networking/v1/networks", "/networking/v1/peerings", "/cmk/v2/clusters"} {
		theirs := h.do("GET", path+"?environment="+envID, nil, other)
		theirs.wantError(t, 403, "user_unauthorized", "environment")
		unknown := h.do("GET", path+"?environment=env-nope00", nil, other)
		if strings.ReplaceAll(errorDetail(t, theirs), envID, "ENV") != strings.ReplaceAll(errorDetail(t, unknown), "env-nope00", "ENV") {
			t.Fatalf("GET %s: another org's environment and an unknown one answer differently:\n%s\n%s", path, theirs.body, unknown.body)
		}
	}
	// Creating in another org's environment: 404 naming the environment.
	h.do("POST", "/networking/v1/networks", networkBody(envID, "10.5.0.0/16"), other).wantError(t, 404, "not_found", "/spec/environment/id")
	h.do("POST", "/networking/v1/peerings", peeringBody(envID, netID, "v2"), other).wantError(t, 404, "not_found", "/spec/environment/id")
	// And the owner still sees everything.
	if r := h.do("GET", "/networking/v1/peerings/"+peerID+"?environment="+envID, nil); r.status != 200 {
		t.Fatalf("owner GET: %d", r.status)
	}
}

// TestAuth checks 401s carry WWW-Authenticate: Basic and Confluent's body.
func TestAuth(t *testing.T) {
	h := newHarness(t)
	tests := []struct{ name, cred string }{
		{"none", ""},
		{"wrong_secret", h.key + ":" + strings.Repeat("x", 64)},
		{"unknown_key", "AAAAAAAAAAAAAAAA:" + h.secret},
		{"empty_secret", h.key + ":"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("GET", "/org/v2/environments", nil, tt.cred)
			r.wantError(t, http.StatusUnauthorized, "user_unauthenticated", "")
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
				t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
			golden(t, r)
		})
	}
	// The SDK with a bad secret gets 401 too.
	ctx := context.WithValue(context.Background(), orgv2.ContextBasicAuth, orgv2.BasicAuth{UserName: h.key, Password: "nope"})
	_, resp, err := h.orgs.EnvironmentsOrgV2Api.ListOrgV2Environments(ctx).Execute()
	wantStatus(t, resp, err, http.StatusUnauthorized)
}

// TestOrganizations covers /peerplane/v1 organizations and API keys.
func TestOrganizations(t *testing.T) {
	h := newHarness(t)
	r := h.do("POST", "/peerplane/v1/organizations", map[string]any{"display_name": "Globex"})
	if r.status != http.StatusCreated {
		t.Fatalf("create organization: %d %s", r.status, r.body)
	}
	t.Run("created", func(t *testing.T) { golden(t, r) })
	orgID := r.json(t)["id"].(string)
	h.do("POST", "/peerplane/v1/organizations", map[string]any{"display_name": "bad<name>"}).wantError(t, 422, "invalid_configuration", "/display_name")

	r = h.do("POST", "/peerplane/v1/organizations/"+orgID+"/api-keys", map[string]any{"description": "ci"})
	if r.status != http.StatusCreated {
		t.Fatalf("create key: %d %s", r.status, r.body)
	}
	t.Run("key_created", func(t *testing.T) { golden(t, r) })
	k := r.json(t)
	cred := k["id"].(string) + ":" + k["secret"].(string)

	// The new key works, sees its own organization only, and cannot manage others.
	if r := h.do("GET", "/org/v2/environments", nil, cred); r.status != 200 {
		t.Fatalf("new key: %d %s", r.status, r.body)
	}
	if r := h.do("GET", "/peerplane/v1/organizations/"+orgID, nil, cred); r.status != 200 {
		t.Fatalf("own organization: %d %s", r.status, r.body)
	}
	h.do("GET", "/peerplane/v1/organizations/"+h.org.ID, nil, cred).wantError(t, 404, "not_found", "")
	h.do("GET", "/peerplane/v1/organizations", nil, cred).wantError(t, 403, "user_unauthorized", "")
	h.do("POST", "/peerplane/v1/organizations", map[string]any{"display_name": "x"}, cred).wantError(t, 403, "user_unauthorized", "")

	// Keys are listed without secrets; a deleted key stops working.
	r = h.do("GET", "/peerplane/v1/organizations/"+orgID+"/api-keys", nil, cred)
	if r.status != 200 || strings.Contains(string(r.body), k["secret"].(string)) || strings.Contains(string(r.body), "sha256") {
		t.Fatalf("list keys: %d %s", r.status, r.body)
	}
	if r := h.do("DELETE", "/peerplane/v1/organizations/"+orgID+"/api-keys/"+k["id"].(string), nil); r.status != http.StatusNoContent {
		t.Fatalf("delete key: %d %s", r.status, r.body)
	}
	h.do("GET", "/org/v2/environments", nil, cred).wantError(t, 401, "user_unauthenticated", "")

	r = h.do("GET", "/peerplane/v1/organizations", nil)
	if r.status != 200 || len(r.json(t)["data"].([]any)) != 2 {
		t.Fatalf("list organizations: %d %s", r.status, r.body)
	}
}

// TestOpenAPI checks the document is served without credentials and
// documents every route.
func TestOpenAPI(t *testing.T) {
	h := newHarness(t)
	r := h.do("GET", "/openapi.yaml", nil, "")
	if r.status != 200 || !strings.HasPrefix(string(r.body), "openapi: 3") {
		t.Fatalf("openapi: %d", r.status)
	}
	for _, p := range []string{
		"/org/v2/environments:", "/org/v2/environments/{id}:",
		"/networking/v1/networks:", "/networking/v1/networks/{id}:",
		"/networking/v1/peerings:", "/networking/v1/peerings/{id}:",
		"/cmk/v2/clusters:", "/cmk/v2/clusters/{id}:",
		"/peerplane/v1/organizations:", "/peerplane/v1/organizations/{id}:",
		"/peerplane/v1/organizations/{id}/api-keys:", "/peerplane/v1/organizations/{id}/api-keys/{key}:",
		"/peerplane/v1/peerings/{id}/retry:", "/peerplane/v1/peerings/{id}/diagnosis:",
		"/peerplane/v1/reachability:", "/peerplane/v1/vnet-hosts:",
		"/iam/v2/api-keys:", "/iam/v2/api-keys/{id}:",
	} {
		if !strings.Contains(string(r.body), "\n  "+p+"\n") {
			t.Errorf("openapi.yaml does not document %s", p)
		}
	}
	// It parses, and documents the headers every response may carry.
	var doc struct {
		Components struct {
			Headers   map[string]any
			Responses map[string]struct{ Headers map[string]any }
		}
	}
	if err := yaml.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	for _, name := range []string{api.RequestIDHeader, "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"} {
		if doc.Components.Headers[name] == nil {
			t.Errorf("openapi.yaml does not document header %s", name)
		}
		for _, resp := range []string{"Failure", "ConnectError"} {
			if doc.Components.Responses[resp].Headers[name] == nil {
				t.Errorf("openapi.yaml's %s response does not carry %s", resp, name)
			}
		}
	}
	// Every peering error code the reconciler gives is documented.
	for _, code := range []string{control.PeeringTenantNotFound, control.PeeringAppNotConsented, control.PeeringVNetNotFound,
		control.PeeringPermissionDenied, control.PeeringVNetNotAuthorizedForEnvironment, control.PeeringInvalidAddressSpace,
		control.PeeringAddressSpaceOverlap, control.PeeringCrossRegionNotSupported, control.PeeringDisconnected, control.PeeringProviderVNet} {
		if !strings.Contains(string(r.body), code) {
			t.Errorf("openapi.yaml does not document the error code %s", code)
		}
	}
}
