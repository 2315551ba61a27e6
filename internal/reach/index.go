package reach

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Engine is a World indexed for queries. It is immutable and safe for
// concurrent use.
type Engine struct {
	vnets []*vnet
	byID  map[string]*vnet // lower-case id

	// lens are the distinct prefix lengths of all address prefixes, longest
	// first; table maps a masked prefix to the VNets holding it.
	lens  []int
	table map[netip.Prefix][]*vnet

	pairs map[pair]*half // (local, remote) → the local half

	networks map[string]*network // lower-case id
	clusters map[string]*Cluster // lower-case id
	control  map[pair]*ControlPeering
}

type pair struct{ local, remote *vnet }

type vnet struct {
	id, name string
	prefixes []netip.Prefix
	subnets  []*subnet
	// neighbors are the VNets joined to this one by a half in either
	// direction, in any state.
	neighbors []*vnet
	network   *network // set when this is a provider network's VNet
}

type subnet struct {
	name     string
	prefixes []netip.Prefix
	nsgID    string
	nsg      *nsg // nil when nsgID is empty or unknown
}

type half struct {
	Peering
	remoteSpace []netip.Prefix
}

type network struct {
	Network
	cidr netip.Prefix
	vnet *vnet
}

type nsg struct {
	id, name          string
	inbound, outbound []rule // custom rules then defaults, by priority
}

// Address matcher kinds.
const (
	matchPrefix = iota
	matchAny
	matchVirtualNetwork
	matchInternet
	matchLoadBalancer
	matchUnknown // an unmodelled service tag or a bad prefix: never matches
)

type addrMatch struct {
	kind   int
	prefix netip.Prefix
	text   string
}

type portRange struct{ lo, hi int }

type rule struct {
	name     string
	priority int
	inbound  bool
	allow    bool
	isDef    bool
	proto    string // lower case; "*" for any
	src, dst []addrMatch
	srcPorts []portRange
	dstPorts []portRange
	unknown  []string // unmodelled tags, for the check's detail
}

var azureLoadBalancer = netip.MustParseAddr("168.63.129.16")

// defaultRules are Azure's default security rules.
var defaultRules = []SecurityRule{
	{Name: "AllowVnetInBound", Priority: 65000, Direction: "Inbound", Access: "Allow", Protocol: "*", SourceAddressPrefixes: []string{"VirtualNetwork"}, DestinationAddressPrefixes: []string{"VirtualNetwork"}},
	{Name: "AllowAzureLoadBalancerInBound", Priority: 65001, Direction: "Inbound", Access: "Allow", Protocol: "*", SourceAddressPrefixes: []string{"AzureLoadBalancer"}, DestinationAddressPrefixes: []string{"*"}},
	{Name: "DenyAllInBound", Priority: 65500, Direction: "Inbound", Access: "Deny", Protocol: "*", SourceAddressPrefixes: []string{"*"}, DestinationAddressPrefixes: []string{"*"}},
	{Name: "AllowVnetOutBound", Priority: 65000, Direction: "Outbound", Access: "Allow", Protocol: "*", SourceAddressPrefixes: []string{"VirtualNetwork"}, DestinationAddressPrefixes: []string{"VirtualNetwork"}},
	{Name: "AllowInternetOutBound", Priority: 65001, Direction: "Outbound", Access: "Allow", Protocol: "*", SourceAddressPrefixes: []string{"*"}, DestinationAddressPrefixes: []string{"Internet"}},
	{Name: "DenyAllOutBound", Priority: 65500, Direction: "Outbound", Access: "Deny", Protocol: "*", SourceAddressPrefixes: []string{"*"}, DestinationAddressPrefixes: []string{"*"}},
}

func lower(s string) string { return strings.ToLower(s) }

// New indexes w. Malformed prefixes and dangling references are tolerated:
// a bad prefix is skipped, a peering to an unknown VNet is ignored, a
// subnet's unknown NSG is reported by the queries that cross it.
func New(w World) *Engine {
	e := &Engine{
		byID:     make(map[string]*vnet, len(w.VirtualNetworks)),
		table:    make(map[netip.Prefix][]*vnet, len(w.VirtualNetworks)),
		pairs:    make(map[pair]*half, len(w.Peerings)),
		networks: make(map[string]*network, len(w.Networks)),
		clusters: make(map[string]*Cluster, len(w.Clusters)),
		control:  make(map[pair]*ControlPeering, len(w.ControlPeerings)),
	}
	nsgs := make(map[string]*nsg, len(w.NSGs))
	for i := range w.NSGs {
		n := buildNSG(&w.NSGs[i])
		nsgs[lower(n.id)] = n
	}
	lens := map[int]bool{}
	for i := range w.VirtualNetworks {
		in := &w.VirtualNetworks[i]
		v := &vnet{id: in.ID, name: in.Name, prefixes: parsePrefixes(in.AddressPrefixes)}
		if v.name == "" {
			v.name = lastSegment(in.ID)
		}
		for _, s := range in.Subnets {
			ps := s.AddressPrefixes
			if len(ps) == 0 && s.AddressPrefix != "" {
				ps = []string{s.AddressPrefix}
			}
			sn := &subnet{name: s.Name, prefixes: parsePrefixes(ps), nsgID: s.NetworkSecurityGroup}
			if sn.nsgID != "" {
				sn.nsg = nsgs[lower(sn.nsgID)]
			}
			v.subnets = append(v.subnets, sn)
		}
		e.vnets = append(e.vnets, v)
		e.byID[lower(v.id)] = v
	}
	for i := range w.Networks {
		n := &network{Network: w.Networks[i]}
		n.cidr, _ = netip.ParsePrefix(n.CIDR)
		n.cidr = n.cidr.Masked()
		if n.VNetID != "" {
			n.vnet = e.byID[lower(n.VNetID)]
		}
		if n.vnet != nil {
			n.vnet.network = n
			if len(n.vnet.prefixes) == 0 && n.cidr.IsValid() {
				n.vnet.prefixes = []netip.Prefix{n.cidr}
			}
		}
		e.networks[lower(n.ID)] = n
	}
	for _, v := range e.vnets {
		for _, p := range v.prefixes {
			e.table[p] = append(e.table[p], v)
			lens[p.Bits()] = true
		}
	}
	for l := range lens {
		e.lens = append(e.lens, l)
	}
	slices.SortFunc(e.lens, func(a, b int) int { return b - a })

	seen := make(map[pair]bool, len(w.Peerings))
	link := func(a, b *vnet) {
		if a == b || seen[pair{a, b}] {
			return
		}
		seen[pair{a, b}], seen[pair{b, a}] = true, true
		a.neighbors = append(a.neighbors, b)
		b.neighbors = append(b.neighbors, a)
	}
	for i := range w.Peerings {
		p := &w.Peerings[i]
		local, remote := e.byID[lower(p.VNetID)], e.byID[lower(p.RemoteVNetID)]
		if local == nil || remote == nil {
			continue
		}
		h := &half{Peering: *p, remoteSpace: parsePrefixes(p.RemoteAddressSpace)}
		e.pairs[pair{local, remote}] = h
		link(local, remote)
	}
	for i := range w.Clusters {
		c := w.Clusters[i]
		e.clusters[lower(c.ID)] = &c
	}
	for i := range w.ControlPeerings {
		cp := w.ControlPeerings[i]
		n := e.networks[lower(cp.NetworkID)]
		cv := e.byID[lower(cp.VNetID)]
		if n == nil || n.vnet == nil || cv == nil {
			continue
		}
		e.control[pair{n.vnet, cv}] = &cp
		e.control[pair{cv, n.vnet}] = &cp
	}
	return e
}

func lastSegment(id string) string {
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[i+1:]
	}
	return id
}

// parsePrefix accepts a CIDR or a bare address.
func parsePrefix(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

func parsePrefixes(ss []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		if p, ok := parsePrefix(s); ok {
			out = append(out, p)
		}
	}
	return out
}

func buildNSG(in *NSG) *nsg {
	n := &nsg{id: in.ID, name: in.Name}
	if n.name == "" {
		n.name = lastSegment(in.ID)
	}
	add := func(r SecurityRule, isDef bool) {
		br := buildRule(r, isDef)
		if br.inbound {
			n.inbound = append(n.inbound, br)
		} else {
			n.outbound = append(n.outbound, br)
		}
	}
	for _, r := range in.SecurityRules {
		add(r, false)
	}
	for _, r := range defaultRules {
		add(r, true)
	}
	byPriority := func(a, b rule) int { return a.priority - b.priority }
	slices.SortStableFunc(n.inbound, byPriority)
	slices.SortStableFunc(n.outbound, byPriority)
	return n
}

func buildRule(r SecurityRule, isDef bool) rule {
	br := rule{
		name: r.Name, priority: r.Priority, isDef: isDef,
		inbound: strings.EqualFold(r.Direction, "Inbound"),
		allow:   strings.EqualFold(r.Access, "Allow"),
		proto:   lower(r.Protocol),
	}
	if br.proto == "" || br.proto == "any" {
		br.proto = "*"
	}
	addrs := func(ss []string) []addrMatch {
		if len(ss) == 0 {
			return []addrMatch{{kind: matchAny, text: "*"}}
		}
		out := make([]addrMatch, 0, len(ss))
		for _, s := range ss {
			m := addrMatch{text: s}
			switch lower(strings.TrimSpace(s)) {
			case "*", "any", "0.0.0.0/0":
				m.kind = matchAny
			case "virtualnetwork":
				m.kind = matchVirtualNetwork
			case "internet":
				m.kind = matchInternet
			case "azureloadbalancer":
				m.kind = matchLoadBalancer
			default:
				if p, ok := parsePrefix(s); ok {
					m.kind, m.prefix = matchPrefix, p
				} else {
					m.kind = matchUnknown
					br.unknown = append(br.unknown, s)
				}
			}
			out = append(out, m)
		}
		return out
	}
	br.src = addrs(r.SourceAddressPrefixes)
	br.dst = addrs(r.DestinationAddressPrefixes)
	br.srcPorts = parsePorts(r.SourcePortRanges)
	br.dstPorts = parsePorts(r.DestinationPortRanges)
	return br
}

func parsePorts(ss []string) []portRange {
	if len(ss) == 0 {
		return []portRange{{0, 65535}}
	}
	out := make([]portRange, 0, len(ss))
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if s == "*" {
			out = append(out, portRange{0, 65535})
			continue
		}
		lo, hi, isRange := strings.Cut(s, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil {
			continue // invalid: matches nothing
		}
		out = append(out, portRange{a, b})
	}
	return out
}

// lookup returns the VNets whose address space holds a, appended to buf.
// It costs one hash lookup per distinct prefix length in the world.
func (e *Engine) lookup(a netip.Addr, buf []*vnet) []*vnet {
	for _, l := range e.lens {
		if l > a.BitLen() {
			continue
		}
		p, err := a.Prefix(l)
		if err != nil {
			continue
		}
		for _, v := range e.table[p] {
			if !slices.Contains(buf, v) {
				buf = append(buf, v)
			}
		}
	}
	return buf
}

func (v *vnet) subnetOf(a netip.Addr) *subnet {
	for _, s := range v.subnets {
		for _, p := range s.prefixes {
			if p.Contains(a) {
				return s
			}
		}
	}
	return nil
}

func containsAny(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
