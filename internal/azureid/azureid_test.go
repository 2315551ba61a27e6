package azureid_test

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/azureid"
)

// The rules as Azure documents them, written as regular expressions: the
// oracles the hand-written checks are compared with.
var (
	guidRE   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	rgNameRE = regexp.MustCompile(`^[-A-Za-z0-9_.()]{1,90}$`)
	vnetRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}[A-Za-z0-9_]$`)
	vnetIDRE = regexp.MustCompile(`(?i)^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Network/virtualNetworks/([^/]+)$`)
)

func oracleRG(s string) bool { return rgNameRE.MatchString(s) && !strings.HasSuffix(s, ".") }

func TestIsGUID(t *testing.T) {
	for s, want := range map[string]bool{
		"5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01":           true,
		"5B0C3A52-8E0F-4C39-9D4C-7F1E6F0A1C01":           true,
		"00000000-0000-0000-0000-000000000000":           true,
		"":                                               false,
		"5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c0":            false, // 35
		"5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c011":          false, // 37
		"5b0c3a528e0f4c399d4c7f1e6f0a1c01":               false, // no dashes
		"5b0c3a52-8e0f-4c39-9d4c_7f1e6f0a1c01":           false,
		"5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c0g":           false,
		"{5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01}":         false,
		"5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c0\u00e9"[:36]: false, // a multi-byte character cut short
		"5b0c3a528-e0f-4c39-9d4c-7f1e6f0a1c01":           false,
	} {
		if got := azureid.IsGUID(s); got != want || got != guidRE.MatchString(s) {
			t.Errorf("IsGUID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestNewGUID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		g := azureid.NewGUID()
		if !azureid.IsGUID(g) || g != strings.ToLower(g) || g[14] != '4' || !strings.ContainsRune("89ab", rune(g[19])) {
			t.Fatalf("NewGUID() = %q: want a lower-case version 4 GUID", g)
		}
		if seen[g] {
			t.Fatalf("NewGUID() returned %q twice", g)
		}
		seen[g] = true
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct {
		name     string
		rg, vnet bool
	}{
		{"rg", true, true},
		{"my.rg(1)_x-y", true, false},
		{"v", true, false},
		{strings.Repeat("r", 64), true, true},
		{strings.Repeat("r", 65), true, false},
		{strings.Repeat("r", 90), true, false},
		{strings.Repeat("r", 91), false, false},
		{"", false, false},
		{"rg.", false, false},
		{"rg$", false, false},
		{"vnet_", true, true},
		{"-vnet", true, false},
		{"_vnet", true, false},
		{"vnet-", true, false},
		{"vnet.x", true, true},
		{"vnet(1)a", true, false},
		{"vnét", false, false},
		{"a b", false, false},
	} {
		if got := azureid.IsResourceGroupName(tt.name); got != tt.rg || got != oracleRG(tt.name) {
			t.Errorf("IsResourceGroupName(%q) = %v, want %v", tt.name, got, tt.rg)
		}
		if got := azureid.IsVNetName(tt.name); got != tt.vnet || got != vnetRE.MatchString(tt.name) {
			t.Errorf("IsVNetName(%q) = %v, want %v", tt.name, got, tt.vnet)
		}
	}
}

// FuzzNames compares the name and GUID checks with the regular
// expressions of Azure's rules.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"rg", "rg.", "my.rg(1)", "-x", "x_", "5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := azureid.IsResourceGroupName(s), oracleRG(s); got != want {
			t.Errorf("IsResourceGroupName(%q) = %v, want %v", s, got, want)
		}
		if got, want := azureid.IsVNetName(s), vnetRE.MatchString(s); got != want {
			t.Errorf("IsVNetName(%q) = %v, want %v", s, got, want)
		}
		if got, want := azureid.IsGUID(s), guidRE.MatchString(s); got != want {
			t.Errorf("IsGUID(%q) = %v, want %v", s, got, want)
		}
	})
}

func TestParseVNetID(t *testing.T) {
	const sub = "6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02"
	id := azureid.VNetID(strings.ToUpper(sub), "Contoso-Network", "contoso-vnet")
	if want := "/subscriptions/" + sub + "/resourceGroups/Contoso-Network/providers/Microsoft.Network/virtualNetworks/contoso-vnet"; id != want {
		t.Fatalf("VNetID = %q, want %q", id, want)
	}
	for _, s := range []string{id, strings.ToLower(id), strings.ToUpper(id)} {
		r, err := azureid.ParseVNetID(s)
		if err != nil || !strings.EqualFold(r.SubscriptionID, sub) || !strings.EqualFold(r.ResourceGroup, "contoso-network") || !strings.EqualFold(r.Name, "contoso-vnet") {
			t.Errorf("ParseVNetID(%q) = %+v, %v", s, r, err)
		}
	}
	for _, bad := range []string{
		"",
		"contoso-vnet",
		"/subscriptions/" + sub,
		id + "/",
		id[1:],
		id + "/subnets/default",
		"/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/x",
		"/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Compute/virtualNetworks/x",
		"/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/",
		"/subscriptions//resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v",
		"/subscriptions/" + sub + "/resourceGroups//providers/Microsoft.Network/virtualNetworks/v",
		"/subscriptions/" + sub + "/resourcegroup/rg/providers/Microsoft.Network/virtualNetworks/v",
	} {
		if r, err := azureid.ParseVNetID(bad); err == nil || !strings.Contains(err.Error(), "virtualNetworks") {
			t.Errorf("ParseVNetID(%q) = %+v, %v: want an error naming the shape", bad, r, err)
		}
	}
	nsg := "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-1"
	if r, err := azureid.ParseNetworkID(nsg, azureid.TypeNetworkSecurityGroups); err != nil || r != (azureid.ResourceID{SubscriptionID: sub, ResourceGroup: "rg", Name: "nsg-1"}) {
		t.Errorf("ParseNetworkID(%q) = %+v, %v", nsg, r, err)
	}
	if _, err := azureid.ParseNetworkID(id, azureid.TypeNetworkSecurityGroups); err == nil {
		t.Errorf("ParseNetworkID(%q, networkSecurityGroups) accepted a VNet", id)
	}
}

// FuzzParseVNetID checks ParseVNetID against the regular expression of a
// VNet id, and that what it parses is the id it was given.
func FuzzParseVNetID(f *testing.F) {
	f.Add("/subscriptions/6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v")
	f.Add("/SUBSCRIPTIONS/s/RESOURCEGROUPS/rg/PROVIDERS/MICROSOFT.NETWORK/VIRTUALNETWORKS/v")
	f.Add("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/")
	f.Fuzz(func(t *testing.T, id string) {
		r, err := azureid.ParseVNetID(id)
		if (err == nil) != vnetIDRE.MatchString(id) {
			t.Fatalf("ParseVNetID(%q) = %+v, %v; the expression says %v", id, r, err, vnetIDRE.MatchString(id))
		}
		if err == nil && !strings.EqualFold(azureid.VNetID(r.SubscriptionID, r.ResourceGroup, r.Name), id) {
			t.Fatalf("ParseVNetID(%q) = %+v, which writes back as %q", id, r, azureid.VNetID(r.SubscriptionID, r.ResourceGroup, r.Name))
		}
	})
}

func TestResourceGroupOf(t *testing.T) {
	for id, want := range map[string]string{
		azureid.VNetID("s", "rg-1", "v"): "rg-1",
		"/subscriptions/s/resourcegroups/RG/providers/Microsoft.Network/networkSecurityGroups/n": "RG",
		"/subscriptions/s":                "",
		"/subscriptions/s/resourceGroups": "",
		"":                                "",
	} {
		if got := azureid.ResourceGroupOf(id); got != want {
			t.Errorf("ResourceGroupOf(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestPrivateRanges(t *testing.T) {
	want := []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"}
	got := azureid.PrivateRanges()
	if len(got) != len(want) {
		t.Fatalf("PrivateRanges() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Fatalf("PrivateRanges() = %v, want %v", got, want)
		}
	}
	got[0] = netip.MustParsePrefix("8.8.8.0/24")
	if azureid.PrivateRanges()[0].String() != want[0] || azureid.InPrivateRange(got[0]) {
		t.Fatal("PrivateRanges' slice is shared with the package")
	}
	for p, in := range map[string]bool{
		"10.0.0.0/8":      true,
		"10.200.0.0/16":   true,
		"172.16.0.0/12":   true,
		"172.31.255.0/24": true,
		"192.168.1.0/24":  true,
		"100.64.0.0/10":   true,
		"100.127.0.0/16":  true,
		"10.0.0.0/7":      false, // larger than the range
		"172.32.0.0/16":   false,
		"172.15.0.0/16":   false,
		"100.128.0.0/16":  false,
		"100.63.0.0/16":   false,
		"11.0.0.0/16":     false,
		"8.8.8.0/24":      false,
		"0.0.0.0/0":       false,
		"fd00::/8":        false,
	} {
		if got := azureid.InPrivateRange(netip.MustParsePrefix(p)); got != in {
			t.Errorf("InPrivateRange(%s) = %v, want %v", p, got, in)
		}
	}
}
