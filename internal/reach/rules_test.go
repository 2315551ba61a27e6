package reach

import (
	"net/netip"
	"testing"
)

// TestNotInternet4 checks that the IPv4 list defining the Internet tag is
// the standard library's notion of a public address: global unicast,
// neither private nor shared address space.
func TestNotInternet4(t *testing.T) {
	sharedAddressSpace := netip.MustParsePrefix("100.64.0.0/10") // RFC 6598
	var edges []netip.Addr
	for _, p := range NotInternet4 {
		first := p.Addr()
		last := first
		for range 32 - p.Bits() {
			last = nextAddr(last)
		}
		edges = append(edges, first, last, first.Prev(), nextAddr(last))
	}
	for _, s := range []string{"1.1.1.1", "8.8.8.8", "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0", "240.0.0.1", "0.1.2.3", "168.63.129.16"} {
		edges = append(edges, netip.MustParseAddr(s))
	}
	for _, a := range edges {
		if !a.IsValid() {
			continue
		}
		want := a.IsGlobalUnicast() && !a.IsPrivate() && !sharedAddressSpace.Contains(a)
		if got := IsInternet(a); got != want {
			t.Errorf("IsInternet(%s) = %v, want %v", a, got, want)
		}
	}
}

func nextAddr(a netip.Addr) netip.Addr {
	if n := a.Next(); n.IsValid() {
		return n
	}
	return a
}

// TestEffectiveRules checks the exported view of an NSG: custom rules and
// the defaults, each direction by priority, tags and ports as evaluated.
func TestEffectiveRules(t *testing.T) {
	in, out := EffectiveRules(NSG{ID: "n", SecurityRules: []SecurityRule{
		{Name: "b", Priority: 200, Direction: "Inbound", Access: "Deny", Protocol: "Tcp",
			SourceAddressPrefixes: []string{"VirtualNetwork", "10.9.0.0/16", "Storage"}, DestinationPortRanges: []string{"80-90", "x"}},
		{Name: "a", Priority: 100, Direction: "Inbound", Access: "Allow", Protocol: "*"},
		{Name: "o", Priority: 150, Direction: "Outbound", Access: "Allow", Protocol: "Udp", DestinationAddressPrefixes: []string{"Internet"}},
	}})
	if len(in) != 5 || in[0].Name != "a" || in[1].Name != "b" || !in[2].Default || in[4].Name != "DenyAllInBound" {
		t.Fatalf("inbound: %+v", in)
	}
	b := in[1]
	if b.Allow || b.Protocol != "tcp" || len(b.Source) != 3 || b.Source[0].Kind != AddressVirtualNetwork ||
		b.Source[1].Kind != AddressPrefix || b.Source[1].Prefix != netip.MustParsePrefix("10.9.0.0/16") || b.Source[2].Kind != AddressUnknown {
		t.Fatalf("rule b: %+v", b)
	}
	if len(b.DestinationPorts) != 1 || b.DestinationPorts[0] != (PortRange{80, 90}) || b.SourcePorts[0] != (PortRange{0, 65535}) {
		t.Fatalf("rule b ports: %+v %+v", b.DestinationPorts, b.SourcePorts)
	}
	if in[0].Destination[0].Kind != AddressAny {
		t.Fatalf("rule a destination: %+v", in[0].Destination)
	}
	if len(out) != 4 || out[0].Name != "o" || out[0].Destination[0].Kind != AddressInternet || out[3].Name != "DenyAllOutBound" {
		t.Fatalf("outbound: %+v", out)
	}
	lb := in[3]
	if lb.Name != "AllowAzureLoadBalancerInBound" || lb.Source[0].Kind != AddressLoadBalancer || lb.Source[0].Prefix.Addr() != azureLoadBalancer {
		t.Fatalf("load balancer rule: %+v", lb)
	}
}
