package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/store"
	"github.com/peerplane/peerplane/internal/store/storetest"
)

// BenchmarkFindPeeringsPage measures one page (page_size=100, as the API
// reads it: 101 rows, without their checklists) of an environment's 10,000
// READY peerings, each with its stored checklist: what
// GET /networking/v1/peerings?page_size=100 asks of the store.
func BenchmarkFindPeeringsPage(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchmarkFindPeeringsPage(b, storetest.SQLiteDSN(b), false) })
	b.Run("postgres", func(b *testing.B) { benchmarkFindPeeringsPage(b, storetest.PostgresDSN(b, postgresURL(b)), false) })
	// As autovacuum would leave it: the test database runs without.
	b.Run("postgres-analyzed", func(b *testing.B) { benchmarkFindPeeringsPage(b, storetest.PostgresDSN(b, postgresURL(b)), true) })
}

func benchmarkFindPeeringsPage(b *testing.B, dsn string, analyze bool) {
	const n = 10000
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s := db.Control()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	list := control.Checklist{CheckedAt: t0, Checks: []control.Check{
		control.PassCheck(control.StepConsent, "The app got a token in tenant 5f1c2e3d-1111-4a2b-9c3d-0123456789ab."),
		control.PassCheck(control.StepReadVNet, "VNet rg/v in eastus, address space 10.2.0.0/24."),
		control.PassCheck(control.StepTag, `VNet rg/v has ConfluentEnvIDs="env-b".`),
		control.PassCheck(control.StepAddressSpace, "10.2.0.0/24 does not overlap 10.1.0.0/16."),
		control.PassCheck(control.StepRegion, "eastus"),
		control.PassCheck(control.StepProviderHalf, "Connected"),
		control.PassCheck(control.StepCustomerHalf, "Connected"),
	}}
	err = s.Update(ctx, func(tx control.Tx) error {
		if err := tx.CreateOrganization(ctx, &control.Organization{ID: "org-b", DisplayName: "b", CreatedAt: t0, UpdatedAt: t0}); err != nil {
			return err
		}
		if err := tx.CreateEnvironment(ctx, &control.Environment{ID: "env-b", OrgID: "org-b", DisplayName: "env", CreatedAt: t0, UpdatedAt: t0}); err != nil {
			return err
		}
		if err := tx.CreateNetwork(ctx, &control.Network{ID: "n-b", OrgID: "org-b", EnvironmentID: "env-b", DisplayName: "net",
			Cloud: "AZURE", Region: "eastus", CIDR: "10.1.0.0/16", ConnectionTypes: []string{"PEERING"}, Zones: []string{"1", "2", "3"},
			Status: control.NetworkStatus{Phase: control.PhaseReady}, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			return err
		}
		for i := range n {
			p := &control.Peering{ID: fmt.Sprintf("peer-%05d", i), OrgID: "org-b", EnvironmentID: "env-b", NetworkID: "n-b",
				DisplayName: fmt.Sprint(i), Cloud: "AZURE", Tenant: "5f1c2e3d-1111-4a2b-9c3d-0123456789ab",
				VNet:           fmt.Sprintf("/subscriptions/0a1b2c3d-2222-4e5f-8a9b-abcdefabcdef/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v%05d", i),
				CustomerRegion: "eastus", Status: control.PeeringStatus{Phase: control.PhaseReady, Checklist: list}, CreatedAt: t0, UpdatedAt: t0}
			if err := tx.CreatePeering(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if analyze {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			b.Fatal(err)
		}
		sdb := stdlib.OpenDB(*cfg)
		defer sdb.Close()
		if _, err := sdb.ExecContext(ctx, "ANALYZE peerings"); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		after := ""
		if k := i % (n / 100); k > 0 {
			after = fmt.Sprintf("peer-%05d", k*100-1)
		}
		i++
		err := s.View(ctx, func(tx control.Tx) error {
			ps, err := tx.FindPeerings(ctx, control.OrgScope("org-b"), control.PeeringFilter{EnvironmentID: "env-b", After: after, Limit: 101, WithoutChecklist: true})
			if err == nil && len(ps) != 101 && after < fmt.Sprintf("peer-%05d", n-101) {
				err = fmt.Errorf("page after %q: %d peerings", after, len(ps))
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
