package dataplane

import (
	"net/netip"
	"testing"

	"github.com/peerplane/peerplane/internal/reach"
)

// TestCompileRules checks the translation of reach's rules: "*" with
// ports becomes TCP and UDP with the ports and ICMP without; prefixes
// merge into one set; Any wins; a rule that can match nothing is left
// out; ports covering all need no match.
func TestCompileRules(t *testing.T) {
	in, _ := reach.EffectiveRules(reach.NSG{ID: "n", SecurityRules: []reach.SecurityRule{
		{Name: "star", Priority: 100, Direction: "Inbound", Access: "Deny", Protocol: "*",
			SourceAddressPrefixes: []string{"10.1.0.0/24", "10.1.1.0/24", "10.9.9.9"}, DestinationPortRanges: []string{"80", "443", "81"}},
		{Name: "any", Priority: 110, Direction: "Inbound", Access: "Allow", Protocol: "Tcp",
			SourceAddressPrefixes: []string{"VirtualNetwork", "*"}, DestinationAddressPrefixes: []string{"Internet", "VirtualNetwork"}},
		{Name: "never", Priority: 120, Direction: "Inbound", Access: "Allow", Protocol: "Tcp",
			SourceAddressPrefixes: []string{"Storage"}},
		{Name: "badports", Priority: 130, Direction: "Inbound", Access: "Allow", Protocol: "Udp", DestinationPortRanges: []string{"x"}},
	}})
	rs := compileRules(in)
	// star: tcp, udp (ports 80-81, 443) and icmp; any: 2 destination
	// alternatives; never, badports: nothing; then the 3 default rules
	// (AllowVnetInBound, AllowAzureLoadBalancerInBound, DenyAllInBound).
	if len(rs) != 3+2+3 {
		t.Fatalf("%d rules: %+v", len(rs), rs)
	}
	star := rs[0]
	if star.Proto != protoTCP || rs[1].Proto != protoUDP || rs[2].Proto != protoICMP || rs[2].DPorts != nil || star.Allow {
		t.Fatalf("star: %+v %+v %+v", rs[0], rs[1], rs[2])
	}
	if len(star.DPorts) != 2 || star.DPorts[0] != (span{80, 81}) || star.DPorts[1] != (span{443, 443}) || star.SPorts != nil {
		t.Fatalf("star ports: %+v / %+v", star.DPorts, star.SPorts)
	}
	want := []span{{addrInt(netip.MustParseAddr("10.1.0.0")), addrInt(netip.MustParseAddr("10.1.1.255"))}, {addrInt(netip.MustParseAddr("10.9.9.9")), addrInt(netip.MustParseAddr("10.9.9.9"))}}
	if star.Src.Kind != condSet || len(star.Src.Set) != 2 || star.Src.Set[0] != want[0] || star.Src.Set[1] != want[1] {
		t.Fatalf("star source: %+v", star.Src)
	}
	if a := rs[3]; a.Src.Kind != condAny || a.Dst.Kind != condVNet || rs[4].Dst.Kind != condInternet || a.Proto != protoTCP || a.DPorts != nil {
		t.Fatalf("any: %+v %+v", rs[3], rs[4])
	}
	if d := rs[len(rs)-1]; d.Comment != "DenyAllInBound 65500" || d.Allow || d.Proto != protoAny {
		t.Fatalf("last: %+v", d)
	}
}

// TestReserved checks Azure's five reserved addresses per subnet prefix.
func TestReserved(t *testing.T) {
	p := netip.MustParsePrefix("10.1.0.0/24")
	for a, want := range map[string]bool{"10.1.0.0": true, "10.1.0.3": true, "10.1.0.4": false, "10.1.0.254": false, "10.1.0.255": true} {
		if got := reserved(p, netip.MustParseAddr(a)); got != want {
			t.Errorf("reserved(%s) = %v", a, got)
		}
	}
}
