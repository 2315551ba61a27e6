package api_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/api"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/netcheck"
	"github.com/peerplane/peerplane/internal/reach"
)

const providerSubID = "11111111-2222-1333-8444-555555555555"

// reachHarness is a harness whose server answers reachability from snap,
// with one READY network (10.200.0.0/16) holding a PROVISIONED cluster at
// 10.200.1.10:9092 and a PROVISIONING one.
type reachHarness struct {
	*harness
	env, net, cluster, pending string
	providerVNet               string
	snap                       reach.Snapshot
}

func newReachHarness(t *testing.T) *reachHarness {
	h := &reachHarness{harness: newHarness(t)}
	h.srv = httptest.NewServer(api.New(api.Options{Environments: h.svc, Networks: h.svc, Peerings: h.svc, Clusters: h.svc, Orgs: h.svc,
		Reachability: &netcheck.Checker{Environments: h.svc, Networks: h.svc, Clusters: h.svc, Peerings: h.svc,
			Snapshot: func(context.Context, reach.World) (*reach.Snapshot, error) { s := h.snap; return &s, nil }}}))
	t.Cleanup(h.srv.Close)
	ctx := control.NewContextWithOrganization(context.Background(), h.org)
	env := &control.Environment{DisplayName: "prod"}
	if err := h.svc.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	n := &control.Network{EnvironmentID: env.ID, DisplayName: "net", Cloud: "AZURE", Region: "eastus", CIDR: "10.200.0.0/16", ConnectionTypes: []string{"PEERING"}}
	if err := h.svc.CreateNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	h.env, h.net = env.ID, n.ID
	h.providerVNet = "/subscriptions/" + providerSubID + "/resourceGroups/peerplane-" + n.ID + "/providers/Microsoft.Network/virtualNetworks/" + n.ID
	if _, err := h.svc.UpdateNetworkStatus(ctx, n.ID, control.NetworkStatus{Phase: control.PhaseReady, AzureVNet: h.providerVNet, AzureSubscription: providerSubID}); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"kafka", "pending"} {
		c := &control.Cluster{EnvironmentID: env.ID, NetworkID: n.ID, DisplayName: name, Availability: "SINGLE_ZONE", CKU: 1}
		if err := h.svc.CreateCluster(ctx, c); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			h.cluster = c.ID
			if _, err := h.svc.UpdateClusterStatus(ctx, c.ID, control.ClusterStatus{Phase: "PROVISIONED", BootstrapEndpoint: "SASL_SSL://10.200.1.10:9092"}); err != nil {
				t.Fatal(err)
			}
		} else {
			h.pending = c.ID
		}
	}
	b, a := vnetID("rg", "vnet-b"), vnetID("rg", "vnet-a")
	nsgB := "/subscriptions/" + subID + "/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-b"
	h.snap = reach.Snapshot{
		VirtualNetworks: []reach.VNet{
			{ID: h.providerVNet, Name: n.ID, AddressPrefixes: []string{"10.200.0.0/16"}, Subnets: []reach.Subnet{{Name: "kafka", AddressPrefix: "10.200.0.0/20"}}},
			{ID: b, Name: "vnet-b", AddressPrefixes: []string{"10.1.0.0/16"}, Subnets: []reach.Subnet{{Name: "default", AddressPrefix: "10.1.0.0/24", NetworkSecurityGroup: nsgB}}},
			{ID: a, Name: "vnet-a", AddressPrefixes: []string{"10.2.0.0/16"}, Subnets: []reach.Subnet{{Name: "default", AddressPrefix: "10.2.0.0/24"}}},
		},
		NSGs: []reach.NSG{{ID: nsgB, Name: "nsg-b"}},
	}
	connect := func(x, y string) {
		for _, p := range [][2]string{{x, y}, {y, x}} {
			h.snap.Peerings = append(h.snap.Peerings, reach.Peering{ID: p[0] + "/virtualNetworkPeerings/p", Name: "p", VNetID: p[0], RemoteVNetID: p[1],
				PeeringState: reach.PeeringConnected, AllowVirtualNetworkAccess: true, AllowForwardedTraffic: true, AllowGatewayTransit: true})
		}
	}
	connect(b, h.providerVNet)
	connect(a, b)
	return h
}

func (h *reachHarness) reach(params ...string) response {
	h.t.Helper()
	q := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	return h.do("GET", "/peerplane/v1/reachability?"+q.Encode(), nil)
}

func TestReachability(t *testing.T) {
	h := newReachHarness(t)

	// A directly peered VNet reaches the cluster.
	r := h.reach("environment", h.env, "source", "10.1.0.4", "destination", h.cluster)
	m := r.json(t)
	if r.status != 200 || m["verdict"] != "REACHABLE" || len(m["hops"].([]any)) != 3 || m["port"] != float64(9092) {
		t.Fatalf("direct: %d %s", r.status, r.body)
	}

	// A VNet peered only to it does not, naming the middle VNet.
	r = h.reach("environment", h.env, "source", "10.2.0.4", "destination", h.cluster)
	m = r.json(t)
	bb, _ := m["blocked_by"].(map[string]any)
	if r.status != 200 || m["verdict"] != "UNREACHABLE" || bb["code"] != "TRANSITIVE_PEERING_NOT_SUPPORTED" || bb["component"] != vnetID("rg", "vnet-b") ||
		!strings.Contains(bb["detail"].(string), "allowForwardedTraffic") {
		t.Fatalf("transitive: %d %s", r.status, r.body)
	}

	// An NSG deny of higher priority blocks, naming the rule.
	h.snap.NSGs[0].SecurityRules = []reach.SecurityRule{
		{Name: "DenyKafka", Priority: 100, Direction: "Outbound", Access: "Deny", Protocol: "Tcp", SourceAddressPrefixes: []string{"*"},
			DestinationAddressPrefixes: []string{"10.200.0.0/16"}, SourcePortRanges: []string{"*"}, DestinationPortRanges: []string{"9092"}},
	}
	r = h.reach("environment", h.env, "source", "10.1.0.4", "destination", "10.200.1.10", "port", "9092", "protocol", "TCP")
	m = r.json(t)
	bb, _ = m["blocked_by"].(map[string]any)
	if r.status != 200 || bb["code"] != "NSG_DENY" || !strings.Contains(bb["detail"].(string), "DenyKafka (priority 100, Deny)") {
		t.Fatalf("nsg: %d %s", r.status, r.body)
	}
	// The same rule does not block UDP.
	r = h.reach("environment", h.env, "source", "10.1.0.4", "destination", "10.200.1.10", "port", "9092", "protocol", "udp")
	if m = r.json(t); m["verdict"] != "REACHABLE" {
		t.Fatalf("udp: %d %s", r.status, r.body)
	}

	// Another organization sees none of it.
	_, key, secret := h.newOrg("other", false)
	r = h.do("GET", "/peerplane/v1/reachability?environment="+h.env+"&source=10.1.0.4&destination="+h.cluster, nil, key+":"+secret)
	r.wantError(t, 400, "invalid_parameter", "environment")
}

func TestReachabilityBadInput(t *testing.T) {
	h := newReachHarness(t)
	tests := []struct {
		params []string
		param  string
	}{
		{[]string{"source", "10.1.0.4", "destination", "10.200.1.10", "port", "9092"}, "environment"},
		{[]string{"environment", "env-nope00", "source", "10.1.0.4", "destination", "10.200.1.10", "port", "9092"}, "environment"},
		{[]string{"environment", h.env, "destination", "10.200.1.10", "port", "9092"}, "source"},
		{[]string{"environment", h.env, "source", "10.1.0.999", "destination", "10.200.1.10", "port", "9092"}, "source"},
		{[]string{"environment", h.env, "source", "my-vm", "destination", "10.200.1.10", "port", "9092"}, "source"},
		{[]string{"environment", h.env, "source", "10.1.0.4", "port", "9092"}, "destination"},
		{[]string{"environment", h.env, "source", "10.1.0.4", "destination", "lkc-nope00"}, "destination"},
		{[]string{"environment", h.env, "source", "10.1.0.4", "destination", h.pending}, "destination"},
		{[]string{"environment", h.env, "source", "10.1.0.4", "destination", "10.200.1.10"}, "port"},
		{[]string{"environment", h.env, "source", "10.1.0.4", "destination", "10.200.1.10", "port", "0"}, "port"},
		{[]string{"environment", h.env, "source", "10.1.0.4", "destination", "10.200.1.10", "port", "65536"}, "port"},
		{[]string{"environment", h.env, "source", "10.1.0.4", "destination", "10.200.1.10", "port", "http"}, "port"},
		{[]string{"environment", h.env, "source", "10.1.0.4", "destination", "10.200.1.10", "port", "80", "protocol", "sctp"}, "protocol"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.params, " "), func(t *testing.T) {
			h.t = t
			h.reach(tt.params...).wantError(t, 400, "invalid_parameter", tt.param)
		})
	}
	// Unauthenticated.
	h.do("GET", "/peerplane/v1/reachability?environment="+h.env, nil, "").wantError(t, 401, "user_unauthenticated", "")
}

func TestReachabilityDisabled(t *testing.T) {
	h := newHarness(t)
	ctx := control.NewContextWithOrganization(context.Background(), h.org)
	env := &control.Environment{DisplayName: "prod"}
	if err := h.svc.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	h.do("GET", "/peerplane/v1/reachability?environment="+env.ID+"&source=10.0.0.1&destination=10.0.0.2&port=1", nil).wantError(t, 404, "not_found", "")
}

func TestReachabilityDocumented(t *testing.T) {
	h := newHarness(t)
	r := h.do("GET", "/openapi.yaml", nil, "")
	for _, s := range []string{"\n  /peerplane/v1/reachability:\n", "\n    Reachability:\n", "TRANSITIVE_PEERING_NOT_SUPPORTED"} {
		if !strings.Contains(string(r.body), s) {
			t.Errorf("openapi.yaml lacks %q", s)
		}
	}
}
