package reach

import "strings"

// Visible returns the part of s that the owner of networks own may see:
// their provider VNets, the VNets peered with those (a half in either
// direction, in any state), and the VNets peered with these in turn (so that
// a query from a VNet one peering too far is explained rather than
// unknown). A VNet in a provider subscription (the subscription of one of
// own's VNets) that is not one of own's VNets is never visible: it belongs
// to another organization's network. Peerings between visible VNets and the
// NSGs of visible subnets are kept.
func Visible(s Snapshot, own []Network) Snapshot {
	ownVNet := map[string]bool{}
	providerSub := map[string]bool{}
	for _, n := range own {
		if n.VNetID == "" {
			continue
		}
		ownVNet[lower(n.VNetID)] = true
		if sub := subscriptionOf(n.VNetID); sub != "" {
			providerSub[sub] = true
		}
	}
	hidden := func(id string) bool {
		id = lower(id)
		return !ownVNet[id] && providerSub[subscriptionOf(id)]
	}
	adj := map[string][]string{}
	for _, p := range s.Peerings {
		a, b := lower(p.VNetID), lower(p.RemoteVNetID)
		if hidden(a) || hidden(b) {
			continue
		}
		adj[a] = append(adj[a], b)
		adj[b] = append(adj[b], a)
	}
	visible := map[string]bool{}
	frontier := make([]string, 0, len(ownVNet))
	for id := range ownVNet {
		visible[id] = true
		frontier = append(frontier, id)
	}
	for range 2 {
		var next []string
		for _, id := range frontier {
			for _, m := range adj[id] {
				if !visible[m] {
					visible[m] = true
					next = append(next, m)
				}
			}
		}
		frontier = next
	}
	var out Snapshot
	nsgs := map[string]bool{}
	for _, v := range s.VirtualNetworks {
		if !visible[lower(v.ID)] {
			continue
		}
		out.VirtualNetworks = append(out.VirtualNetworks, v)
		for _, sn := range v.Subnets {
			if sn.NetworkSecurityGroup != "" {
				nsgs[lower(sn.NetworkSecurityGroup)] = true
			}
		}
	}
	for _, p := range s.Peerings {
		if visible[lower(p.VNetID)] && visible[lower(p.RemoteVNetID)] {
			out.Peerings = append(out.Peerings, p)
		}
	}
	for _, n := range s.NSGs {
		if nsgs[lower(n.ID)] {
			out.NSGs = append(out.NSGs, n)
		}
	}
	return out
}

// subscriptionOf returns the lower-case subscription id of a resource id.
func subscriptionOf(id string) string {
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "subscriptions") {
			return lower(parts[i+1])
		}
	}
	return ""
}
