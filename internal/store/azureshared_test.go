package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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
