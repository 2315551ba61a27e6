package control_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/store"
)

func newTestService(t *testing.T) (*control.Service, *store.DB) {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return control.NewService(db.Control(), control.DefaultSettings()), db
}

// liveRulesUnchanged checks the rules the settings drive, as a caller
// meets them: the first reserved range still refuses a network, the first
// region is still valid and "mars" is not.
func liveRulesUnchanged(t *testing.T, svc *control.Service) {
	t.Helper()
	def := control.DefaultSettings()
	if !slices.Equal(svc.Settings().ReservedCIDRs, def.ReservedCIDRs) || !slices.Equal(svc.Settings().AzureRegions, def.AzureRegions) {
		t.Fatalf("live settings changed: %+v", svc.Settings())
	}
	n := &control.Network{EnvironmentID: "env-1", Cloud: "AZURE", Region: def.AzureRegions[0], CIDR: def.ReservedCIDRs[0], ConnectionTypes: []string{"PEERING"}}
	wantErr(t, svc.Settings().ValidateNetwork(n), control.EINVALID, "/spec/cidr")
	wantErr(t, svc.Settings().ValidateRegion("/spec/region", "mars"), control.EINVALID, "/spec/region")
}

// TestSettingsRejectedChangeNothing: settings a caller decodes into (as
// the API does) or mutates are its own copy; a rejected SetSettings, and
// one whose input the caller later mutates, leave the live rules alone.
func TestSettingsRejectedChangeNothing(t *testing.T) {
	ctx := context.Background()
	svc, _ := newTestService(t)

	// Decode a bad body over the current settings, as PUT /settings does.
	next := svc.Settings()
	body := `{"reserved_cidrs":["10.0.0.0/8"],"azure_regions":["mars"],"allowed_region_pairs":[["mars","pluto"]]}`
	if err := json.Unmarshal([]byte(body), &next); err != nil {
		t.Fatal(err)
	}
	wantErr(t, svc.SetSettings(ctx, next), control.EINVALID, "/allowed_region_pairs/0/1")
	liveRulesUnchanged(t, svc)

	// Mutating what Settings returned changes nothing either.
	got := svc.Settings()
	got.ReservedCIDRs[0] = "192.0.2.0/24"
	got.AzureRegions[0] = "mars"
	liveRulesUnchanged(t, svc)

	// Nor does mutating what was set, after it was accepted.
	good := control.DefaultSettings()
	if err := svc.SetSettings(ctx, good); err != nil {
		t.Fatal(err)
	}
	good.ReservedCIDRs[0] = "192.0.2.0/24"
	good.AzureRegions[0] = "mars"
	liveRulesUnchanged(t, svc)
}

// TestLoadSettingsOwnsItsCopy: a periodic reload decodes the stored
// document into a copy: a stored document that does not validate leaves
// the live settings whole, and the settings a caller holds from before the
// reload are not rewritten by it.
func TestLoadSettingsOwnsItsCopy(t *testing.T) {
	ctx := context.Background()
	svc, db := newTestService(t)
	held := svc.Settings()

	// Another replica stored settings with fewer regions: the reload must
	// not write them into the arrays held copies share.
	other := control.NewService(db.Control(), control.DefaultSettings())
	s := control.DefaultSettings()
	s.AzureRegions = []string{"westus", "eastus"}
	s.ReservedCIDRs = []string{"10.0.0.0/8"}
	if err := other.SetSettings(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := svc.LoadSettings(ctx); err != nil {
		t.Fatal(err)
	}
	if got := svc.Settings(); !slices.Equal(got.AzureRegions, s.AzureRegions) || !slices.Equal(got.ReservedCIDRs, s.ReservedCIDRs) {
		t.Fatalf("reloaded: %+v", got)
	}
	def := control.DefaultSettings()
	if !slices.Equal(held.AzureRegions, def.AzureRegions) || !slices.Equal(held.ReservedCIDRs, def.ReservedCIDRs) {
		t.Fatalf("a reload rewrote settings held from before: %v %v", held.AzureRegions[:2], held.ReservedCIDRs)
	}

	// A stored document that does not validate (written by hand, or by an
	// older version) is refused whole: nothing of it becomes live.
	if err := db.Control().Update(ctx, func(tx control.Tx) error {
		return tx.SaveSettings(ctx, []byte(`{"reserved_cidrs":["172.16.0.0/12"],"azure_regions":["mars"],"allowed_region_pairs":[["mars","pluto"]]}`))
	}); err != nil {
		t.Fatal(err)
	}
	if err := svc.LoadSettings(ctx); err == nil {
		t.Fatal("loaded invalid stored settings")
	}
	if got := svc.Settings(); !slices.Equal(got.AzureRegions, s.AzureRegions) || !slices.Equal(got.ReservedCIDRs, s.ReservedCIDRs) {
		t.Fatalf("an invalid stored document changed the live settings: %+v", got)
	}
}
