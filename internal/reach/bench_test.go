package reach

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// benchWorld builds nVNets VNets (10 of them provider networks with a
// cluster each), 5 peerings (pairs of halves) per VNet and one security
// rule per VNet, spread over one NSG per two VNets. extraRules non-matching
// rules are put first in every provider NSG, to show the cost of the rules
// on the path.
func benchWorld(nVNets, extraRules int, rng *rand.Rand) World {
	var w World
	const providers = 10
	subnetOf := func(i int) (netip.Prefix, netip.Prefix) {
		if i < providers {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(64 + i), 0, 0}), 16)
			return p, netip.PrefixFrom(p.Addr(), 20)
		}
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
		return p, netip.PrefixFrom(p.Addr(), 25)
	}
	for i := range nVNets {
		space, sn := subnetOf(i)
		sub := customerSub
		if i < providers {
			sub = providerSub
		}
		w.VirtualNetworks = append(w.VirtualNetworks, VNet{
			ID: vnetIDOf(sub, fmt.Sprintf("vnet-%d", i)), Name: fmt.Sprintf("vnet-%d", i), AddressPrefixes: []string{space.String()},
			Subnets: []Subnet{{Name: "default", AddressPrefix: sn.String(), NetworkSecurityGroup: nsgIDOf(fmt.Sprintf("nsg-%d", i/2))}},
		})
	}
	for i := range providers {
		w.Networks = append(w.Networks, Network{ID: fmt.Sprintf("n-%d", i), CIDR: w.VirtualNetworks[i].AddressPrefixes[0], VNetID: w.VirtualNetworks[i].ID})
		w.Clusters = append(w.Clusters, Cluster{ID: fmt.Sprintf("lkc-%d", i), NetworkID: fmt.Sprintf("n-%d", i), Endpoint: fmt.Sprintf("SASL_SSL://100.%d.1.10:9092", 64+i)})
	}
	seen := map[[2]int]bool{}
	addPair := func(a, b int) bool {
		if a == b || seen[[2]int{a, b}] {
			return false
		}
		seen[[2]int{a, b}], seen[[2]int{b, a}] = true, true
		va, vb := &w.VirtualNetworks[a], &w.VirtualNetworks[b]
		st := PeeringConnected
		if rng.IntN(20) == 0 {
			st = PeeringInitiated
		}
		for _, x := range [][2]*VNet{{va, vb}, {vb, va}} {
			w.Peerings = append(w.Peerings, Peering{ID: x[0].ID + "/virtualNetworkPeerings/to-" + x[1].Name, Name: "to-" + x[1].Name,
				VNetID: x[0].ID, RemoteVNetID: x[1].ID, PeeringState: st, AllowVirtualNetworkAccess: true, RemoteAddressSpace: x[1].AddressPrefixes})
		}
		return true
	}
	pairs := 0
	for p := range providers { // 25 peerings per provider network
		for k := 0; k < 25; {
			if addPair(p, providers+rng.IntN(nVNets-providers)) {
				k++
				pairs++
			}
		}
	}
	for pairs < 5*nVNets {
		if addPair(providers+rng.IntN(nVNets-providers), providers+rng.IntN(nVNets-providers)) {
			pairs++
		}
	}
	ports := []string{"22", "80", "443", "3389", "5432", "8000-8100"}
	for i := range (nVNets + 1) / 2 {
		n := NSG{ID: nsgIDOf(fmt.Sprintf("nsg-%d", i)), Name: fmt.Sprintf("nsg-%d", i)}
		if i < providers/2 {
			for k := range extraRules {
				n.SecurityRules = append(n.SecurityRules, deny(fmt.Sprintf("extra-%d", k), 100+k, "Inbound", "Tcp", "192.0.2.0/24", "*", "*"))
			}
		}
		for k := range 2 {
			src, _ := subnetOf(rng.IntN(nVNets))
			n.SecurityRules = append(n.SecurityRules, SecurityRule{Name: fmt.Sprintf("r-%d", k), Priority: 3000 + k, Direction: []string{"Inbound", "Outbound"}[rng.IntN(2)],
				Access: []string{"Allow", "Deny"}[rng.IntN(2)], Protocol: "Tcp", SourceAddressPrefixes: []string{src.String(), "VirtualNetwork"}[rng.IntN(2):][:1],
				DestinationAddressPrefixes: []string{"*"}, SourcePortRanges: []string{"*"}, DestinationPortRanges: []string{ports[rng.IntN(len(ports))]}})
		}
		w.NSGs = append(w.NSGs, n)
	}
	return w
}

// benchQueries mixes queries to clusters from peered VNets, to peered
// VNets, and to random VNets (mostly not peered: the transitive search).
func benchQueries(w World, n int, rng *rand.Rand) []Query {
	byID := map[string]int{}
	for i, v := range w.VirtualNetworks {
		byID[v.ID] = i
	}
	host := func(i int) netip.Addr {
		p := netip.MustParsePrefix(w.VirtualNetworks[i].AddressPrefixes[0])
		b := p.Addr().As4()
		b[3] = byte(4 + rng.IntN(100))
		return netip.AddrFrom4(b)
	}
	var toCluster [][2]int
	for _, p := range w.Peerings {
		if j := byID[p.RemoteVNetID]; j < len(w.Clusters) {
			toCluster = append(toCluster, [2]int{byID[p.VNetID], j})
		}
	}
	qs := make([]Query, n)
	for i := range qs {
		switch i % 3 {
		case 0:
			c := toCluster[rng.IntN(len(toCluster))]
			qs[i] = Query{Source: host(c[0]), Cluster: w.Clusters[c[1]].ID}
		case 1:
			p := w.Peerings[rng.IntN(len(w.Peerings))]
			qs[i] = Query{Source: host(byID[p.VNetID]), Destination: host(byID[p.RemoteVNetID]), Port: []int{22, 443, 8080}[rng.IntN(3)]}
		default:
			qs[i] = Query{Source: host(rng.IntN(len(w.VirtualNetworks))), Destination: host(rng.IntN(len(w.VirtualNetworks))), Port: 443}
		}
	}
	return qs
}

func runReachBench(b *testing.B, w World) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	e := New(w)
	build := time.Since(start)
	qs := benchQueries(w, 4096, rng)
	lat := make([]time.Duration, 0, b.N)
	verdicts := map[string]int{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		r, err := e.Reach(qs[i%len(qs)])
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		verdicts[r.Verdict]++
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(build.Milliseconds()), "build-ms")
	rules := 0
	for _, n := range w.NSGs {
		rules += len(n.SecurityRules)
	}
	b.Logf("%d VNets, %d peering halves, %d NSGs with %d rules; %d queries: %v", len(w.VirtualNetworks), len(w.Peerings), len(w.NSGs), rules, len(lat), verdicts)
}

// BenchmarkReach reports the median and p99 of a query (targets: median
// ≤ 20 µs, p99 ≤ 200 µs) in worlds of 1,000 and 10,000 VNets (5 peerings
// and one security rule per VNet: 10,000 VNets, 50,000 peerings, 10,000
// rules), and in a 1,000-VNet world whose provider NSGs hold 10, 100 and
// 1,000 more rules before the deciding one: the cost grows with the rules
// on the path, not with the world.
//
//	go test ./internal/reach -run '^$' -bench BenchmarkReach -benchtime 200000x
func BenchmarkReach(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		w := benchWorld(n, 0, rand.New(rand.NewPCG(7, uint64(n))))
		b.Run(fmt.Sprintf("vnets=%d", n), func(b *testing.B) { runReachBench(b, w) })
	}
	for _, extra := range []int{10, 100, 1000} {
		w := benchWorld(1000, extra, rand.New(rand.NewPCG(7, 1000)))
		b.Run(fmt.Sprintf("vnets=1000/rules-on-path=%d", extra), func(b *testing.B) { runReachBench(b, w) })
	}
}
