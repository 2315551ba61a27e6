package reach

import (
	"net/netip"

	"github.com/peerplane/peerplane/internal/azureid"
)

// The NSG rules as the engine evaluates them, exported so that another
// enforcer of the same semantics (the data plane's nftables) reads the
// rules exactly as the model does: one parser, one list of default rules,
// one definition of the Internet tag.

// AddressKind is what an address prefix of a rule matches.
type AddressKind int

// Address kinds.
const (
	// AddressPrefix matches the addresses in Prefix.
	AddressPrefix AddressKind = iota
	// AddressAny is "*", "Any" or 0.0.0.0/0.
	AddressAny
	// AddressVirtualNetwork is the VirtualNetwork service tag: the NSG's
	// VNet's address space and the address spaces of VNets peered with it
	// by a Connected half that allows virtual network access (limited to
	// the half's synced remote address space, when it has one).
	AddressVirtualNetwork
	// AddressInternet is the Internet service tag: public addresses
	// (IsInternet) outside VirtualNetwork.
	AddressInternet
	// AddressLoadBalancer is the AzureLoadBalancer tag, 168.63.129.16.
	AddressLoadBalancer
	// AddressUnknown is a service tag that is not modelled or a malformed
	// prefix: it never matches.
	AddressUnknown
)

// AddressMatch is one entry of a rule's source or destination prefixes.
type AddressMatch struct {
	Kind AddressKind
	// Prefix is set for AddressPrefix and AddressLoadBalancer.
	Prefix netip.Prefix
	// Text is the entry as written.
	Text string
}

// PortRange is an inclusive port range; a range with Lo > Hi matches
// nothing.
type PortRange struct{ Lo, Hi int }

// Rule is a security rule as evaluated: Protocol is lower case ("tcp",
// "udp", "icmp", "esp", "ah" or "*"); an empty prefix list has become
// AddressAny and an empty port list 0-65535; malformed ports are dropped
// (a list of only malformed ports matches no TCP or UDP flow; ports do not
// apply to ICMP).
type Rule struct {
	Name        string
	Priority    int
	Inbound     bool
	Allow       bool
	Default     bool
	Protocol    string
	Source      []AddressMatch
	Destination []AddressMatch
	// SourcePorts and DestinationPorts apply to TCP and UDP flows only.
	SourcePorts      []PortRange
	DestinationPorts []PortRange
}

// EffectiveRules returns n's rules followed by Azure's default rules, each
// direction in evaluation order (by priority; the first match decides).
func EffectiveRules(n NSG) (inbound, outbound []Rule) {
	b := buildNSG(&n)
	return exportRules(b.inbound), exportRules(b.outbound)
}

func exportRules(rs []rule) []Rule {
	out := make([]Rule, len(rs))
	for i, r := range rs {
		out[i] = Rule{Name: r.name, Priority: r.priority, Inbound: r.inbound, Allow: r.allow, Default: r.isDef,
			Protocol: r.proto, Source: exportAddrs(r.src), Destination: exportAddrs(r.dst)}
		for _, p := range r.srcPorts {
			out[i].SourcePorts = append(out[i].SourcePorts, PortRange{p.lo, p.hi})
		}
		for _, p := range r.dstPorts {
			out[i].DestinationPorts = append(out[i].DestinationPorts, PortRange{p.lo, p.hi})
		}
	}
	return out
}

func exportAddrs(ms []addrMatch) []AddressMatch {
	out := make([]AddressMatch, len(ms))
	for i, m := range ms {
		a := AddressMatch{Text: m.text}
		switch m.kind {
		case matchPrefix:
			a.Kind, a.Prefix = AddressPrefix, m.prefix
		case matchAny:
			a.Kind = AddressAny
		case matchVirtualNetwork:
			a.Kind = AddressVirtualNetwork
		case matchInternet:
			a.Kind = AddressInternet
		case matchLoadBalancer:
			a.Kind, a.Prefix = AddressLoadBalancer, netip.PrefixFrom(azureLoadBalancer, 32)
		default:
			a.Kind = AddressUnknown
		}
		out[i] = a
	}
	return out
}

// NotInternet4 are the IPv4 ranges outside the Internet tag's address
// space: the ranges Azure calls private (RFC 1918 and RFC 6598,
// azureid.PrivateRanges), and the addresses that are not global unicast
// (unspecified, loopback, link-local, multicast, broadcast).
var NotInternet4 = append(azureid.PrivateRanges(),
	netip.MustParsePrefix("0.0.0.0/32"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("255.255.255.255/32"),
)

// IsInternet reports whether a is in the Internet tag's address space
// before VirtualNetwork is taken out of it: a public address.
func IsInternet(a netip.Addr) bool { return isPublic(a.Unmap()) }
