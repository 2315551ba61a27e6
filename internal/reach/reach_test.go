package reach

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

const (
	customerSub = "11111111-1111-1111-1111-111111111111"
	providerSub = "22222222-2222-2222-2222-222222222222"
)

// builder assembles a World.
type builder struct{ w World }

func vnetIDOf(sub, name string) string {
	return "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/" + name
}

func nsgIDOf(name string) string {
	return "/subscriptions/" + customerSub + "/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/" + name
}

// vnet adds a VNet with one subnet "default" covering the first half of
// space, with NSG nsg ("" for none).
func (b *builder) vnet(sub, name, space, subnetPrefix, nsg string) string {
	id := vnetIDOf(sub, name)
	v := VNet{ID: id, Name: name, SubscriptionID: sub, AddressPrefixes: []string{space}}
	if subnetPrefix != "" {
		s := Subnet{Name: "default", AddressPrefix: subnetPrefix}
		if nsg != "" {
			s.NetworkSecurityGroup = nsgIDOf(nsg)
		}
		v.Subnets = append(v.Subnets, s)
	}
	b.w.VirtualNetworks = append(b.w.VirtualNetworks, v)
	return id
}

func (b *builder) space(id string) []string {
	for _, v := range b.w.VirtualNetworks {
		if v.ID == id {
			return v.AddressPrefixes
		}
	}
	return nil
}

// half adds the half from a to b in state ("" adds nothing).
func (b *builder) half(a, c, state string, mod ...func(*Peering)) {
	if state == "" {
		return
	}
	p := Peering{ID: a + "/virtualNetworkPeerings/" + lastSegment(a) + "-to-" + lastSegment(c), Name: lastSegment(a) + "-to-" + lastSegment(c),
		VNetID: a, RemoteVNetID: c, PeeringState: state, AllowVirtualNetworkAccess: true, RemoteAddressSpace: b.space(c)}
	for _, m := range mod {
		m(&p)
	}
	b.w.Peerings = append(b.w.Peerings, p)
}

func (b *builder) peer(a, c string, mod ...func(*Peering)) {
	b.half(a, c, PeeringConnected, mod...)
	b.half(c, a, PeeringConnected, mod...)
}

func (b *builder) nsg(name string, rules ...SecurityRule) {
	b.w.NSGs = append(b.w.NSGs, NSG{ID: nsgIDOf(name), Name: name, SecurityRules: rules})
}

func deny(name string, prio int, dir, proto, src, dst, port string) SecurityRule {
	return SecurityRule{Name: name, Priority: prio, Direction: dir, Access: "Deny", Protocol: proto,
		SourceAddressPrefixes: []string{src}, DestinationAddressPrefixes: []string{dst}, SourcePortRanges: []string{"*"}, DestinationPortRanges: []string{port}}
}

func allow(name string, prio int, dir, proto, src, dst, port string) SecurityRule {
	r := deny(name, prio, dir, proto, src, dst, port)
	r.Access = "Allow"
	return r
}

// world is the base world of the tests:
//
//	provider network n-1 (VNet pn-1, 10.200.0.0/16, subnet 10.200.0.0/20 with
//	NSG nsg-p), cluster lkc-1 at 10.200.1.10:9092;
//	VNet B (10.1.0.0/16, NSG nsg-b) peered with pn-1;
//	VNet A (10.2.0.0/16, NSG nsg-a) peered only with B;
//	VNet C (10.3.0.0/16) peered with nothing.
type world struct {
	builder
	pn, a, b, c string
}

func newWorld() *world {
	w := &world{}
	w.pn = w.vnet(providerSub, "pn-1", "10.200.0.0/16", "10.200.0.0/20", "nsg-p")
	w.b = w.vnet(customerSub, "vnet-b", "10.1.0.0/16", "10.1.0.0/24", "nsg-b")
	w.a = w.vnet(customerSub, "vnet-a", "10.2.0.0/16", "10.2.0.0/24", "nsg-a")
	w.c = w.vnet(customerSub, "vnet-c", "10.3.0.0/16", "10.3.0.0/24", "")
	w.nsg("nsg-p")
	w.nsg("nsg-b")
	w.nsg("nsg-a")
	w.w.Networks = []Network{{ID: "n-1", CIDR: "10.200.0.0/16", VNetID: w.pn, Phase: "READY"}}
	w.w.Clusters = []Cluster{
		{ID: "lkc-1", NetworkID: "n-1", Endpoint: "SASL_SSL://10.200.1.10:9092", Phase: "PROVISIONED"},
		{ID: "lkc-new", NetworkID: "n-1", Phase: "PROVISIONING"},
	}
	return w
}

func (w *world) rules(nsg string, rules ...SecurityRule) {
	for i := range w.w.NSGs {
		if w.w.NSGs[i].Name == nsg {
			w.w.NSGs[i].SecurityRules = append(w.w.NSGs[i].SecurityRules, rules...)
		}
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestReach(t *testing.T) {
	type want struct {
		verdict  string
		code     string
		contains []string // in BlockedBy's component, detail or fix
		hops     int
	}
	forwarding := func(p *Peering) { p.AllowForwardedTraffic, p.AllowGatewayTransit = true, true }
	tests := []struct {
		name  string
		setup func(w *world)
		q     Query
		want  want
	}{
		{"direct peering reaches a cluster endpoint",
			func(w *world) { w.peer(w.b, w.pn); w.peer(w.a, w.b) },
			Query{Source: addr("10.1.0.4"), Cluster: "lkc-1"},
			want{verdict: Reachable, hops: 3}},
		{"direct peering reaches the endpoint's address",
			func(w *world) { w.peer(w.b, w.pn) },
			Query{Source: addr("10.1.0.4"), Destination: addr("10.200.1.10"), Port: 9092},
			want{verdict: Reachable, hops: 3}},
		{"the same VNet needs no peering",
			nil,
			Query{Source: addr("10.1.0.4"), Destination: addr("10.1.0.5"), Port: 22},
			want{verdict: Reachable, hops: 1}},
		{"peering is not transitive",
			func(w *world) { w.peer(w.b, w.pn); w.peer(w.a, w.b) },
			Query{Source: addr("10.2.0.4"), Cluster: "lkc-1"},
			want{verdict: Unreachable, code: CodeTransitivePeering, contains: []string{"vnet-b", "not transitive"}, hops: 5}},
		{"forwarded traffic and gateway transit do not make it transitive",
			func(w *world) { w.peer(w.b, w.pn, forwarding); w.peer(w.a, w.b, forwarding) },
			Query{Source: addr("10.2.0.4"), Cluster: "lkc-1"},
			want{verdict: Unreachable, code: CodeTransitivePeering, contains: []string{"vnet-b", "allowForwardedTraffic", "allowGatewayTransit"}, hops: 5}},
		{"transitive the other way round",
			func(w *world) { w.peer(w.b, w.pn); w.peer(w.a, w.b) },
			Query{Source: addr("10.200.1.10"), Destination: addr("10.2.0.4"), Port: 443},
			want{verdict: Unreachable, code: CodeTransitivePeering, contains: []string{"vnet-b"}}},
		{"not peered",
			func(w *world) { w.peer(w.b, w.pn) },
			Query{Source: addr("10.3.0.4"), Cluster: "lkc-1"},
			want{verdict: Unreachable, code: CodeNotPeered, contains: []string{"peerplane network peering create --network n-1", "vnet-c"}}},
		{"two customer VNets not peered",
			nil,
			Query{Source: addr("10.3.0.4"), Destination: addr("10.1.0.4"), Port: 80},
			want{verdict: Unreachable, code: CodeNotPeered, contains: []string{"az network vnet peering create"}}},
		{"an Initiated half carries no traffic",
			func(w *world) { w.half(w.pn, w.b, PeeringInitiated) },
			Query{Source: addr("10.1.0.4"), Cluster: "lkc-1"},
			want{verdict: Unreachable, code: CodePeeringNotConnected, contains: []string{"Initiated", "does not exist"}, hops: 3}},
		{"a Disconnected half carries no traffic",
			func(w *world) { w.half(w.pn, w.b, PeeringDisconnected) },
			Query{Source: addr("10.1.0.4"), Cluster: "lkc-1"},
			want{verdict: Unreachable, code: CodePeeringNotConnected, contains: []string{"Disconnected"}}},
		{"Connected one way, Initiated the other",
			func(w *world) { w.half(w.pn, w.b, PeeringConnected); w.half(w.b, w.pn, PeeringInitiated) },
			Query{Source: addr("10.1.0.4"), Cluster: "lkc-1"},
			want{verdict: Unreachable, code: CodePeeringNotConnected, contains: []string{"Initiated"}}},
		{"a control-plane peering not READY",
			func(w *world) {
				w.half(w.pn, w.b, PeeringInitiated)
				w.w.ControlPeerings = []ControlPeering{{ID: "peer-1", NetworkID: "n-1", VNetID: w.b, Phase: "FAILED", ErrorCode: "PERMISSION_DENIED", ErrorMessage: "no peer/action"}}
			},
			Query{Source: addr("10.1.0.4"), Cluster: "lkc-1"},
			want{verdict: Unreachable, code: CodePeeringNotReady, contains: []string{"peer-1", "PERMISSION_DENIED", "peering diagnose peer-1"}}},
		{"a DISCONNECTED control-plane peering names the half",
			func(w *world) {
				w.half(w.pn, w.b, PeeringDisconnected)
				w.w.ControlPeerings = []ControlPeering{{ID: "peer-1", NetworkID: "n-1", VNetID: w.b, Phase: "DISCONNECTED"}}
			},
			Query{Source: addr("10.1.0.4"), Cluster: "lkc-1"},
			want{verdict: Unreachable, code: CodePeeringNotConnected, contains: []string{"Disconnected", "peering retry peer-1"}}},
		{"an outbound deny of higher priority blocks",
			func(w *world) {
				w.peer(w.b, w.pn)
				w.rules("nsg-b", allow("AllowKafka", 200, "Outbound", "Tcp", "*", "10.200.0.0/16", "9092"),
					deny("DenyKafka", 100, "Outbound", "Tcp", "*", "10.200.0.0/16", "9000-9100"))
			},
			Query{Source: addr("10.1.0.4"), Cluster: "lkc-1"},
			want{verdict: Unreachable, code: CodeNSGDeny, contains: []string{"nsg-b", "DenyKafka", "priority 100", "Outbound", "nsg rule delete"}}},
		{"an inbound deny at the destination blocks",
			func(w *world) {
				w.peer(w.b, w.pn)
				w.rules("nsg-p", deny("DenyB", 300, "Inbound", "*", "10.1.0.0/16", "*", "*"), allow("AllowB", 400, "Inbound", "Tcp", "10.1.0.0/16", "*", "*"))
			},
			Query{Source: addr("10.1.0.4"), Cluster: "lkc-1"},
			want{verdict: Unreachable, code: CodeNSGDeny, contains: []string{"nsg-p", "DenyB", "priority 300", "Inbound", "below 300"}}},
		{"an allow of higher priority wins over a deny",
			func(w *world) {
				w.peer(w.b, w.pn)
				w.rules("nsg-p", allow("AllowB", 100, "Inbound", "Tcp", "10.1.0.4", "VirtualNetwork", "9092"), deny("DenyB", 300, "Inbound", "*", "10.1.0.0/16", "*", "*"))
			},
			Query{Source: addr("10.1.0.4"), Cluster: "lkc-1"},
			want{verdict: Reachable}},
		{"a Tcp deny does not block Udp",
			func(w *world) {
				w.peer(w.b, w.pn)
				w.rules("nsg-p", deny("DenyTcp", 100, "Inbound", "Tcp", "*", "*", "*"))
			},
			Query{Source: addr("10.1.0.4"), Destination: addr("10.200.1.10"), Port: 53, Protocol: "udp"},
			want{verdict: Reachable}},
		{"a deny on another port does not block",
			func(w *world) {
				w.peer(w.b, w.pn)
				w.rules("nsg-p", deny("DenySSH", 100, "Inbound", "Tcp", "*", "*", "22"))
			},
			Query{Source: addr("10.1.0.4"), Cluster: "lkc-1"},
			want{verdict: Reachable}},
		{"default rules: without virtual network access the peer is outside VirtualNetwork",
			func(w *world) {
				w.half(w.b, w.pn, PeeringConnected)
				w.half(w.pn, w.b, PeeringConnected, func(p *Peering) { p.AllowVirtualNetworkAccess = false })
			},
			Query{Source: addr("10.1.0.4"), Cluster: "lkc-1"},
			want{verdict: Unreachable, code: CodeNSGDeny, contains: []string{"DenyAllInBound", "priority 65500", "Inbound", "Add an inbound Allow rule"}}},
		{"source not in any VNet",
			nil,
			Query{Source: addr("192.168.7.7"), Cluster: "lkc-1"},
			want{verdict: Unreachable, code: CodeSourceNotInAnyVNet}},
		{"destination not in any VNet",
			nil,
			Query{Source: addr("10.1.0.4"), Destination: addr("172.20.0.1"), Port: 80},
			want{verdict: Unreachable, code: CodeDestinationNotInAnyVNet}},
		{"an address in two VNets is ambiguous",
			func(w *world) {
				w.vnet(customerSub, "vnet-d", "10.9.0.0/16", "", "")
				w.vnet(customerSub, "vnet-e", "10.9.0.0/16", "", "")
			},
			Query{Source: addr("10.9.0.4"), Cluster: "lkc-1"},
			want{verdict: Ambiguous}},
		{"a cluster pins its VNet even if another space overlaps",
			func(w *world) { w.peer(w.b, w.pn); w.vnet(customerSub, "vnet-twin", "10.200.0.0/16", "", "") },
			Query{Source: addr("10.1.0.4"), Cluster: "lkc-1"},
			want{verdict: Reachable}},
		{"a rule with an unmodelled service tag is skipped, and the check says so",
			func(w *world) {
				w.peer(w.b, w.pn)
				w.rules("nsg-p", deny("DenyStorage", 100, "Inbound", "*", "Storage", "*", "*"), deny("DenyB", 200, "Inbound", "*", "10.1.0.0/16", "*", "*"))
			},
			Query{Source: addr("10.1.0.4"), Cluster: "lkc-1"},
			want{verdict: Unreachable, code: CodeNSGDeny, contains: []string{"DenyB", "not modelled", "DenyStorage (Storage)"}}},
		{"a subnet without an NSG is not filtered",
			func(w *world) { w.peer(w.c, w.pn) },
			Query{Source: addr("10.3.0.4"), Cluster: "lkc-1"},
			want{verdict: Reachable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			if tt.setup != nil {
				tt.setup(w)
			}
			res, err := New(w.w).Reach(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			js, _ := json.MarshalIndent(res, "", "  ")
			if res.Verdict != tt.want.verdict {
				t.Fatalf("verdict %s, want %s\n%s", res.Verdict, tt.want.verdict, js)
			}
			if tt.want.code == "" {
				if res.BlockedBy != nil {
					t.Fatalf("blocked_by %+v, want none\n%s", res.BlockedBy, js)
				}
			} else {
				if res.BlockedBy == nil || res.BlockedBy.Code != tt.want.code {
					t.Fatalf("blocked_by %+v, want code %s\n%s", res.BlockedBy, tt.want.code, js)
				}
				all := res.BlockedBy.Component + " " + res.BlockedBy.Detail + " " + res.BlockedBy.Fix
				for _, s := range tt.want.contains {
					if !strings.Contains(all, s) {
						t.Errorf("blocked_by lacks %q\n%s", s, js)
					}
				}
				if res.BlockedBy.Fix == "" {
					t.Errorf("blocked_by has no fix\n%s", js)
				}
			}
			if tt.want.hops != 0 && len(res.Hops) != tt.want.hops {
				t.Errorf("%d hops, want %d\n%s", len(res.Hops), tt.want.hops, js)
			}
			if len(res.Checks) == 0 {
				t.Errorf("no checks\n%s", js)
			}
			for _, c := range res.Checks {
				if c.Detail == "" || c.Result == "" {
					t.Errorf("check %+v lacks a result or detail", c)
				}
			}
		})
	}
}

func TestReachTransitiveNamesTheMiddleVNet(t *testing.T) {
	w := newWorld()
	w.peer(w.b, w.pn)
	w.peer(w.a, w.b)
	res, err := New(w.w).Reach(Query{Source: addr("10.2.0.4"), Cluster: "lkc-1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.BlockedBy.Component != w.b {
		t.Errorf("component %q, want the middle VNet %q", res.BlockedBy.Component, w.b)
	}
	var names []string
	for _, h := range res.Hops {
		names = append(names, h.Kind+":"+h.Name)
	}
	if got, want := strings.Join(names, " "), "VNET:vnet-a PEERING:vnet-a-to-vnet-b VNET:vnet-b PEERING:vnet-b-to-pn-1 VNET:pn-1"; got != want {
		t.Errorf("hops %s, want %s", got, want)
	}
	if res.Destination.Cluster != "lkc-1" || res.Destination.Network != "n-1" || res.Port != 9092 || res.Destination.Subnet != "default" {
		t.Errorf("destination %+v port %d", res.Destination, res.Port)
	}
}

func TestReachInputErrors(t *testing.T) {
	e := New(newWorld().w)
	tests := []struct {
		q     Query
		param string
	}{
		{Query{Source: addr("10.1.0.4"), Cluster: "lkc-nope"}, "destination"},
		{Query{Source: addr("10.1.0.4"), Cluster: "lkc-new"}, "destination"},
		{Query{Source: addr("10.1.0.4")}, "destination"},
		{Query{Source: addr("10.1.0.4"), Destination: addr("10.200.0.1"), Cluster: "lkc-1"}, "destination"},
		{Query{Destination: addr("10.200.0.1"), Port: 1}, "source"},
		{Query{Source: addr("10.1.0.4"), Destination: addr("10.200.0.1")}, "port"},
		{Query{Source: addr("10.1.0.4"), Destination: addr("10.200.0.1"), Port: 65536}, "port"},
		{Query{Source: addr("10.1.0.4"), Destination: addr("10.200.0.1"), Port: 80, Protocol: "sctp"}, "protocol"},
	}
	for _, tt := range tests {
		_, err := e.Reach(tt.q)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Param != tt.param {
			t.Errorf("%+v: err %v, want an InputError for %s", tt.q, err, tt.param)
		}
	}
	// ICMP needs no port.
	if _, err := e.Reach(Query{Source: addr("10.1.0.4"), Destination: addr("10.1.0.5"), Protocol: "Icmp"}); err != nil {
		t.Errorf("icmp: %v", err)
	}
}

// TestNSGTags checks the service tags and the default rules one by one.
func TestNSGTags(t *testing.T) {
	w := newWorld()
	w.peer(w.b, w.pn)
	w.peer(w.a, w.b)
	e := New(w.w)
	pn, b := e.byID[lower(w.pn)], e.byID[lower(w.b)]
	first := func(n *nsg, inbound bool, v *vnet, src, dst string, port int) string {
		f := &flow{src: addr(src), dst: addr(dst), proto: "tcp", port: port}
		f.srcC, f.dstC = e.lookup(f.src, nil), e.lookup(f.dst, nil)
		rules := n.outbound
		if inbound {
			rules = n.inbound
		}
		for i := range rules {
			if e.matches(&rules[i], f, v) {
				return rules[i].name
			}
		}
		return ""
	}
	def := buildNSG(&NSG{ID: "x", Name: "x"})
	tests := []struct {
		inbound  bool
		v        *vnet
		src, dst string
		want     string
	}{
		{true, pn, "10.1.0.4", "10.200.0.4", "AllowVnetInBound"},   // a directly peered VNet
		{true, pn, "10.2.0.4", "10.200.0.4", "DenyAllInBound"},     // a VNet two peerings away
		{true, pn, "10.200.3.4", "10.200.0.4", "AllowVnetInBound"}, // the VNet itself
		{true, pn, "168.63.129.16", "10.200.0.4", "AllowAzureLoadBalancerInBound"},
		{true, pn, "8.8.8.8", "10.200.0.4", "DenyAllInBound"},
		{false, b, "10.1.0.4", "10.200.0.4", "AllowVnetOutBound"},
		{false, b, "10.1.0.4", "8.8.8.8", "AllowInternetOutBound"},
		{false, b, "10.1.0.4", "10.2.0.4", "AllowVnetOutBound"},
		{false, b, "10.1.0.4", "10.3.0.4", "DenyAllOutBound"}, // private, not peered: not Internet either
		{false, b, "10.1.0.4", "192.168.1.1", "DenyAllOutBound"},
	}
	for _, tt := range tests {
		if got := first(def, tt.inbound, tt.v, tt.src, tt.dst, 443); got != tt.want {
			t.Errorf("%s %s -> %s (inbound %v): %s, want %s", tt.v.name, tt.src, tt.dst, tt.inbound, got, tt.want)
		}
	}
	// Explicit rules with tags, ranges and unknown tags.
	custom := buildNSG(&NSG{ID: "y", Name: "y", SecurityRules: []SecurityRule{
		deny("StorageOnly", 100, "Inbound", "*", "Storage", "*", "*"), // unmodelled tag: never matches
		deny("Range", 110, "Inbound", "Tcp", "VirtualNetwork", "*", "8000-8100"),
		allow("Any", 120, "Inbound", "*", "*", "*", "*"),
	}})
	for _, tt := range []struct {
		port int
		want string
	}{{8050, "Range"}, {8000, "Range"}, {8100, "Range"}, {8101, "Any"}, {7999, "Any"}} {
		if got := first(custom, true, pn, "10.1.0.4", "10.200.0.4", tt.port); got != tt.want {
			t.Errorf("port %d: %s, want %s", tt.port, got, tt.want)
		}
	}
	if got := fmt.Sprint(custom.inbound[0].unknown); got != "[Storage]" {
		t.Errorf("unknown tags %s", got)
	}
}

func TestVisible(t *testing.T) {
	w := newWorld()
	other := w.vnet(providerSub, "pn-other", "10.201.0.0/16", "", "")
	far := w.vnet(customerSub, "vnet-far", "10.4.0.0/16", "", "")
	w.peer(w.b, w.pn)
	w.peer(w.a, w.b)
	w.peer(far, w.a)
	w.peer(w.c, other)
	s := Visible(w.w.Snapshot, w.w.Networks)
	got := map[string]bool{}
	for _, v := range s.VirtualNetworks {
		got[v.Name] = true
	}
	for name, want := range map[string]bool{"pn-1": true, "vnet-b": true, "vnet-a": true, "vnet-far": false, "vnet-c": false, "pn-other": false} {
		if got[name] != want {
			t.Errorf("%s visible %v, want %v", name, got[name], want)
		}
	}
	for _, p := range s.Peerings {
		if strings.Contains(p.Name, "far") || strings.Contains(p.Name, "other") {
			t.Errorf("peering %s visible", p.Name)
		}
	}
	if len(s.NSGs) != 3 {
		t.Errorf("%d NSGs visible, want 3", len(s.NSGs))
	}
}

func TestSnapshotJSON(t *testing.T) {
	// The shape of the embedded Azure's /_emulator/network-snapshot.
	const body = `{"virtualNetworks":[{"id":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v","subscriptionId":"s","name":"v","addressPrefixes":["10.1.0.0/16"],
	"subnets":[{"name":"default","addressPrefix":"10.1.0.0/24","networkSecurityGroup":"/n"}]}],
	"peerings":[{"id":"p","vnetId":"a","name":"p","remoteVnetId":"b","allowVirtualNetworkAccess":true,"allowForwardedTraffic":true,"peeringState":"Connected","remoteAddressSpace":["10.2.0.0/16"]}],
	"networkSecurityGroups":[{"id":"/n","name":"n","securityRules":[{"name":"r","priority":100,"direction":"Inbound","access":"Deny","protocol":"Tcp","sourceAddressPrefixes":["*"],"destinationAddressPrefixes":["*"],"sourcePortRanges":["*"],"destinationPortRanges":["22"]}]}]}`
	var s Snapshot
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.VirtualNetworks) != 1 || s.VirtualNetworks[0].Subnets[0].NetworkSecurityGroup != "/n" || !s.Peerings[0].AllowForwardedTraffic ||
		s.Peerings[0].PeeringState != "Connected" || s.NSGs[0].SecurityRules[0].DestinationPortRanges[0] != "22" {
		t.Errorf("decoded %+v", s)
	}
}
