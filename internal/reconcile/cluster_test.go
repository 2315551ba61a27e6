package reconcile

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
)

// TestClusterEndpoints: a MULTI_ZONE cluster gets three broker addresses
// in the network's CIDR and a SINGLE_ZONE one one, none shared; both are
// named in the private DNS domain; a cluster provisioned before clusters
// had brokers keeps its address as its first broker; the addresses stay
// when the domain changes, and reconciling again writes nothing.
func TestClusterEndpoints(t *testing.T) {
	w := newEnvWorld(t) // a READY network 10.10.0.0/16 with a PROVISIONED SINGLE_ZONE cluster
	ctx := context.Background()
	multi := &control.Cluster{EnvironmentID: w.env.ID, NetworkID: w.net.ID, CKU: 2, Availability: control.AvailabilityMultiZone}
	must(t, w.svc.CreateCluster(w.octx, multi))
	w.drain(t)
	single, err := w.svc.ReconcileCluster(ctx, w.cluster.ID)
	must(t, err)
	m, err := w.svc.ReconcileCluster(ctx, multi.ID)
	must(t, err)
	cidr := netip.MustParsePrefix(w.net.CIDR)
	seen := map[netip.Addr]string{}
	for _, c := range []*control.Cluster{single, m} {
		want := control.BrokerCount(c.Availability)
		if c.Status.Phase != control.ClusterPhaseProvisioned || len(c.Status.Brokers) != want {
			t.Fatalf("%s (%s): %+v, want PROVISIONED with %d brokers", c.ID, c.Availability, c.Status, want)
		}
		for _, a := range c.Status.BrokerAddrs() {
			if !cidr.Contains(a) {
				t.Fatalf("%s: broker %s is outside %s", c.ID, a, cidr)
			}
			if other, dup := seen[a]; dup {
				t.Fatalf("%s and %s share broker address %s", other, c.ID, a)
			}
			seen[a] = c.ID
		}
		host := control.ClusterHostname(c.ID, w.net.ID, "eastus", control.DefaultPrivateDNSDomain)
		if c.Status.BootstrapEndpoint != host+":9092" || c.Status.HTTPEndpoint != "https://"+host+":443" {
			t.Fatalf("%s: endpoints %q %q, want %s", c.ID, c.Status.BootstrapEndpoint, c.Status.HTTPEndpoint, host)
		}
	}

	// A status from before brokers: its address is kept.
	legacy := control.ClusterStatus{Phase: control.ClusterPhaseProvisioned, BootstrapEndpoint: "SASL_SSL://10.10.77.7:9092", HTTPEndpoint: "https://10.10.77.7:443"}
	_, err = w.svc.UpdateClusterStatus(ctx, single.ID, legacy)
	must(t, err)
	w.ctl.Enqueue(clusterKey(single.ID))
	w.drain(t)
	got, _ := w.svc.ReconcileCluster(ctx, single.ID)
	if len(got.Status.Brokers) != 1 || got.Status.Brokers[0] != "10.10.77.7:9092" || !strings.HasSuffix(got.Status.BootstrapEndpoint, ".confluent.cloud:9092") {
		t.Fatalf("upgraded status: %+v, want broker 10.10.77.7:9092 and a private name", got.Status)
	}

	// Another domain renames, keeping the addresses; a second pass writes
	// nothing.
	w.ctl = New(Config{Control: w.svc, Azure: w.az, App: testApp, PrivateDNSDomain: "peerplane.test"})
	w.ctl.Enqueue(clusterKey(multi.ID))
	w.drain(t)
	renamed, _ := w.svc.ReconcileCluster(ctx, multi.ID)
	if !strings.HasSuffix(renamed.Status.BootstrapEndpoint, ".azure.private.peerplane.test:9092") || strings.Join(renamed.Status.Brokers, ",") != strings.Join(m.Status.Brokers, ",") {
		t.Fatalf("after a domain change: %+v, want the brokers %v kept", renamed.Status, m.Status.Brokers)
	}
	w.ctl.Enqueue(clusterKey(multi.ID))
	w.drain(t)
	again, _ := w.svc.ReconcileCluster(ctx, multi.ID)
	if !again.UpdatedAt.Equal(renamed.UpdatedAt) {
		t.Fatal("reconciling an unchanged cluster wrote its status")
	}
}
