package dataplane

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/peerplane/peerplane/internal/reach"
)

// world is a snapshot of Azure's networks, indexed.
type world struct {
	vnets  map[string]*vnetInfo         // lower-case id
	halves map[[2]string]*reach.Peering // (local, remote), lower-case ids
	nsgs   map[string]*reach.NSG        // lower-case id
}

type vnetInfo struct {
	id, name, key string
	prefixes      []netip.Prefix
	subnets       []subnetInfo
}

type subnetInfo struct {
	name     string
	prefixes []netip.Prefix
	nsgID    string
}

func newWorld(s reach.Snapshot) *world {
	w := &world{vnets: map[string]*vnetInfo{}, halves: map[[2]string]*reach.Peering{}, nsgs: map[string]*reach.NSG{}}
	for _, v := range s.VirtualNetworks {
		vi := &vnetInfo{id: v.ID, name: v.Name, key: vnetKey(v.ID), prefixes: parse4(v.AddressPrefixes)}
		if vi.name == "" {
			vi.name = v.ID[strings.LastIndexByte(v.ID, '/')+1:]
		}
		for _, sn := range v.Subnets {
			ps := sn.AddressPrefixes
			if len(ps) == 0 && sn.AddressPrefix != "" {
				ps = []string{sn.AddressPrefix}
			}
			vi.subnets = append(vi.subnets, subnetInfo{name: sn.Name, prefixes: parse4(ps), nsgID: sn.NetworkSecurityGroup})
		}
		w.vnets[strings.ToLower(v.ID)] = vi
	}
	for i := range s.Peerings {
		p := &s.Peerings[i]
		w.halves[[2]string{strings.ToLower(p.VNetID), strings.ToLower(p.RemoteVNetID)}] = p
	}
	for i := range s.NSGs {
		w.nsgs[strings.ToLower(s.NSGs[i].ID)] = &s.NSGs[i]
	}
	return w
}

// parse4 parses the IPv4 prefixes of ss (a bare address is a /32);
// others are skipped.
func parse4(ss []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Unmap().Is4() {
			out = append(out, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked())
		}
	}
	return out
}

func (w *world) vnet(id string) *vnetInfo { return w.vnets[strings.ToLower(id)] }

// live reports whether a and b are joined by a peering that carries
// traffic: both halves exist and are Connected.
func (w *world) live(a, b *vnetInfo) bool {
	ab := w.halves[[2]string{strings.ToLower(a.id), strings.ToLower(b.id)}]
	ba := w.halves[[2]string{strings.ToLower(b.id), strings.ToLower(a.id)}]
	return ab != nil && ba != nil && ab.PeeringState == reach.PeeringConnected && ba.PeeringState == reach.PeeringConnected
}

// remoteSpace is what the half from a to b routes: its synced remote
// address space, or b's address space when the half has none recorded.
func (w *world) remoteSpace(a, b *vnetInfo) []netip.Prefix {
	h := w.halves[[2]string{strings.ToLower(a.id), strings.ToLower(b.id)}]
	if h != nil && len(h.RemoteAddressSpace) > 0 {
		return parse4(h.RemoteAddressSpace)
	}
	return b.prefixes
}

// virtualNetwork is the VirtualNetwork tag of v, as reach evaluates it:
// v's address space, and for each Connected half from v that allows
// virtual network access, the remote VNet's address space within the
// half's synced remote address space.
func (w *world) virtualNetwork(v *vnetInfo) []netip.Prefix {
	out := slices.Clone(v.prefixes)
	for k, h := range w.halves {
		if k[0] != strings.ToLower(v.id) || h.PeeringState != reach.PeeringConnected || !h.AllowVirtualNetworkAccess {
			continue
		}
		c := w.vnets[k[1]]
		if c == nil || c == v {
			continue
		}
		if len(h.RemoteAddressSpace) == 0 {
			out = append(out, c.prefixes...)
			continue
		}
		out = append(out, intersect(c.prefixes, parse4(h.RemoteAddressSpace))...)
	}
	return out
}

// intersect returns the addresses in both lists, as prefixes.
func intersect(a, b []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range a {
		for _, q := range b {
			if p.Overlaps(q) {
				if p.Bits() >= q.Bits() {
					out = append(out, p)
				} else {
					out = append(out, q)
				}
			}
		}
	}
	return out
}

// placement is where an address sits in a VNet.
type placement struct {
	subnet string // "" when the VNet has no subnets
	nsgID  string
}

// place finds the subnet of a in v, as reach does (the first subnet that
// holds it). A VNet without subnets (the provider's VNets) is one subnet
// spanning its address space. It fails when a is in no subnet, or is one
// of the five addresses Azure reserves in each subnet prefix: the first
// four and the last.
func place(v *vnetInfo, a netip.Addr) (placement, string) {
	pools := []subnetInfo{{prefixes: v.prefixes}}
	if len(v.subnets) > 0 {
		pools = v.subnets
	}
	for _, s := range pools {
		for _, p := range s.prefixes {
			if !p.Contains(a) {
				continue
			}
			if reserved(p, a) {
				return placement{}, "is one of the addresses Azure reserves in " + p.String() + " (the first four and the last)"
			}
			return placement{subnet: s.name, nsgID: s.nsgID}, ""
		}
	}
	if len(v.subnets) == 0 {
		return placement{}, "is not in the address space of VNet " + v.name
	}
	var names []string
	for _, s := range v.subnets {
		var ps []string
		for _, p := range s.prefixes {
			ps = append(ps, p.String())
		}
		names = append(names, s.name+" "+strings.Join(ps, ","))
	}
	return placement{}, "is in no subnet of VNet " + v.name + " (subnets: " + strings.Join(names, "; ") + ")"
}

// reserved reports whether a is one of the first four or the last address
// of p.
func reserved(p netip.Prefix, a netip.Addr) bool {
	first, n := addrInt(p.Masked().Addr()), uint64(1)<<(32-p.Bits())
	off := uint64(addrInt(a) - first)
	return n < 8 || off < 4 || off == n-1
}

// usable lists the subnets' prefixes in order, to pick a free address
// from (subnet "" picks from all).
func usable(v *vnetInfo, subnet string) ([]netip.Prefix, bool) {
	if len(v.subnets) == 0 {
		return v.prefixes, subnet == ""
	}
	var out []netip.Prefix
	found := false
	for _, s := range v.subnets {
		if subnet == "" || strings.EqualFold(s.name, subnet) {
			out = append(out, s.prefixes...)
			found = true
		}
	}
	return out, found
}

func sortPrefixes(ps []netip.Prefix) []netip.Prefix {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Bits(), b.Bits())
	})
	return slices.Compact(ps)
}
