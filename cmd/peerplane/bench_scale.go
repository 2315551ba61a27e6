package main

// `peerplane bench --scale N`: N READY peerings built as customers build
// them, against `peerplane serve` run as a child process so that its RSS
// and CPU are the server's alone.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/sync/errgroup"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/metrics"
	"github.com/peerplane/peerplane/internal/seal"
	"github.com/peerplane/peerplane/internal/world"
)

// scaleConfig is what `peerplane bench --scale` measures.
type scaleConfig struct {
	N             int
	Store         string // postgres://… base URL; "" for SQLite in the data directory
	Idle          time.Duration
	Timeout       time.Duration
	Tenants       int
	Clients       int
	ServerProfile string
}

// Scale limits: the bench's own, and Azure's peerings per VNet (the
// provider VNet of one network), which the bench raises the product's
// peerings_per_network quota to.
const (
	scaleMax          = 100000
	scalePerNetwork   = 500
	scaleARMWrites    = 40 // tag PATCHes timed for the ARM write cost
	scaleResyncWithin = 10 * time.Second
)

// scaleTargets are issue 10's targets (at N = 10,000).
var scaleTargets = struct {
	Converge, Resync time.Duration
	RSS              int64
	IdleCPU          float64
	ListP50          time.Duration
	ARMRatio         float64
}{60 * time.Second, 10 * time.Second, 512 << 20, 2, 5 * time.Millisecond, 1.5}

func (sc scaleConfig) validate() error {
	if sc.N < 1 || sc.N > scaleMax {
		return fmt.Errorf("--scale must be between 1 and %d, not %d", scaleMax, sc.N)
	}
	if sc.Idle <= 0 {
		return fmt.Errorf("--idle must be positive, not %v", sc.Idle)
	}
	if sc.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, not %v", sc.Timeout)
	}
	if sc.Tenants < 1 {
		return fmt.Errorf("--scale-tenants must be at least 1, not %d", sc.Tenants)
	}
	if sc.Clients < 1 {
		return fmt.Errorf("--scale-clients must be at least 1, not %d", sc.Clients)
	}
	if sc.Store != "" && !strings.HasPrefix(sc.Store, "postgres://") && !strings.HasPrefix(sc.Store, "postgresql://") {
		return fmt.Errorf("--store must be a postgres:// URL (SQLite is the default), not %q", sc.Store)
	}
	return nil
}

// scaleResult holds the figures as they are measured; zero is "not
// reached".
type scaleResult struct {
	Networks        int
	Grants          time.Duration // tenants, consent, roles, VNets, assignments, tags
	Creates         time.Duration // N peering POSTs
	ConvergeFirst   time.Duration // first create → all READY
	ConvergeLast    time.Duration // last create → all READY
	GrantsCPU       time.Duration // the server's CPU time during the grants
	ConvergeCPU     time.Duration // … from the first create to all READY
	RSS             int64
	IdleCPU         float64 // % of one core
	IdleMeasured    bool
	Shutdown        time.Duration // SIGTERM → exit
	RestartAPI      time.Duration
	RestartResync   time.Duration
	ListP50         time.Duration
	ListP99         time.Duration
	ListAll         time.Duration
	ListPages       int
	ARMStart        time.Duration
	ARMStartVNets   int
	ARMAtN          time.Duration
	ARMAtNVNets     int
	ResyncReconcile int // peering reconciles counted when the resync was declared complete
}

func runScaleBench(ctx context.Context, sc scaleConfig, out io.Writer) (err error) {
	if err := sc.validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, sc.Timeout)
	defer cancel()
	began := time.Now()
	res := &scaleResult{}
	phase := "start"
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("stopped after %v in phase %q (--timeout %v): %w; measured so far:\n%s",
				time.Since(began).Round(time.Second), phase, sc.Timeout, err, scaleTable(sc, res))
		} else if err != nil {
			err = fmt.Errorf("%s: %w", phase, err)
		}
	}()
	step := func(name string) {
		phase = name
		fmt.Fprintf(out, "bench: [%6.1fs] %s\n", time.Since(began).Seconds(), name)
	}

	dir, err := os.MkdirTemp("", "peerplane-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dataDir := filepath.Join(dir, "data")
	dsn, dropStore := "", func() {}
	if sc.Store != "" {
		var note string
		if dsn, note, dropStore, err = scalePostgresSchema(ctx, sc.Store); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		defer dropStore()
		if note != "" {
			fmt.Fprintf(out, "bench: %s\n", note)
		}
	}
	wfile := filepath.Join(dir, "world.yaml")
	tenants, err := scaleWriteWorld(wfile, sc.Tenants)
	if err != nil {
		return err
	}
	srv, err := newScaleServer(dataDir, dsn, wfile, sc.ServerProfile)
	if err != nil {
		return err
	}
	defer srv.stop()
	step("start the server")
	if _, err := srv.start(ctx); err != nil {
		return err
	}
	store := "SQLite in " + dataDir
	if dsn != "" {
		store = "PostgreSQL " + scaleRedact(dsn)
	}
	fmt.Fprintf(out, "bench: machine load average %s at the start (%d CPUs)\n", loadAvg(), runtime.NumCPU())
	fmt.Fprintf(out, "bench: server pid %d at %s, embedded Azure at %s, %s\n", srv.cmd.Process.Pid, srv.files.APIURL, srv.files.AzureURL, store)

	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer hc.CloseIdleConnections()
	api := newBenchAPI(hc, srv.files.APIURL, srv.files.APIKey, srv.files.APISecret)
	ahc, err := benchAzureHTTP(srv.files.CAFile)
	if err != nil {
		return err
	}
	defer ahc.CloseIdleConnections()
	cl := cloud.Configuration{
		ActiveDirectoryAuthorityHost: srv.files.AzureURL + "/",
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Audience: "https://management.core.windows.net/", Endpoint: srv.files.AzureURL},
		},
	}
	copts := policy.ClientOptions{Cloud: cl, Transport: ahc}
	armOpts := &arm.ClientOptions{ClientOptions: copts}

	// The operator raises the quotas the world needs: Azure's 500 peerings
	// per VNet bound a network, and one environment holds all networks.
	res.Networks = (sc.N + scalePerNetwork - 1) / scalePerNetwork
	step(fmt.Sprintf("settings, environment and %d networks", res.Networks))
	if _, err := api.do(ctx, http.MethodPut, "/peerplane/v1/settings", map[string]any{
		"peerings_per_network": scalePerNetwork, "dedicated_networks_per_environment": max(res.Networks, 10)}, nil); err != nil {
		return err
	}
	env, err := benchCreateEnv(ctx, api, "scale")
	if err != nil {
		return err
	}
	nws := make([]string, res.Networks)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(sc.Clients)
	for k := range nws {
		g.Go(func() error {
			id, err := benchCreateNetwork(gctx, api, env, scaleNetworkCIDR(k))
			if err != nil {
				return err
			}
			nws[k] = id
			_, err = benchWaitNetwork(gctx, api, env, id, 5*time.Minute)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}

	step(fmt.Sprintf("grants in %d tenants: consent, role definition, ARM write cost at the start", len(tenants)))
	grantStart := time.Now()
	cpu0, err := procCPU(srv.pid())
	if err != nil {
		return err
	}
	for i := range tenants {
		if err := tenants[i].connect(ctx, srv.files.AzureURL, copts, armOpts, ahc); err != nil {
			return fmt.Errorf("tenant %d: %w", i, err)
		}
		if err := tenants[i].grantTenant(ctx, srv.provider.ClientID); err != nil {
			return fmt.Errorf("tenant %d: %w", i, err)
		}
	}
	spare, err := tenants[0].createVNet(ctx, "scale-spare", "192.168.0.0/24", "")
	if err != nil {
		return fmt.Errorf("spare VNet: %w", err)
	}
	res.ARMStartVNets = 1
	if res.ARMStart, err = scaleARMWriteCost(ctx, &tenants[0], spare); err != nil {
		return err
	}

	step(fmt.Sprintf("grants of %d VNets: VNet with its ConfluentEnvIDs tag, role assignment", sc.N))
	vnets := make([]string, sc.N)
	var done atomic.Int64
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(sc.Clients)
	for i := range vnets {
		g.Go(func() error {
			t := &tenants[i%len(tenants)]
			id, err := t.createVNet(gctx, fmt.Sprintf("scale-vnet-%05d", i), scaleVNetCIDR(i), env)
			if err != nil {
				return fmt.Errorf("VNet %d: %w", i, err)
			}
			if err := t.assign(gctx, id); err != nil {
				return fmt.Errorf("role assignment on VNet %d: %w", i, err)
			}
			vnets[i] = id
			if n := done.Add(1); n%1000 == 0 {
				fmt.Fprintf(out, "bench:          %d VNets granted\n", n)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	res.Grants = time.Since(grantStart)
	cpu1, err := procCPU(srv.pid())
	if err != nil {
		return err
	}
	res.GrantsCPU = cpu1 - cpu0

	step(fmt.Sprintf("create %d peerings at once (%d clients) and wait for all READY", sc.N, sc.Clients))
	first := time.Now()
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(sc.Clients)
	for i, vnet := range vnets {
		g.Go(func() error {
			t := &tenants[i%len(tenants)]
			_, _, err := benchCreatePeering(gctx, api, env, nws[i/scalePerNetwork], t.id, vnet, fmt.Sprintf("scale-%05d", i))
			if err != nil {
				return fmt.Errorf("peering %d: %w", i, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	last := time.Now()
	res.Creates = last.Sub(first)
	if err := scaleWaitReady(ctx, api, env, sc.N, out); err != nil {
		return err
	}
	res.ConvergeFirst, res.ConvergeLast = time.Since(first), time.Since(last)
	cpu2, err := procCPU(srv.pid())
	if err != nil {
		return err
	}
	res.ConvergeCPU = cpu2 - cpu1

	if res.RSS, err = procRSS(srv.pid()); err != nil {
		return err
	}
	step(fmt.Sprintf("idle CPU over %v", sc.Idle))
	if res.IdleCPU, err = procIdleCPU(ctx, srv.pid(), sc.Idle); err != nil {
		return err
	}
	res.IdleMeasured = true

	step(fmt.Sprintf("list latency: page through %d peerings, page_size=100", sc.N))
	if res.ListP50, res.ListP99, res.ListAll, res.ListPages, err = scaleListLatency(ctx, api, env, sc.N); err != nil {
		return err
	}

	step(fmt.Sprintf("ARM write cost with %d VNets", sc.N+1))
	res.ARMAtNVNets = sc.N + 1
	if res.ARMAtN, err = scaleARMWriteCost(ctx, &tenants[0], spare); err != nil {
		return err
	}

	step("restart: SIGTERM, start again on the same data directory and store")
	term := time.Now()
	if err := srv.terminate(30 * time.Second); err != nil {
		return err
	}
	res.Shutdown = time.Since(term)
	began2 := time.Now()
	if _, err := srv.start(ctx); err != nil {
		return err
	}
	res.RestartAPI = time.Since(began2)
	fmt.Fprintf(out, "bench: restarted server pid %d\n", srv.pid())
	if res.ResyncReconcile, err = scaleWaitResync(ctx, hc, srv.files.MetricsURL, sc.N, res.Networks); err != nil {
		return err
	}
	res.RestartResync = time.Since(began2)

	fmt.Fprintf(out, "bench: machine load average %s at the end (%d CPUs); the server's figures share them\n", loadAvg(), runtime.NumCPU())
	fmt.Fprintln(out)
	fmt.Fprint(out, scaleTable(sc, res))
	return nil
}

// loadAvg returns the 1, 5 and 15 minute load averages, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// scaleTable renders res with the targets; rows not measured yet read "-".
func scaleTable(sc scaleConfig, res *scaleResult) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	secs := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
	verdict := func(measured, ok bool) string {
		switch {
		case !measured:
			return "-"
		case ok:
			return "PASS"
		}
		return "FAIL"
	}
	row := func(name string, measured bool, value, target, result string) {
		if !measured {
			value = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, value, target, result)
	}
	fmt.Fprintf(tw, "measure (N = %d, %d networks, %d tenants)\tvalue\ttarget\tresult\n", sc.N, res.Networks, sc.Tenants)
	row("setup: grants of N VNets", res.Grants > 0, secs(res.Grants), "", "")
	row("server CPU during the grants", res.Grants > 0, cpuOf(res.GrantsCPU, res.Grants), "", "")
	row("setup: N peering creates", res.Creates > 0, secs(res.Creates), "", "")
	row("N new peerings converge (first create → all READY)", res.ConvergeFirst > 0, secs(res.ConvergeFirst),
		"≤ 60 s", verdict(res.ConvergeFirst > 0, res.ConvergeFirst <= scaleTargets.Converge))
	row("convergence (last create → all READY)", res.ConvergeLast > 0, secs(res.ConvergeLast), "", "")
	row("server CPU from first create to all READY", res.ConvergeFirst > 0, cpuOf(res.ConvergeCPU, res.ConvergeFirst), "", "")
	row("server RSS after convergence", res.RSS > 0, fmt.Sprintf("%.1f MiB", float64(res.RSS)/(1<<20)),
		"≤ 512 MiB", verdict(res.RSS > 0, res.RSS <= scaleTargets.RSS))
	idle := res.IdleMeasured
	row(fmt.Sprintf("server idle CPU over %v", sc.Idle), idle, fmt.Sprintf("%.2f %%", res.IdleCPU),
		"≤ 2 % of one core", verdict(idle, res.IdleCPU <= scaleTargets.IdleCPU))
	row("list page p50 (page_size=100)", res.ListAll > 0, ms(res.ListP50), "≤ 5 ms", verdict(res.ListAll > 0, res.ListP50 <= scaleTargets.ListP50))
	row("list page p99", res.ListAll > 0, ms(res.ListP99), "", "")
	row(fmt.Sprintf("page through all N (%d pages)", res.ListPages), res.ListAll > 0, ms(res.ListAll), "", "")
	row(fmt.Sprintf("ARM write p50 (tag PATCH, %d customer VNets)", res.ARMStartVNets), res.ARMStart > 0, ms(res.ARMStart), "", "")
	ratio := 0.0
	if res.ARMStart > 0 {
		ratio = float64(res.ARMAtN) / float64(res.ARMStart)
	}
	row(fmt.Sprintf("ARM write p50 (tag PATCH, %d customer VNets)", res.ARMAtNVNets), res.ARMAtN > 0, ms(res.ARMAtN),
		"≤ 1.5× the first", verdict(res.ARMAtN > 0, ratio <= scaleTargets.ARMRatio))
	row("restart: SIGTERM → exit", res.Shutdown > 0, secs(res.Shutdown), "", "")
	row("restart: start → API answering", res.RestartAPI > 0, secs(res.RestartAPI), "", "")
	row("restart: start → full resync", res.RestartResync > 0, secs(res.RestartResync),
		"≤ 10 s", verdict(res.RestartResync > 0, res.RestartResync <= scaleTargets.Resync))
	tw.Flush()
	b.WriteString("full resync: the new leader reconciled at least every stored network and peering once since start\n" +
		"(peerplane_reconcile_total by kind on /metrics) and its queue is empty.\n")
	return b.String()
}

// cpuOf renders CPU time used over wall time d: "12.30 s (41 % of one core)".
func cpuOf(cpu, d time.Duration) string {
	return fmt.Sprintf("%.2f s (%.0f %% of one core)", cpu.Seconds(), 100*cpu.Seconds()/d.Seconds())
}

// scaleNetworkCIDR is network k's /16: 10.2.0.0/16 on, clear of the
// reserved 10.253 and 10.254 for k < 200 (scaleMax / scalePerNetwork).
func scaleNetworkCIDR(k int) string { return fmt.Sprintf("10.%d.0.0/16", 2+k) }

// scaleVNetCIDR is customer VNet i's /24: in 10.0.0.0/15, apart from every
// other VNet peered with the same network (i mod scalePerNetwork) and from
// every network.
func scaleVNetCIDR(i int) string {
	j := i % scalePerNetwork
	return fmt.Sprintf("10.%d.%d.0/24", j/256, j%256)
}

// scaleTenant is one customer tenant of the world, as its Global
// Administrator sees it through the Azure SDK for Go.
type scaleTenant struct {
	id, sub, rg, admin, password string

	cred   azcore.TokenCredential
	vnets  *armnetwork.VirtualNetworksClient
	assign func(ctx context.Context, scope string) error
	graph  *benchJSON
	role   string // the custom role's definition id
	sp     string // the provider app's service principal, after consent
	opts   *arm.ClientOptions
}

// scaleWriteWorld writes a world file of n customer tenants, each with a
// subscription and a resource group, to path.
func scaleWriteWorld(path string, n int) ([]scaleTenant, error) {
	var f world.File
	var ts []scaleTenant
	for i := range n {
		t := scaleTenant{id: uuid.NewString(), sub: uuid.NewString(), rg: "scale-network",
			admin: fmt.Sprintf("admin@scale%d.example", i), password: "Scale-bench-pass" + strconv.Itoa(i)}
		f.Tenants = append(f.Tenants, world.Tenant{ID: t.id, DisplayName: fmt.Sprintf("Scale customer %d", i), DefaultDomain: fmt.Sprintf("scale%d.example", i),
			Admin: &azureemu.UserSpec{UserPrincipalName: t.admin, DisplayName: "Scale Admin", Password: t.password},
			Subscriptions: []world.Subscription{{ID: t.sub, DisplayName: "Scale production",
				ResourceGroups: []world.ResourceGroup{{Name: t.rg, Location: "eastus"}}}}})
		ts = append(ts, t)
	}
	b, err := json.Marshal(f) // JSON is YAML
	if err != nil {
		return nil, err
	}
	return ts, os.WriteFile(path, b, 0o600)
}

// connect signs the administrator in and makes the tenant's clients.
func (t *scaleTenant) connect(ctx context.Context, azureURL string, copts policy.ClientOptions, armOpts *arm.ClientOptions, hc *http.Client) error {
	cred, err := azidentity.NewUsernamePasswordCredential(t.id, azureemu.AzureCLIClientID, t.admin, t.password,
		&azidentity.UsernamePasswordCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		return err
	}
	t.cred, t.opts = cred, armOpts
	if t.vnets, err = armnetwork.NewVirtualNetworksClient(t.sub, cred, armOpts); err != nil {
		return err
	}
	ras, err := armauthorization.NewRoleAssignmentsClient(t.sub, cred, armOpts)
	if err != nil {
		return err
	}
	t.assign = func(ctx context.Context, scope string) error {
		_, err := ras.Create(ctx, scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{
			Properties: &armauthorization.RoleAssignmentProperties{
				RoleDefinitionID: to.Ptr(t.role), PrincipalID: to.Ptr(t.sp),
				PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
			}}, nil)
		return err
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{azureURL + "/graph//.default"}})
	if err != nil {
		return fmt.Errorf("sign in as %s: %w", t.admin, err)
	}
	t.graph = &benchJSON{http: hc, base: azureURL + "/graph/v1.0", header: http.Header{"Authorization": {"Bearer " + tok.Token}}}
	return nil
}

// grantTenant gives admin consent to the provider app (as `az ad sp
// create --id APP`) and defines the Peering Creator role at the
// subscription.
func (t *scaleTenant) grantTenant(ctx context.Context, appID string) error {
	var err error
	if t.sp, err = (&benchCustomer{graph: t.graph}).consent(ctx, appID); err != nil {
		return fmt.Errorf("consent: %w", err)
	}
	rds, err := armauthorization.NewRoleDefinitionsClient(t.cred, t.opts)
	if err != nil {
		return err
	}
	scope := "/subscriptions/" + t.sub
	name := uuid.NewString()
	resp, err := rds.CreateOrUpdate(ctx, scope, name, armauthorization.RoleDefinition{
		Properties: &armauthorization.RoleDefinitionProperties{
			RoleName: to.Ptr(benchRoleName), RoleType: to.Ptr("CustomRole"),
			Permissions:      []*armauthorization.Permission{{Actions: to.SliceOfPtrs(benchRoleActions...)}},
			AssignableScopes: []*string{to.Ptr(scope)},
		}}, nil)
	if err != nil {
		return fmt.Errorf("role definition: %w", err)
	}
	t.role = *resp.ID
	return nil
}

// createVNet creates a VNet with the ConfluentEnvIDs tag env (none when
// empty) and returns its id.
func (t *scaleTenant) createVNet(ctx context.Context, name, cidr, env string) (string, error) {
	v := armnetwork.VirtualNetwork{Location: to.Ptr("eastus"),
		Properties: &armnetwork.VirtualNetworkPropertiesFormat{AddressSpace: &armnetwork.AddressSpace{AddressPrefixes: []*string{to.Ptr(cidr)}}}}
	if env != "" {
		v.Tags = map[string]*string{"ConfluentEnvIDs": to.Ptr(env)}
	}
	poller, err := t.vnets.BeginCreateOrUpdate(ctx, t.rg, name, v, nil)
	if err != nil {
		return "", err
	}
	r, err := poller.PollUntilDone(ctx, nil)
	if err != nil {
		return "", err
	}
	return *r.ID, nil
}

// scaleARMWriteCost times scaleARMWrites tag PATCHes of vnet and returns
// their median.
func scaleARMWriteCost(ctx context.Context, t *scaleTenant, vnet string) (time.Duration, error) {
	name := vnet[strings.LastIndex(vnet, "/")+1:]
	ds := make([]time.Duration, 0, scaleARMWrites)
	for i := range scaleARMWrites {
		start := time.Now()
		if _, err := t.vnets.UpdateTags(ctx, t.rg, name, armnetwork.TagsObject{
			Tags: map[string]*string{"bench": to.Ptr(strconv.Itoa(i))}}, nil); err != nil {
			return 0, fmt.Errorf("tag PATCH: %w", err)
		}
		ds = append(ds, time.Since(start))
	}
	return benchPercentile(ds, 0.5), nil
}

// scaleWaitReady polls env's peerings that are not READY (the list's
// status.phase filter, so that the poll costs the server less as they
// converge) until none is left, then confirms that n are READY.
func scaleWaitReady(ctx context.Context, api *benchJSON, env string, n int, out io.Writer) error {
	notReady := "&status.phase=PROVISIONING&status.phase=FAILED&status.phase=DISCONNECTED&status.phase=PENDING_ACCEPT&status.phase=DEPROVISIONING"
	// Each poll pages through what is left: poll less often when much is.
	every := min(max(250*time.Millisecond, time.Duration(n)*100*time.Microsecond), time.Second)
	lastReport := time.Now()
	for {
		ps, err := benchListPeeringsQuery(ctx, api, env, notReady)
		if err != nil {
			return err
		}
		phases := map[string]int{}
		for _, p := range ps {
			phases[p.Status.Phase]++
		}
		if len(ps) == 0 {
			all, err := benchListPeerings(ctx, api, env)
			if err != nil {
				return err
			}
			ready := 0
			for _, p := range all {
				if p.Status.Phase == "READY" {
					ready++
				}
			}
			if ready >= n {
				return nil
			}
		}
		if time.Since(lastReport) >= 10*time.Second {
			fmt.Fprintf(out, "bench:          %d of %d not READY yet %v\n", len(ps), n, phases)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d peerings not READY (%v): %w", len(ps), n, phases, ctx.Err())
		case <-time.After(every):
		}
	}
}

// scaleListLatency pages through env's peerings with page_size=100 and
// returns the pages' p50 and p99, the time of the whole walk and its page
// count.
func scaleListLatency(ctx context.Context, api *benchJSON, env string, n int) (p50, p99, all time.Duration, pages int, err error) {
	var ds []time.Duration
	seen := 0
	path := "/networking/v1/peerings?environment=" + env + "&page_size=100"
	start := time.Now()
	for path != "" {
		var page struct {
			Metadata struct {
				Next string `json:"next"`
			} `json:"metadata"`
			Data []json.RawMessage `json:"data"`
		}
		t0 := time.Now()
		if _, err := api.do(ctx, http.MethodGet, path, nil, &page); err != nil {
			return 0, 0, 0, 0, err
		}
		ds = append(ds, time.Since(t0))
		seen += len(page.Data)
		path = ""
		if page.Metadata.Next != "" {
			u, err := url.Parse(page.Metadata.Next)
			if err != nil {
				return 0, 0, 0, 0, err
			}
			path = u.RequestURI()
		}
	}
	all = time.Since(start)
	if seen != n {
		return 0, 0, 0, 0, fmt.Errorf("paged through %d peerings, not %d", seen, n)
	}
	return benchPercentile(ds, 0.5), benchPercentile(ds, 0.99), all, len(ds), nil
}

// scaleWaitResync polls /metrics until the leader reconciled at least
// networks networks and n peerings since start with an empty queue, and
// returns the peering reconciles counted then.
func scaleWaitResync(ctx context.Context, hc *http.Client, metricsURL string, n, networks int) (int, error) {
	var m map[string]float64
	for {
		var err error
		m, err = scaleMetrics(ctx, hc, metricsURL)
		if err == nil && m["lease"] == 1 && m["peering"] >= float64(n) && m["network"] >= float64(networks) && m["depth"] == 0 {
			return int(m["peering"]), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("full resync: %v peering and %v network reconciles, queue depth %v (last error %v): %w", m["peering"], m["network"], m["depth"], err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// scaleMetrics reads what scaleWaitResync needs from /metrics: reconciles
// by kind ("peering", "network"), the queue depth ("depth") and whether
// this replica leads ("lease").
func scaleMetrics(ctx context.Context, hc *http.Client, metricsURL string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", metricsURL, resp.Status)
	}
	fams, err := metrics.ParseText(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", metricsURL, err)
	}
	m := map[string]float64{}
	m["peering"], _ = fams.Value("peerplane_reconcile_total", "kind", "peering")
	m["network"], _ = fams.Value("peerplane_reconcile_total", "kind", "network")
	m["depth"], _ = fams.Value("peerplane_reconcile_queue_depth")
	m["lease"], _ = fams.Value("peerplane_leader_lease_held", "lease", "reconciler")
	return m, nil
}

// procRSS returns the resident set size of process pid.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// procCPU returns the user and system CPU time process pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing parenthesis (field 3, state, comes first).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// procIdleCPU returns the CPU process pid uses over d, as a percentage of
// one core.
func procIdleCPU(ctx context.Context, pid int, d time.Duration) (float64, error) {
	c0, err := procCPU(pid)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	c1, err := procCPU(pid)
	if err != nil {
		return 0, err
	}
	return 100 * float64(c1-c0) / float64(time.Since(t0)), nil
}

// scaleServer is `peerplane serve` as a child process on two fixed
// loopback ports, so that a restart keeps its URLs.
type scaleServer struct {
	bin, dataDir, dsn, world, profile string
	api, azure                        string
	env                               []string
	cmd                               *exec.Cmd
	exited                            chan struct{}
	log                               *os.File
	starts                            int
	files                             scaleFiles
	provider                          ProviderCredentials
}

// scaleFiles is what serve writes into its data directory for clients.
type scaleFiles struct {
	APIURL, MetricsURL, AzureURL, CAFile string
	APIKey, APISecret                    string
}

func newScaleServer(dataDir, dsn, worldFile, profile string) (*scaleServer, error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ports := make([]string, 2)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ports[i] = ln.Addr().String()
		ln.Close()
	}
	log, err := os.Create(filepath.Join(filepath.Dir(dataDir), "server.log"))
	if err != nil {
		return nil, err
	}
	env := os.Environ()
	if dsn != "" {
		env = append(env, "PEERPLANE_SECRET_KEY="+seal.NewSecret())
	}
	return &scaleServer{bin: bin, dataDir: dataDir, dsn: dsn, world: worldFile, profile: profile,
		api: ports[0], azure: ports[1], env: env, log: log}, nil
}

func (s *scaleServer) pid() int { return s.cmd.Process.Pid }

// start runs the server and returns once its API answers and it wrote
// endpoints.json, with the time that took.
func (s *scaleServer) start(ctx context.Context) (time.Duration, error) {
	began := time.Now()
	os.Remove(filepath.Join(s.dataDir, "endpoints.json"))
	args := []string{"serve", "--data-dir", s.dataDir, "--listen", s.api, "--azure-listen", s.azure, "--world", s.world,
		"--dataplane", "off", "--api-rate-limit", "0", "--log-level", "warn"}
	if s.dsn != "" {
		args = append(args, "--store", s.dsn)
	}
	if s.profile != "" {
		p := s.profile
		if s.starts > 0 {
			p += "." + strconv.Itoa(s.starts)
		}
		args = append(args, "--cpuprofile", p)
	}
	fmt.Fprintf(s.log, "===== start %d: %s\n", s.starts, strings.Join(args, " "))
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = s.log, s.log, s.env
	// The server dies with the bench, even a SIGKILLed one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	exited := s.exited
	go func() { cmd.Wait(); close(exited) }()
	s.starts++
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := hc.Get("http://" + s.api + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if err := s.readFiles(); err == nil {
					return time.Since(began), nil
				}
			}
		}
		select {
		case <-exited:
			return 0, fmt.Errorf("the server exited: %v; its log: %s", cmd.ProcessState, s.log.Name())
		case <-ctx.Done():
			return 0, fmt.Errorf("the server did not answer: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// readFiles reads endpoints.json, credentials.json and provider.json as
// the CLI commands do.
func (s *scaleServer) readFiles() error {
	var ep struct {
		APIURL     string `json:"api_url"`
		MetricsURL string `json:"metrics_url"`
		URL        string `json:"url"`
		CAFile     string `json:"ca_file"`
	}
	var cr Credentials
	for _, f := range []struct {
		name string
		v    any
	}{{"endpoints.json", &ep}, {"credentials.json", &cr}, {"provider.json", &s.provider}} {
		b, err := os.ReadFile(filepath.Join(s.dataDir, f.name))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, f.v); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if ep.CAFile != "" && !filepath.IsAbs(ep.CAFile) {
		ep.CAFile = filepath.Join(s.dataDir, filepath.Base(ep.CAFile))
	}
	s.files = scaleFiles{APIURL: ep.APIURL, MetricsURL: ep.MetricsURL, AzureURL: ep.URL, CAFile: ep.CAFile, APIKey: cr.APIKey, APISecret: cr.APISecret}
	return nil
}

// terminate SIGTERMs the server and waits up to grace for it to exit.
func (s *scaleServer) terminate(grace time.Duration) error {
	if s.cmd == nil {
		return nil
	}
	select {
	case <-s.exited:
		return nil
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(grace):
		s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("the server did not exit within %v of SIGTERM; killed", grace)
	}
}

// stop ends the server (SIGTERM, then SIGKILL) and closes its log.
func (s *scaleServer) stop() {
	s.terminate(15 * time.Second)
	s.log.Close()
}

// scalePostgresSchema creates a schema scale_<random> in the database at
// base and returns base with search_path set to it, a note on the
// database's settings that bear on the figures ("" when none), and a
// function that drops the schema.
func scalePostgresSchema(ctx context.Context, base string) (dsn, note string, drop func(), err error) {
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		return "", "", nil, err
	}
	db := stdlib.OpenDB(*cfg)
	var b [6]byte
	rand.Read(b[:])
	schema := "scale_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		return "", "", nil, err
	}
	drop = func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(dctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: drop schema %s: %v\n", schema, err)
		}
		db.Close()
	}
	// Without autovacuum no table is ever analyzed: the planner keeps the
	// estimates of empty tables, which can change the list's plan.
	var av string
	if err := db.QueryRowContext(ctx, "SHOW autovacuum").Scan(&av); err == nil && av != "on" {
		note = "PostgreSQL runs with autovacuum " + av + ": its tables are never analyzed, so its plans use the statistics of empty tables"
	}
	u, err := url.Parse(base)
	if err != nil {
		drop()
		return "", "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), note, drop, nil
}

// scaleRedact hides a password in a store URL.
func scaleRedact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return u.Redacted()
	}
	return "postgres"
}
