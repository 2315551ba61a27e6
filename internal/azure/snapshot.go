package azure

import (
	"context"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"

	"github.com/peerplane/peerplane/internal/azureid"
	"github.com/peerplane/peerplane/internal/reach"
)

// CustomerVNet names a customer VNet a reachability snapshot should hold,
// with the tenant it lives in.
type CustomerVNet struct {
	Tenant string
	ID     string
}

// NetworkSnapshot reads through ARM, as the provider app, the network
// state a reachability query needs:
//   - every VNet of the provider subscription, with its subnets and
//     peerings, and every NSG there;
//   - each customer VNet, read in its tenant (the "Peering Creator" role
//     grants virtualNetworks/read), and the NSGs of its subnets that the
//     app may read. The role grants no NSG reads, so those are usually
//     left out, and the engine then says their rules were not evaluated;
//   - the VNets a customer VNet is peered with, as its peerings report them
//     (id and address space), with the reverse half in the same state:
//     Azure shows a half Connected only while the other half exists.
//
// A customer VNet that cannot be read (no consent or role yet, deleted) is
// left out; a failure to read the provider subscription is an error.
func (c *Client) NetworkSnapshot(ctx context.Context, customers []CustomerVNet) (*reach.Snapshot, error) {
	var s reach.Snapshot
	seen := map[string]bool{}
	f, err := c.networkFactory(c.cfg.ProviderTenantID, c.cfg.ProviderSubscriptionID)
	if err != nil {
		return nil, err
	}
	err = eachPage(ctx, f.NewVirtualNetworksClient().NewListAllPager(nil), func(page armnetwork.VirtualNetworksClientListAllResponse) {
		for _, v := range page.Value {
			if v != nil {
				addVNet(&s, seen, v)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	err = eachPage(ctx, f.NewSecurityGroupsClient().NewListAllPager(nil), func(page armnetwork.SecurityGroupsClientListAllResponse) {
		for _, n := range page.Value {
			if n != nil {
				s.NSGs = append(s.NSGs, nsgFrom(n))
			}
		}
	})
	if err != nil {
		return nil, err
	}

	haveNSG := map[string]bool{}
	for _, n := range s.NSGs {
		haveNSG[strings.ToLower(n.ID)] = true
	}
	for _, cv := range customers {
		if seen[strings.ToLower(cv.ID)] {
			continue
		}
		rid, err := ParseVNetID(cv.ID)
		if err != nil {
			continue
		}
		cf, err := c.networkFactory(cv.Tenant, rid.SubscriptionID)
		if err != nil {
			continue
		}
		resp, err := cf.NewVirtualNetworksClient().Get(ctx, rid.ResourceGroup, rid.Name, nil)
		if err != nil {
			continue // not readable (yet): the query explains what it cannot see
		}
		v := resp.VirtualNetwork
		addVNet(&s, seen, &v)
		for _, sn := range s.VirtualNetworks[len(s.VirtualNetworks)-1].Subnets {
			id := strings.ToLower(sn.NetworkSecurityGroup)
			if id == "" || haveNSG[id] {
				continue
			}
			haveNSG[id] = true
			nrid, err := azureid.ParseNetworkID(sn.NetworkSecurityGroup, azureid.TypeNetworkSecurityGroups)
			if err != nil {
				continue
			}
			nf, err := c.networkFactory(cv.Tenant, nrid.SubscriptionID)
			if err != nil {
				continue
			}
			n, err := nf.NewSecurityGroupsClient().Get(ctx, nrid.ResourceGroup, nrid.Name, nil)
			if err != nil {
				continue // AuthorizationFailed without networkSecurityGroups/read
			}
			s.NSGs = append(s.NSGs, nsgFrom(&n.SecurityGroup))
		}
	}

	// VNets known only as the remote end of a customer VNet's peering.
	for _, p := range append([]reach.Peering(nil), s.Peerings...) {
		remote := strings.ToLower(p.RemoteVNetID)
		if seen[remote] {
			continue
		}
		seen[remote] = true
		s.VirtualNetworks = append(s.VirtualNetworks, reach.VNet{ID: p.RemoteVNetID, Name: lastSegment(p.RemoteVNetID),
			SubscriptionID: subscriptionOf(p.RemoteVNetID), AddressPrefixes: p.RemoteAddressSpace})
		s.Peerings = append(s.Peerings, reach.Peering{ID: p.RemoteVNetID + "/virtualNetworkPeerings/(reverse of " + p.Name + ")",
			VNetID: p.RemoteVNetID, Name: "(reverse of " + p.Name + ")", RemoteVNetID: p.VNetID, PeeringState: p.PeeringState,
			AllowVirtualNetworkAccess: p.AllowVirtualNetworkAccess})
	}
	return &s, nil
}

// addVNet adds v, its subnets and its peering halves to s.
func addVNet(s *reach.Snapshot, seen map[string]bool, v *armnetwork.VirtualNetwork) {
	out := reach.VNet{ID: str(v.ID), Name: str(v.Name), SubscriptionID: subscriptionOf(str(v.ID))}
	seen[strings.ToLower(out.ID)] = true
	p := v.Properties
	if p == nil {
		s.VirtualNetworks = append(s.VirtualNetworks, out)
		return
	}
	if p.AddressSpace != nil {
		out.AddressPrefixes = strs(p.AddressSpace.AddressPrefixes)
	}
	for _, sn := range p.Subnets {
		o := reach.Subnet{Name: str(sn.Name)}
		if sp := sn.Properties; sp != nil {
			o.AddressPrefix, o.AddressPrefixes = str(sp.AddressPrefix), strs(sp.AddressPrefixes)
			if sp.NetworkSecurityGroup != nil {
				o.NetworkSecurityGroup = str(sp.NetworkSecurityGroup.ID)
			}
		}
		out.Subnets = append(out.Subnets, o)
	}
	s.VirtualNetworks = append(s.VirtualNetworks, out)
	for _, h := range p.VirtualNetworkPeerings {
		o := reach.Peering{ID: str(h.ID), Name: str(h.Name), VNetID: out.ID}
		if hp := h.Properties; hp != nil {
			if hp.RemoteVirtualNetwork != nil {
				o.RemoteVNetID = str(hp.RemoteVirtualNetwork.ID)
			}
			if hp.PeeringState != nil {
				o.PeeringState = string(*hp.PeeringState)
			}
			o.AllowVirtualNetworkAccess = boolOf(hp.AllowVirtualNetworkAccess)
			o.AllowForwardedTraffic = boolOf(hp.AllowForwardedTraffic)
			o.AllowGatewayTransit = boolOf(hp.AllowGatewayTransit)
			o.UseRemoteGateways = boolOf(hp.UseRemoteGateways)
			if hp.RemoteAddressSpace != nil {
				o.RemoteAddressSpace = strs(hp.RemoteAddressSpace.AddressPrefixes)
			}
		}
		s.Peerings = append(s.Peerings, o)
	}
}

func nsgFrom(n *armnetwork.SecurityGroup) reach.NSG {
	out := reach.NSG{ID: str(n.ID), Name: str(n.Name)}
	if n.Properties == nil {
		return out
	}
	for _, r := range n.Properties.SecurityRules {
		rp := r.Properties
		if rp == nil {
			continue
		}
		out.SecurityRules = append(out.SecurityRules, reach.SecurityRule{
			Name: str(r.Name), Priority: int(int32Of(rp.Priority)),
			Direction: enumOf(rp.Direction), Access: enumOf(rp.Access), Protocol: enumOf(rp.Protocol),
			SourceAddressPrefixes:      oneAndMany(rp.SourceAddressPrefix, rp.SourceAddressPrefixes),
			DestinationAddressPrefixes: oneAndMany(rp.DestinationAddressPrefix, rp.DestinationAddressPrefixes),
			SourcePortRanges:           oneAndMany(rp.SourcePortRange, rp.SourcePortRanges),
			DestinationPortRanges:      oneAndMany(rp.DestinationPortRange, rp.DestinationPortRanges),
		})
	}
	return out
}

// oneAndMany merges ARM's singular and plural forms of a rule field.
func oneAndMany(one *string, many []*string) []string {
	out := strs(many)
	if s := str(one); s != "" {
		out = append([]string{s}, out...)
	}
	return out
}

func strs(ps []*string) []string {
	var out []string
	for _, p := range ps {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out
}

func boolOf(b *bool) bool { return b != nil && *b }

func int32Of(i *int32) int32 {
	if i == nil {
		return 0
	}
	return *i
}

func enumOf[T ~string](p *T) string {
	if p == nil {
		return ""
	}
	return string(*p)
}

func subscriptionOf(id string) string {
	p := strings.Split(strings.Trim(id, "/"), "/")
	if len(p) > 1 && strings.EqualFold(p[0], "subscriptions") {
		return p[1]
	}
	return ""
}

func lastSegment(id string) string {
	return id[strings.LastIndex(id, "/")+1:]
}
