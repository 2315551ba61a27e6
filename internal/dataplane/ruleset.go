package dataplane

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/peerplane/peerplane/internal/reach"
)

// A ruleset is what one VNet namespace's nftables table holds, computed
// from the VNet's hosts and the security groups of their subnets. It is
// pure data: the kernel side turns it into one nftables transaction, and
// the same ruleset is never sent twice (Fingerprint).
//
// The table (ip peerplane) has:
//   - set vnet: the VirtualNetwork tag of this VNet;
//   - set notinternet: reach.NotInternet4;
//   - chain forward (policy drop): drop what comes from one peering and
//     goes to another (a VNet never forwards between its peerings), accept
//     established and related flows (security groups are stateful), drop
//     a host's packets whose source is not its address, jump to the
//     outbound chain of the security group of the sending host's subnet
//     and to the inbound chain of the receiving host's, then accept what
//     comes from or goes to a known host; anything else is dropped;
//   - chain input (policy drop): the VNet's router takes no traffic;
//   - per security group, an outbound and an inbound chain: its rules and
//     Azure's default rules in priority order, an Allow returning (the
//     other direction's check follows) and a Deny dropping.
type ruleset struct {
	VNet   []netip.Prefix
	Hosts  []rsHost
	Chains []rsChain
}

type rsHost struct {
	Ifname string
	Addr   netip.Addr
	Out    string // chain of the outbound rules, "" for none
	In     string // chain of the inbound rules
}

type rsChain struct {
	Name  string
	Rules []rsRule
}

// Address condition kinds.
const (
	condAny = iota
	condSet
	condVNet
	condInternet
)

type addrCond struct {
	Kind int
	Set  []span // condSet: merged address ranges
}

// span is an inclusive range of IPv4 addresses or ports, as integers.
type span struct{ Lo, Hi uint32 }

// IP protocol numbers.
const (
	protoAny  = 0
	protoICMP = 1
	protoTCP  = 6
	protoUDP  = 17
	protoESP  = 50
	protoAH   = 51
)

type rsRule struct {
	Proto    uint8
	Src, Dst addrCond
	// SPorts and DPorts are nil for any port; they are set only with TCP
	// or UDP.
	SPorts, DPorts []span
	Allow          bool
	Comment        string
}

// Fingerprint identifies the ruleset's content.
func (rs *ruleset) Fingerprint() string {
	h := sha256.Sum256(fmt.Appendf(nil, "%+v", *rs))
	return hex.EncodeToString(h[:])
}

// chainName is the chain of an NSG's rules in one direction.
func chainName(nsgID string, inbound bool) string {
	dir := "out"
	if inbound {
		dir = "in"
	}
	h := sha256.Sum256([]byte(strings.ToLower(nsgID)))
	return "nsg-" + dir + "-" + hex.EncodeToString(h[:6])
}

// compileRules turns the effective rules of one direction into nftables
// rules: one per combination of protocol, source and destination
// alternatives, in the same order; a rule that can match nothing is left
// out. It follows reach's evaluation exactly: ports apply to TCP and UDP
// flows only, "*" covers every protocol, an unknown tag never matches.
func compileRules(rules []reach.Rule) []rsRule {
	var out []rsRule
	for _, r := range rules {
		comment := fmt.Sprintf("%s %d", r.Name, r.Priority)
		srcs, dsts := addrAlternatives(r.Source), addrAlternatives(r.Destination)
		if len(srcs) == 0 || len(dsts) == 0 {
			continue
		}
		sports, dports := portSpans(r.SourcePorts), portSpans(r.DestinationPorts)
		type protoAlt struct {
			proto          uint8
			sports, dports []span
			ok             bool
		}
		withPorts := func(p uint8) protoAlt {
			a := protoAlt{proto: p, ok: len(sports) > 0 && len(dports) > 0}
			if !coversAllPorts(sports) {
				a.sports = sports
			}
			if !coversAllPorts(dports) {
				a.dports = dports
			}
			return a
		}
		var protos []protoAlt
		switch r.Protocol {
		case "tcp":
			protos = []protoAlt{withPorts(protoTCP)}
		case "udp":
			protos = []protoAlt{withPorts(protoUDP)}
		case "icmp":
			protos = []protoAlt{{proto: protoICMP, ok: true}}
		case "esp":
			protos = []protoAlt{{proto: protoESP, ok: true}}
		case "ah":
			protos = []protoAlt{{proto: protoAH, ok: true}}
		case "*":
			if coversAllPorts(sports) && coversAllPorts(dports) {
				protos = []protoAlt{{proto: protoAny, ok: true}}
			} else {
				protos = []protoAlt{withPorts(protoTCP), withPorts(protoUDP), {proto: protoICMP, ok: true}}
			}
		}
		for _, p := range protos {
			if !p.ok {
				continue
			}
			for _, s := range srcs {
				for _, d := range dsts {
					out = append(out, rsRule{Proto: p.proto, Src: s, Dst: d, SPorts: p.sports, DPorts: p.dports, Allow: r.Allow, Comment: comment})
				}
			}
		}
	}
	return out
}

// addrAlternatives turns a rule's prefixes into conditions any of which
// matches: AddressAny alone, or one set of the IPv4 prefixes and
// addresses, one VirtualNetwork and one Internet condition.
func addrAlternatives(ms []reach.AddressMatch) []addrCond {
	var prefixes []netip.Prefix
	var vnet, internet bool
	for _, m := range ms {
		switch m.Kind {
		case reach.AddressAny:
			return []addrCond{{Kind: condAny}}
		case reach.AddressPrefix, reach.AddressLoadBalancer:
			if m.Prefix.Addr().Is4() {
				prefixes = append(prefixes, m.Prefix)
			}
		case reach.AddressVirtualNetwork:
			vnet = true
		case reach.AddressInternet:
			internet = true
		}
	}
	var out []addrCond
	if len(prefixes) > 0 {
		out = append(out, addrCond{Kind: condSet, Set: prefixSpans(prefixes)})
	}
	if vnet {
		out = append(out, addrCond{Kind: condVNet})
	}
	if internet {
		out = append(out, addrCond{Kind: condInternet})
	}
	return out
}

// prefixSpans merges IPv4 prefixes into sorted, disjoint, non-adjacent
// address ranges.
func prefixSpans(ps []netip.Prefix) []span {
	var ss []span
	for _, p := range ps {
		p = p.Masked()
		if !p.Addr().Is4() {
			continue
		}
		lo := addrInt(p.Addr())
		size := uint64(1) << (32 - p.Bits())
		ss = append(ss, span{lo, uint32(uint64(lo) + size - 1)})
	}
	return mergeSpans(ss)
}

// portSpans turns port ranges into merged spans within 0-65535, leaving
// out empty and out-of-range ones.
func portSpans(rs []reach.PortRange) []span {
	var ss []span
	for _, r := range rs {
		lo, hi := max(r.Lo, 0), min(r.Hi, 65535)
		if lo > hi {
			continue
		}
		ss = append(ss, span{uint32(lo), uint32(hi)})
	}
	return mergeSpans(ss)
}

// coversAllPorts mirrors reach: a list covers all ports when one range
// spans 1-65535.
func coversAllPorts(ss []span) bool {
	for _, s := range ss {
		if s.Lo <= 1 && s.Hi >= 65535 {
			return true
		}
	}
	return false
}

func mergeSpans(ss []span) []span {
	slices.SortFunc(ss, func(a, b span) int { return cmp.Compare(a.Lo, b.Lo) })
	var out []span
	for _, s := range ss {
		if n := len(out); n > 0 && uint64(s.Lo) <= uint64(out[n-1].Hi)+1 {
			out[n-1].Hi = max(out[n-1].Hi, s.Hi)
			continue
		}
		out = append(out, s)
	}
	return out
}

func addrInt(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
