package control_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/azureid"
	"github.com/peerplane/peerplane/internal/control"
)

// wantErr checks err against a code and field; code "" means no error.
func wantErr(t *testing.T, err error, code, field string) {
	t.Helper()
	if got := control.ErrorCode(err); got != code {
		t.Fatalf("code = %q, want %q (err: %v)", got, code, err)
	}
	if code != "" {
		if got := control.ErrorField(err); got != field {
			t.Fatalf("field = %q, want %q (err: %v)", got, field, err)
		}
		if control.ErrorMessage(err) == "" {
			t.Fatal("empty message")
		}
	}
}

func TestValidateNetworkCIDR(t *testing.T) {
	s := control.DefaultSettings()
	tests := []struct {
		cidr, want, code string
	}{
		{"10.1.0.0/16", "10.1.0.0/16", ""},
		{"172.16.0.0/16", "172.16.0.0/16", ""},
		{"192.168.0.0/16", "192.168.0.0/16", ""},
		{"100.64.0.0/16", "100.64.0.0/16", ""},
		{"100.127.0.0/16", "100.127.0.0/16", ""},
		{"", "", control.EINVALID},
		{"10.1.0.0/24", "", control.EINVALID},        // not a /16
		{"10.0.0.0/8", "", control.EINVALID},         // not a /16
		{"10.1.2.0/16", "", control.EINVALID},        // host bits
		{"8.8.0.0/16", "", control.EINVALID},         // public
		{"100.128.0.0/16", "", control.EINVALID},     // just past RFC 6598
		{"172.32.0.0/16", "", control.EINVALID},      // just past RFC 1918
		{"10.253.0.0/16", "", control.EINVALID},      // reserved
		{"10.254.0.0/16", "", control.EINVALID},      // reserved
		{"172.17.0.0/16", "", control.EINVALID},      // reserved
		{"172.30.0.0/16", "", control.EINVALID},      // reserved
		{"172.31.0.0/16", "", control.EINVALID},      // reserved
		{"fd00::/16", "", control.EINVALID},          // IPv6
		{"10.1.0.0", "", control.EINVALID},           // no length
		{"not a cidr", "", control.EINVALID},         // garbage
		{"10.1.0.0/16 ", "", control.EINVALID},       // trailing space
		{"010.001.000.000/16", "", control.EINVALID}, // leading zeros
	}
	for _, tt := range tests {
		t.Run(tt.cidr, func(t *testing.T) {
			got, err := s.ValidateNetworkCIDR(tt.cidr)
			wantErr(t, err, tt.code, "/spec/cidr")
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	// Reserved ranges are configurable.
	s.ReservedCIDRs = []string{"10.1.0.0/16"}
	if _, err := s.ValidateNetworkCIDR("10.1.0.0/16"); control.ErrorCode(err) != control.EINVALID {
		t.Errorf("configured reserved range accepted: %v", err)
	}
	if _, err := s.ValidateNetworkCIDR("10.253.0.0/16"); err != nil {
		t.Errorf("unreserved range refused: %v", err)
	}
}

func TestCheckNetworkOverlap(t *testing.T) {
	siblings := []*control.Network{{ID: "n-a", CIDR: "10.1.0.0/16"}, {ID: "n-b", CIDR: "10.2.0.0/16"}}
	wantErr(t, control.CheckNetworkOverlap("", "10.3.0.0/16", siblings), "", "")
	wantErr(t, control.CheckNetworkOverlap("", "10.2.0.0/16", siblings), control.EINVALID, "/spec/cidr")
	wantErr(t, control.CheckNetworkOverlap("n-b", "10.2.0.0/16", siblings), "", "")
	wantErr(t, control.CheckNetworkOverlap("", "10.1.0.0/16", nil), "", "")
}

func validNetwork() *control.Network {
	return &control.Network{
		EnvironmentID:   "env-abc123",
		Cloud:           "AZURE",
		Region:          "eastus",
		CIDR:            "10.1.0.0/16",
		ConnectionTypes: []string{"PEERING"},
	}
}

func TestValidateNetwork(t *testing.T) {
	s := control.DefaultSettings()
	tests := []struct {
		name   string
		mutate func(n *control.Network)
		code   string
		field  string
	}{
		{"valid", func(n *control.Network) {}, "", ""},
		{"lowercase cloud", func(n *control.Network) { n.Cloud = "azure" }, "", ""},
		{"zones given", func(n *control.Network) { n.Zones = []string{"3", "1", "2"} }, "", ""},
		{"peering and privatelink", func(n *control.Network) { n.ConnectionTypes = []string{"PRIVATELINK", "peering"} }, "", ""},
		{"no environment", func(n *control.Network) { n.EnvironmentID = "" }, control.EINVALID, "/spec/environment/id"},
		{"no cloud", func(n *control.Network) { n.Cloud = "" }, control.EINVALID, "/spec/cloud"},
		{"aws", func(n *control.Network) { n.Cloud = "AWS" }, control.EINVALID, "/spec/cloud"},
		{"gcp", func(n *control.Network) { n.Cloud = "GCP" }, control.EINVALID, "/spec/cloud"},
		{"no region", func(n *control.Network) { n.Region = "" }, control.EINVALID, "/spec/region"},
		{"unknown region", func(n *control.Network) { n.Region = "us-east-1" }, control.EINVALID, "/spec/region"},
		{"region case", func(n *control.Network) { n.Region = "EastUS" }, control.EINVALID, "/spec/region"},
		{"no connection types", func(n *control.Network) { n.ConnectionTypes = nil }, control.EINVALID, "/spec/connection_types"},
		{"privatelink only", func(n *control.Network) { n.ConnectionTypes = []string{"PRIVATELINK"} }, control.EINVALID, "/spec/connection_types"},
		{"transit gateway", func(n *control.Network) { n.ConnectionTypes = []string{"PEERING", "TRANSITGATEWAY"} }, control.EINVALID, "/spec/connection_types/1"},
		{"duplicate type", func(n *control.Network) { n.ConnectionTypes = []string{"PEERING", "PEERING"} }, control.EINVALID, "/spec/connection_types/1"},
		{"two zones", func(n *control.Network) { n.Zones = []string{"1", "2"} }, control.EINVALID, "/spec/zones"},
		{"aws zones", func(n *control.Network) { n.Zones = []string{"use1-az1", "use1-az2", "use1-az3"} }, control.EINVALID, "/spec/zones"},
		{"no cidr", func(n *control.Network) { n.CIDR = "" }, control.EINVALID, "/spec/cidr"},
		{"bad cidr", func(n *control.Network) { n.CIDR = "10.0.0.0/24" }, control.EINVALID, "/spec/cidr"},
		{"long name", func(n *control.Network) { n.DisplayName = strings.Repeat("x", 256) }, control.EINVALID, "/spec/display_name"},
		{"control char name", func(n *control.Network) { n.DisplayName = "a\nb" }, control.EINVALID, "/spec/display_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := validNetwork()
			tt.mutate(n)
			wantErr(t, s.ValidateNetwork(n), tt.code, tt.field)
			if tt.code == "" {
				if n.Cloud != "AZURE" || fmt.Sprint(n.Zones) != "[1 2 3]" {
					t.Errorf("not canonical: cloud %q zones %v", n.Cloud, n.Zones)
				}
				for _, ct := range n.ConnectionTypes {
					if ct != strings.ToUpper(ct) {
						t.Errorf("connection type %q not canonical", ct)
					}
				}
			}
		})
	}
}

const (
	tenant = "5f1c2e3d-1111-4a2b-9c3d-0123456789ab"
	sub    = "0a1b2c3d-2222-4e5f-8a9b-abcdefabcdef"
)

func vnetID(sub, rg, name string) string {
	return "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Network/virtualNetworks/" + name
}

func validPeering() *control.Peering {
	return &control.Peering{
		EnvironmentID:  "env-abc123",
		NetworkID:      "n-abc123",
		Tenant:         tenant,
		VNet:           vnetID(sub, "my-rg", "my-vnet"),
		CustomerRegion: "eastus",
	}
}

func TestValidatePeering(t *testing.T) {
	s := control.DefaultSettings()
	const vnetField = "/spec/cloud/vnet"
	tests := []struct {
		name   string
		mutate func(p *control.Peering)
		code   string
		field  string
	}{
		{"valid", func(p *control.Peering) {}, "", ""},
		{"uppercase tenant", func(p *control.Peering) { p.Tenant = strings.ToUpper(tenant) }, "", ""},
		{"lowercase segments", func(p *control.Peering) {
			p.VNet = "/subscriptions/" + sub + "/resourcegroups/rg/providers/microsoft.network/virtualnetworks/v1"
		}, "", ""},
		{"rg with parens and dots", func(p *control.Peering) { p.VNet = vnetID(sub, "my.rg(1)_x-y", "vnet") }, "", ""},
		{"rg 90 chars", func(p *control.Peering) { p.VNet = vnetID(sub, strings.Repeat("r", 90), "vnet") }, "", ""},
		{"vnet 64 chars", func(p *control.Peering) { p.VNet = vnetID(sub, "rg", strings.Repeat("v", 64)) }, "", ""},
		{"vnet ends with underscore", func(p *control.Peering) { p.VNet = vnetID(sub, "rg", "vnet_") }, "", ""},
		{"vnet 2 chars", func(p *control.Peering) { p.VNet = vnetID(sub, "rg", "v1") }, "", ""},
		{"no environment", func(p *control.Peering) { p.EnvironmentID = "" }, control.EINVALID, "/spec/environment/id"},
		{"no network", func(p *control.Peering) { p.NetworkID = "" }, control.EINVALID, "/spec/network/id"},
		{"aws kind", func(p *control.Peering) { p.Cloud = "AWS" }, control.EINVALID, "/spec/cloud/kind"},
		{"no tenant", func(p *control.Peering) { p.Tenant = "" }, control.EINVALID, "/spec/cloud/tenant"},
		{"tenant not guid", func(p *control.Peering) { p.Tenant = "contoso.onmicrosoft.com" }, control.EINVALID, "/spec/cloud/tenant"},
		{"tenant no dashes", func(p *control.Peering) { p.Tenant = strings.ReplaceAll(tenant, "-", "") }, control.EINVALID, "/spec/cloud/tenant"},
		{"tenant bad hex", func(p *control.Peering) { p.Tenant = "zf1c2e3d-1111-4a2b-9c3d-0123456789ab" }, control.EINVALID, "/spec/cloud/tenant"},
		{"no vnet", func(p *control.Peering) { p.VNet = "" }, control.EINVALID, vnetField},
		{"vnet name only", func(p *control.Peering) { p.VNet = "my-vnet" }, control.EINVALID, vnetField},
		{"subnet id", func(p *control.Peering) { p.VNet = vnetID(sub, "rg", "v") + "/subnets/default" }, control.EINVALID, vnetField},
		{"wrong provider", func(p *control.Peering) {
			p.VNet = "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
		}, control.EINVALID, vnetField},
		{"subscription not guid", func(p *control.Peering) { p.VNet = vnetID("my-sub", "rg", "vnet") }, control.EINVALID, vnetField},
		{"rg empty", func(p *control.Peering) { p.VNet = vnetID(sub, "", "vnet") }, control.EINVALID, vnetField},
		{"rg 91 chars", func(p *control.Peering) { p.VNet = vnetID(sub, strings.Repeat("r", 91), "vnet") }, control.EINVALID, vnetField},
		{"rg ends with dot", func(p *control.Peering) { p.VNet = vnetID(sub, "rg.", "vnet") }, control.EINVALID, vnetField},
		{"rg bad char", func(p *control.Peering) { p.VNet = vnetID(sub, "rg$", "vnet") }, control.EINVALID, vnetField},
		{"vnet 1 char", func(p *control.Peering) { p.VNet = vnetID(sub, "rg", "v") }, control.EINVALID, vnetField},
		{"vnet 65 chars", func(p *control.Peering) { p.VNet = vnetID(sub, "rg", strings.Repeat("v", 65)) }, control.EINVALID, vnetField},
		{"vnet starts with dash", func(p *control.Peering) { p.VNet = vnetID(sub, "rg", "-vnet") }, control.EINVALID, vnetField},
		{"vnet starts with underscore", func(p *control.Peering) { p.VNet = vnetID(sub, "rg", "_vnet") }, control.EINVALID, vnetField},
		{"vnet ends with dot", func(p *control.Peering) { p.VNet = vnetID(sub, "rg", "vnet.") }, control.EINVALID, vnetField},
		{"vnet ends with dash", func(p *control.Peering) { p.VNet = vnetID(sub, "rg", "vnet-") }, control.EINVALID, vnetField},
		{"vnet parens", func(p *control.Peering) { p.VNet = vnetID(sub, "rg", "vnet(1)a") }, control.EINVALID, vnetField},
		{"no region", func(p *control.Peering) { p.CustomerRegion = "" }, control.EINVALID, "/spec/cloud/customer_region"},
		{"unknown region", func(p *control.Peering) { p.CustomerRegion = "mars" }, control.EINVALID, "/spec/cloud/customer_region"},
		{"long name", func(p *control.Peering) { p.DisplayName = strings.Repeat("x", 256) }, control.EINVALID, "/spec/display_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPeering()
			tt.mutate(p)
			wantErr(t, s.ValidatePeering(p), tt.code, tt.field)
			if tt.code == "" && (p.Cloud != "AZURE" || p.Tenant != strings.ToLower(p.Tenant) || !strings.Contains(p.VNet, "/providers/Microsoft.Network/virtualNetworks/")) {
				t.Errorf("not canonical: %+v", p)
			}
		})
	}
}

func TestCheckPeeringUnique(t *testing.T) {
	p := validPeering()
	existing := []*control.Peering{{ID: "peer-1", VNet: strings.ToUpper(p.VNet)}}
	wantErr(t, control.CheckPeeringUnique(p, existing), control.ECONFLICT, "/spec/cloud/vnet")
	wantErr(t, control.CheckPeeringUnique(p, []*control.Peering{{ID: "peer-1", VNet: vnetID(sub, "rg", "other")}}), "", "")
	p.ID = "peer-1"
	wantErr(t, control.CheckPeeringUnique(p, existing), "", "")
}

func TestQuotas(t *testing.T) {
	s := control.DefaultSettings()
	checks := []struct {
		name  string
		check func(int) error
		limit int
		quota string
	}{
		{"environments per org", s.CheckEnvironmentQuota, 25, control.QuotaEnvironmentsPerOrg},
		{"networks per environment", s.CheckNetworkQuota, 10, control.QuotaNetworksPerEnvironment},
		{"peerings per network", s.CheckPeeringQuota, 25, control.QuotaPeeringsPerNetwork},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			wantErr(t, c.check(0), "", "")
			wantErr(t, c.check(c.limit-1), "", "")
			err := c.check(c.limit)
			wantErr(t, err, control.EQUOTA, "")
			if !strings.Contains(control.ErrorMessage(err), c.quota) {
				t.Errorf("message %q does not name %s", control.ErrorMessage(err), c.quota)
			}
		})
	}
}

func clusters(n, cku int, networkID string) []*control.Cluster {
	var out []*control.Cluster
	for i := range n {
		out = append(out, &control.Cluster{ID: fmt.Sprintf("lkc-%d", i), NetworkID: networkID, CKU: cku})
	}
	return out
}

func TestCheckClusterQuota(t *testing.T) {
	s := control.DefaultSettings()
	tests := []struct {
		name      string
		c         *control.Cluster
		env, net  []*control.Cluster
		code      string
		nameQuota string
	}{
		{"first", &control.Cluster{ID: "lkc-new", CKU: 1}, nil, nil, "", ""},
		{"20th in environment", &control.Cluster{ID: "lkc-new", CKU: 1}, clusters(19, 1, "n-x"), nil, "", ""},
		{"21st in environment", &control.Cluster{ID: "lkc-new", CKU: 1}, clusters(20, 1, "n-x"), nil, control.EQUOTA, control.QuotaKafkaClustersPerEnvironment},
		{"10th in network", &control.Cluster{ID: "lkc-new", CKU: 1}, nil, clusters(9, 1, "n-a"), "", ""},
		{"11th in network", &control.Cluster{ID: "lkc-new", CKU: 1}, nil, clusters(10, 1, "n-a"), control.EQUOTA, control.QuotaDedicatedClustersPerNetwork},
		{"64 CKUs", &control.Cluster{ID: "lkc-new", CKU: 4}, nil, clusters(6, 10, "n-a"), "", ""},
		{"65 CKUs", &control.Cluster{ID: "lkc-new", CKU: 5}, nil, clusters(6, 10, "n-a"), control.EQUOTA, control.QuotaDedicatedCKUsPerNetwork},
		{"one cluster of 65", &control.Cluster{ID: "lkc-new", CKU: 65}, nil, nil, control.EQUOTA, control.QuotaDedicatedCKUsPerNetwork},
		{"resize counts itself once", &control.Cluster{ID: "lkc-0", CKU: 64}, nil, clusters(1, 10, "n-a"), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CheckClusterQuota(tt.c, tt.env, tt.net)
			wantErr(t, err, tt.code, "")
			if tt.code != "" && !strings.Contains(control.ErrorMessage(err), tt.nameQuota) {
				t.Errorf("message %q does not name %s", control.ErrorMessage(err), tt.nameQuota)
			}
		})
	}
}

func TestValidateCluster(t *testing.T) {
	s := control.DefaultSettings()
	network := func() *control.Network {
		return &control.Network{ID: "n-a", EnvironmentID: "env-a", Cloud: "AZURE", Region: "eastus", Status: control.NetworkStatus{Phase: control.PhaseReady}}
	}
	tests := []struct {
		name   string
		c      control.Cluster
		mutate func(n *control.Network)
		code   string
		field  string
	}{
		{"defaults", control.Cluster{EnvironmentID: "env-a", CKU: 1}, nil, "", ""},
		{"provisioning network", control.Cluster{EnvironmentID: "env-a", CKU: 1}, func(n *control.Network) { n.Status.Phase = control.PhaseProvisioning }, "", ""},
		{"multi zone 2", control.Cluster{EnvironmentID: "env-a", CKU: 2, Availability: "MULTI_ZONE"}, nil, "", ""},
		{"multi zone 1", control.Cluster{EnvironmentID: "env-a", CKU: 1, Availability: "MULTI_ZONE"}, nil, control.EINVALID, "/spec/config/cku"},
		{"zero cku", control.Cluster{EnvironmentID: "env-a", CKU: 0}, nil, control.EINVALID, "/spec/config/cku"},
		{"other environment", control.Cluster{EnvironmentID: "env-b", CKU: 1}, nil, control.EINVALID, "/spec/network/id"},
		{"failed network", control.Cluster{EnvironmentID: "env-a", CKU: 1}, func(n *control.Network) { n.Status.Phase = control.PhaseFailed }, control.EINVALID, "/spec/network/id"},
		{"deleting network", control.Cluster{EnvironmentID: "env-a", CKU: 1}, func(n *control.Network) { n.Status.Phase = control.PhaseDeprovisioning }, control.EINVALID, "/spec/network/id"},
		{"other cloud", control.Cluster{EnvironmentID: "env-a", CKU: 1, Cloud: "AWS"}, nil, control.EINVALID, "/spec/cloud"},
		{"other region", control.Cluster{EnvironmentID: "env-a", CKU: 1, Region: "westus"}, nil, control.EINVALID, "/spec/region"},
		{"bad availability", control.Cluster{EnvironmentID: "env-a", CKU: 1, Availability: "TRIPLE"}, nil, control.EINVALID, "/spec/availability"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := network()
			if tt.mutate != nil {
				tt.mutate(n)
			}
			c := tt.c
			wantErr(t, s.ValidateCluster(&c, n), tt.code, tt.field)
			if tt.code == "" && (c.Cloud != "AZURE" || c.Region != "eastus" || c.Availability == "") {
				t.Errorf("not canonical: %+v", c)
			}
		})
	}
}

func TestCrossRegion(t *testing.T) {
	s := control.DefaultSettings()
	if !s.CrossRegionAllowed("eastus", "eastus") {
		t.Error("same region refused")
	}
	if s.CrossRegionAllowed("eastus", "westus") {
		t.Error("cross region allowed by default")
	}
	s.AllowedRegionPairs = [][2]string{{"eastus", "westus"}}
	if !s.CrossRegionAllowed("eastus", "westus") || !s.CrossRegionAllowed("westus", "eastus") {
		t.Error("allowed pair refused")
	}
	if s.CrossRegionAllowed("eastus", "westus2") {
		t.Error("other pair allowed")
	}
}

func TestCheckVNetAddressSpace(t *testing.T) {
	tests := []struct {
		name     string
		prefixes []string
		peered   map[string][]string
		code     string
	}{
		{"ok", []string{"10.2.0.0/16", "192.168.1.0/24"}, nil, ""},
		{"shared space", []string{"100.64.0.0/16"}, nil, ""},
		{"public", []string{"10.2.0.0/16", "52.0.0.0/16"}, nil, control.PeeringInvalidAddressSpace},
		{"garbage", []string{"x"}, nil, control.PeeringInvalidAddressSpace},
		{"overlaps network", []string{"10.1.128.0/24"}, nil, control.PeeringAddressSpaceOverlap},
		{"contains network", []string{"10.0.0.0/8"}, nil, control.PeeringAddressSpaceOverlap},
		{"overlaps peered", []string{"10.3.0.0/24"}, map[string][]string{"/subscriptions/x/vnet-b": {"10.3.0.0/16"}}, control.PeeringAddressSpaceOverlap},
		{"beside peered", []string{"10.4.0.0/24"}, map[string][]string{"/subscriptions/x/vnet-b": {"10.3.0.0/16"}}, ""},
		{"ipv6", []string{"fd00::/64"}, nil, control.PeeringInvalidAddressSpace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &control.Peering{ID: "peer-1", VNet: "/subscriptions/0a1b2c3d-2222-4e5f-8a9b-abcdefabcdef/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet-a"}
			n := &control.Network{ID: "n-1", CIDR: "10.1.0.0/16"}
			c := control.CheckVNetAddressSpace(p, n, tt.prefixes, tt.peered)
			if c.ErrorCode != tt.code || c.Step != control.StepAddressSpace {
				t.Fatalf("check = %+v, want code %q", c, tt.code)
			}
			if tt.code == "" {
				if c.Status != control.CheckPass {
					t.Fatalf("status %s, want PASS", c.Status)
				}
				return
			}
			if c.Status != control.CheckFail || c.Fix == "" || !strings.Contains(c.Evidence, tt.prefixes[len(tt.prefixes)-1]) || !strings.Contains(c.Evidence, "rg/vnet-a") {
				t.Fatalf("failed check %+v: want FAIL naming the prefix and the VNet, with a fix", c)
			}
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	if err := control.DefaultSettings().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(s *control.Settings)
		field  string
	}{
		{"zero quota", func(s *control.Settings) { s.PeeringsPerNetwork = 0 }, "/peerings_per_network"},
		{"bad reserved", func(s *control.Settings) { s.ReservedCIDRs = []string{"x"} }, "/reserved_cidrs/0"},
		{"no regions", func(s *control.Settings) { s.AzureRegions = nil }, "/azure_regions"},
		{"bad pair", func(s *control.Settings) { s.AllowedRegionPairs = [][2]string{{"eastus", "moon"}} }, "/allowed_region_pairs/0/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := control.DefaultSettings()
			tt.mutate(&s)
			wantErr(t, s.Validate(), control.EINVALID, tt.field)
		})
	}
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := control.NewID(control.PrefixPeering)
		if !control.HasIDPrefix(id, control.PrefixPeering) || len(id) != len("peer-")+6 || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	key, secret := control.NewAPIKey()
	if len(key) != 16 || strings.ToUpper(key) != key || len(secret) != 64 {
		t.Fatalf("key %q secret %q", key, secret)
	}
	h := control.HashSecret(secret)
	if strings.Contains(h, secret) || !control.SecretMatches(h, secret) || control.SecretMatches(h, secret+"x") {
		t.Fatal("hash mismatch")
	}
	if id := control.NewOrganizationID(); !azureid.IsGUID(id) {
		t.Fatalf("org id %q is not a GUID", id)
	}
}

func TestErrors(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", control.FieldErrorf(control.EINVALID, "/spec/cidr", "bad %s", "cidr"))
	if control.ErrorCode(err) != control.EINVALID || control.ErrorField(err) != "/spec/cidr" || control.ErrorMessage(err) != "bad cidr" {
		t.Fatalf("got %q %q %q", control.ErrorCode(err), control.ErrorField(err), control.ErrorMessage(err))
	}
	plain := fmt.Errorf("disk on fire")
	if control.ErrorCode(plain) != control.EINTERNAL || strings.Contains(control.ErrorMessage(plain), "fire") {
		t.Fatal("internal error leaks")
	}
	if control.ErrorCode(nil) != "" {
		t.Fatal("nil error has a code")
	}
}
