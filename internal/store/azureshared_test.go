package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/store"
	"github.com/peerplane/peerplane/internal/store/storetest"
)

// Two embedded Azures sharing one database (two replicas over one
// PostgreSQL, or two processes over one SQLite file) see each other's
// writes, and a write based on a stale view is re-run on the fresh state.
func TestSharedAzureSQLite(t *testing.T) { testSharedAzure(t, storetest.SQLiteDSN(t)) }

func TestSharedAzurePostgres(t *testing.T) {
	testSharedAzure(t, storetest.PostgresDSN(t, postgresURL(t)))
}

func testSharedAzure(t *testing.T, dsn string) {
	ctx := context.Background()
	emus := make([]*azureemu.Emulator, 2)
	for i := range emus {
		db, err := store.Open(ctx, dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		srv := httptest.NewServer(nil)
		t.Cleanup(srv.Close)
		e, err := azureemu.New(ctx, azureemu.Options{BaseURL: srv.URL, Store: db})
		if err != nil {
			t.Fatal(err)
		}
		srv.Config.Handler = e
		emus[i] = e
	}
	a, b := emus[0], emus[1]
	const tenant = "eeeeeeee-0000-4000-8000-000000000001"
	if _, err := a.CreateTenant(ctx, azureemu.TenantSpec{ID: tenant, DisplayName: "Shared"}); err != nil {
		t.Fatal(err)
	}
	// b loaded before a wrote: a write through b must see the tenant.
	if _, err := b.CreateTenant(ctx, azureemu.TenantSpec{ID: tenant, DisplayName: "Shared"}); !isStatus(err, http.StatusConflict) {
		t.Fatalf("second create through the other replica: %v, want 409", err)
	}
	if _, err := b.CreateSubscription(ctx, tenant, azureemu.SubscriptionSpec{ID: "eeeeeeee-0000-4000-8000-000000000002"}); err != nil {
		t.Fatalf("subscription through the other replica: %v", err)
	}
	// Concurrent creates of one user through both replicas: one wins.
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = emus[i%2].CreateUser(ctx, tenant, azureemu.UserSpec{UserPrincipalName: "race@shared.example", Password: "Race-pass-123"})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !isStatus(err, http.StatusConflict):
			t.Fatalf("concurrent create: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent creates of one user succeeded, want 1", won)
	}
	// Distinct writes through both replicas all land.
	for i := range 10 {
		upn := fmt.Sprintf("u%d@shared.example", i)
		if _, err := emus[i%2].CreateUser(ctx, tenant, azureemu.UserSpec{UserPrincipalName: upn, Password: "Some-pass-123"}); err != nil {
			t.Fatalf("create %s: %v", upn, err)
		}
	}
	if _, err := a.CreateUser(ctx, tenant, azureemu.UserSpec{UserPrincipalName: "u9@shared.example", Password: "Some-pass-123"}); !isStatus(err, http.StatusConflict) {
		t.Fatalf("replica a does not see replica b's user: %v", err)
	}
}

func isStatus(err error, status int) bool {
	var ee *azureemu.Error
	return errors.As(err, &ee) && ee.Status == status
}

// A replica catches up with another's writes by reading only what changed
// since the generation it holds: the documents written (the triggers of
// migration 0011 stamp them) and the tombstones of those deleted, never
// every document again.
func TestAzureCatchUpSQLite(t *testing.T) { testAzureCatchUp(t, storetest.SQLiteDSN(t)) }

func TestAzureCatchUpPostgres(t *testing.T) {
	testAzureCatchUp(t, storetest.PostgresDSN(t, postgresURL(t)))
}

func testAzureCatchUp(t *testing.T, dsn string) {
	ctx := context.Background()
	emus := make([]*azureemu.Emulator, 2)
	var dbs []*store.DB
	for i := range emus {
		db, err := store.Open(ctx, dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
		e, err := azureemu.New(ctx, azureemu.Options{BaseURL: "https://127.0.0.1:1", Store: db})
		if err != nil {
			t.Fatal(err)
		}
		emus[i] = e
	}
	a, b := emus[0], emus[1]
	// sync serves a request on b, which catches up first.
	sync := func() {
		t.Helper()
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://127.0.0.1:1/", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET / on b: %d", rec.Code)
		}
	}
	const tenant, sub = "eeeeeeee-0000-4000-8000-000000000011", "eeeeeeee-0000-4000-8000-000000000012"
	if _, err := a.CreateTenant(ctx, azureemu.TenantSpec{ID: tenant, DisplayName: "Catch up"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateSubscription(ctx, tenant, azureemu.SubscriptionSpec{ID: sub}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutResourceGroup(ctx, sub, "rg", "eastus", nil); err != nil {
		t.Fatal(err)
	}
	spec := azureemu.VNetSpec{SubscriptionID: sub, ResourceGroup: "rg", Name: "v1", Location: "eastus", AddressPrefixes: []string{"10.9.0.0/16"}}
	if _, err := a.PutVirtualNetwork(ctx, spec); err != nil {
		t.Fatal(err)
	}
	fullBefore, _ := b.Loads()
	sync()
	if v, ok := b.FindVirtualNetwork(sub, "rg", "v1"); !ok || v.AddressPrefixes[0] != "10.9.0.0/16" {
		t.Fatalf("b after a's writes: %v %v", v, ok)
	}
	spec.AddressPrefixes = []string{"10.8.0.0/16"}
	if _, err := a.PutVirtualNetwork(ctx, spec); err != nil {
		t.Fatal(err)
	}
	sync()
	if v, _ := b.FindVirtualNetwork(sub, "rg", "v1"); v == nil || v.AddressPrefixes[0] != "10.8.0.0/16" {
		t.Fatalf("b after a's update: %v", v)
	}
	// A delete reaches b as a tombstone; so does a delete then a re-create.
	if err := a.DeleteResourceGroup(ctx, sub, "rg"); err != nil {
		t.Fatal(err)
	}
	sync()
	if _, ok := b.FindVirtualNetwork(sub, "rg", "v1"); ok {
		t.Fatal("b still has the VNet a deleted")
	}
	if _, ok := b.FindResourceGroup(sub, "rg"); ok {
		t.Fatal("b still has the resource group a deleted")
	}
	if _, err := a.PutResourceGroup(ctx, sub, "rg", "eastus", map[string]string{"again": "yes"}); err != nil {
		t.Fatal(err)
	}
	sync()
	if rg, ok := b.FindResourceGroup(sub, "rg"); !ok || rg.Tags["again"] != "yes" {
		t.Fatalf("b after a re-created the group: %v %v", rg, ok)
	}
	// A change that fails after it changed memory (a tenant created, its
	// admin refused) is undone by reading back what it touched.
	admin := &azureemu.UserSpec{UserPrincipalName: "admin@catchup.example", Password: "Catch-up-pass-1"}
	if _, err := b.CreateTenant(ctx, azureemu.TenantSpec{ID: "eeeeeeee-0000-4000-8000-000000000013", DisplayName: "Three", Admin: admin}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateTenant(ctx, azureemu.TenantSpec{ID: "eeeeeeee-0000-4000-8000-000000000014", DisplayName: "Four", Admin: admin}); !isStatus(err, http.StatusConflict) {
		t.Fatalf("a tenant with another's admin: %v, want 409", err)
	}
	if _, ok := b.FindTenant("eeeeeeee-0000-4000-8000-000000000014"); ok {
		t.Fatal("the tenant of the failed change is still in memory")
	}
	full, incremental := b.Loads()
	if full != fullBefore || incremental < 5 {
		t.Fatalf("b loaded %d times in full and %d incrementally after a's writes, want 0 and at least 5", full-fullBefore, incremental)
	}
	// What b caught up to is what a fresh load gives.
	c, err := azureemu.New(ctx, azureemu.Options{BaseURL: "https://127.0.0.1:1", Store: dbs[1]})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.Snapshot(), c.Snapshot(); len(got.VirtualNetworks) != len(want.VirtualNetworks) {
		t.Fatalf("b has %d VNets, a fresh load %d", len(got.VirtualNetworks), len(want.VirtualNetworks))
	}
}

// BenchmarkAzureCatchUp measures what a replica pays for another's write
// (a resource group's tags) in a world of 10,000 VNets: catching up with
// the documents changed since the generation it holds, against loading the
// whole state again as it did before migration 0011.
//
//	PEERPLANE_TEST_POSTGRES_URL=… go test ./internal/store -run '^$' -bench AzureCatchUp
func BenchmarkAzureCatchUp(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchAzureCatchUp(b, storetest.SQLiteDSN(b)) })
	b.Run("postgres", func(b *testing.B) { benchAzureCatchUp(b, storetest.PostgresDSN(b, postgresURL(b))) })
}

func benchAzureCatchUp(b *testing.B, dsn string) {
	ctx := context.Background()
	const n = 10000
	const tenant, sub = "eeeeeeee-0000-4000-8000-000000000021", "eeeeeeee-0000-4000-8000-000000000022"
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	a, err := azureemu.New(ctx, azureemu.Options{BaseURL: "https://127.0.0.1:1", Store: db})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := a.CreateTenant(ctx, azureemu.TenantSpec{ID: tenant, DisplayName: "Bench"}); err != nil {
		b.Fatal(err)
	}
	if _, err := a.CreateSubscription(ctx, tenant, azureemu.SubscriptionSpec{ID: sub}); err != nil {
		b.Fatal(err)
	}
	if _, err := a.PutResourceGroup(ctx, sub, "rg", "eastus", nil); err != nil {
		b.Fatal(err)
	}
	// The VNets go in as one batch, as the emulator writes them.
	var docs []azureemu.Doc
	for i := range n {
		v := azureemu.VirtualNetwork{ID: fmt.Sprintf("/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v%05d", sub, i),
			SubscriptionID: sub, ResourceGroup: "rg", Name: fmt.Sprintf("v%05d", i), Location: "eastus",
			AddressPrefixes: []string{fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)}, Tags: map[string]string{"ConfluentEnvIDs": "env-bench"}}
		body, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, azureemu.Doc{Kind: azureemu.KindVirtualNetwork, Key: strings.ToLower(v.ID), Body: body})
	}
	if err := db.ApplyDocs(ctx, docs, nil); err != nil {
		b.Fatal(err)
	}
	replica, err := azureemu.New(ctx, azureemu.Options{BaseURL: "https://127.0.0.1:1", Store: db})
	if err != nil {
		b.Fatal(err)
	}
	write := func(i int) {
		if _, err := a.PutResourceGroup(ctx, sub, "rg", "eastus", map[string]string{"n": strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("catch-up", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			write(i)
			b.StartTimer()
			rec := httptest.NewRecorder()
			replica.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://127.0.0.1:1/", nil))
			if rg, _ := replica.FindResourceGroup(sub, "rg"); rg == nil || rg.Tags["n"] != strconv.Itoa(i) {
				b.Fatalf("the replica has %v after write %d", rg, i)
			}
		}
	})
	b.Run("full-load", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			write(i)
			b.StartTimer()
			fresh, err := azureemu.New(ctx, azureemu.Options{BaseURL: "https://127.0.0.1:1", Store: db})
			if err != nil {
				b.Fatal(err)
			}
			if rg, _ := fresh.FindResourceGroup(sub, "rg"); rg == nil || rg.Tags["n"] != strconv.Itoa(i) {
				b.Fatalf("a full load has %v after write %d", rg, i)
			}
		}
	})
}
