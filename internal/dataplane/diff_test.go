package dataplane_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/dataplane"
	"github.com/peerplane/peerplane/internal/reach"
)

// The differential test: random worlds (VNets with subnets; chains, stars
// and extra links of peerings in every half-state with random forwarding
// and gateway flags; security groups with random rules at random
// priorities on random subnets), hosts listening in them, and for sampled
// (source, destination, port, source port) the model's verdict next to a
// real TCP connection. Any disagreement fails, printing the world and the
// query. PEERPLANE_DIFF_SEED replays a run.

const (
	diffWorlds     = 20
	diffQueries    = 26 // per world
	diffProbeLimit = 24 // concurrent probes
)

var diffPorts = []int{22, 80, 443, 8080, 9092}

type diffHost struct {
	VNet string
	Addr netip.Addr
}

type diffWorld struct {
	Snapshot reach.Snapshot
	Hosts    []diffHost
}

func TestModelAndKernelAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	p := openPlane(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PEERPLANE_DIFF_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (PEERPLANE_DIFF_SEED replays it)", seed)
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	var total, reachable int
	for i := range diffWorlds {
		w := genWorld(r, i)
		n, ok := checkWorld(t, p, r, w)
		total += n
		reachable += ok
		if t.Failed() {
			return
		}
	}
	t.Logf("%d queries over %d worlds, %d reachable", total, diffWorlds, reachable)
	if total < 500 || reachable < total/10 || total-reachable < total/10 {
		t.Fatalf("%d queries, %d reachable: the worlds do not exercise both verdicts", total, reachable)
	}
}

// checkWorld applies w, claims its hosts, listens on every sampled port
// and compares the model and the kernel on sampled queries; it returns
// the number of queries and of reachable ones.
func checkWorld(t *testing.T, p *dataplane.Plane, r *rand.Rand, w diffWorld) (int, int) {
	apply(t, p, w.Snapshot)
	var hosts []*dataplane.Host
	defer func() {
		for _, h := range hosts {
			h.Release()
		}
	}()
	for _, dh := range w.Hosts {
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		h, err := p.Claim(ctx, dataplane.ClaimSpec{VNetID: dh.VNet, Addr: dh.Addr, Owner: "diff"})
		cancel()
		if err != nil {
			t.Fatalf("claim %s: %v\nworld:\n%s", dh.Addr, err, dump(w))
		}
		hosts = append(hosts, h)
		for _, port := range diffPorts {
			serve(t, h, port)
		}
	}
	engine := reach.New(reach.World{Snapshot: w.Snapshot})
	type query struct {
		src, dst diffHost
		port     int
		sport    int
	}
	var qs []query
	for len(qs) < diffQueries {
		s, d := w.Hosts[r.IntN(len(w.Hosts))], w.Hosts[r.IntN(len(w.Hosts))]
		if s.Addr == d.Addr {
			continue // a host reaches itself without the network
		}
		qs = append(qs, query{src: s, dst: d, port: diffPorts[r.IntN(len(diffPorts))], sport: 40000 + len(qs)*211 + r.IntN(200)})
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, diffProbeLimit)
	reachable := 0
	for _, q := range qs {
		res, err := engine.Reach(reach.Query{Source: q.src.Addr, Destination: q.dst.Addr, Port: q.port, SourcePort: q.sport, Protocol: "tcp"})
		if err != nil {
			t.Fatalf("model: %v", err)
		}
		if res.Verdict == reach.Reachable {
			reachable++
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pr := p.Probe(t.Context(), dataplane.ProbeSpec{SourceVNet: q.src.VNet, DestinationVNet: q.dst.VNet, Source: q.src.Addr, Destination: q.dst.Addr,
				Port: q.port, SourcePort: q.sport, Timeout: 1500 * time.Millisecond})
			if pr.Outcome == reach.ProbeError || pr.Outcome == reach.ProbeSkipped || (pr.Reached != (res.Verdict == reach.Reachable)) {
				mu.Lock()
				defer mu.Unlock()
				blocked := ""
				if res.BlockedBy != nil {
					blocked = res.BlockedBy.Code + ": " + res.BlockedBy.Detail
				}
				t.Errorf("model and kernel disagree on %s:%d -> %s:%d (tcp):\n  model: %s %s\n  kernel: %s %s\nworld:\n%s",
					q.src.Addr, q.sport, q.dst.Addr, q.port, res.Verdict, blocked, pr.Outcome, pr.Detail, dump(w))
			}
		}()
	}
	wg.Wait()
	return len(qs), reachable
}

func dump(w diffWorld) string {
	b, _ := json.MarshalIndent(w, "", "  ")
	return string(b)
}

// genWorld makes world i: 3 to 6 VNets, each a /16 of 10.0.0.0/8 (some
// with a second prefix in 172.16.0.0/12), 0 to 3 subnets, security groups
// on some subnets, a peering from most VNets to an earlier one (chains and
// stars) and a few more, and 2 or 3 hosts per VNet.
func genWorld(r *rand.Rand, i int) diffWorld {
	var w diffWorld
	nv := 3 + r.IntN(4)
	nsgs := make([]string, r.IntN(4))
	for j := range nsgs {
		nsgs[j] = nsgID(fmt.Sprintf("w%d-nsg%d", i, j))
	}
	type vinfo struct {
		v       reach.VNet
		subnets []netip.Prefix
	}
	var vs []vinfo
	for j := range nv {
		name := fmt.Sprintf("w%d-v%d", i, j)
		v := reach.VNet{ID: vnetID(name), Name: name, AddressPrefixes: []string{fmt.Sprintf("10.%d.0.0/16", 10+j)}}
		if r.IntN(4) == 0 {
			v.AddressPrefixes = append(v.AddressPrefixes, fmt.Sprintf("172.%d.0.0/16", 16+j))
		}
		vi := vinfo{v: v}
		switch ns := r.IntN(4); ns {
		case 0:
			vi.subnets = []netip.Prefix{netip.MustParsePrefix(v.AddressPrefixes[0])} // no subnets: the whole space
		default:
			for k := range ns {
				pfx := fmt.Sprintf("10.%d.%d.0/24", 10+j, k)
				if k == ns-1 && len(v.AddressPrefixes) > 1 {
					pfx = fmt.Sprintf("172.%d.%d.0/24", 16+j, k)
				}
				sn := reach.Subnet{Name: fmt.Sprintf("s%d", k), AddressPrefix: pfx}
				if len(nsgs) > 0 && r.IntN(3) > 0 {
					sn.NetworkSecurityGroup = nsgs[r.IntN(len(nsgs))]
				}
				vi.v.Subnets = append(vi.v.Subnets, sn)
				vi.subnets = append(vi.subnets, netip.MustParsePrefix(pfx))
			}
		}
		vs = append(vs, vi)
	}
	// Hosts.
	for _, vi := range vs {
		used := map[netip.Addr]bool{}
		for range 2 + r.IntN(2) {
			sn := vi.subnets[r.IntN(len(vi.subnets))]
			a := sn.Addr()
			for range 4 + r.IntN(20) {
				a = a.Next()
			}
			if used[a] {
				continue
			}
			used[a] = true
			w.Hosts = append(w.Hosts, diffHost{VNet: vi.v.ID, Addr: a})
		}
	}
	// Peerings: a tree (chains and stars), then a few more pairs.
	pairs := map[[2]int]bool{}
	for j := 1; j < nv; j++ {
		if r.IntN(10) < 8 {
			pairs[[2]int{r.IntN(j), j}] = true
		}
	}
	for range r.IntN(3) {
		a, b := r.IntN(nv), r.IntN(nv)
		if a < b {
			pairs[[2]int{a, b}] = true
		}
	}
	keys := make([][2]int, 0, len(pairs))
	for k := range pairs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y [2]int) int { return x[0]*100 + x[1] - y[0]*100 - y[1] })
	for _, k := range keys {
		a, b := vs[k[0]].v, vs[k[1]].v
		half := func(from, to reach.VNet, state string) reach.Peering {
			return reach.Peering{ID: from.ID + "/virtualNetworkPeerings/to-" + to.Name, VNetID: from.ID, Name: "to-" + to.Name, RemoteVNetID: to.ID,
				AllowVirtualNetworkAccess: r.IntN(8) > 0, AllowForwardedTraffic: r.IntN(2) == 0, AllowGatewayTransit: r.IntN(2) == 0,
				UseRemoteGateways: r.IntN(4) == 0, PeeringState: state, RemoteAddressSpace: slices.Clone(to.AddressPrefixes)}
		}
		switch x := r.IntN(20); {
		case x < 14:
			w.Snapshot.Peerings = append(w.Snapshot.Peerings, half(a, b, reach.PeeringConnected), half(b, a, reach.PeeringConnected))
		case x < 16:
			w.Snapshot.Peerings = append(w.Snapshot.Peerings, half(a, b, reach.PeeringInitiated))
		case x < 18:
			w.Snapshot.Peerings = append(w.Snapshot.Peerings, half(b, a, reach.PeeringInitiated))
		default:
			w.Snapshot.Peerings = append(w.Snapshot.Peerings, half(a, b, reach.PeeringDisconnected))
		}
	}
	// Security groups.
	pick := func() string {
		switch x := r.IntN(12); x {
		case 0, 1:
			return "*"
		case 2, 3:
			return "VirtualNetwork"
		case 4:
			return "Internet"
		case 5:
			return "AzureLoadBalancer"
		case 6:
			return "10.0.0.0/8"
		case 7:
			return "Storage"
		case 8:
			return vs[r.IntN(nv)].v.AddressPrefixes[0]
		case 9:
			vi := vs[r.IntN(nv)]
			return vi.subnets[r.IntN(len(vi.subnets))].String()
		default:
			return w.Hosts[r.IntN(len(w.Hosts))].Addr.String()
		}
	}
	prefixes := func() []string {
		out := []string{pick()}
		if r.IntN(3) == 0 {
			out = append(out, pick())
		}
		return out
	}
	for _, id := range nsgs {
		n := reach.NSG{ID: id, Name: id[strings.LastIndexByte(id, '/')+1:]}
		used := map[string]bool{}
		for k := range r.IntN(7) {
			dir := []string{"Inbound", "Outbound"}[r.IntN(2)]
			prio := 100 + r.IntN(40)*10
			if used[dir+strconv.Itoa(prio)] {
				continue
			}
			used[dir+strconv.Itoa(prio)] = true
			rule := reach.SecurityRule{Name: fmt.Sprintf("r%d", k), Priority: prio, Direction: dir,
				Access: []string{"Allow", "Allow", "Deny"}[r.IntN(3)], Protocol: []string{"Tcp", "Tcp", "*", "*", "Udp", "Icmp"}[r.IntN(6)],
				SourceAddressPrefixes: prefixes(), DestinationAddressPrefixes: prefixes()}
			switch r.IntN(10) {
			case 0, 1, 2:
				rule.DestinationPortRanges = []string{"*"}
			case 3, 4, 5:
				rule.DestinationPortRanges = []string{strconv.Itoa(diffPorts[r.IntN(len(diffPorts))])}
			case 6:
				rule.DestinationPortRanges = []string{"80-443"}
			case 7:
				rule.DestinationPortRanges = []string{"1000-9000"}
			default:
				rule.DestinationPortRanges = []string{strconv.Itoa(diffPorts[r.IntN(len(diffPorts))]), strconv.Itoa(diffPorts[r.IntN(len(diffPorts))])}
			}
			switch r.IntN(10) {
			case 0:
				rule.SourcePortRanges = []string{"40000-44999"}
			case 1:
				rule.SourcePortRanges = []string{"45000-65535"}
			default:
				rule.SourcePortRanges = []string{"*"}
			}
			n.SecurityRules = append(n.SecurityRules, rule)
		}
		w.Snapshot.NSGs = append(w.Snapshot.NSGs, n)
	}
	for _, vi := range vs {
		w.Snapshot.VirtualNetworks = append(w.Snapshot.VirtualNetworks, vi.v)
	}
	return w
}
