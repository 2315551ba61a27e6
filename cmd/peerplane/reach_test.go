package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/reach"
)

// TestEmulatorNetworkSnapshot reads the embedded Azure's VNets through
// /_emulator/network-snapshot and answers a query over them.
func TestEmulatorNetworkSnapshot(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewUnstartedServer(nil)
	emu, err := azureemu.New(ctx, azureemu.Options{BaseURL: "http://" + srv.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = emu
	srv.Start()
	defer srv.Close()

	const tenant, sub = "7b0c8a42-0000-4000-8000-000000000001", "7b0c8a42-0000-4000-8000-000000000002"
	if _, err := emu.CreateTenant(ctx, azureemu.TenantSpec{ID: tenant, DisplayName: "Contoso"}); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.CreateSubscription(ctx, tenant, azureemu.SubscriptionSpec{ID: sub}); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.PutResourceGroup(ctx, sub, "rg", "eastus", nil); err != nil {
		t.Fatal(err)
	}
	v, err := emu.PutVirtualNetwork(ctx, azureemu.VNetSpec{SubscriptionID: sub, ResourceGroup: "rg", Name: "vnet-a", Location: "eastus",
		AddressPrefixes: []string{"10.1.0.0/16"}, Subnets: []azureemu.Subnet{{Name: "default", AddressPrefix: "10.1.0.0/24"}}})
	if err != nil {
		t.Fatal(err)
	}

	statuses := &statusRecorder{rt: srv.Client().Transport}
	snapshot := emulatorNetworkSnapshot(&http.Client{Transport: statuses}, srv.URL, "")
	snap, err := snapshot(ctx, reach.World{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.VirtualNetworks) != 1 || snap.VirtualNetworks[0].ID != v.ID || snap.VirtualNetworks[0].AddressPrefixes[0] != "10.1.0.0/16" ||
		snap.VirtualNetworks[0].Subnets[0].AddressPrefix != "10.1.0.0/24" || snap.Peerings == nil || snap.NSGs == nil {
		t.Fatalf("snapshot %+v", snap)
	}
	res, err := reach.New(reach.World{Snapshot: *snap}).Reach(reach.Query{Source: netip.MustParseAddr("10.1.0.4"), Destination: netip.MustParseAddr("10.1.0.5"), Port: 22})
	if err != nil || res.Verdict != reach.Reachable {
		t.Fatalf("%v %+v", err, res)
	}

	// Unchanged, the route answers 304 and the snapshot is reused; a change
	// is seen at once.
	again, err := snapshot(ctx, reach.World{})
	if err != nil || again != snap || fmt.Sprint(statuses.codes) != "[200 304]" {
		t.Fatalf("second read: %v, same snapshot %v, statuses %v", err, again == snap, statuses.codes)
	}
	if _, err := emu.PutVirtualNetwork(ctx, azureemu.VNetSpec{SubscriptionID: sub, ResourceGroup: "rg", Name: "vnet-b", Location: "eastus",
		AddressPrefixes: []string{"10.2.0.0/16"}}); err != nil {
		t.Fatal(err)
	}
	if changed, err := snapshot(ctx, reach.World{}); err != nil || len(changed.VirtualNetworks) != 2 || fmt.Sprint(statuses.codes) != "[200 304 200]" {
		t.Fatalf("after a change: %v %+v, statuses %v", err, changed, statuses.codes)
	}

	// A failing GET is an error, not an empty world.
	if _, err := emulatorNetworkSnapshot(srv.Client(), srv.URL+"/nope", "")(ctx, reach.World{}); err == nil {
		t.Fatal("want an error for a missing route")
	}
}

// statusRecorder records the status of each response.
type statusRecorder struct {
	rt    http.RoundTripper
	codes []int
}

func (s *statusRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.rt.RoundTrip(r)
	if err == nil {
		s.codes = append(s.codes, resp.StatusCode)
	}
	return resp, err
}
