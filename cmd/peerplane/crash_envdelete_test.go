package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/peerplane/peerplane/internal/store/storetest"
)

// TestCrashDeleteEnvironment SIGKILLs `peerplane serve` right after an
// environment's DELETE answered 204, in the middle of the cascade that
// follows (again and again across restarts), and while the DELETE itself
// is in flight; it restarts the server on the same data each time and
// checks that nothing is orphaned in the end: no Azure half of the
// environments' peerings, no provider VNet of their networks, no row;
// and that an environment nobody deleted kept its READY peering.
func TestCrashDeleteEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := peerplaneBinary(t)
	t.Run("SQLite", func(t *testing.T) { crashDeleteEnvRun(t, bin, "") })
	t.Run("Postgres", func(t *testing.T) {
		base := os.Getenv("PEERPLANE_TEST_POSTGRES_URL")
		if base == "" {
			t.Skip("set PEERPLANE_TEST_POSTGRES_URL to run the crash test on PostgreSQL")
		}
		crashDeleteEnvRun(t, bin, storetest.PostgresDSN(t, base))
	})
}

// crashEnv is one environment of the crash test and what it holds.
type crashEnv struct {
	id, network, provVNet, cluster string
	peerings, vnets                []string // peering i peers vnets[i]
}

func crashDeleteEnvRun(t *testing.T, bin, dsn string) {
	rnd := crashRand(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	srv := newCrashServer(t, bin, dsn)
	srv.start()
	cl := newCrashClients(t, srv)
	api, prov, ahc, eps := cl.api, cl.prov, cl.ahc, cl.eps
	cust := cl.grantAll(t, ctx)
	provARM, err := benchProviderARM(ctx, ahc, eps.URL, prov)
	must(err)

	// Six environments, each with a READY network, two READY peerings
	// (one for the bystander), a cluster and a connector.
	const nEnvs = 6
	envs := make([]*crashEnv, nEnvs)
	for i := range envs {
		e := &crashEnv{}
		envs[i] = e
		e.id, err = benchCreateEnv(ctx, api, fmt.Sprint("crash-env-", i))
		must(err)
		e.network, err = benchCreateNetwork(ctx, api, e.id, fmt.Sprintf("10.%d.0.0/16", 200+i))
		must(err)
		var c struct{ ID string }
		_, err = api.do(ctx, http.MethodPost, "/cmk/v2/clusters", map[string]any{"spec": map[string]any{
			"display_name": "kafka", "availability": "SINGLE_ZONE", "cloud": "AZURE", "region": "eastus",
			"config": map[string]any{"kind": "Dedicated", "cku": 1}, "environment": map[string]string{"id": e.id},
			"network": map[string]string{"id": e.network}}}, &c)
		must(err)
		e.cluster = c.ID
		_, err = api.do(ctx, http.MethodPost, "/connect/v1/environments/"+e.id+"/clusters/"+e.cluster+"/connectors", map[string]any{
			"name": "sink", "config": map[string]string{"connector.class": "PostgresSink", "connection.url": "jdbc:postgresql://10.10.0.4:5432/db", "topics": "orders"}}, nil)
		must(err)
	}
	for i, e := range envs {
		e.provVNet, err = benchWaitNetwork(ctx, api, e.id, e.network, 30*time.Second)
		must(err)
		for j := range 2 {
			if i == nEnvs-1 && j == 1 {
				break // the bystander has one peering
			}
			v, err := cust.createVNet(ctx, fmt.Sprintf("crash-env-%d-%d", i, j), fmt.Sprintf("10.%d.0.0/16", 10+2*i+j), e.id)
			must(err)
			p, st, err := benchCreatePeering(ctx, api, e.id, e.network, benchTenant, v, fmt.Sprintf("p-%d-%d", i, j))
			if err != nil || st != http.StatusAccepted {
				t.Fatalf("create peering: %d %v", st, err)
			}
			e.vnets, e.peerings = append(e.vnets, v), append(e.peerings, p.ID)
		}
	}
	for _, e := range envs {
		for _, p := range e.peerings {
			crashWaitPeering(t, api, e.id, p, "READY")
		}
	}
	bystander, doomed := envs[nEnvs-1], envs[:nEnvs-1]

	del := func(e *crashEnv) int {
		t.Helper()
		st, err := api.do(ctx, http.MethodDelete, "/org/v2/environments/"+e.id, nil, nil)
		if err != nil && st == 0 {
			srv.alive()
			t.Fatalf("delete environment %s: %v", e.id, err)
		}
		return st
	}
	// gone checks an acknowledged delete survived the crash: the
	// environment and what it held are not found.
	gone := func(e *crashEnv) {
		t.Helper()
		for _, path := range []string{
			"/org/v2/environments/" + e.id,
			"/networking/v1/networks/" + e.network + "?environment=" + e.id,
			"/networking/v1/peerings/" + e.peerings[0] + "?environment=" + e.id,
			"/cmk/v2/clusters/" + e.cluster + "?environment=" + e.id,
		} {
			if st, _ := api.do(ctx, http.MethodGet, path, nil, nil); st != http.StatusNotFound {
				t.Fatalf("lost write: GET %s is %d after the environment's acknowledged delete", path, st)
			}
		}
	}
	var mid int
	restart := func() {
		t.Helper()
		srv.alive()
		srv.kill()
		srv.start()
		cust, err = newBenchCustomer(ctx, ahc, eps.URL)
		must(err)
	}
	// halvesLeft counts the customer halves of e's peerings still in Azure.
	halvesLeft := func(e *crashEnv) int {
		n := 0
		for i, v := range e.vnets {
			hs, err := benchListHalves(ctx, cust.arm, v)
			if err != nil {
				return -1
			}
			for _, h := range hs {
				if strings.EqualFold(h.Name, e.peerings[i]) {
					n++
				}
			}
		}
		return n
	}

	// 1. Killed right after the 204.
	if st := del(doomed[0]); st != http.StatusNoContent {
		t.Fatalf("delete environment %s: %d", doomed[0].id, st)
	}
	restart()
	gone(doomed[0])

	// 2. Killed once the cascade removed something (all of it, at times:
	// it takes milliseconds).
	killOnceStarted := func(e *crashEnv) {
		t.Helper()
		if st := del(e); st != http.StatusNoContent {
			t.Fatalf("delete environment %s: %d", e.id, st)
		}
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			if n := halvesLeft(e); n >= 0 && n < len(e.peerings) {
				if n > 0 {
					mid++
				}
				break
			}
			time.Sleep(time.Millisecond)
		}
		restart()
		gone(e)
	}
	killOnceStarted(doomed[1])

	// 3. Killed at random points of the cascade, across several restarts.
	if st := del(doomed[2]); st != http.StatusNoContent {
		t.Fatalf("delete environment %s: %d", doomed[2].id, st)
	}
	for range 4 {
		time.Sleep(time.Duration(rnd.IntN(60)) * time.Millisecond)
		if n := halvesLeft(doomed[2]); n > 0 && n < len(doomed[2].peerings) {
			mid++
		}
		restart()
		gone(doomed[2])
	}

	// 4. Killed while the DELETE is in flight: it either happened whole
	// or not at all.
	inflight := make(chan int, 1)
	go func() {
		st, _ := api.do(ctx, http.MethodDelete, "/org/v2/environments/"+doomed[3].id, nil, nil)
		inflight <- st
	}()
	time.Sleep(time.Duration(rnd.IntN(5)) * time.Millisecond)
	srv.alive()
	srv.kill()
	st := <-inflight
	srv.start()
	cust, err = newBenchCustomer(ctx, ahc, eps.URL)
	must(err)
	switch got, _ := api.do(ctx, http.MethodGet, "/org/v2/environments/"+doomed[3].id, nil, nil); {
	case got == http.StatusNotFound:
		gone(doomed[3])
	case got == http.StatusOK && st == http.StatusNoContent:
		t.Fatalf("lost write: environment %s answers 200 after its acknowledged delete", doomed[3].id)
	case got == http.StatusOK:
		// Not committed: everything must be intact, then delete it.
		for _, p := range doomed[3].peerings {
			if bp, st, err := benchGetPeering(ctx, api, doomed[3].id, p); err != nil || st != http.StatusOK || bp.Status.Phase == "DEPROVISIONING" {
				t.Fatalf("half a delete: environment %s is there but peering %s is %d %s (%v)", doomed[3].id, p, st, bp.Status.Phase, err)
			}
		}
		if st := del(doomed[3]); st != http.StatusNoContent {
			t.Fatalf("delete environment %s again: %d", doomed[3].id, st)
		}
	default:
		t.Fatalf("GET environment %s after a crash during its DELETE: %d", doomed[3].id, got)
	}
	t.Logf("the DELETE in flight answered %d before the kill", st)

	// 5. On PostgreSQL, killed at a point chosen by holding locks (on
	// SQLite, which has no row locks, as in 2.): the
	// first peering gone (both halves and its row), the second's halves
	// gone but its row not (its purge waits for a lock), the network, its
	// VNet and the environment still there.
	if dsn != "" {
		e := doomed[4]
		pg, err := sql.Open("pgx", dsn)
		must(err)
		defer pg.Close()
		hold := func(query string, args ...any) *sql.Tx {
			t.Helper()
			tx, err := pg.BeginTx(ctx, nil)
			must(err)
			var id any
			must(tx.QueryRowContext(ctx, query, args...).Scan(&id))
			return tx
		}
		azureWrites := hold(`SELECT gen FROM azure_generation WHERE id = 1 FOR UPDATE`) // every Azure write waits
		if st := del(e); st != http.StatusNoContent {
			t.Fatalf("delete environment %s: %d", e.id, st)
		}
		purge := hold(`SELECT id FROM peerings WHERE id = $1 FOR UPDATE`, e.peerings[1]) // its purge waits
		must(azureWrites.Rollback())
		rowOf := func(table, id string) bool {
			var n int
			must(pg.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE id = $1`, id).Scan(&n))
			return n == 1
		}
		for deadline := time.Now().Add(e2eWait); ; {
			if hs, err := benchListHalves(ctx, cust.arm, e.vnets[1]); err == nil && len(hs) == 0 && !rowOf("peerings", e.peerings[0]) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the cascade did not reach the held purge within %s", e2eWait)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if !rowOf("peerings", e.peerings[1]) || !rowOf("networks", e.network) || !rowOf("environments", e.id) {
			t.Fatal("the held purge did not hold")
		}
		if _, err := benchListHalves(ctx, provARM, e.provVNet); err != nil {
			t.Fatalf("the provider VNet went before the peerings' rows: %v", err)
		}
		srv.alive()
		srv.kill()
		must(purge.Rollback())
		mid++
		srv.start()
		cust, err = newBenchCustomer(ctx, ahc, eps.URL)
		must(err)
		gone(e)
	} else {
		killOnceStarted(doomed[4])
	}

	// Converged: nothing of the deleted environments in Azure, read as
	// the customer and as the provider.
	deadline := time.Now().Add(90 * time.Second)
	for {
		var left []string
		for _, e := range doomed {
			if n := halvesLeft(e); n != 0 {
				left = append(left, fmt.Sprintf("%d customer halves of %s", n, e.id))
			}
			hs, err := benchListHalves(ctx, provARM, e.provVNet)
			switch {
			case benchStatus(err) == http.StatusNotFound:
			case err != nil:
				srv.alive()
				t.Fatalf("list the provider VNet %s: %v", e.provVNet, err)
			default:
				left = append(left, fmt.Sprintf("provider VNet %s of %s with %d halves", e.provVNet, e.id, len(hs)))
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orphaned 90s after the last restart: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	storeDSN := dsn
	if storeDSN == "" {
		storeDSN = filepath.Join(srv.dir, "peerplane.db")
	}
	envClusters := map[string]string{}
	for _, e := range doomed {
		envClusters[e.id] = e.cluster
	}
	waitRowsGone(t, storeDSN, envClusters)

	// The bystander kept everything.
	crashWaitPeering(t, api, bystander.id, bystander.peerings[0], "READY")
	if n := halvesLeft(bystander); n != 1 {
		t.Fatalf("the bystander's customer half: %d, want 1", n)
	}
	hs, err := benchListHalves(ctx, provARM, bystander.provVNet)
	if err != nil || len(hs) != 1 || hs[0].Properties.PeeringState != "Connected" {
		t.Fatalf("the bystander's provider half: %+v, %v", hs, err)
	}
	t.Logf("%d restarts; %d kills landed while the cascade had removed some halves but not all", srv.starts-1, mid)
}

// crashWaitPeering polls peering id until it is in phase, bounded.
func crashWaitPeering(t *testing.T, api *benchJSON, env, id, phase string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, st, err := benchGetPeering(context.Background(), api, env, id)
		if err == nil && p.Status.Phase == phase {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("peering %s: %d %s %v, want %s", id, st, p.Status.Phase, err, phase)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
