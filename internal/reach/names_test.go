package reach

import "testing"

func TestShortName(t *testing.T) {
	for id, want := range map[string]string{
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet-a":                             "vnet-a",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet-a/virtualNetworkPeerings/to-b": "vnet-a/to-b",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg":                          "nsg",
		"n-abc123": "n-abc123",
		"source":   "source",
	} {
		if got := ShortName(id); got != want {
			t.Errorf("ShortName(%q) = %q, want %q", id, got, want)
		}
	}
}
