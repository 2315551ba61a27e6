package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/azureid"
	"github.com/peerplane/peerplane/internal/metrics/metricstest"
)

// failoverWait bounds the convergence after the leader is killed: the
// lease's TTL, then the survivor's resync of everything. It only turns a
// hang into a failure.
const failoverWait = 60 * time.Second

// The burst of TestFailoverDuringBurst: failoverCreates peerings, each on
// a VNet of its own. Peering i is deleted at once after its create
// answered when i%6 == 3 (mostly before the leader made it READY);
// failoverLateDeletes maps a create to the earlier peering deleted, once
// READY, after it. The leader is killed after the early delete of
// peering failoverKillAfter.
const (
	failoverCreates   = 30
	failoverKillAfter = 15
)

var failoverLateDeletes = map[int]int{7: 0, 13: 5, 19: 11, 25: 17, 29: 23}

// failoverPeering is one acknowledged create of the burst.
type failoverPeering struct {
	id        string
	vnet      int
	via       string // "leader" or "other": the replica that acknowledged the create
	deleted   bool   // the delete was acknowledged
	deletedIn string // the phase read just before the delete
	gone      bool   // no longer listed after the delete
}

// TestFailoverDuringBurst runs two `peerplane serve` replicas on one
// PostgreSQL database, the second joining from the database alone, and
// makes a burst of peering creates and deletes through both (three in
// four through the one that does not lead). After the early delete of
// the 16th peering, once the leader has reconciled some of the burst, it
// SIGKILLs the leader; the burst goes on through the survivor, which must
// take the lease. When the survivor has converged: every peering not
// deleted is READY with both Azure halves Connected, every deleted one is
// 404 with neither half left, no Azure half belongs to no live peering
// (every VNet of the customer and the provider listed with the Azure
// SDK), no delete came undone, nothing is duplicated. Then the killed
// replica restarts on its data directory, joins, takes over the lease
// from the stopped survivor, resyncs everything, and nothing changes.
func TestFailoverDuringBurst(t *testing.T) {
	bin, dsn, env := replicaEnv(t)
	began := time.Now()
	ctx := context.Background()
	db := sqlDB(t, dsn)
	rs := startReplicas(t, bin, dsn, env, 2)
	sameInstallation(t, rs[0], rs[1])
	li, holder := leaderOf(t, db, rs...)
	leader, other := rs[li], rs[1-li]
	t.Logf("leader: replica %d (%s)", li, holder)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// The provider's network and the customer's grants, through the
	// non-leader: consent, the role, its assignment on the subscription,
	// and a VNet per peering tagged with the environment.
	envID, err := benchCreateEnv(ctx, other.api, "failover")
	must(err)
	nw, err := benchCreateNetwork(ctx, other.api, envID, "10.200.0.0/16")
	must(err)
	provVNet, err := benchWaitNetwork(ctx, other.api, envID, nw, replicaWait)
	must(err)
	cust, err := newBenchCustomer(ctx, other.azure, other.azureURL)
	must(err)
	sp, err := cust.consent(ctx, other.prov.ClientID)
	must(err)
	role, err := cust.createRole(ctx)
	must(err)
	must(cust.assignRole(ctx, "/subscriptions/"+benchSubscription, role, sp))
	vnets := make([]string, failoverCreates)
	for i := range vnets {
		vnets[i], err = cust.createVNet(ctx, fmt.Sprintf("failover-vnet-%02d", i), fmt.Sprintf("10.%d.0.0/16", 10+i), envID)
		must(err)
	}

	// The burst.
	all := make([]*failoverPeering, 0, failoverCreates)
	killed := false
	via := func(i int) (*replica, string) {
		if !killed && i%4 == 1 {
			return leader, "leader"
		}
		return other, "other"
	}
	del := func(p *failoverPeering) {
		t.Helper()
		api, _ := via(p.vnet)
		got, st, err := benchGetPeering(ctx, api.api, envID, p.id)
		if err != nil {
			t.Fatalf("read peering %s before its delete: %d %v", p.id, st, err)
		}
		p.deletedIn = got.Status.Phase
		if st, err := api.api.do(ctx, http.MethodDelete, "/networking/v1/peerings/"+p.id+"?environment="+envID, nil, nil); err != nil || st != http.StatusNoContent {
			t.Fatalf("delete peering %s: %d %v", p.id, st, err)
		}
		p.deleted = true
	}
	var atKill map[string]int
	for i := range failoverCreates {
		r, name := via(i)
		p, st, err := benchCreatePeering(ctx, r.api, envID, nw, benchTenant, vnets[i], fmt.Sprintf("failover-%02d", i))
		if err != nil || st != http.StatusAccepted {
			r.alive()
			t.Fatalf("create peering %d through the %s: %d %v", i, name, st, err)
		}
		fp := &failoverPeering{id: p.ID, vnet: i, via: name}
		all = append(all, fp)
		if i%6 == 3 {
			del(fp)
		}
		if j, ok := failoverLateDeletes[i]; ok {
			failoverWaitReady(ctx, t, other, db, envID, all[j].id)
			del(all[j])
		}
		if i == failoverKillAfter {
			// The leader has taken part: it reconciled some of the burst
			// (and the rest is queued, or in flight).
			waitReconciled(t, leader, "peering", failoverKillAfter/2)
			atKill = phaseCounts(ctx, t, other, envID, all)
			leader.alive()
			leader.kill()
			killed = true
			t.Logf("SIGKILLed the leader after %d creates; phases then: %v", i+1, atKill)
		}
	}
	survivor := other
	leaderOf(t, db, survivor)
	if held, _ := metricstest.Scrape(t, nil, survivor.apiURL+"/metrics").Value("peerplane_leader_lease_held", "lease", "reconciler"); held != 1 {
		t.Fatalf("the survivor holds the lease but exports peerplane_leader_lease_held %v", held)
	}

	// Converge: a live peering READY, a deleted one DEPROVISIONING until
	// it is 404, and 404 from then on.
	converged := failoverConverge(ctx, t, survivor, envID, all)
	var live, deleted, deletedEarly int
	for _, p := range all {
		switch {
		case !p.deleted:
			live++
		case p.deletedIn != "READY":
			deletedEarly++
			deleted++
		default:
			deleted++
		}
	}

	az := newFailoverAzure(t, survivor)
	before := failoverCheck(ctx, t, survivor, az, envID, nw, provVNet, vnets, all)

	// The killed replica restarts on its data directory and joins; the
	// survivor stops (SIGTERM releases the lease) and the restarted replica
	// leads, resyncs every stored object, and changes nothing.
	leader.start()
	back := openReplica(t, leader.serveProcess)
	sameInstallation(t, survivor, back)
	az = newFailoverAzure(t, back)
	if got := failoverCheck(ctx, t, back, az, envID, nw, provVNet, vnets, all); got != before {
		t.Fatalf("read through the restarted replica, the state differs:\n%s\nthrough the survivor:\n%s", got, before)
	}
	survivor.stop()
	leaderOf(t, db, back)
	waitReconciled(t, back, "peering", live)
	waitQueueEmpty(t, back)
	if after := failoverCheck(ctx, t, back, az, envID, nw, provVNet, vnets, all); after != before {
		t.Fatalf("after the restarted replica resynced as leader, the state changed:\n%s\nbefore:\n%s", after, before)
	}
	back.alive()
	t.Logf("%d creates (%d through the leader before the kill), %d deletes (%d before READY); %d live; converged %v after the last op; total %v",
		len(all), countVia(all, "leader"), deleted, deletedEarly, live, converged.Round(time.Millisecond), time.Since(began).Round(time.Second))
}

// countVia counts the creates of all acknowledged by via.
func countVia(all []*failoverPeering, via string) int {
	n := 0
	for _, p := range all {
		if p.via == via {
			n++
		}
	}
	return n
}

// waitReconciled waits until r's controller has run at least n
// reconciles of kind, as its /metrics counts them.
func waitReconciled(t *testing.T, r *replica, kind string, n int) {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(replicaWait); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		got, _ = metricstest.Scrape(t, nil, r.apiURL+"/metrics").Value("peerplane_reconcile_total", "kind", kind)
		if got >= float64(n) {
			return
		}
	}
	r.alive()
	t.Fatalf("%s ran %v %s reconciles in %v, want %d", r.apiURL, got, kind, replicaWait, n)
}

// waitQueueEmpty waits until r's reconcile queue holds no ready key.
func waitQueueEmpty(t *testing.T, r *replica) {
	t.Helper()
	for deadline := time.Now().Add(replicaWait); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if d, ok := metricstest.Scrape(t, nil, r.apiURL+"/metrics").Value("peerplane_reconcile_queue_depth"); ok && d == 0 {
			return
		}
	}
	t.Fatalf("%s's reconcile queue is not empty after %v", r.apiURL, replicaWait)
}

// phaseCounts counts the phases of the peerings in all, read through r
// ("gone" for those it no longer lists).
func phaseCounts(ctx context.Context, t *testing.T, r *replica, env string, all []*failoverPeering) map[string]int {
	t.Helper()
	phases := failoverPhases(ctx, t, r, env)
	out := map[string]int{}
	for _, p := range all {
		if ph, ok := phases[p.id]; ok {
			out[ph]++
		} else {
			out["gone"]++
		}
	}
	return out
}

// failoverConverge lists the peerings through r until each live one is
// READY and each deleted one gone, and fails the test at once on a lost
// write: a live peering gone or DEPROVISIONING, a deleted one in another
// phase than DEPROVISIONING, or back after it was gone. It returns how
// long convergence took.
func failoverConverge(ctx context.Context, t *testing.T, r *replica, env string, all []*failoverPeering) time.Duration {
	t.Helper()
	start := time.Now()
	for deadline := start.Add(failoverWait); ; time.Sleep(20 * time.Millisecond) {
		phases := failoverPhases(ctx, t, r, env)
		var pending []string
		for _, p := range all {
			got, ok := phases[p.id]
			switch {
			case !ok && !p.deleted:
				t.Fatalf("lost write: peering %s, never deleted, is gone", p.id)
			case !ok:
				p.gone = true
			case p.gone:
				t.Fatalf("delete undone: peering %s was gone after its delete and is back %s", p.id, got)
			case p.deleted && got != "DEPROVISIONING":
				t.Fatalf("delete undone: peering %s is %s after its acknowledged delete", p.id, got)
			case p.deleted:
				pending = append(pending, p.id+" DEPROVISIONING")
			case got == "DEPROVISIONING":
				t.Fatalf("peering %s is DEPROVISIONING but was never deleted", p.id)
			case got != "READY":
				pending = append(pending, p.id+" "+got)
			}
		}
		if len(pending) == 0 {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			r.alive()
			t.Fatalf("not converged %v after the kill:\n%s", failoverWait, strings.Join(pending, "\n"))
		}
	}
}

// failoverPhases lists the peerings of env through r (one request for
// all, under the API's rate limit) and returns their phases by id, with
// the error code of a FAILED one.
func failoverPhases(ctx context.Context, t *testing.T, r *replica, env string) map[string]string {
	t.Helper()
	listed, err := benchListPeerings(ctx, r.api, env)
	if err != nil {
		r.alive()
		t.Fatal(err)
	}
	out := make(map[string]string, len(listed))
	for _, p := range listed {
		out[p.ID] = strings.TrimSpace(p.Status.Phase + " " + p.Status.ErrorCode)
	}
	return out
}

// failoverWaitReady waits until peering id reads READY through r, and
// names the lease's holder (read from db) when it does not.
func failoverWaitReady(ctx context.Context, t *testing.T, r *replica, db *sql.DB, env, id string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(failoverWait); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if last = failoverPhases(ctx, t, r, env)[id]; last == "READY" {
			return
		}
	}
	t.Fatalf("peering %s is %q, not READY, after %v; the lease is held by %q (this replica is pid %d)", id, last, failoverWait, leaseHolder(t, db), r.pid())
}

// failoverAzure reads Azure through one replica's embedded Azure with
// the Azure SDK for Go, as the customer's admin and as the provider app.
type failoverAzure struct {
	url      string
	hc       *http.Client
	opts     *arm.ClientOptions
	admin    azcore.TokenCredential
	provider azcore.TokenCredential
	provSub  string
}

func newFailoverAzure(t *testing.T, r *replica) *failoverAzure {
	t.Helper()
	copts := embeddedAzureOptions(r.azureURL, r.azure)
	a := &failoverAzure{url: r.azureURL, hc: r.azure, opts: &arm.ClientOptions{ClientOptions: copts}, provSub: r.prov.SubscriptionID}
	var err error
	if a.admin, err = azidentity.NewUsernamePasswordCredential(benchTenant, azureemu.AzureCLIClientID, benchAdmin, benchAdminPassword,
		&azidentity.UsernamePasswordCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true}); err != nil {
		t.Fatal(err)
	}
	if a.provider, err = azidentity.NewClientSecretCredential(r.prov.TenantID, r.prov.ClientID, r.prov.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true}); err != nil {
		t.Fatal(err)
	}
	return a
}

// failoverHalf is a peering half as the Azure SDK reads it.
type failoverHalf struct {
	vnet, name, state, remote, etag string
}

// halves lists every VNet of subscription sub with cred, and every
// peering half of each. It returns the VNets' ids and the halves.
func (a *failoverAzure) halves(ctx context.Context, t *testing.T, cred azcore.TokenCredential, sub string) ([]string, []failoverHalf) {
	t.Helper()
	vc, err := armnetwork.NewVirtualNetworksClient(sub, cred, a.opts)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := armnetwork.NewVirtualNetworkPeeringsClient(sub, cred, a.opts)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var out []failoverHalf
	for pager := vc.NewListAllPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("list the VNets of subscription %s: %v", sub, err)
		}
		for _, v := range page.Value {
			ids = append(ids, *v.ID)
			id, err := azureid.ParseVNetID(*v.ID)
			if err != nil {
				t.Fatal(err)
			}
			for pp := pc.NewListPager(id.ResourceGroup, id.Name, nil); pp.More(); {
				page, err := pp.NextPage(ctx)
				if err != nil {
					t.Fatalf("list the peerings of %s: %v", *v.ID, err)
				}
				for _, h := range page.Value {
					fh := failoverHalf{vnet: *v.ID, name: *h.Name, state: halfState(h)}
					if h.Properties != nil && h.Properties.RemoteVirtualNetwork != nil && h.Properties.RemoteVirtualNetwork.ID != nil {
						fh.remote = *h.Properties.RemoteVirtualNetwork.ID
					}
					if h.Etag != nil {
						fh.etag = *h.Etag
					}
					out = append(out, fh)
				}
			}
		}
	}
	return ids, out
}

// snapshotPeerings counts the peering halves of every VNet of every
// tenant, read from the embedded Azure's operator snapshot (loopback).
func (a *failoverAzure) snapshotPeerings(ctx context.Context, t *testing.T) int {
	t.Helper()
	var snap struct {
		Peerings []json.RawMessage `json:"peerings"`
	}
	hc := &benchJSON{http: a.hc, base: a.url}
	if _, err := hc.do(ctx, http.MethodGet, "/_emulator/network-snapshot", nil, &snap); err != nil {
		t.Fatal(err)
	}
	return len(snap.Peerings)
}

// failoverCheck checks the converged state through r and its embedded
// Azure a, and returns it as text, to compare with a later reading:
//   - the API lists exactly the live peerings, READY, one per VNet, and
//     each deleted one is 404;
//   - the network is READY on its one provider VNet, provVNet;
//   - each live peering has exactly one half on its customer VNet and one
//     on provVNet, Connected, pointing at each other;
//   - no other half exists on any VNet of the customer or the provider,
//     nor anywhere else in the emulator.
func failoverCheck(ctx context.Context, t *testing.T, r *replica, a *failoverAzure, env, nw, provVNet string, vnets []string, all []*failoverPeering) string {
	t.Helper()
	var lines []string
	live := map[string]*failoverPeering{}
	for _, p := range all {
		if !p.deleted {
			live[strings.ToLower(p.id)] = p
			continue
		}
		if _, st, _ := benchGetPeering(ctx, r.api, env, p.id); st != http.StatusNotFound {
			t.Errorf("delete undone: peering %s, deleted, reads %d through %s", p.id, st, r.apiURL)
		}
	}
	listed, err := benchListPeerings(ctx, r.api, env)
	if err != nil {
		t.Fatal(err)
	}
	seenVNet := map[string]string{}
	for _, p := range listed {
		lines = append(lines, fmt.Sprintf("api %s %s %s", p.ID, p.Status.Phase, p.Spec.Cloud.VNet))
		switch {
		case live[strings.ToLower(p.ID)] == nil:
			t.Errorf("the API lists peering %s (%s), which is no live create of the burst", p.ID, p.Status.Phase)
		case p.Status.Phase != "READY":
			t.Errorf("peering %s is %s %s", p.ID, p.Status.Phase, p.Status.ErrorCode)
		}
		v := strings.ToLower(p.Spec.Cloud.VNet)
		if dup, ok := seenVNet[v]; ok {
			t.Errorf("duplicate: peerings %s and %s both peer %s", dup, p.ID, p.Spec.Cloud.VNet)
		}
		seenVNet[v] = p.ID
	}
	if len(listed) != len(live) {
		t.Errorf("the API lists %d peerings, want the %d live ones", len(listed), len(live))
	}
	var n benchNetwork
	if _, err := r.api.do(ctx, http.MethodGet, "/networking/v1/networks/"+nw+"?environment="+env, nil, &n); err != nil {
		t.Fatal(err)
	}
	if n.Status.Phase != "READY" || n.Status.Cloud == nil || !strings.EqualFold(n.Status.Cloud.VNet, provVNet) {
		t.Errorf("network %s is %s on %+v, want READY on %s", nw, n.Status.Phase, n.Status.Cloud, provVNet)
	}

	provVNets, provHalves := a.halves(ctx, t, a.provider, a.provSub)
	if len(provVNets) != 1 || !strings.EqualFold(provVNets[0], provVNet) {
		t.Errorf("the provider subscription holds the VNets %v, want only the network's %s", provVNets, provVNet)
	}
	_, custHalves := a.halves(ctx, t, a.admin, benchSubscription)
	count := map[string]int{} // "side/peering id" → halves
	check := func(side string, h failoverHalf, wantVNet, wantRemote string) {
		lines = append(lines, fmt.Sprintf("%s %s %s %s → %s %s", side, h.vnet, h.name, h.state, h.remote, h.etag))
		switch {
		case !strings.EqualFold(h.vnet, wantVNet):
			t.Errorf("%s half %s is on %s, not on its peering's VNet %s", side, h.name, h.vnet, wantVNet)
		case h.state != "Connected":
			t.Errorf("%s half %s on %s is %s, want Connected", side, h.name, h.vnet, h.state)
		case !strings.EqualFold(h.remote, wantRemote):
			t.Errorf("%s half %s points at %s, want %s", side, h.name, h.remote, wantRemote)
		}
		count[side+"/"+strings.ToLower(h.name)]++
	}
	for _, h := range provHalves {
		p := live[strings.ToLower(h.name)]
		if p == nil {
			t.Errorf("orphan: provider half %s on %s (%s) belongs to no live peering", h.name, h.vnet, h.state)
			continue
		}
		check("provider", h, provVNet, vnets[p.vnet])
	}
	for _, h := range custHalves {
		p := live[strings.ToLower(h.name)]
		if p == nil {
			t.Errorf("orphan: customer half %s on %s (%s) belongs to no live peering", h.name, h.vnet, h.state)
			continue
		}
		check("customer", h, vnets[p.vnet], provVNet)
	}
	for id := range live {
		for _, side := range []string{"provider", "customer"} {
			if c := count[side+"/"+id]; c != 1 {
				t.Errorf("%d %s halves of live peering %s, want exactly 1", c, side, id)
			}
		}
	}
	if got, want := a.snapshotPeerings(ctx, t), len(provHalves)+len(custHalves); got != want {
		t.Errorf("the embedded Azure holds %d peering halves, the customer's and the provider's VNets %d: halves elsewhere", got, want)
	}
	if t.Failed() {
		t.FailNow()
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
