package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/reconcile"
)

// benchConfig is what `peerplane bench` measures.
type benchConfig struct {
	Peerings     int
	ReadClients  int
	ReadDuration time.Duration
	CPUProfile   string
	Verbose      bool
	Dataplane    bool
	Kafka        bool
	KafkaRecords int
	// Connect measures managed connectors instead: Records records of a
	// DatagenSource waiting at most Interval between them.
	Connect  bool
	Records  int
	Interval time.Duration
}

func newBenchCmd() *cobra.Command {
	var bc benchConfig
	var sc scaleConfig
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure peering convergence and API read throughput on an in-process server",
		Long: `bench starts an in-process server (embedded Azure, SQLite in a temporary
directory), creates --peerings peerings on as many benchCustomer VNets (consent
and tags in place, the role defined but not assigned), then for each one
assigns the role on its VNet and times the wait from that PUT returning to
the peering reading READY through the API, next to the time of the Azure
calls the reconciler made for it. It then measures the API's read
throughput (GET one peering with --read-clients concurrent clients for
--read-duration) next to a bare net/http handler serving the same bytes. The
server runs without the per-key rate limit (--api-rate-limit) so that the
read benchmark measures the handler, not the limit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("scale") {
				if bc.Dataplane || bc.Kafka || bc.Connect {
					return errors.New("--scale is a benchmark of its own: pass it without --dataplane, --kafka or --connect")
				}
				return runScaleBench(cmd.Context(), sc, cmd.OutOrStdout())
			}
			for _, name := range []string{"store", "idle", "timeout", "scale-tenants", "scale-clients", "server-cpuprofile"} {
				if cmd.Flags().Changed(name) {
					return fmt.Errorf("--%s goes with --scale", name)
				}
			}
			if bc.Dataplane && bc.Kafka {
				return errors.New("--dataplane and --kafka are two benchmarks: pass one")
			}
			if bc.Dataplane {
				return runDataplaneBench(cmd.Context(), bc, cmd.OutOrStdout())
			}
			if bc.Kafka {
				if bc.KafkaRecords < 1 {
					return fmt.Errorf("--kafka-records must be 1 or more, not %d", bc.KafkaRecords)
				}
				if err := runKafkaBench(cmd.Context(), bc, cmd.OutOrStdout()); err != nil {
					return err
				}
				// The managed connectors' end-to-end latency belongs to
				// the Kafka figures too.
				fmt.Fprintln(cmd.OutOrStdout())
				return runConnectBench(cmd.Context(), bc, cmd.OutOrStdout())
			}
			if bc.Connect {
				return runConnectBench(cmd.Context(), bc, cmd.OutOrStdout())
			}
			return runBench(cmd.Context(), bc, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntVar(&bc.Peerings, "peerings", 100, "peerings (and benchCustomer VNets) to converge")
	f.IntVar(&bc.ReadClients, "read-clients", 16, "concurrent clients of the read benchmark")
	f.DurationVar(&bc.ReadDuration, "read-duration", 3*time.Second, "duration of each read benchmark")
	f.StringVar(&bc.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	f.BoolVar(&bc.Verbose, "verbose", false, "print each peering's convergence")
	f.BoolVar(&bc.Kafka, "kafka", false, "measure a cluster's Kafka endpoint instead (network namespaces; root): produce and consume throughput of 1 KiB records from a peered customer VNet next to the same client in the network's provider VNet, then what --connect measures")
	f.IntVar(&bc.KafkaRecords, "kafka-records", 100000, "with --kafka: records to produce and consume on each side")
	f.BoolVar(&bc.Connect, "connect", false, "measure managed connectors alone (network namespaces; root): the end-to-end latency p50/p99 of DatagenSource → HttpSink, the sink in a peered customer VNet")
	f.IntVar(&bc.Records, "connect-records", 500, "with --connect: records the DatagenSource writes")
	f.DurationVar(&bc.Interval, "connect-interval", 20*time.Millisecond, "with --connect: the DatagenSource's max.interval (each wait is random below it)")
	f.BoolVar(&bc.Dataplane, "dataplane", false, "measure the data plane instead (network namespaces; root): throughput and connection setup through a peering next to a bare veth, READY to first packet, building and tearing down --peerings VNets and peerings")
	f.IntVar(&sc.N, "scale", 0, "measure the server at scale instead: build N READY peerings through the grant flow against `peerplane serve` run as a child process, and print setup and convergence time, its RSS and idle CPU, restart and resync, list latency and the embedded ARM's write cost (1..100000)")
	f.StringVar(&sc.Store, "store", "", "with --scale: postgres://… to run the server on PostgreSQL (in a new schema, dropped afterwards); default SQLite in a temporary directory")
	f.DurationVar(&sc.Idle, "idle", 60*time.Second, "with --scale: how long to measure the server's idle CPU")
	f.DurationVar(&sc.Timeout, "timeout", 15*time.Minute, "with --scale: stop after this long, printing what was measured")
	f.IntVar(&sc.Tenants, "scale-tenants", 4, "with --scale: customer tenants the VNets are spread over (consent and role definition once each)")
	f.IntVar(&sc.Clients, "scale-clients", 12, "with --scale: concurrent clients of the setup")
	f.StringVar(&sc.ServerProfile, "server-cpuprofile", "", "with --scale: write the server's CPU profile to this file (FILE.1 for the restarted server)")
	return cmd
}

// azureTimer wraps the reconciler's Azure client and sums the duration of
// its calls per reconciled object key.
type azureTimer struct {
	reconcile.Azure
	mu  sync.Mutex
	sum map[reconcile.Key]time.Duration
	n   map[reconcile.Key]int
}

func newAzureTimer(a reconcile.Azure) *azureTimer {
	return &azureTimer{Azure: a, sum: map[reconcile.Key]time.Duration{}, n: map[reconcile.Key]int{}}
}

func (t *azureTimer) track(ctx context.Context, start time.Time) {
	d := time.Since(start)
	k := reconcile.KeyFrom(ctx)
	t.mu.Lock()
	t.sum[k] += d
	t.n[k]++
	t.mu.Unlock()
}

// spent returns the time and count of the calls made for key so far.
func (t *azureTimer) spent(key reconcile.Key) (time.Duration, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sum[key], t.n[key]
}

func (t *azureTimer) CheckTenantAccess(ctx context.Context, tenant string) error {
	defer t.track(ctx, time.Now())
	return t.Azure.CheckTenantAccess(ctx, tenant)
}

func (t *azureTimer) GetVNet(ctx context.Context, tenant, id string) (*azure.VNet, error) {
	defer t.track(ctx, time.Now())
	return t.Azure.GetVNet(ctx, tenant, id)
}

func (t *azureTimer) EnsureProviderVNet(ctx context.Context, name, location, cidr string, tags map[string]string) (*azure.VNet, error) {
	defer t.track(ctx, time.Now())
	return t.Azure.EnsureProviderVNet(ctx, name, location, cidr, tags)
}

func (t *azureTimer) DeleteProviderVNet(ctx context.Context, name string) error {
	defer t.track(ctx, time.Now())
	return t.Azure.DeleteProviderVNet(ctx, name)
}

func (t *azureTimer) GetPeering(ctx context.Context, tenant, localVNetID, name string) (*azure.PeeringHalf, error) {
	defer t.track(ctx, time.Now())
	return t.Azure.GetPeering(ctx, tenant, localVNetID, name)
}

func (t *azureTimer) ListPeerings(ctx context.Context, tenant, localVNetID string) ([]*azure.PeeringHalf, error) {
	defer t.track(ctx, time.Now())
	return t.Azure.ListPeerings(ctx, tenant, localVNetID)
}

func (t *azureTimer) PutPeering(ctx context.Context, tenant, localVNetID, name, remoteTenant, remoteVNetID string, syncRemote bool) (*azure.PeeringHalf, error) {
	defer t.track(ctx, time.Now())
	return t.Azure.PutPeering(ctx, tenant, localVNetID, name, remoteTenant, remoteVNetID, syncRemote)
}

func (t *azureTimer) DeletePeering(ctx context.Context, tenant, localVNetID, name string) error {
	defer t.track(ctx, time.Now())
	return t.Azure.DeletePeering(ctx, tenant, localVNetID, name)
}

// benchResult is what runBench measured.
type benchResult struct {
	Converge  []time.Duration // per peering, PUT returned → READY read
	AzureTime []time.Duration // per peering, the reconciler's Azure calls meanwhile
	AzureN    []int
	APIReads  float64 // per second
	BareReads float64
}

func runBench(ctx context.Context, bc benchConfig, out io.Writer) error {
	if bc.Peerings < 1 || bc.Peerings > 200 {
		return errors.New("--peerings must be between 1 and 200")
	}
	if bc.ReadClients < 1 {
		return errors.New("--read-clients must be at least 1")
	}
	if bc.CPUProfile != "" {
		f, err := os.Create(bc.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	dir, err := os.MkdirTemp("", "peerplane-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var timer *azureTimer
	cfg := ServeConfig{DataDir: dir, Listen: "127.0.0.1:0", AzureListen: "127.0.0.1:0", Demo: true,
		ProviderAppID: "f0955e3a-9013-4cf4-a1ea-21587621c9cc", LogLevel: "error",
		WrapAzure: func(a reconcile.Azure) reconcile.Azure { timer = newAzureTimer(a); return timer }}
	r, stop, err := benchServe(ctx, cfg)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(out, "bench: server at %s, embedded Azure at %s, SQLite in %s\n", r.APIURL, r.AzureURL, dir)

	res, err := benchConverge(ctx, bc, r, timer, out)
	if err != nil {
		return err
	}
	if err := benchReads(ctx, bc, r, res); err != nil {
		return err
	}
	printBench(out, bc, res)
	return nil
}

// benchServe runs Serve in-process with cfg until stop, and returns once
// it is ready.
func benchServe(ctx context.Context, cfg ServeConfig) (Ready, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	readyc := make(chan Ready, 1)
	errc := make(chan error, 1)
	go func() { errc <- Serve(ctx, cfg, io.Discard, func(r Ready) { readyc <- r }) }()
	stop := func() {
		cancel()
		select {
		case <-errc:
		case <-time.After(20 * time.Second):
		}
	}
	select {
	case r := <-readyc:
		return r, stop, nil
	case err := <-errc:
		cancel()
		return Ready{}, func() {}, fmt.Errorf("serve: %w", err)
	case <-time.After(30 * time.Second):
		stop()
		return Ready{}, func() {}, errors.New("the server did not start within 30s")
	}
}

// benchConverge sets up the benchCustomer side and the peerings, then assigns
// the role on each VNet in turn and times the peering to READY.
func benchConverge(ctx context.Context, bc benchConfig, r Ready, timer *azureTimer, out io.Writer) (*benchResult, error) {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	api := newBenchAPI(hc, r.APIURL, r.Credentials.APIKey, r.Credentials.APISecret)
	ahc, err := benchAzureHTTP(r.CAFile)
	if err != nil {
		return nil, err
	}
	cust, err := newBenchCustomer(ctx, ahc, r.AzureURL)
	if err != nil {
		return nil, err
	}
	env, err := benchCreateEnv(ctx, api, "bench")
	if err != nil {
		return nil, err
	}
	// 25 peerings per network by default: spread them.
	var nws []string
	for j := range (bc.Peerings + 24) / 25 {
		nw, err := benchCreateNetwork(ctx, api, env, fmt.Sprintf("10.%d.0.0/16", 200+j))
		if err != nil {
			return nil, err
		}
		if _, err := benchWaitNetwork(ctx, api, env, nw, 30*time.Second); err != nil {
			return nil, err
		}
		nws = append(nws, nw)
	}
	sp, err := cust.consent(ctx, r.Provider.ClientID)
	if err != nil {
		return nil, fmt.Errorf("consent: %w", err)
	}
	role, err := cust.createRole(ctx)
	if err != nil {
		return nil, fmt.Errorf("role definition: %w", err)
	}
	vnets := make([]string, bc.Peerings)
	ids := make([]string, bc.Peerings)
	for i := range bc.Peerings {
		if vnets[i], err = cust.createVNet(ctx, fmt.Sprintf("bench-vnet-%03d", i), fmt.Sprintf("10.%d.0.0/16", 10+i), env); err != nil {
			return nil, fmt.Errorf("vnet %d: %w", i, err)
		}
		p, _, err := benchCreatePeering(ctx, api, env, nws[i/25], benchTenant, vnets[i], fmt.Sprintf("bench-%03d", i))
		if err != nil {
			return nil, fmt.Errorf("peering %d: %w", i, err)
		}
		ids[i] = p.ID
	}
	// Every peering fails on the missing role first.
	deadline := time.Now().Add(60 * time.Second)
	for i, id := range ids {
		for {
			p, _, err := benchGetPeering(ctx, api, env, id)
			if err != nil {
				return nil, err
			}
			if p.Status.Phase == "FAILED" {
				break
			}
			if p.Status.Phase == "READY" {
				return nil, fmt.Errorf("peering %d (%s) is READY before its role assignment", i, id)
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("peering %s is %s, not FAILED, after 60s", id, p.Status.Phase)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	fmt.Fprintf(out, "bench: %d peerings FAILED on the missing role; assigning it VNet by VNet\n", len(ids))

	res := &benchResult{}
	for i, id := range ids {
		key := reconcile.Key{Kind: reconcile.KindPeering, ID: id}
		before, nBefore := timer.spent(key)
		if err := cust.assignRole(ctx, vnets[i], role, sp); err != nil {
			return nil, fmt.Errorf("role assignment %d: %w", i, err)
		}
		start := time.Now()
		deadline := start.Add(30 * time.Second)
		for {
			p, _, err := benchGetPeering(ctx, api, env, id)
			if err != nil {
				return nil, err
			}
			if p.Status.Phase == "READY" {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("peering %s is %s %s after its role assignment + 30s: %s", id, p.Status.Phase, p.Status.ErrorCode, p.Status.ErrorMessage)
			}
			time.Sleep(time.Millisecond)
		}
		d := time.Since(start)
		after, nAfter := timer.spent(key)
		res.Converge = append(res.Converge, d)
		res.AzureTime = append(res.AzureTime, after-before)
		res.AzureN = append(res.AzureN, nAfter-nBefore)
		if bc.Verbose {
			fmt.Fprintf(out, "  %s  converge %8v  azure %8v in %d calls\n", id, d.Round(10*time.Microsecond), (after - before).Round(10*time.Microsecond), nAfter-nBefore)
		}
	}
	return res, nil
}

// benchReads measures GET of one peering on the API against a bare
// handler serving the same bytes, one after the other in this run.
func benchReads(ctx context.Context, bc benchConfig, r Ready, res *benchResult) error {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: bc.ReadClients * 2}}
	api := newBenchAPI(hc, r.APIURL, r.Credentials.APIKey, r.Credentials.APISecret)
	envs := struct {
		Data []struct{ ID string } `json:"data"`
	}{}
	if _, err := api.do(ctx, http.MethodGet, "/org/v2/environments", nil, &envs); err != nil {
		return err
	}
	var path string
	for _, e := range envs.Data {
		ps, err := benchListPeerings(ctx, api, e.ID)
		if err != nil {
			return err
		}
		if len(ps) > 0 {
			path = "/networking/v1/peerings/" + ps[0].ID + "?environment=" + e.ID
			break
		}
	}
	if path == "" {
		return errors.New("no peering to read")
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.APIURL+path, nil)
	req.Header = api.header.Clone()
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	ctype := resp.Header.Get("Content-Type")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	bare := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Write(body)
	})}
	go bare.Serve(ln)
	defer bare.Close()

	hdr := api.header.Clone()
	if res.APIReads, err = benchReadLoad(ctx, r.APIURL+path, hdr, body, bc); err != nil {
		return fmt.Errorf("api reads: %w", err)
	}
	if res.BareReads, err = benchReadLoad(ctx, "http://"+ln.Addr().String()+path, hdr, body, bc); err != nil {
		return fmt.Errorf("bare reads: %w", err)
	}
	return nil
}

// benchReadLoad GETs url with bc.ReadClients clients for bc.ReadDuration and
// returns the rate of answers equal to want.
func benchReadLoad(ctx context.Context, url string, hdr http.Header, want []byte, bc benchConfig) (float64, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: bc.ReadClients * 2, MaxConnsPerHost: bc.ReadClients * 2}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var n atomic.Int64
	var firstErr error
	var once sync.Once
	stop := time.Now().Add(bc.ReadDuration)
	var wg sync.WaitGroup
	start := time.Now()
	for range bc.ReadClients {
		wg.Go(func() {
			buf := bytes.NewBuffer(make([]byte, 0, len(want)+512))
			for time.Now().Before(stop) && ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				req.Header = hdr
				resp, err := hc.Do(req)
				if err == nil {
					buf.Reset()
					_, err = buf.ReadFrom(resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != http.StatusOK || !bytes.Equal(buf.Bytes(), want)) {
						err = fmt.Errorf("%s: %d, %d bytes unlike the first answer", url, resp.StatusCode, buf.Len())
					}
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

func benchPercentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1)*p + 0.5)
	return s[i]
}

func printBench(out io.Writer, bc benchConfig, res *benchResult) {
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	calls := make([]time.Duration, len(res.AzureN))
	for i, n := range res.AzureN {
		calls[i] = time.Duration(n)
	}
	med := benchPercentile(res.Converge, 0.5)
	ratio := 0.0
	if res.BareReads > 0 {
		ratio = res.APIReads / res.BareReads
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "measure\tvalue\tnext to\ttarget\tresult\n")
	fmt.Fprintf(tw, "convergence median (%d peerings)\t%s\tAzure calls %s (%d calls)\t≤ 50 ms\t%s\n", len(res.Converge), ms(med),
		ms(benchPercentile(res.AzureTime, 0.5)), int64(benchPercentile(calls, 0.5)), verdict(med <= 50*time.Millisecond))
	fmt.Fprintf(tw, "convergence p99\t%s\tAzure calls %s (%d calls)\t\t\n", ms(benchPercentile(res.Converge, 0.99)),
		ms(benchPercentile(res.AzureTime, 0.99)), int64(benchPercentile(calls, 0.99)))
	fmt.Fprintf(tw, "API reads (%d clients, %v)\t%.0f/s\tbare net/http %.0f/s\t≥ 50%% of bare\t%s\n", bc.ReadClients, bc.ReadDuration,
		res.APIReads, res.BareReads, verdict(ratio >= 0.5))
	fmt.Fprintf(tw, "API / bare\t%.0f%%\t\t\t\n", ratio*100)
	tw.Flush()
}
