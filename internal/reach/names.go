package reach

import "strings"

// ShortName is the name an Azure resource id ends with, for display: a
// VNet's or NSG's name, "vnet/peering" for a peering half. Anything that
// is not a resource id (a network or cluster id, "source") is returned
// whole.
func ShortName(id string) string {
	if !strings.HasPrefix(id, "/subscriptions/") {
		return id
	}
	p := strings.Split(strings.Trim(id, "/"), "/")
	if len(p) >= 10 && strings.EqualFold(p[8], "virtualNetworkPeerings") {
		return p[7] + "/" + p[9]
	}
	return p[len(p)-1]
}
