package storetest

import (
	"context"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/store"
)

// testControlSettings: operator settings survive a reopen, and stored
// settings override the defaults a new Service starts with.
func testControlSettings(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	db := open(t)
	svc := control.NewService(db.Control(), control.DefaultSettings())
	if err := svc.LoadSettings(ctx); err != nil {
		t.Fatalf("load with nothing stored: %v", err)
	}
	if got := svc.Settings().PeeringsPerNetwork; got != 25 {
		t.Fatalf("default peerings per network = %d", got)
	}
	next := svc.Settings()
	next.PeeringsPerNetwork = 3
	next.AllowedRegionPairs = [][2]string{{"eastus", "westus"}}
	if err := svc.SetSettings(ctx, next); err != nil {
		t.Fatal(err)
	}
	bad := next
	bad.PeeringsPerNetwork = -1
	if err := svc.SetSettings(ctx, bad); control.ErrorCode(err) != control.EINVALID {
		t.Fatalf("invalid settings: %v, want EINVALID", err)
	}

	again := control.NewService(db.Control(), control.DefaultSettings())
	if err := again.LoadSettings(ctx); err != nil {
		t.Fatal(err)
	}
	got := again.Settings()
	if got.PeeringsPerNetwork != 3 || !got.CrossRegionAllowed("westus", "eastus") || got.EnvironmentsPerOrg != 25 {
		t.Fatalf("reloaded settings = %+v", got)
	}
}
