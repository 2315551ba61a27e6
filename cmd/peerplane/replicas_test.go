package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/seal"
	"github.com/peerplane/peerplane/internal/store"
	"github.com/peerplane/peerplane/internal/store/storetest"
)

// replicaWait bounds the waits of the replica tests; they only turn a
// hang into a failure.
const replicaWait = 30 * time.Second

// replicaEnv returns the built binary, a fresh PostgreSQL schema and the
// environment every replica of one installation shares: its secret key,
// a lease long enough that a loaded machine does not fail over, and no
// data plane.
func replicaEnv(t *testing.T) (bin, dsn string, env []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short")
	}
	base := os.Getenv("PEERPLANE_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("set PEERPLANE_TEST_POSTGRES_URL to run the replica tests")
	}
	return peerplaneBinary(t), storetest.PostgresDSN(t, base), []string{"PEERPLANE_SECRET_KEY=" + seal.NewSecret(), "PEERPLANE_LEASE_TTL=6s", "PEERPLANE_DATAPLANE=off"}
}

// newReplica prepares `peerplane serve --demo` on the installation at dsn
// with a new, empty data directory, env added to the test's environment
// and more args.
func newReplica(t *testing.T, bin, dsn string, env []string, args ...string) *serveProcess {
	dir := t.TempDir()
	return newServeProcess(t, bin, "", dir, append(os.Environ(), env...),
		append([]string{"--data-dir", dir, "--store", dsn, "--demo", "--log-level", "info"}, args...)...)
}

// startReplicas starts n replicas of the installation at dsn, one after
// the other: the first creates it (on an empty database), the others
// join from the database alone.
func startReplicas(t *testing.T, bin, dsn string, env []string, n int) []*replica {
	t.Helper()
	rs := make([]*replica, n)
	for i := range rs {
		s := newReplica(t, bin, dsn, env)
		s.start()
		rs[i] = openReplica(t, s)
	}
	return rs
}

// replica is a running `peerplane serve` and clients of it, read from
// its data directory.
type replica struct {
	*serveProcess
	creds    Credentials
	prov     ProviderCredentials
	azureURL string
	caFile   string
	api      *benchJSON
	azure    *http.Client // trusts its data directory's azure-ca.pem
}

func openReplica(t *testing.T, s *serveProcess) *replica {
	t.Helper()
	r := &replica{serveProcess: s}
	readJSONFile(t, filepath.Join(s.dir, "credentials.json"), &r.creds)
	readJSONFile(t, filepath.Join(s.dir, "provider.json"), &r.prov)
	var eps struct {
		URL    string `json:"url"`
		CAFile string `json:"ca_file"`
	}
	readJSONFile(t, filepath.Join(s.dir, "endpoints.json"), &eps)
	r.azureURL, r.caFile = eps.URL, eps.CAFile
	r.api = newBenchAPI(&http.Client{Timeout: 20 * time.Second}, s.apiURL, r.creds.APIKey, r.creds.APISecret)
	var err error
	if r.azure, err = benchAzureHTTP(r.caFile); err != nil {
		t.Fatal(err)
	}
	return r
}

// pid is the replica's process id, which its lease holder names.
func (r *replica) pid() int { return r.cmd.Process.Pid }

// sqlDB opens dsn for the test's own queries.
func sqlDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	return db
}

// leaseHolder returns the holder of the reconciler lease, "" when none
// holds it.
func leaseHolder(t *testing.T, db *sql.DB) string {
	t.Helper()
	var holder string
	err := db.QueryRow(`SELECT holder FROM leases WHERE name = 'reconciler' AND expires_at > now()`).Scan(&holder)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	return holder
}

// holderPID is the process id in a lease holder ("host/pid/random").
func holderPID(holder string) int {
	parts := strings.Split(holder, "/")
	if len(parts) < 3 {
		return 0
	}
	pid, _ := strconv.Atoi(parts[len(parts)-2])
	return pid
}

// leaderOf waits until one of rs holds the lease and returns its index
// and the holder.
func leaderOf(t *testing.T, db *sql.DB, rs ...*replica) (int, string) {
	t.Helper()
	for deadline := time.Now().Add(replicaWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		h := leaseHolder(t, db)
		for i, r := range rs {
			if holderPID(h) == r.pid() {
				return i, h
			}
		}
	}
	t.Fatalf("no replica leads within %v", replicaWait)
	return 0, ""
}

// waitPhase polls a peering through api until its phase is want.
func waitPhase(t *testing.T, api *benchJSON, env, id, want string) {
	t.Helper()
	ctx := context.Background()
	var last benchPeering
	for deadline := time.Now().Add(replicaWait); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		p, st, err := benchGetPeering(ctx, api, env, id)
		if want == "404" && st == http.StatusNotFound {
			return
		}
		if err != nil {
			t.Fatalf("get peering %s: %v", id, err)
		}
		if p.Status.Phase == want {
			return
		}
		last = p
	}
	t.Fatalf("peering %s is %s %s (%s), not %s, after %v", id, last.Status.Phase, last.Status.ErrorCode, last.Status.ErrorMessage, want, replicaWait)
}

// TestReplicasReconcileWritesMadeThroughAnyReplica runs two replicas on
// one PostgreSQL and makes every write through the one that does not
// lead: the environment, the network, the peerings, their deletion, and
// the customer's consent, role and assignments through its embedded
// Azure. Everything converges without a failover. Then it times the
// grant → READY of more peerings, half granted and read through the
// non-leader, half through the leader, and logs both medians.
func TestReplicasReconcileWritesMadeThroughAnyReplica(t *testing.T) {
	bin, dsn, env := replicaEnv(t)
	ctx := context.Background()
	db := sqlDB(t, dsn)
	rs := startReplicas(t, bin, dsn, env, 2)
	li, holder := leaderOf(t, db, rs...)
	leader, other := rs[li], rs[1-li]
	t.Logf("leader: replica %d (%s)", li, holder)

	// Through the non-leader only.
	envID, err := benchCreateEnv(ctx, other.api, "replicas")
	if err != nil {
		t.Fatal(err)
	}
	nw, err := benchCreateNetwork(ctx, other.api, envID, "10.200.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := benchWaitNetwork(ctx, other.api, envID, nw, replicaWait); err != nil {
		t.Fatalf("a network created through the non-leader: %v", err)
	}
	cust, err := newBenchCustomer(ctx, other.azure, other.azureURL)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := cust.consent(ctx, other.prov.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	role, err := cust.createRole(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const each = 8
	vnets := make([]string, 2*each)
	peerings := make([]string, 2*each)
	for i := range vnets {
		if vnets[i], err = cust.createVNet(ctx, fmt.Sprintf("replica-vnet-%02d", i), fmt.Sprintf("10.%d.0.0/16", 10+i), envID); err != nil {
			t.Fatal(err)
		}
		p, _, err := benchCreatePeering(ctx, other.api, envID, nw, benchTenant, vnets[i], fmt.Sprintf("replica-%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		peerings[i] = p.ID
	}
	// No role assignment yet: each fails on it.
	for _, id := range peerings {
		waitPhase(t, other.api, envID, id, "FAILED")
	}

	// Grant through a replica and time the peering to READY read through
	// the same replica's API.
	converge := func(via *replica, cust *benchCustomer, i int) time.Duration {
		t.Helper()
		if err := cust.assignRole(ctx, vnets[i], role, sp); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		waitPhase(t, via.api, envID, peerings[i], "READY")
		return time.Since(start)
	}
	var throughOther, throughLeader []time.Duration
	for i := range each {
		throughOther = append(throughOther, converge(other, cust, i))
	}
	// A deletion through the non-leader removes the peering.
	if st, err := other.api.do(ctx, http.MethodDelete, "/networking/v1/peerings/"+peerings[0]+"?environment="+envID, nil, nil); err != nil || st != http.StatusNoContent {
		t.Fatalf("delete through the non-leader: %d %v", st, err)
	}
	waitPhase(t, other.api, envID, peerings[0], "404")

	custL, err := newBenchCustomer(ctx, leader.azure, leader.azureURL)
	if err != nil {
		t.Fatal(err)
	}
	for i := each; i < 2*each; i++ {
		throughLeader = append(throughLeader, converge(leader, custL, i))
	}

	if h := leaseHolder(t, db); h != holder {
		t.Fatalf("the lease moved from %s to %s: writes converged through a failover", holder, h)
	}
	leader.alive()
	other.alive()
	med := func(ds []time.Duration) time.Duration { return benchPercentile(ds, 0.5).Round(10 * time.Microsecond) }
	t.Logf("grant → READY median over %d peerings each: through the non-leader %v, through the leader %v (ratio %.2f)",
		each, med(throughOther), med(throughLeader), float64(med(throughOther))/float64(max(med(throughLeader), 1)))
}

// TestReplicaJoinsFromTheDatabaseAlone starts a second replica with an
// empty data directory: it serves the same provider (tenant,
// subscription, app and secret), its embedded Azure presents a
// certificate of the same CA, it writes the same API key, and the Azure
// SDK as the provider authenticates against either replica. A third
// replica of an installation from before the store kept its identity
// (its rows gone, the files still in the first data directory) moves it
// into the store from the files on restart, unchanged.
func TestReplicaJoinsFromTheDatabaseAlone(t *testing.T) {
	bin, dsn, env := replicaEnv(t)
	db := sqlDB(t, dsn)
	s := newReplica(t, bin, dsn, env)
	s.start()
	a := openReplica(t, s)
	s = newReplica(t, bin, dsn, env)
	s.start()
	b := openReplica(t, s)
	sameInstallation(t, a, b)

	// An installation from before: the files in a's directory (the CA's
	// key among them, as before), nothing in the store. Restarting a moves
	// them in; a new replica then joins.
	a.kill()
	oldDataDir(t, dsn, secretKeyOf(env), a.dir)
	if _, err := db.Exec(`DELETE FROM identity`); err != nil {
		t.Fatal(err)
	}
	a.start()
	a = openReplica(t, a.serveProcess)
	var names []string
	rows, err := db.Query(`SELECT name FROM identity ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	if !slices.Equal(names, []string{identityCA, identityAPIKey, identityProvider}) {
		t.Fatalf("after a restart the store holds the identity documents %v", names)
	}
	s = newReplica(t, bin, dsn, env)
	s.start()
	c := openReplica(t, s)
	sameInstallation(t, a, b)
	sameInstallation(t, a, c)
	var keys int
	if err := db.QueryRow(`SELECT count(*) FROM api_keys`).Scan(&keys); err != nil || keys != 1 {
		t.Fatalf("%d API keys after three replicas and a restart (%v), want the one bootstrap key", keys, err)
	}

	// No secret reaches the store in clear.
	var clear int
	if err := db.QueryRow(`SELECT count(*) FROM identity WHERE position($1::bytea in body) > 0 OR position($2::bytea in body) > 0 OR position($3::bytea in body) > 0`,
		[]byte(a.prov.ClientSecret), []byte(a.creds.APISecret), []byte("PRIVATE KEY")).Scan(&clear); err != nil || clear != 0 {
		t.Fatalf("%d identity documents hold a secret in clear (%v)", clear, err)
	}

	// A replica with another secret key cannot open the identity, one
	// without a key cannot seal it, one naming another provider tenant
	// would serve another provider: each says so and exits.
	for _, c := range []struct {
		what string
		env  []string
		args []string
	}{
		{"does not open with this secret key", append(slices.Clone(env), "PEERPLANE_SECRET_KEY="+seal.NewSecret()), nil},
		{"PEERPLANE_SECRET_KEY", []string{"PEERPLANE_LEASE_TTL=6s", "PEERPLANE_DATAPLANE=off"}, nil},
		{"is not this installation's provider tenant", env, []string{"--provider-tenant-id", "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f"}},
	} {
		what := c.what
		bad := newReplica(t, bin, dsn, c.env, c.args...)
		bad.launch()
		select {
		case <-bad.exited:
		case <-time.After(replicaWait):
			t.Fatalf("a replica that should fail with %q is still running", what)
		}
		if log, _ := os.ReadFile(bad.log.Name()); !strings.Contains(string(log), what) {
			t.Fatalf("a replica exited saying:\n%s\nwant %q", log, what)
		}
	}
}

// secretKeyOf is the value of PEERPLANE_SECRET_KEY in env.
func secretKeyOf(env []string) string {
	var key string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PEERPLANE_SECRET_KEY="); ok {
			key = v
		}
	}
	return key
}

// TestOldInstallationMovesIntoTheStore restarts a SQLite installation
// from before the store kept its identity (provider.json, credentials.json
// and the CA's files in the data directory, nothing in the store): it
// keeps its provider, API key and CA, now from the store, sealed with the
// key generated into the data directory.
func TestOldInstallationMovesIntoTheStore(t *testing.T) {
	dir := t.TempDir()
	e := startE2E(t, dir)
	before := e.r
	ca, _ := os.ReadFile(before.CAFile)
	e.stop()
	key, err := os.ReadFile(filepath.Join(dir, secretKeyFile))
	if err != nil {
		t.Fatalf("no generated secret key: %v", err)
	}
	dsn := filepath.Join(dir, "peerplane.db")
	oldDataDir(t, dsn, strings.TrimSpace(string(key)), dir)
	db, err := sql.Open("sqlite", dsn) // the driver store registers
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM identity`); err != nil {
		t.Fatal(err)
	}

	e = startE2E(t, dir)
	caAfter, _ := os.ReadFile(e.r.CAFile)
	if e.r.Provider != before.Provider || e.r.Credentials != before.Credentials || string(ca) != string(caAfter) {
		t.Fatalf("after the move: provider %+v, key %s, same CA %v; before: %+v, %s",
			e.r.Provider, e.r.Credentials.APIKey, string(ca) == string(caAfter), before.Provider, before.Credentials.APIKey)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM identity`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d identity documents in the store after the restart (%v), want 3", n, err)
	}
}

// oldDataDir writes the CA's key next to its certificate in dir, as
// `peerplane serve` did before the store kept the CA.
func oldDataDir(t *testing.T, dsn, secretKey, dir string) {
	t.Helper()
	box, err := seal.New(secretKey)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in := &installation{db: st, box: box, dir: dir, log: slog.New(slog.DiscardHandler)}
	ca, err := in.loadCA(context.Background())
	if err == nil {
		err = ca.Write(dir)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// sameInstallation checks that replicas a and b serve one installation.
func sameInstallation(t *testing.T, a, b *replica) {
	t.Helper()
	if a.prov != b.prov {
		t.Fatalf("provider.json differs:\n%+v\n%+v", a.prov, b.prov)
	}
	if a.creds != b.creds {
		t.Fatalf("credentials.json differs: %s and %s", a.creds.APIKey, b.creds.APIKey)
	}
	caA, _ := os.ReadFile(a.caFile)
	caB, _ := os.ReadFile(b.caFile)
	if len(caA) == 0 || string(caA) != string(caB) {
		t.Fatalf("azure-ca.pem differs between %s and %s", a.caFile, b.caFile)
	}
	// Each one's embedded Azure presents a certificate that a client
	// trusting only the other's azure-ca.pem accepts, and the provider
	// app signs in to each and lists its subscription's VNets.
	for _, pair := range [][2]*replica{{a, b}, {b, a}} {
		from, to := pair[0], pair[1]
		resp, err := from.azure.Get(to.azureURL + "/")
		if err != nil {
			t.Fatalf("a client trusting %s cannot reach %s: %v", from.caFile, to.azureURL, err)
		}
		resp.Body.Close()
		vnets := providerVNets(t, to.azureURL, from.azure, from.prov)
		if vnets < 0 {
			t.Fatalf("the provider app cannot list its VNets through %s", to.azureURL)
		}
	}
	for _, r := range []*replica{a, b} {
		if _, err := benchListPeerings(context.Background(), r.api, "env-none"); benchStatus(err) == http.StatusUnauthorized {
			t.Fatalf("the API key of credentials.json is refused by %s", r.apiURL)
		}
	}
}

// providerVNets signs in with the Azure SDK as the provider app through
// azureURL and counts the VNets of the provider subscription.
func providerVNets(t *testing.T, azureURL string, hc *http.Client, p ProviderCredentials) int {
	t.Helper()
	copts := embeddedAzureOptions(azureURL, hc)
	cred, err := azidentity.NewClientSecretCredential(p.TenantID, p.ClientID, p.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := armnetwork.NewVirtualNetworksClient(p.SubscriptionID, cred, &arm.ClientOptions{ClientOptions: copts})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for pager := c.NewListAllPager(nil); pager.More(); {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list the provider's VNets through %s as the provider app: %v", azureURL, err)
		}
		n += len(page.Value)
	}
	return n
}

// roundRobin is a TCP proxy handing each new connection to the next
// backend: one address in front of several replicas, as a load balancer.
type roundRobin struct {
	ln       net.Listener
	backends []string
	next     atomic.Int64
	wg       sync.WaitGroup
}

func newRoundRobin(t *testing.T, backends ...string) *roundRobin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &roundRobin{ln: ln, backends: backends}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			to := p.backends[int(p.next.Add(1)-1)%len(p.backends)]
			p.wg.Go(func() {
				defer c.Close()
				b, err := net.Dial("tcp", to)
				if err != nil {
					return
				}
				defer b.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(b, c); done <- struct{}{} }()
				go func() { io.Copy(c, b); done <- struct{}{} }()
				<-done
			})
		}
	})
	t.Cleanup(func() { ln.Close() })
	return p
}

// TestReplicasStartingTogetherCreateOneProvider starts three replicas at
// once on an empty database, behind one address for their embedded Azure:
// they create exactly one provider tenant, one provider subscription, one
// operator API key, and serve them alike; the provider app signs in and
// lists its VNets through the shared address, one connection per request,
// so that requests land on different replicas.
func TestReplicasStartingTogetherCreateOneProvider(t *testing.T) {
	bin, dsn, env := replicaEnv(t)
	azurePorts := []string{freePort(t), freePort(t), freePort(t)}
	lb := newRoundRobin(t, azurePorts...)
	servers := make([]*serveProcess, len(azurePorts))
	for i, port := range azurePorts {
		servers[i] = newReplica(t, bin, dsn, env, "--azure-listen", port, "--azure-url", "https://"+lb.ln.Addr().String())
	}
	for _, s := range servers {
		s.launch()
	}
	rs := make([]*replica, len(servers))
	for i, s := range servers {
		s.waitReady()
		rs[i] = openReplica(t, s)
	}
	for _, r := range rs[1:] {
		if r.prov != rs[0].prov || r.creds != rs[0].creds {
			t.Fatalf("replicas started together serve different providers or keys:\n%+v %s\n%+v %s", rs[0].prov, rs[0].creds.APIKey, r.prov, r.creds.APIKey)
		}
		if r.azureURL != "https://"+lb.ln.Addr().String() {
			t.Fatalf("endpoints.json names %s, not the shared address", r.azureURL)
		}
	}

	st, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	docs, err := st.LoadDocs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var tenants, subs []string
	for _, d := range docs {
		switch d.Kind {
		case azureemu.KindTenant:
			if strings.Contains(string(d.Body), `"defaultDomain":"provider.peerplane.local"`) {
				tenants = append(tenants, d.Key)
			}
		case azureemu.KindSubscription:
			if strings.Contains(string(d.Body), `"displayName":"Peerplane Provider Networks"`) {
				subs = append(subs, d.Key)
			}
		}
	}
	if len(tenants) != 1 || len(subs) != 1 || !strings.EqualFold(tenants[0], rs[0].prov.TenantID) || !strings.EqualFold(subs[0], rs[0].prov.SubscriptionID) {
		t.Fatalf("provider tenants %v and subscriptions %v; want exactly %s and %s", tenants, subs, rs[0].prov.TenantID, rs[0].prov.SubscriptionID)
	}
	var keys int
	if err := sqlDB(t, dsn).QueryRow(`SELECT count(*) FROM api_keys`).Scan(&keys); err != nil || keys != 1 {
		t.Fatalf("%d API keys after three replicas started (%v), want 1", keys, err)
	}

	// Through the one address, a new connection per request.
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(rs[0].caFile)
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	before := lb.next.Load()
	for range 3 {
		providerVNets(t, rs[0].azureURL, hc, rs[0].prov)
	}
	if n := lb.next.Load() - before; n < int64(len(rs)) {
		t.Fatalf("the provider's calls took %d connections, want at least one per replica", n)
	}
	for _, r := range rs {
		r.alive()
	}
}
