package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/dataplane"
	"github.com/peerplane/peerplane/internal/seal"
	"github.com/peerplane/peerplane/internal/store/storetest"
)

// The crash test's kill count: -crash.kills=N, or $PEERPLANE_CRASH_KILLS,
// or 50.
var crashKills = flag.Int("crash.kills", 0, "SIGKILLs per store in TestCrash (default $PEERPLANE_CRASH_KILLS or 50)")

func crashKillCount(t *testing.T) int {
	if *crashKills > 0 {
		return *crashKills
	}
	if s := os.Getenv("PEERPLANE_CRASH_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("PEERPLANE_CRASH_KILLS=%q: want a positive integer", s)
		}
		return n
	}
	return 50
}

// TestCrash SIGKILLs `peerplane serve` at random points while peerings are
// created and deleted and while the reconciler works on them, restarts it
// on the same data, and checks that everything acknowledged converged:
// created peerings READY with exactly one Connected half on each side,
// deleted ones gone everywhere, nothing lost, nothing duplicated, no
// orphaned Azure half.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := peerplaneBinary(t)
	kills := crashKillCount(t)
	t.Run("SQLite", func(t *testing.T) { crashRun(t, bin, "", kills) })
	t.Run("Postgres", func(t *testing.T) {
		base := os.Getenv("PEERPLANE_TEST_POSTGRES_URL")
		if base == "" {
			t.Skip("set PEERPLANE_TEST_POSTGRES_URL to run the crash test on PostgreSQL")
		}
		crashRun(t, bin, storetest.PostgresDSN(t, base), kills)
	})
}

// serveProcess is a `peerplane serve` child process on fixed ports, which
// the test may kill and start again.
type serveProcess struct {
	t       *testing.T
	bin     string
	dir     string    // the data directory
	workDir string    // the working directory; "" for the test's
	env     []string  // the environment; nil for the test's
	stderr  io.Writer // also receives the server's stderr, when set
	args    []string
	apiURL  string
	log     *os.File
	cmd     *exec.Cmd
	exited  chan struct{}
	starts  int
	began   time.Time
	startup []time.Duration
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newCrashServer(t *testing.T, bin, dsn string) *serveProcess {
	dir := t.TempDir()
	args := []string{"--data-dir", dir, "--demo", "--log-level", "info", "--dataplane", "off"}
	if dsn != "" {
		args = append(args, "--store", dsn)
	}
	// A dead leader's lease blocks the next for its TTL; keep it short so
	// the restarted reconciler resumes within the test's time. PostgreSQL
	// needs a key to seal the installation's identity.
	return newServeProcess(t, bin, "", dir, append(os.Environ(), "PEERPLANE_LEASE_TTL=600ms", "PEERPLANE_SECRET_KEY="+seal.NewSecret()), args...)
}

// newServeProcess prepares `peerplane serve --listen … --azure-listen …
// args…` on two free loopback ports, with dataDir its data directory (where
// it writes endpoints.json), run in workDir ("" for the test's) with env
// (nil for the test's). Its output goes to a log shown when the test fails;
// the process is killed when the test ends.
func newServeProcess(t *testing.T, bin, workDir, dataDir string, env []string, args ...string) *serveProcess {
	api, az := freePort(t), freePort(t)
	args = append([]string{"serve", "--listen", api, "--azure-listen", az}, args...)
	log, err := os.Create(filepath.Join(t.TempDir(), "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	s := &serveProcess{t: t, bin: bin, dir: dataDir, workDir: workDir, env: env, args: args, apiURL: "http://" + api, log: log}
	t.Cleanup(func() {
		s.kill()
		// A SIGKILL leaves the data plane's namespaces (the next start on
		// this data directory would remove them): remove them now.
		if err := dataplane.Cleanup(dataDir); err != nil && dataplane.Available() == nil {
			t.Errorf("remove the data plane left by the killed server: %v", err)
		}
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("server log tail:\n%s", b)
		}
	})
	return s
}

// start runs the server and waits until its API answers.
func (s *serveProcess) start() {
	s.t.Helper()
	s.launch()
	s.waitReady()
}

// launch starts the server process without waiting for it, so that a
// test can start several at once.
func (s *serveProcess) launch() {
	s.t.Helper()
	s.began = time.Now()
	fmt.Fprintf(s.log, "===== start %d\n", s.starts)
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if s.stderr != nil {
		cmd.Stderr = io.MultiWriter(s.log, s.stderr)
	}
	cmd.Dir, cmd.Env = s.workDir, s.env
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	exited := s.exited
	go func() { cmd.Wait(); close(exited) }()
	s.starts++
}

// waitReady waits until the launched server's API answers and it wrote
// endpoints.json.
func (s *serveProcess) waitReady() {
	s.t.Helper()
	cmd, exited := s.cmd, s.exited
	for deadline := time.Now().Add(30 * time.Second); ; {
		// The API may answer a moment before endpoints.json is written.
		resp, err := http.Get(s.apiURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if _, ferr := os.Stat(filepath.Join(s.dir, "endpoints.json")); ferr == nil && resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			s.t.Fatalf("the server exited at start %d: %v", s.starts, cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the server did not answer within 30s of start %d", s.starts)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.startup = append(s.startup, time.Since(s.began))
}

// kill SIGKILLs the server, if running, and waits for it.
func (s *serveProcess) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	fmt.Fprintf(s.log, "===== SIGKILL\n")
	s.cmd = nil
}

// stop ends the server with SIGTERM, as an operator would, waits for it,
// and fails the test unless it exited with status 0.
func (s *serveProcess) stop() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	cmd := s.cmd
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.t.Fatal("the server did not stop within 30s of SIGTERM")
	}
	fmt.Fprintf(s.log, "===== SIGTERM: %v\n", cmd.ProcessState)
	s.cmd = nil
	if !cmd.ProcessState.Success() {
		s.t.Fatalf("the server exited with %v after SIGTERM", cmd.ProcessState)
	}
}

// alive fails the test if the server died on its own.
func (s *serveProcess) alive() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	select {
	case <-s.exited:
		s.t.Fatalf("the server died on its own: %v", s.cmd.ProcessState)
	default:
	}
}

func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// crashRand returns the crash test's source of choices, seeded from
// $PEERPLANE_CRASH_SEED or the clock, and logs the seed.
func crashRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PEERPLANE_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (PEERPLANE_CRASH_SEED to replay the choices; timing still varies)", seed)
	return rand.New(rand.NewPCG(seed, 0))
}

// crashClients are the clients of a started crash server: the API with
// its key, the provider's credentials, and the embedded Azure's endpoints
// with an HTTP client that trusts its CA.
type crashClients struct {
	api  *benchJSON
	prov ProviderCredentials
	ahc  *http.Client
	eps  struct {
		URL    string `json:"url"`
		CAFile string `json:"ca_file"`
	}
}

func newCrashClients(t *testing.T, srv *serveProcess) *crashClients {
	t.Helper()
	cl := &crashClients{}
	var creds Credentials
	readJSONFile(t, filepath.Join(srv.dir, "credentials.json"), &creds)
	readJSONFile(t, filepath.Join(srv.dir, "provider.json"), &cl.prov)
	readJSONFile(t, filepath.Join(srv.dir, "endpoints.json"), &cl.eps)
	cl.api = newBenchAPI(&http.Client{Timeout: 20 * time.Second}, srv.apiURL, creds.APIKey, creds.APISecret)
	var err error
	if cl.ahc, err = benchAzureHTTP(cl.eps.CAFile); err != nil {
		t.Fatal(err)
	}
	return cl
}

// grantAll is the customer granting everything once: consent to the
// provider app and the peering role on the whole subscription. It returns
// the customer.
func (cl *crashClients) grantAll(t *testing.T, ctx context.Context) *benchCustomer {
	t.Helper()
	cust, err := newBenchCustomer(ctx, cl.ahc, cl.eps.URL)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := cust.consent(ctx, cl.prov.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	role, err := cust.createRole(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cust.assignRole(ctx, "/subscriptions/"+benchSubscription, role, sp); err != nil {
		t.Fatal(err)
	}
	return cust
}

// crashPeering is one acknowledged peering create.
type crashPeering struct {
	id      string
	vnet    int
	deleted bool // the delete was acknowledged
	gone    bool // seen 404 after the delete
}

func crashRun(t *testing.T, bin, dsn string, kills int) {
	const vnets = 12
	began := time.Now()
	rnd := crashRand(t)
	ctx := context.Background()

	srv := newCrashServer(t, bin, dsn)
	srv.start()
	cl := newCrashClients(t, srv)
	api, prov, ahc, eps := cl.api, cl.prov, cl.ahc, cl.eps
	var err error

	// The customer grants everything once: consent, the role on the whole
	// subscription, and VNets tagged with the environment.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	env, err := benchCreateEnv(ctx, api, "crash")
	must(err)
	nw, err := benchCreateNetwork(ctx, api, env, "10.200.0.0/16")
	must(err)
	provVNet, err := benchWaitNetwork(ctx, api, env, nw, 30*time.Second)
	must(err)
	cust := cl.grantAll(t, ctx)
	vnetIDs := make([]string, vnets)
	for i := range vnets {
		vnetIDs[i], err = cust.createVNet(ctx, fmt.Sprintf("crash-vnet-%02d", i), fmt.Sprintf("10.%d.0.0/16", 10+i), env)
		must(err)
	}

	var all []*crashPeering
	current := map[int]*crashPeering{} // VNet → its last acknowledged create
	var creates, deletes, conflicts, midReconcile int

	// op runs one API operation and records what was acknowledged.
	op := func() {
		t.Helper()
		var free, live []int
		for i := range vnets {
			switch p := current[i]; {
			case p == nil || p.gone:
				free = append(free, i)
			case !p.deleted:
				live = append(live, i)
			}
		}
		if len(free) > 0 && (len(live) == 0 || rnd.IntN(100) < 65) {
			i := free[rnd.IntN(len(free))]
			p, st, err := benchCreatePeering(ctx, api, env, nw, benchTenant, vnetIDs[i], fmt.Sprintf("crash-%d", len(all)))
			switch {
			case st == http.StatusConflict:
				conflicts++ // a deleted peering of that VNet is still being removed
				return
			case err != nil || st != http.StatusAccepted:
				srv.alive()
				t.Fatalf("create peering: %d %v", st, err)
			}
			cp := &crashPeering{id: p.ID, vnet: i}
			all = append(all, cp)
			current[i] = cp
			creates++
			return
		}
		if len(live) == 0 {
			return
		}
		cp := current[live[rnd.IntN(len(live))]]
		st, err := api.do(ctx, http.MethodDelete, "/networking/v1/peerings/"+cp.id+"?environment="+env, nil, nil)
		switch {
		case st == http.StatusNotFound:
			t.Fatalf("lost write: acknowledged peering %s is 404 before its delete", cp.id)
		case err != nil || st != http.StatusNoContent:
			srv.alive()
			t.Fatalf("delete peering %s: %d %v", cp.id, st, err)
		}
		cp.deleted = true
		deletes++
	}

	// check reads every acknowledged peering: a live one must exist, and a
	// deleted one must be DEPROVISIONING or gone.
	check := func() {
		t.Helper()
		for _, cp := range all {
			if cp.gone {
				continue
			}
			p, st, err := benchGetPeering(ctx, api, env, cp.id)
			switch {
			case st == http.StatusNotFound && !cp.deleted:
				t.Fatalf("lost write: acknowledged peering %s is 404", cp.id)
			case st == http.StatusNotFound:
				cp.gone = true
			case err != nil:
				srv.alive()
				t.Fatalf("get peering %s: %v", cp.id, err)
			case cp.deleted && p.Status.Phase != "DEPROVISIONING":
				t.Fatalf("lost write: peering %s is %s after its acknowledged delete", cp.id, p.Status.Phase)
			case !cp.deleted && p.Status.Phase == "DEPROVISIONING":
				t.Fatalf("peering %s is DEPROVISIONING but was never deleted", cp.id)
			}
		}
	}

	for k := range kills {
		if k > 0 {
			srv.start()
		}
		check()
		// Let the new process become leader, or not yet, at random.
		time.Sleep(time.Duration(rnd.IntN(900)) * time.Millisecond)
		for range 1 + rnd.IntN(3) {
			op()
		}
		if rnd.IntN(2) == 0 {
			time.Sleep(time.Duration(rnd.IntN(301)) * time.Millisecond)
		} else {
			// Mid-reconcile: wait until the reconciler has moved some
			// peering on, then kill at once or a little later.
			midReconcile++
			before := crashPhases(ctx, api, env, all)
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
				if !maps.Equal(before, crashPhases(ctx, api, env, all)) {
					break
				}
				time.Sleep(2 * time.Millisecond)
			}
			time.Sleep(time.Duration(rnd.IntN(40)) * time.Millisecond)
		}
		srv.alive()
		srv.kill()
	}

	// No more kills: everything acknowledged must converge.
	srv.start()
	convergeStart := time.Now()
	deadline := time.Now().Add(90 * time.Second)
	for {
		pending := []string{}
		for _, cp := range all {
			if cp.gone {
				continue
			}
			p, st, err := benchGetPeering(ctx, api, env, cp.id)
			switch {
			case st == http.StatusNotFound && cp.deleted:
				cp.gone = true
			case st == http.StatusNotFound:
				t.Fatalf("lost write: acknowledged peering %s is 404", cp.id)
			case err != nil:
				srv.alive()
				t.Fatalf("get peering %s: %v", cp.id, err)
			case cp.deleted:
				pending = append(pending, cp.id+" "+p.Status.Phase+" (deleted)")
			case p.Status.Phase != "READY":
				pending = append(pending, fmt.Sprintf("%s %s %s %s", cp.id, p.Status.Phase, p.Status.ErrorCode, p.Status.ErrorMessage))
			}
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not converged 90s after the last restart:\n%s", strings.Join(pending, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	converged := time.Since(convergeStart)

	// The API lists exactly the live peerings, one per VNet.
	live := map[string]*crashPeering{}
	for _, cp := range all {
		if !cp.deleted {
			live[strings.ToLower(cp.id)] = cp
		}
	}
	listed, err := benchListPeerings(ctx, api, env)
	must(err)
	seenVNet := map[string]string{}
	var listedIDs []string
	for _, p := range listed {
		listedIDs = append(listedIDs, p.ID)
		if live[strings.ToLower(p.ID)] == nil {
			t.Errorf("the API lists peering %s (%s), which is not an acknowledged live create", p.ID, p.Status.Phase)
		}
		v := strings.ToLower(p.Spec.Cloud.VNet)
		if other, dup := seenVNet[v]; dup {
			t.Errorf("duplicate: peerings %s and %s both peer %s", other, p.ID, p.Spec.Cloud.VNet)
		}
		seenVNet[v] = p.ID
	}
	if len(listed) != len(live) {
		t.Errorf("the API lists %d peerings %v, want the %d live ones", len(listed), listedIDs, len(live))
	}

	// Azure: exactly one Connected half per live peering on each side, and
	// no other half.
	provARM, err := benchProviderARM(ctx, ahc, eps.URL, prov)
	must(err)
	cust, err = newBenchCustomer(ctx, ahc, eps.URL) // the emulator may have re-keyed
	must(err)
	checkHalves := func(side, vnet string, halves []benchHalf, want func(*crashPeering) bool, remote func(*crashPeering) string) {
		t.Helper()
		seen := map[string]int{}
		for _, h := range halves {
			cp := live[strings.ToLower(h.Name)]
			switch {
			case cp == nil:
				t.Errorf("orphan: %s half %s on %s (state %s) belongs to no live peering", side, h.Name, vnet, h.Properties.PeeringState)
				continue
			case !want(cp):
				t.Errorf("%s half %s is on %s, not on its peering's VNet", side, h.Name, vnet)
			case h.Properties.PeeringState != "Connected":
				t.Errorf("%s half %s on %s is %s, want Connected", side, h.Name, vnet, h.Properties.PeeringState)
			case !strings.EqualFold(h.Properties.RemoteVirtualNetwork.ID, remote(cp)):
				t.Errorf("%s half %s points at %s, want %s", side, h.Name, h.Properties.RemoteVirtualNetwork.ID, remote(cp))
			}
			seen[strings.ToLower(h.Name)]++
		}
		for id, cp := range live {
			if want(cp) && seen[id] != 1 {
				t.Errorf("%s side of %s: %d halves of peering %s, want exactly 1", side, vnet, seen[id], cp.id)
			}
		}
	}
	halves, err := benchListHalves(ctx, provARM, provVNet)
	must(err)
	checkHalves("provider", provVNet, halves, func(*crashPeering) bool { return true }, func(cp *crashPeering) string { return vnetIDs[cp.vnet] })
	for i, v := range vnetIDs {
		halves, err := benchListHalves(ctx, cust.arm, v)
		must(err)
		checkHalves("customer", v, halves, func(cp *crashPeering) bool { return cp.vnet == i }, func(*crashPeering) string { return provVNet })
	}

	slices.Sort(srv.startup)
	t.Logf("%d kills (%d after waiting for the reconciler to move), %d restarts; %d creates, %d deletes acknowledged (%d creates refused 409 while a delete was pending); %d live at the end; converged %v after the last start; median start %v; total %v",
		kills, midReconcile, srv.starts-1, creates, deletes, conflicts, len(live), converged.Round(time.Millisecond),
		srv.startup[len(srv.startup)/2].Round(time.Millisecond), time.Since(began).Round(time.Second))
}

// crashPhases reads the phase of every peering not known gone ("" for 404).
func crashPhases(ctx context.Context, api *benchJSON, env string, all []*crashPeering) map[string]string {
	out := map[string]string{}
	for _, cp := range all {
		if cp.gone {
			continue
		}
		p, st, err := benchGetPeering(ctx, api, env, cp.id)
		switch {
		case st == http.StatusNotFound:
			out[cp.id] = ""
		case err != nil:
			out[cp.id] = "error"
		default:
			out[cp.id] = p.Status.Phase
		}
	}
	return out
}
