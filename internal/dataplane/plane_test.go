package dataplane_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/dataplane"
	"github.com/peerplane/peerplane/internal/dataplane/dataplanetest"
	"github.com/peerplane/peerplane/internal/reach"
)

// wait bounds every wait: the kernel answers in microseconds, the bound
// only turns a hang into a failure.
const wait = 10 * time.Second

func vnetID(name string) string {
	return "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/" + name
}

func nsgID(name string) string {
	return "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/" + name
}

func vnet(name string, space string, subnets ...reach.Subnet) reach.VNet {
	return reach.VNet{ID: vnetID(name), Name: name, AddressPrefixes: []string{space}, Subnets: subnets}
}

// peer returns both halves between a and b in the given states.
func peer(a, b, stateAB, stateBA string) []reach.Peering {
	var out []reach.Peering
	if stateAB != "" {
		out = append(out, reach.Peering{ID: vnetID(a) + "/virtualNetworkPeerings/to-" + b, VNetID: vnetID(a), Name: "to-" + b, RemoteVNetID: vnetID(b),
			AllowVirtualNetworkAccess: true, PeeringState: stateAB})
	}
	if stateBA != "" {
		out = append(out, reach.Peering{ID: vnetID(b) + "/virtualNetworkPeerings/to-" + a, VNetID: vnetID(b), Name: "to-" + a, RemoteVNetID: vnetID(a),
			AllowVirtualNetworkAccess: true, PeeringState: stateBA})
	}
	return out
}

// openPlane opens a plane on a fresh data directory and checks, when the
// test ends, that it left nothing and changed nothing on the host.
func openPlane(t *testing.T) *dataplane.Plane {
	t.Helper()
	dataplanetest.Require(t)
	before := dataplanetest.Capture(t)
	dir := t.TempDir()
	p, err := dataplane.Open(t.Context(), dataplane.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		dataplanetest.NoNamespaces(t, p.Prefix())
		dataplanetest.Unchanged(t, before)
	})
	return p
}

func apply(t *testing.T, p *dataplane.Plane, s reach.Snapshot) {
	t.Helper()
	p.Apply(s)
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := p.Sync(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

func claim(t *testing.T, p *dataplane.Plane, vnet, ip string) *dataplane.Host {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	s := dataplane.ClaimSpec{VNetID: vnetID(vnet), Owner: t.Name()}
	if ip != "" {
		s.Addr = netip.MustParseAddr(ip)
	}
	h, err := p.Claim(ctx, s)
	if err != nil {
		t.Fatalf("claim %s in %s: %v", ip, vnet, err)
	}
	t.Cleanup(h.Release)
	return h
}

// serve accepts on host h's port and answers each connection with "hi".
func serve(t *testing.T, h *dataplane.Host, port int) {
	t.Helper()
	ln, err := h.Listen(t.Context(), "tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatalf("listen on %s:%d: %v", h.Addr, port, err)
	}
	t.Cleanup(func() { ln.Close() })
	go dataplanetest.Answer(ln)
}

// connects reports whether from reaches to:port within a short time; a
// dropped SYN shows as a timeout.
func connects(t *testing.T, from *dataplane.Host, to string, port int) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	c, err := from.DialContext(ctx, nil, "tcp", fmt.Sprintf("%s:%d", to, port))
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != dataplanetest.Greeting {
		t.Fatalf("%s → %s:%d connected but read %q, %v", from.Addr, to, port, b, err)
	}
	return true
}

// TestPeeringCarriesTraffic: two VNets, a host in each; traffic flows
// only while both halves are Connected, and a third VNet peered only with
// one of them reaches neither the other nor through it.
func TestPeeringCarriesTraffic(t *testing.T) {
	p := openPlane(t)
	a := vnet("a", "10.1.0.0/16", reach.Subnet{Name: "s", AddressPrefix: "10.1.0.0/24"})
	b := vnet("b", "10.2.0.0/16", reach.Subnet{Name: "s", AddressPrefix: "10.2.0.0/24"})
	c := vnet("c", "10.3.0.0/16", reach.Subnet{Name: "s", AddressPrefix: "10.3.0.0/24"})
	world := func(peerings ...[]reach.Peering) reach.Snapshot {
		s := reach.Snapshot{VirtualNetworks: []reach.VNet{a, b, c}}
		for _, ps := range peerings {
			s.Peerings = append(s.Peerings, ps...)
		}
		return s
	}
	apply(t, p, world())
	ha, hb, hc := claim(t, p, "a", "10.1.0.4"), claim(t, p, "b", "10.2.0.4"), claim(t, p, "c", "")
	if hc.Addr != netip.MustParseAddr("10.3.0.4") {
		t.Fatalf("picked %s in c, want 10.3.0.4 (the first four are reserved)", hc.Addr)
	}
	serve(t, hb, 8080)
	serve(t, ha, 8080)

	if connects(t, ha, "10.2.0.4", 8080) {
		t.Fatal("a reaches b without a peering")
	}
	apply(t, p, world(peer("a", "b", "Initiated", "")))
	if connects(t, ha, "10.2.0.4", 8080) {
		t.Fatal("a reaches b with one Initiated half")
	}
	apply(t, p, world(peer("a", "b", "Connected", "Connected"), peer("b", "c", "Connected", "Connected")))
	if !connects(t, ha, "10.2.0.4", 8080) {
		t.Fatal("a does not reach b through a Connected peering")
	}
	if !connects(t, hc, "10.2.0.4", 8080) {
		t.Fatal("c does not reach b through a Connected peering")
	}
	if connects(t, hc, "10.1.0.4", 8080) {
		t.Fatal("c reaches a through b: peering must not be transitive")
	}
	apply(t, p, world(peer("a", "b", "Disconnected", ""), peer("b", "c", "Connected", "Connected")))
	if connects(t, ha, "10.2.0.4", 8080) {
		t.Fatal("a reaches b after b's half was deleted")
	}
	names, err := p.Namespaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 6 {
		t.Fatalf("namespaces: %v, want 3 VNets and 3 hosts", names)
	}

	// A claimed address is taken; a reserved one is refused.
	_, err = p.Claim(t.Context(), dataplane.ClaimSpec{VNetID: vnetID("a"), Addr: netip.MustParseAddr("10.1.0.4")})
	var ce *dataplane.ClaimError
	if !errors.As(err, &ce) || ce.Code != dataplane.ClaimConflict {
		t.Fatalf("claim of a taken address: %v", err)
	}
	_, err = p.Claim(t.Context(), dataplane.ClaimSpec{VNetID: vnetID("a"), Addr: netip.MustParseAddr("10.1.0.3")})
	if !errors.As(err, &ce) || ce.Code != dataplane.ClaimInvalid || !strings.Contains(ce.Message, "reserves") {
		t.Fatalf("claim of a reserved address: %v", err)
	}

	// Deleting a VNet removes its hosts.
	apply(t, p, reach.Snapshot{VirtualNetworks: []reach.VNet{a, b}})
	select {
	case <-hc.Done():
	case <-time.After(wait):
		t.Fatal("the host of a deleted VNet lives on")
	}
	var re *dataplane.RevokedError
	if !errors.As(hc.Err(), &re) {
		t.Fatalf("host of a deleted VNet ended with %v", hc.Err())
	}
}

// TestLazy: a world of 1,000 VNets without hosts or live peerings needs no
// namespace; the ones a live peering joins get theirs, and lose them with
// the peering.
func TestLazy(t *testing.T) {
	p := openPlane(t)
	var s reach.Snapshot
	for i := range 1000 {
		s.VirtualNetworks = append(s.VirtualNetworks, vnet(fmt.Sprintf("lazy-%d", i), fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)))
	}
	s.Peerings = peer("lazy-1", "lazy-2", "Initiated", "")
	apply(t, p, s)
	if names, err := p.Namespaces(); err != nil || len(names) != 0 {
		t.Fatalf("namespaces for VNets with no host and no live peering: %v %v", names, err)
	}
	s.Peerings = peer("lazy-1", "lazy-2", "Connected", "Connected")
	apply(t, p, s)
	names, err := p.Namespaces()
	if err != nil || len(names) != 2 || !strings.Contains(names[0], "-v-lazy-") || !strings.Contains(names[1], "-v-lazy-") {
		t.Fatalf("namespaces with one live peering: %v %v", names, err)
	}
	s.Peerings = nil
	apply(t, p, s)
	if names, err := p.Namespaces(); err != nil || len(names) != 0 {
		t.Fatalf("namespaces after the peering went: %v %v", names, err)
	}
}
