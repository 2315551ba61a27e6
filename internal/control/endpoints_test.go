package control_test

import (
	"net/netip"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
)

func TestClusterHostname(t *testing.T) {
	got := control.ClusterHostname("lkc-9xk2m1", "n-abc123", "eastus", "Example.COM.")
	if want := "lkc-9xk2m1-abc123.eastus.azure.private.example.com"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	c := &control.Cluster{ID: "lkc-9xk2m1", Availability: control.AvailabilityMultiZone}
	n := &control.Network{ID: "n-abc123", Region: "eastus"}
	st := control.PrivateEndpoints(c, n, control.DefaultPrivateDNSDomain, []netip.Addr{netip.MustParseAddr("10.4.20.4"), netip.MustParseAddr("10.4.20.5")})
	if st.BootstrapEndpoint != "lkc-9xk2m1-abc123.eastus.azure.private.confluent.cloud:9092" ||
		st.HTTPEndpoint != "https://lkc-9xk2m1-abc123.eastus.azure.private.confluent.cloud:443" ||
		len(st.Brokers) != 2 || st.Brokers[1] != "10.4.20.5:9092" || st.Phase != control.ClusterPhaseProvisioned {
		t.Fatalf("PrivateEndpoints: %+v", st)
	}
	if control.BrokerCount(control.AvailabilityMultiZone) != 3 || control.BrokerCount(control.AvailabilitySingleZone) != 1 {
		t.Fatal("BrokerCount: want 3 for MULTI_ZONE, 1 for SINGLE_ZONE")
	}
}

func TestEndpointAddr(t *testing.T) {
	for _, tt := range []struct {
		st   control.ClusterStatus
		want string
	}{
		{control.ClusterStatus{Brokers: []string{"10.1.2.3:9092", "10.1.2.4:9092"}, BootstrapEndpoint: "x.example:9092"}, "10.1.2.3:9092"},
		{control.ClusterStatus{BootstrapEndpoint: "SASL_SSL://10.9.8.7:9092"}, "10.9.8.7:9092"}, // written before brokers
		{control.ClusterStatus{BootstrapEndpoint: "name.example:9092"}, ""},
		{control.ClusterStatus{}, ""},
	} {
		if got := tt.st.EndpointAddr(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.st, got, tt.want)
		}
	}
}

func TestAllocateBrokers(t *testing.T) {
	const cidr = "10.40.0.0/16"
	start, err := control.EndpointStart(cidr, "lkc-abc123")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := control.EndpointStart(cidr, "lkc-abc123"); again != start || !netip.MustParsePrefix(cidr).Contains(start) {
		t.Fatalf("EndpointStart is not stable or not in the CIDR: %s, %s", start, again)
	}
	if _, err := control.EndpointStart("10.40.1.0/24", "lkc-abc123"); control.ErrorCode(err) != control.EINVALID {
		t.Fatalf("a /24: %v, want EINVALID", err)
	}

	got, err := control.AllocateBrokers(cidr, start, 3, nil)
	if err != nil || len(got) != 3 || got[0] != start {
		t.Fatalf("3 brokers from %s: %v %v", start, got, err)
	}
	// Taken addresses are skipped, and so are the ends of each /24.
	used := map[netip.Addr]bool{got[0]: true, got[1]: true}
	again, err := control.AllocateBrokers(cidr, start, 3, used)
	if err != nil || len(again) != 3 {
		t.Fatal(again, err)
	}
	for _, a := range again {
		if used[a] {
			t.Fatalf("%s is taken: %v", a, again)
		}
	}
	edge := netip.MustParseAddr("10.40.30.251")
	at, _ := control.AllocateBrokers(cidr, edge, 3, nil)
	if want := []string{"10.40.30.251", "10.40.31.4", "10.40.31.5"}; len(at) != 3 || at[0].String() != want[0] || at[1].String() != want[1] || at[2].String() != want[2] {
		t.Fatalf("from %s: %v, want %v", edge, at, want)
	}
	// A start outside the usual range (a cluster's address kept from
	// before) is kept.
	odd := netip.MustParseAddr("10.40.2.2")
	if at, _ := control.AllocateBrokers(cidr, odd, 1, nil); len(at) != 1 || at[0] != odd {
		t.Fatalf("from %s: %v", odd, at)
	}
	if _, err := control.AllocateBrokers(cidr, netip.MustParseAddr("10.41.0.4"), 1, nil); control.ErrorCode(err) != control.EINVALID {
		t.Fatalf("a start outside the CIDR: %v", err)
	}
}
