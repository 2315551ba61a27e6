package netcheck_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/netcheck"
	"github.com/peerplane/peerplane/internal/reach"
	"github.com/peerplane/peerplane/internal/reach/reachtest"
)

// TestEngineReuse checks that the Checker reuses an engine only while both
// the snapshot and the environment's control-plane state are unchanged.
func TestEngineReuse(t *testing.T) {
	svc, org, _, _ := reachtest.Service(t)
	w := reachtest.New(t, svc, org)
	ctx := control.NewContextWithOrganization(context.Background(), org)
	snap := w.Snapshot
	ptr := &snap // what the snapshot source returns, swapped below
	c := &netcheck.Checker{Environments: svc, Networks: svc, Clusters: svc, Peerings: svc,
		Snapshot: func(context.Context, reach.World) (*reach.Snapshot, error) { return ptr, nil }}

	e1, err := c.Engine(ctx, w.Env)
	if err != nil {
		t.Fatal(err)
	}
	if e2, _ := c.Engine(ctx, w.Env); e2 != e1 {
		t.Fatal("same snapshot and state: a new engine")
	}

	// A new snapshot (Azure changed): a new engine that sees the change.
	changed := snap
	changed.VirtualNetworks = nil
	ptr = &changed
	e3, _ := c.Engine(ctx, w.Env)
	if e3 == e1 {
		t.Fatal("new snapshot: the old engine")
	}
	res, err := e3.Reach(reach.Query{Source: netip.MustParseAddr("10.1.0.4"), Cluster: w.Cluster})
	if err != nil || res.Verdict == reach.Reachable {
		t.Fatalf("without VNets 10.1.0.4 reaches the cluster: %v %+v", err, res)
	}

	// Control-plane state changed (a new cluster): a new engine.
	ptr = &snap
	e4, _ := c.Engine(ctx, w.Env)
	k := &control.Cluster{EnvironmentID: w.Env, NetworkID: w.Network, DisplayName: "more", Availability: control.AvailabilitySingleZone, CKU: 1}
	if err := svc.CreateCluster(ctx, k); err != nil {
		t.Fatal(err)
	}
	if e5, _ := c.Engine(ctx, w.Env); e5 == e4 {
		t.Fatal("new cluster: the old engine")
	}
}

// clusterWorld is the shared world, its organization's context and its
// cluster.
func clusterWorld(t *testing.T) (*reachtest.World, context.Context, *control.Cluster) {
	t.Helper()
	svc, org, _, _ := reachtest.Service(t)
	w := reachtest.New(t, svc, org)
	ctx := control.NewContextWithOrganization(context.Background(), org)
	cluster, err := svc.FindClusterByID(ctx, w.Env, w.Cluster)
	if err != nil {
		t.Fatal(err)
	}
	return w, ctx, cluster
}

// TestConnectorStatuses evaluates connectors over the shared world: a sink
// in the directly peered VNet runs, one in the VNet peered only with it
// fails naming transitivity, a paused one is PAUSED, a bad config FAILED.
func TestConnectorStatuses(t *testing.T) {
	w, ctx, cluster := clusterWorld(t)
	conn := func(name, url string, paused bool) *control.Connector {
		return &control.Connector{Name: name, ClusterID: w.Cluster, Paused: paused,
			Config: map[string]string{"connector.class": "PostgresSink", "connection.url": url}}
	}
	sts, err := w.Checker.ConnectorStatuses(ctx, w.Env, cluster, []*control.Connector{
		conn("near", "jdbc:postgresql://10.1.0.10:5432/x", false),
		conn("far", "jdbc:postgresql://10.2.0.10:5432/x", false),
		conn("paused", "jdbc:postgresql://10.2.0.10:5432/x", true),
		conn("nowhere", "jdbc:postgresql://10.77.0.10:5432/x", false),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ state, mention string }{
		{netcheck.StateRunning, ""},
		{netcheck.StateFailed, reach.CodeTransitivePeering},
		{netcheck.StatePaused, ""},
		{netcheck.StateFailed, reach.CodeDestinationNotInAnyVNet},
	}
	for i, st := range sts {
		if st.State != want[i].state || !strings.Contains(st.Trace, want[i].mention) {
			t.Errorf("connector %d: %s %q, want %s mentioning %q", i, st.State, st.Trace, want[i].state, want[i].mention)
		}
	}
	if len(sts[0].Hosts) != 1 || sts[0].Hosts[0].Result.Verdict != reach.Reachable {
		t.Errorf("near's hosts: %+v", sts[0].Hosts)
	}

	cluster.Status.Phase = control.ClusterPhaseProvisioning
	sts, err = w.Checker.ConnectorStatuses(ctx, w.Env, cluster, []*control.Connector{conn("near", "jdbc:postgresql://10.1.0.10:5432/x", false)})
	if err != nil || sts[0].State != netcheck.StateProvisioning {
		t.Fatalf("connector of a provisioning cluster: %v %+v", err, sts)
	}
}

// runs is a fixed set of runs, as the runtime would have stored them.
type runs []*control.ConnectorRun

func (r runs) FindConnectorRuns(ctx context.Context, envID, clusterID string) ([]*control.ConnectorRun, error) {
	return r, nil
}

// TestRunStatuses: with the runtime on, a connector's status is its run's:
// PROVISIONING before one, RUNNING with its counts, FAILED with the real
// error followed by the model's explanation (from the connector's own
// address); a run of an earlier connector of the same name is ignored; a
// class the runtime does not run is FAILED saying so.
func TestRunStatuses(t *testing.T) {
	w, ctx, cluster := clusterWorld(t)
	t0 := cluster.CreatedAt
	// The connector's own address: another in the cluster's endpoint's /24.
	ep := netip.MustParseAddrPort(strings.TrimPrefix(cluster.Status.BootstrapEndpoint, "SASL_SSL://")).Addr().As4()
	ep[3] = 200
	own := netip.AddrFrom4(ep).String()
	conn := func(name, class, url string) *control.Connector {
		return &control.Connector{Name: name, ClusterID: w.Cluster, CreatedAt: t0,
			Config: map[string]string{"connector.class": class, "http.api.url": url, "topics": "orders"}}
	}
	run := func(name, state string) *control.ConnectorRun {
		return &control.ConnectorRun{ClusterID: w.Cluster, Name: name, Generation: t0, State: state, Address: own,
			RecordsIn: 12, RecordsOut: 10, LastError: "Post \"http://10.2.0.10/\": dial tcp 10.2.0.10:80: i/o timeout"}
	}
	old := run("renamed", control.ConnectorRunning)
	old.Generation = t0.Add(-1)
	w.Checker.Runs = runs{run("ok", control.ConnectorRunning), run("far", control.ConnectorFailed), old}
	sts, err := w.Checker.ConnectorStatuses(ctx, w.Env, cluster, []*control.Connector{
		conn("ok", "HttpSink", "http://10.1.0.10/"),
		conn("far", "HttpSink", "http://10.2.0.10/"),
		conn("new", "HttpSink", "http://10.1.0.10/"),
		conn("renamed", "HttpSink", "http://10.1.0.10/"),
		conn("mysql", "MySqlSink", "http://10.1.0.10/"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ state, mention string }{
		{netcheck.StateRunning, ""},
		{netcheck.StateFailed, "i/o timeout\nCannot reach 10.2.0.10:80 (http.api.url) from Kafka cluster"},
		{netcheck.StateProvisioning, "has not started"},
		{netcheck.StateProvisioning, "has not started"},
		{netcheck.StateFailed, `"MySqlSink" is not one of them`},
	}
	for i, st := range sts {
		if st.State != want[i].state || !strings.Contains(st.Trace, want[i].mention) {
			t.Errorf("connector %d: %s %q, want %s mentioning %q", i, st.State, st.Trace, want[i].state, want[i].mention)
		}
	}
	if sts[0].Run == nil || sts[0].Run.RecordsOut != 10 || sts[3].Run != nil {
		t.Errorf("runs attached: %+v, %+v", sts[0].Run, sts[3].Run)
	}
	if !strings.Contains(sts[1].Trace, reach.CodeTransitivePeering) || len(sts[1].Hosts) != 1 || sts[1].Hosts[0].Result.Source.Address != own {
		t.Errorf("far: %q, hosts %+v", sts[1].Trace, sts[1].Hosts)
	}
}
