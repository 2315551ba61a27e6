package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"text/tabwriter"
	"time"

	"github.com/peerplane/peerplane/internal/dataplane"
	"github.com/peerplane/peerplane/internal/dataplane/dataplanetest"
	"github.com/peerplane/peerplane/internal/reach"
)

// `peerplane bench --dataplane` measures the data plane, each figure next
// to its limit measured in the same run:
//   - TCP throughput (iperf3) between hosts in two VNets through a
//     peering, with security groups on both subnets, next to the same two
//     host namespaces joined by a bare veth;
//   - connection setup (p50) through the peering, next to the bare veth;
//   - the time from a peering turning READY (as the API reads it) to the
//     first packet through, on a served data plane, next to what the
//     data plane alone takes to join two VNets;
//   - building and tearing down N VNets with N peerings (a ring), next to
//     N bare namespaces and veths made and deleted.

type dataplaneBench struct {
	Throughput, BareThroughput float64 // bits/s
	Setup, BareSetup           time.Duration
	FirstPacket                []time.Duration // READY → first packet; negative: before the API said READY
	Link                       []time.Duration // the plane joining two VNets with hosts
	Build, Teardown            time.Duration
	BareBuild, BareTeardown    time.Duration
	VNets                      int
}

func runDataplaneBench(ctx context.Context, bc benchConfig, out io.Writer) error {
	if err := dataplane.Available(); err != nil {
		return fmt.Errorf("--dataplane: %w", err)
	}
	if _, err := exec.LookPath("iperf3"); err != nil {
		return errors.New("--dataplane measures throughput with iperf3: install it (apt-get install iperf3)")
	}
	dir, err := os.MkdirTemp("", "peerplane-bench-dp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var res dataplaneBench
	res.VNets = bc.Peerings
	if err := benchPlane(ctx, dir, bc, &res, out); err != nil {
		return err
	}
	if err := benchFirstPacket(ctx, bc, &res, out); err != nil {
		return err
	}
	printDataplaneBench(out, &res)
	return nil
}

func benchVNetID(name string) string {
	return "/subscriptions/" + benchSubscription + "/resourceGroups/bench/providers/Microsoft.Network/virtualNetworks/" + name
}

// benchPlane measures on a plane of its own, fed made-up snapshots.
func benchPlane(ctx context.Context, dir string, bc benchConfig, res *dataplaneBench, out io.Writer) error {
	p, err := dataplane.Open(ctx, dataplane.Options{DataDir: dir})
	if err != nil {
		return err
	}
	defer p.Close()

	// Build and tear down a ring.
	n := bc.Peerings
	var ring reach.Snapshot
	for i := range n {
		ring.VirtualNetworks = append(ring.VirtualNetworks, reach.VNet{ID: benchVNetID(fmt.Sprintf("ring-%03d", i)), Name: fmt.Sprintf("ring-%03d", i),
			AddressPrefixes: []string{fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)}})
	}
	for i := range n {
		a, b := ring.VirtualNetworks[i], ring.VirtualNetworks[(i+1)%n]
		for _, h := range [][2]reach.VNet{{a, b}, {b, a}} {
			ring.Peerings = append(ring.Peerings, reach.Peering{ID: h[0].ID + "/virtualNetworkPeerings/to-" + h[1].Name, VNetID: h[0].ID, RemoteVNetID: h[1].ID,
				AllowVirtualNetworkAccess: true, PeeringState: reach.PeeringConnected, RemoteAddressSpace: h[1].AddressPrefixes})
		}
	}
	start := time.Now()
	p.Apply(ring)
	if err := p.Sync(ctx); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	res.Build = time.Since(start)
	start = time.Now()
	p.Apply(reach.Snapshot{})
	if err := p.Sync(ctx); err != nil {
		return fmt.Errorf("tear down: %w", err)
	}
	res.Teardown = time.Since(start)
	if res.BareBuild, res.BareTeardown, err = dataplane.MeasureBare(ctx, dir, n); err != nil {
		return fmt.Errorf("bare namespaces: %w", err)
	}
	fmt.Fprintf(out, "bench: built %d VNets and %d peerings in %v, tore them down in %v\n", n, n, res.Build.Round(time.Millisecond), res.Teardown.Round(time.Millisecond))

	// Two VNets with security groups, peered; a host in each.
	nsg := func(name string) reach.NSG {
		return reach.NSG{ID: "/subscriptions/" + benchSubscription + "/resourceGroups/bench/providers/Microsoft.Network/networkSecurityGroups/" + name, Name: name,
			SecurityRules: []reach.SecurityRule{
				{Name: "deny-ssh", Priority: 100, Direction: "Inbound", Access: "Deny", Protocol: "Tcp", SourceAddressPrefixes: []string{"*"}, DestinationAddressPrefixes: []string{"*"}, SourcePortRanges: []string{"*"}, DestinationPortRanges: []string{"22"}},
				{Name: "allow-app", Priority: 200, Direction: "Inbound", Access: "Allow", Protocol: "Tcp", SourceAddressPrefixes: []string{"VirtualNetwork"}, DestinationAddressPrefixes: []string{"*"}, SourcePortRanges: []string{"*"}, DestinationPortRanges: []string{"5201", "7000-7100"}},
				{Name: "deny-out-smtp", Priority: 100, Direction: "Outbound", Access: "Deny", Protocol: "Tcp", SourceAddressPrefixes: []string{"*"}, DestinationAddressPrefixes: []string{"Internet"}, SourcePortRanges: []string{"*"}, DestinationPortRanges: []string{"25"}},
			}}
	}
	na, nb := nsg("bench-a"), nsg("bench-b")
	va := reach.VNet{ID: benchVNetID("bench-a"), Name: "bench-a", AddressPrefixes: []string{"10.1.0.0/16"}, Subnets: []reach.Subnet{{Name: "apps", AddressPrefix: "10.1.0.0/24", NetworkSecurityGroup: na.ID}}}
	vb := reach.VNet{ID: benchVNetID("bench-b"), Name: "bench-b", AddressPrefixes: []string{"10.2.0.0/16"}, Subnets: []reach.Subnet{{Name: "apps", AddressPrefix: "10.2.0.0/24", NetworkSecurityGroup: nb.ID}}}
	peered := func(state string) reach.Snapshot {
		s := reach.Snapshot{VirtualNetworks: []reach.VNet{va, vb}, NSGs: []reach.NSG{na, nb}}
		if state != "" {
			s.Peerings = []reach.Peering{
				{ID: va.ID + "/virtualNetworkPeerings/ab", VNetID: va.ID, RemoteVNetID: vb.ID, AllowVirtualNetworkAccess: true, PeeringState: state, RemoteAddressSpace: vb.AddressPrefixes},
				{ID: vb.ID + "/virtualNetworkPeerings/ba", VNetID: vb.ID, RemoteVNetID: va.ID, AllowVirtualNetworkAccess: true, PeeringState: state, RemoteAddressSpace: va.AddressPrefixes},
			}
		}
		return s
	}
	p.Apply(peered(""))
	if err := p.Sync(ctx); err != nil {
		return err
	}
	a, err := p.Claim(ctx, dataplane.ClaimSpec{VNetID: va.ID, Owner: "bench"})
	if err != nil {
		return err
	}
	defer a.Release()
	b, err := p.Claim(ctx, dataplane.ClaimSpec{VNetID: vb.ID, Owner: "bench"})
	if err != nil {
		return err
	}
	defer b.Release()
	// The limit of READY → first packet: the plane joining two VNets.
	for range 20 {
		p.Apply(peered(""))
		if err := p.Sync(ctx); err != nil {
			return err
		}
		start := time.Now()
		p.Apply(peered(reach.PeeringConnected))
		if err := p.Sync(ctx); err != nil {
			return err
		}
		res.Link = append(res.Link, time.Since(start))
	}

	// Through the peering, then over a bare veth between the same two
	// host namespaces.
	bareA, bareB, removeBare, err := p.BareLink(a, b)
	if err != nil {
		return fmt.Errorf("bare veth: %w", err)
	}
	defer removeBare()
	_ = bareA
	iperf := exec.Command("iperf3", "-s", "-p", "5201")
	if err := b.Do(iperf.Start); err != nil {
		return fmt.Errorf("iperf3 -s: %w", err)
	}
	defer func() { iperf.Process.Kill(); iperf.Wait() }()
	for _, x := range []struct {
		dst netip.Addr
		bps *float64
	}{{b.Addr, &res.Throughput}, {bareB, &res.BareThroughput}} {
		if *x.bps, err = benchIperf(ctx, a, x.dst); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "bench: iperf3 %.2f Gbit/s through the peering, %.2f Gbit/s over a bare veth\n", res.Throughput/1e9, res.BareThroughput/1e9)
	ln, err := b.Listen(ctx, "tcp", ":7001")
	if err != nil {
		return err
	}
	defer ln.Close()
	go dataplanetest.Answer(ln)
	bln, err := b.Listen(ctx, "tcp", net.JoinHostPort(bareB.String(), "7002"))
	if err != nil {
		return err
	}
	defer bln.Close()
	go dataplanetest.Answer(bln)
	if res.Setup, err = benchDialP50(ctx, a, netip.AddrPortFrom(b.Addr, 7001)); err != nil {
		return err
	}
	if res.BareSetup, err = benchDialP50(ctx, a, netip.AddrPortFrom(bareB, 7002)); err != nil {
		return err
	}
	return nil
}

// benchIperf runs iperf3 for 3 s from host a to dst and returns the bits
// per second received.
func benchIperf(ctx context.Context, a *dataplane.Host, dst netip.Addr) (float64, error) {
	var outb []byte
	var runErr error
	cmd := exec.CommandContext(ctx, "iperf3", "-c", dst.String(), "-p", "5201", "-t", "3", "-J")
	// Start it in a's namespace (the child inherits the starting thread's
	// namespace), wait from anywhere.
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	cmd.Stdout = pw
	if err := a.Do(cmd.Start); err != nil {
		pw.Close()
		pr.Close()
		return 0, fmt.Errorf("iperf3 -c %s: %w", dst, err)
	}
	pw.Close()
	outb, _ = io.ReadAll(pr)
	pr.Close()
	runErr = cmd.Wait()
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(outb, &r); err != nil || r.Error != "" || runErr != nil {
		return 0, fmt.Errorf("iperf3 -c %s: %v %s %v", dst, runErr, r.Error, err)
	}
	return r.End.SumReceived.BitsPerSecond, nil
}

// benchDialP50 connects 300 times from a to dst and returns the median
// time to establish a connection.
func benchDialP50(ctx context.Context, a *dataplane.Host, dst netip.AddrPort) (time.Duration, error) {
	var ds []time.Duration
	err := a.Do(func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		for range 300 {
			start := time.Now()
			c, err := d.DialContext(ctx, "tcp4", dst.String())
			if err != nil {
				return fmt.Errorf("connect to %s: %w", dst, err)
			}
			ds = append(ds, time.Since(start))
			c.Close()
		}
		return nil
	})
	return benchPercentile(ds, 0.5), err
}

// benchFirstPacket runs a server with the data plane on, and for each of
// a few peerings times the first connection through it against the
// moment the API reads READY.
func benchFirstPacket(ctx context.Context, bc benchConfig, res *dataplaneBench, out io.Writer) error {
	const peerings = 20
	w, stop, err := benchNetworkServe(ctx, "bench-dp", "10.200.0.0/16")
	if err != nil {
		return err
	}
	defer stop()
	plane, api, cust, env, nw, sp, role := w.r.Dataplane, w.api, w.cust, w.env, w.network, w.sp, w.role
	provVNet := w.provVNet
	prov, err := plane.Claim(ctx, dataplane.ClaimSpec{VNetID: provVNet, Addr: netip.MustParseAddr("10.200.1.10"), Owner: "bench"})
	if err != nil {
		return fmt.Errorf("provider host: %w", err)
	}
	defer prov.Release()
	ln, err := prov.Listen(ctx, "tcp", ":9092")
	if err != nil {
		return err
	}
	defer ln.Close()
	go dataplanetest.Answer(ln)
	for i := range peerings {
		vnet, err := cust.createVNet(ctx, fmt.Sprintf("dp-bench-%02d", i), fmt.Sprintf("10.%d.0.0/16", 10+i), env)
		if err != nil {
			return err
		}
		id, _, err := benchCreatePeering(ctx, api, env, nw, benchTenant, vnet, fmt.Sprintf("dp-bench-%02d", i))
		if err != nil {
			return err
		}
		host, err := plane.Claim(ctx, dataplane.ClaimSpec{VNetID: vnet, Owner: "bench"})
		if err != nil {
			return err
		}
		// Knock until the first connection goes through.
		first := make(chan time.Time, 1)
		kctx, stop := context.WithTimeout(ctx, 30*time.Second)
		go func() {
			defer close(first)
			for kctx.Err() == nil {
				dctx, cancel := context.WithTimeout(kctx, 20*time.Millisecond)
				c, err := host.DialContext(dctx, nil, "tcp4", "10.200.1.10:9092")
				cancel()
				if err == nil {
					first <- time.Now()
					c.Close()
					return
				}
				time.Sleep(500 * time.Microsecond)
			}
		}()
		if err := cust.assignRole(ctx, vnet, role, sp); err != nil {
			stop()
			return err
		}
		var ready time.Time
		for {
			p, _, err := benchGetPeering(ctx, api, env, id.ID)
			if err != nil {
				stop()
				return err
			}
			if p.Status.Phase == "READY" {
				ready = time.Now()
				break
			}
			if kctx.Err() != nil {
				stop()
				return fmt.Errorf("peering %s is %s %s", id.ID, p.Status.Phase, p.Status.ErrorCode)
			}
			time.Sleep(time.Millisecond)
		}
		t, ok := <-first
		stop()
		host.Release()
		if !ok {
			return fmt.Errorf("peering %s is READY but no connection went through within 30s", id.ID)
		}
		res.FirstPacket = append(res.FirstPacket, t.Sub(ready))
	}
	fmt.Fprintf(out, "bench: %d peerings READY with a connection knocking through each\n", peerings)
	return nil
}

func printDataplaneBench(out io.Writer, res *dataplaneBench) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	ratio := res.Throughput / res.BareThroughput
	fp := benchPercentile(res.FirstPacket, 0.5)
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "measure\tvalue\tnext to (same run)\ttarget\tresult\n")
	fmt.Fprintf(tw, "TCP throughput, peering + NSGs\t%.2f Gbit/s\tbare veth %.2f Gbit/s (%.0f%%)\t≥ 80%% of bare\t%s\n",
		res.Throughput/1e9, res.BareThroughput/1e9, ratio*100, verdict(ratio >= 0.8))
	fmt.Fprintf(tw, "connection setup p50, peering\t%s\tbare veth %s\t\t\n", ms(res.Setup), ms(res.BareSetup))
	fmt.Fprintf(tw, "READY → first packet p50 (%d)\t%s\tjoining two VNets %s\t≤ 50 ms\t%s\n", len(res.FirstPacket), ms(fp),
		ms(benchPercentile(res.Link, 0.5)), verdict(fp <= 50*time.Millisecond))
	fmt.Fprintf(tw, "READY → first packet p90\t%s\t\t\t\n", ms(benchPercentile(res.FirstPacket, 0.9)))
	fmt.Fprintf(tw, "build %d VNets + %d peerings\t%s\tbare namespaces + veths %s\t\t\n", res.VNets, res.VNets, ms(res.Build), ms(res.BareBuild))
	fmt.Fprintf(tw, "tear them down\t%s\tbare %s\t\t\n", ms(res.Teardown), ms(res.BareTeardown))
	tw.Flush()
	fmt.Fprintln(out, "READY → first packet is negative when the data plane carried the first packet before the API read READY (it follows Azure's halves).")
}

// benchNetworkWorld is a served data plane (demo world) with an
// environment, a READY network, and the demo customer's consent and
// custom role (not yet assigned).
type benchNetworkWorld struct {
	r                                Ready
	api                              *benchJSON
	cust                             *benchCustomer
	env, network, provVNet, sp, role string
}

// benchNetworkServe starts a server with the data plane on a temporary
// data directory and sets up a benchNetworkWorld with a network of cidr in
// environment envName; stop stops the server and removes the directory.
func benchNetworkServe(ctx context.Context, envName, cidr string) (_ *benchNetworkWorld, stop func(), err error) {
	dir, err := os.MkdirTemp("", "peerplane-"+envName+"-")
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	cfg := ServeConfig{DataDir: dir, Listen: "127.0.0.1:0", AzureListen: "127.0.0.1:0", Demo: true,
		ProviderAppID: "f0955e3a-9013-4cf4-a1ea-21587621c9cc", LogLevel: "error", Dataplane: dataplaneNetns}
	r, stopServe, err := benchServe(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	stop = func() { stopServe(); os.RemoveAll(dir) }
	w := &benchNetworkWorld{r: r}
	err = func() error {
		if r.Dataplane == nil {
			return errors.New("the server started without its data plane")
		}
		w.api = newBenchAPI(&http.Client{Timeout: 30 * time.Second}, r.APIURL, r.Credentials.APIKey, r.Credentials.APISecret)
		ahc, err := benchAzureHTTP(r.CAFile)
		if err != nil {
			return err
		}
		if w.cust, err = newBenchCustomer(ctx, ahc, r.AzureURL); err != nil {
			return err
		}
		if w.env, err = benchCreateEnv(ctx, w.api, envName); err != nil {
			return err
		}
		if w.network, err = benchCreateNetwork(ctx, w.api, w.env, cidr); err != nil {
			return err
		}
		if w.provVNet, err = benchWaitNetwork(ctx, w.api, w.env, w.network, 30*time.Second); err != nil {
			return err
		}
		if w.sp, err = w.cust.consent(ctx, r.Provider.ClientID); err != nil {
			return err
		}
		w.role, err = w.cust.createRole(ctx)
		return err
	}()
	if err != nil {
		stopServe()
		return nil, nil, err
	}
	return w, stop, nil
}
