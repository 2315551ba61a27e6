package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/store"
)

// RunControl runs the control plane's contract suite (control.Store and
// control.Tx, and the quotas control.Service enforces through them under
// concurrency) against the store that open opens, with the conventions of
// [Run].
func RunControl(t *testing.T, open func(t *testing.T) *store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) *store.DB)
	}{
		{"RoundTrip", testControlRoundTrip},
		{"NotFound", testControlNotFound},
		{"OrgIsolation", testControlOrgIsolation},
		{"NoScope", testControlNoScope},
		{"Filters", testControlFilters},
		{"Pagination", testControlPagination},
		{"Constraints", testControlConstraints},
		{"Rollback", testControlRollback},
		{"Reopen", testControlReopen},
		{"Race/NetworkQuota", testControlRaceNetworkQuota},
		{"Race/PeeringUnique", testControlRacePeeringUnique},
		{"Race/EnvironmentQuota", testControlRaceEnvironmentQuota},
		{"Race/ClusterBudget", testControlRaceClusterBudget},
		{"Race/NetworkOverlap", testControlRaceNetworkOverlap},
		{"Settings", testControlSettings},
		{"Connectors", testControlConnectors},
		{"ConnectorRuns", testControlConnectorRuns},
		{"EnvironmentDeleting", testControlEnvironmentDeleting},
		{"DeleteEnvironment", testControlDeleteEnvironment},
		{"DeleteEmptyEnvironment", testControlDeleteEmptyEnvironment},
		{"EnvironmentQuotaAfterDelete", testControlEnvironmentQuotaAfterDelete},
		{"Race/DeleteEnvironment", testControlRaceDeleteEnvironment},
		{"PeeringChecklist", testControlPeeringChecklist},
		{"Race/LostUpdates", testControlRaceLostUpdates},
		{"ClusterEndpoints", testControlClusterEndpoints},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

func update(t *testing.T, s control.Store, fn func(tx control.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func view(t *testing.T, s control.Store, fn func(tx control.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := control.ErrorCode(err); got != code {
		t.Fatalf("error code %q, want %q (err: %v)", got, code, err)
	}
}

// fixture is one organization with an environment and a network.
type fixture struct {
	org *control.Organization
	env *control.Environment
	net *control.Network
}

func seed(t *testing.T, s control.Store, suffix string) fixture {
	t.Helper()
	ctx := context.Background()
	f := fixture{
		org: &control.Organization{ID: "org-" + suffix, DisplayName: "Org " + suffix, CreatedAt: t0, UpdatedAt: t0},
		env: &control.Environment{ID: "env-" + suffix, OrgID: "org-" + suffix, DisplayName: "env", CreatedAt: t0, UpdatedAt: t0},
		net: &control.Network{
			ID: "n-" + suffix, OrgID: "org-" + suffix, EnvironmentID: "env-" + suffix, DisplayName: "net",
			Cloud: "AZURE", Region: "eastus", CIDR: "10.1.0.0/16", ConnectionTypes: []string{"PEERING"},
			Zones: []string{"1", "2", "3"}, Status: control.NetworkStatus{Phase: control.PhaseProvisioning},
			CreatedAt: t0, UpdatedAt: t0,
		},
	}
	update(t, s, func(tx control.Tx) error {
		if err := tx.CreateOrganization(ctx, f.org); err != nil {
			return err
		}
		if err := tx.CreateEnvironment(ctx, f.env); err != nil {
			return err
		}
		return tx.CreateNetwork(ctx, f.net)
	})
	return f
}

func peering(f fixture, id, vnet string) *control.Peering {
	return &control.Peering{
		ID: id, OrgID: f.org.ID, EnvironmentID: f.env.ID, NetworkID: f.net.ID, DisplayName: id, Cloud: "AZURE",
		Tenant:         "5f1c2e3d-1111-4a2b-9c3d-0123456789ab",
		VNet:           "/subscriptions/0a1b2c3d-2222-4e5f-8a9b-abcdefabcdef/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/" + vnet,
		CustomerRegion: "eastus", Status: control.PeeringStatus{Phase: control.PhaseProvisioning},
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func cluster(f fixture, id string, cku int) *control.Cluster {
	return &control.Cluster{
		ID: id, OrgID: f.org.ID, EnvironmentID: f.env.ID, NetworkID: f.net.ID, DisplayName: id,
		Availability: "SINGLE_ZONE", Cloud: "AZURE", Region: "eastus", CKU: cku,
		Status: control.ClusterStatus{Phase: control.ClusterPhaseProvisioning}, CreatedAt: t0, UpdatedAt: t0,
	}
}

func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func testControlRoundTrip(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	s := open(t).Control()
	f := seed(t, s, "a")
	f.org.Operator = true
	key := &control.APIKey{Key: "ABCDEFGHIJKLMNOP", OrgID: f.org.ID, Description: "ci", SecretHash: control.HashSecret("s"), CreatedAt: t0}
	p := peering(f, "peer-a", "vnet1")
	c := cluster(f, "lkc-a", 2)
	update(t, s, func(tx control.Tx) error {
		if err := tx.CreateAPIKey(ctx, key); err != nil {
			return err
		}
		if err := tx.CreatePeering(ctx, p); err != nil {
			return err
		}
		return tx.CreateCluster(ctx, c)
	})
	f.org.Operator = false
	view(t, s, func(tx control.Tx) error {
		org, err := tx.FindOrganizationByID(ctx, f.org.ID)
		if err != nil {
			return err
		}
		same(t, "organization", org, f.org)
		k, err := tx.FindAPIKey(ctx, key.Key)
		if err != nil {
			return err
		}
		same(t, "api key", k, key)
		env, err := tx.FindEnvironmentByID(ctx, control.OrgScope(f.org.ID), f.env.ID)
		if err != nil {
			return err
		}
		same(t, "environment", env, f.env)
		n, err := tx.FindNetworkByID(ctx, control.OrgScope(f.org.ID), f.net.ID)
		if err != nil {
			return err
		}
		same(t, "network", n, f.net)
		gp, err := tx.FindPeeringByID(ctx, control.OrgScope(f.org.ID), p.ID)
		if err != nil {
			return err
		}
		same(t, "peering", gp, p)
		gc, err := tx.FindClusterByID(ctx, control.OrgScope(f.org.ID), c.ID)
		if err != nil {
			return err
		}
		same(t, "cluster", gc, c)
		return nil
	})

	// Updates write the mutable fields.
	t1 := t0.Add(time.Hour)
	f.env.DisplayName, f.env.StreamGovernancePackage, f.env.UpdatedAt = "env2", "ESSENTIALS", t1
	f.net.DisplayName, f.net.UpdatedAt = "net2", t1
	f.net.Status = control.NetworkStatus{Phase: control.PhaseReady, AzureVNet: "/subscriptions/x/vnet", AzureSubscription: "x"}
	p.DisplayName, p.UpdatedAt = "p2", t1
	p.Status = control.PeeringStatus{Phase: control.PhaseFailed, ErrorCode: control.PeeringAppNotConsented, ErrorMessage: "consent",
		Checklist: sampleChecklist(t1)}
	c.DisplayName, c.CKU, c.UpdatedAt = "c2", 4, t1
	c.Status = control.ClusterStatus{Phase: control.ClusterPhaseProvisioned, BootstrapEndpoint: "10.1.0.10:9092", HTTPEndpoint: "https://10.1.0.10:443"}
	update(t, s, func(tx control.Tx) error {
		return errors.Join(tx.UpdateEnvironment(ctx, f.env), tx.UpdateNetworkSpec(ctx, f.net), tx.UpdateNetworkStatus(ctx, f.net), tx.UpdatePeeringSpec(ctx, p), tx.UpdatePeeringStatus(ctx, p), tx.UpdateClusterSpec(ctx, c), tx.UpdateClusterStatus(ctx, c))
	})
	view(t, s, func(tx control.Tx) error {
		env, _ := tx.FindEnvironmentByID(ctx, control.AllOrgs(), f.env.ID)
		same(t, "updated environment", env, f.env)
		n, _ := tx.FindNetworkByID(ctx, control.AllOrgs(), f.net.ID)
		same(t, "updated network", n, f.net)
		gp, _ := tx.FindPeeringByID(ctx, control.AllOrgs(), p.ID)
		same(t, "updated peering", gp, p)
		gc, _ := tx.FindClusterByID(ctx, control.AllOrgs(), c.ID)
		same(t, "updated cluster", gc, c)
		return nil
	})

	// Deletes, children first.
	update(t, s, func(tx control.Tx) error {
		return errors.Join(tx.DeleteCluster(ctx, control.OrgScope(f.org.ID), c.ID), tx.DeletePeering(ctx, control.OrgScope(f.org.ID), p.ID),
			tx.DeleteNetwork(ctx, control.OrgScope(f.org.ID), f.net.ID), tx.DeleteEnvironment(ctx, control.OrgScope(f.org.ID), f.env.ID),
			tx.DeleteAPIKey(ctx, f.org.ID, key.Key))
	})
	view(t, s, func(tx control.Tx) error {
		_, err := tx.FindPeeringByID(ctx, control.AllOrgs(), p.ID)
		wantCode(t, err, control.ENOTFOUND)
		_, err = tx.FindEnvironmentByID(ctx, control.AllOrgs(), f.env.ID)
		wantCode(t, err, control.ENOTFOUND)
		_, err = tx.FindAPIKey(ctx, key.Key)
		wantCode(t, err, control.ENOTFOUND)
		return nil
	})
}

func testControlNotFound(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	s := open(t).Control()
	f := seed(t, s, "a")
	err := s.Update(ctx, func(tx control.Tx) error {
		var errs []error
		_, err := tx.FindOrganizationByID(ctx, "nope")
		errs = append(errs, err)
		_, err = tx.FindAPIKey(ctx, "nope")
		errs = append(errs, err)
		_, err = tx.FindEnvironmentByID(ctx, control.AllOrgs(), "env-nope")
		errs = append(errs, err)
		_, err = tx.FindNetworkByID(ctx, control.AllOrgs(), "n-nope")
		errs = append(errs, err)
		_, err = tx.FindPeeringByID(ctx, control.AllOrgs(), "peer-nope")
		errs = append(errs, err)
		_, err = tx.FindClusterByID(ctx, control.AllOrgs(), "lkc-nope")
		errs = append(errs, err)
		errs = append(errs,
			tx.DeleteAPIKey(ctx, f.org.ID, "nope"),
			tx.UpdateEnvironment(ctx, &control.Environment{ID: "env-nope"}),
			tx.UpdateNetworkSpec(ctx, &control.Network{ID: "n-nope"}),
			tx.UpdateNetworkStatus(ctx, &control.Network{ID: "n-nope"}),
			tx.UpdatePeeringSpec(ctx, &control.Peering{ID: "peer-nope"}),
			tx.UpdatePeeringStatus(ctx, &control.Peering{ID: "peer-nope"}),
			tx.UpdateClusterSpec(ctx, &control.Cluster{ID: "lkc-nope", CKU: 1}),
			tx.UpdateClusterStatus(ctx, &control.Cluster{ID: "lkc-nope", CKU: 1}),
			tx.DeleteEnvironment(ctx, control.AllOrgs(), "env-nope"),
			tx.DeleteNetwork(ctx, control.AllOrgs(), "n-nope"),
			tx.DeletePeering(ctx, control.AllOrgs(), "peer-nope"),
			tx.DeleteCluster(ctx, control.AllOrgs(), "lkc-nope"),
		)
		for i, err := range errs {
			if control.ErrorCode(err) != control.ENOTFOUND {
				t.Errorf("call %d: %v, want ENOTFOUND", i, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Children of missing parents. (A failed write ends the transaction:
	// PostgreSQL aborts it.)
	n := *f.net
	n.ID, n.EnvironmentID = "n-orphan", "env-nope"
	wantCode(t, s.Update(ctx, func(tx control.Tx) error { return tx.CreateNetwork(ctx, &n) }), control.ENOTFOUND)
}

func testControlOrgIsolation(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	s := open(t).Control()
	a, b := seed(t, s, "a"), seed(t, s, "b")
	update(t, s, func(tx control.Tx) error { return tx.CreatePeering(ctx, peering(a, "peer-a", "v1")) })
	view(t, s, func(tx control.Tx) error {
		_, err := tx.FindEnvironmentByID(ctx, control.OrgScope(b.org.ID), a.env.ID)
		wantCode(t, err, control.ENOTFOUND)
		_, err = tx.FindNetworkByID(ctx, control.OrgScope(b.org.ID), a.net.ID)
		wantCode(t, err, control.ENOTFOUND)
		_, err = tx.FindPeeringByID(ctx, control.OrgScope(b.org.ID), "peer-a")
		wantCode(t, err, control.ENOTFOUND)
		envs, err := tx.FindEnvironments(ctx, control.OrgScope(b.org.ID), control.EnvironmentFilter{})
		if err != nil || len(envs) != 1 || envs[0].ID != b.env.ID {
			t.Fatalf("org b sees environments %v (%v)", envs, err)
		}
		ps, err := tx.FindPeerings(ctx, control.OrgScope(b.org.ID), control.PeeringFilter{})
		if err != nil || len(ps) != 0 {
			t.Fatalf("org b sees peerings %v (%v)", ps, err)
		}
		return nil
	})
	err := s.Update(ctx, func(tx control.Tx) error { return tx.DeletePeering(ctx, control.OrgScope(b.org.ID), "peer-a") })
	wantCode(t, err, control.ENOTFOUND)
}

// testControlNoScope: a Tx method given no organization (the zero Scope,
// as OrgScope("") is) returns EINTERNAL rather than every organization's
// rows, and so does a service called by a caller without an organization.
func testControlNoScope(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	s := open(t).Control()
	f := seed(t, s, "a")
	update(t, s, func(tx control.Tx) error { return tx.CreateCluster(ctx, cluster(f, "lkc-a", 1)) })
	for _, scope := range []control.Scope{{}, control.OrgScope("")} {
		view(t, s, func(tx control.Tx) error {
			for what, err := range map[string]error{
				"FindEnvironmentByID": second(tx.FindEnvironmentByID(ctx, scope, f.env.ID)),
				"FindEnvironments":    second(tx.FindEnvironments(ctx, scope, control.EnvironmentFilter{})),
				"FindNetworkByID":     second(tx.FindNetworkByID(ctx, scope, f.net.ID)),
				"FindNetworks":        second(tx.FindNetworks(ctx, scope, control.NetworkFilter{})),
				"FindPeeringByID":     second(tx.FindPeeringByID(ctx, scope, "peer-a")),
				"FindPeerings":        second(tx.FindPeerings(ctx, scope, control.PeeringFilter{})),
				"FindClusterByID":     second(tx.FindClusterByID(ctx, scope, "lkc-a")),
				"FindClusters":        second(tx.FindClusters(ctx, scope, control.ClusterFilter{})),
				"FindConnector":       second(tx.FindConnector(ctx, scope, "lkc-a", "sink")),
				"FindConnectors":      second(tx.FindConnectors(ctx, scope, control.ConnectorFilter{})),
			} {
				if control.ErrorCode(err) != control.EINTERNAL {
					t.Errorf("%s with %s: %v, want %s", what, scope, err, control.EINTERNAL)
				}
			}
			return nil
		})
		for what, del := range map[string]func(tx control.Tx) error{
			"DeleteEnvironment": func(tx control.Tx) error { return tx.DeleteEnvironment(ctx, scope, f.env.ID) },
			"DeleteNetwork":     func(tx control.Tx) error { return tx.DeleteNetwork(ctx, scope, f.net.ID) },
			"DeletePeering":     func(tx control.Tx) error { return tx.DeletePeering(ctx, scope, "peer-a") },
			"DeleteCluster":     func(tx control.Tx) error { return tx.DeleteCluster(ctx, scope, "lkc-a") },
			"DeleteConnector":   func(tx control.Tx) error { return tx.DeleteConnector(ctx, scope, "lkc-a", "sink") },
		} {
			if err := s.Update(ctx, del); control.ErrorCode(err) != control.EINTERNAL {
				t.Errorf("%s with %s: %v, want %s", what, scope, err, control.EINTERNAL)
			}
		}
	}
	view(t, s, func(tx control.Tx) error {
		if _, err := tx.FindClusterByID(ctx, control.AllOrgs(), "lkc-a"); err != nil {
			t.Fatalf("the cluster after deletes without a scope: %v", err)
		}
		return nil
	})
	// The operator's own context names no organization: it may manage
	// organizations, not see into them.
	svc := control.NewService(s, control.DefaultSettings())
	if envs, _, err := svc.FindEnvironments(control.NewOperatorContext(ctx), control.Page{}); control.ErrorCode(err) != control.EINTERNAL {
		t.Fatalf("environments listed for a caller without an organization: %v, %v; want %s", envs, err, control.EINTERNAL)
	}
}

func ids[T any](items []*T, id func(*T) string) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, id(it))
	}
	return out
}

func testControlFilters(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	s := open(t).Control()
	f := seed(t, s, "a")
	n2 := *f.net
	n2.ID, n2.DisplayName, n2.Region, n2.CIDR, n2.ConnectionTypes = "n-b", "other", "westus", "10.2.0.0/16", []string{"PRIVATELINK", "PEERING"}
	n2.Status.Phase = control.PhaseReady
	n3 := *f.net
	n3.ID, n3.CIDR, n3.ConnectionTypes = "n-c", "10.3.0.0/16", []string{"PRIVATELINK"}
	p1, p2 := peering(f, "peer-1", "v1"), peering(f, "peer-2", "v2")
	p2.NetworkID, p2.Status.Phase = "n-b", control.PhaseReady
	c1, c2 := cluster(f, "lkc-1", 1), cluster(f, "lkc-2", 1)
	c2.NetworkID = "n-b"
	update(t, s, func(tx control.Tx) error {
		return errors.Join(tx.CreateNetwork(ctx, &n2), tx.CreateNetwork(ctx, &n3), tx.CreatePeering(ctx, p1), tx.CreatePeering(ctx, p2),
			tx.CreateCluster(ctx, c1), tx.CreateCluster(ctx, c2))
	})
	netID := func(n *control.Network) string { return n.ID }
	all := control.AllOrgs()
	tests := []struct {
		name   string
		scope  control.Scope
		filter control.NetworkFilter
		want   string
	}{
		{"all", all, control.NetworkFilter{}, "[n-a n-b n-c]"},
		{"org", control.OrgScope(f.org.ID), control.NetworkFilter{EnvironmentID: f.env.ID}, "[n-a n-b n-c]"},
		{"other org", control.OrgScope("org-x"), control.NetworkFilter{}, "[]"},
		{"other env", all, control.NetworkFilter{EnvironmentID: "env-x"}, "[]"},
		{"name", all, control.NetworkFilter{DisplayNames: []string{"other", "x"}}, "[n-b]"},
		{"region", all, control.NetworkFilter{Regions: []string{"eastus"}}, "[n-a n-c]"},
		{"cidr", all, control.NetworkFilter{CIDRs: []string{"10.3.0.0/16", "10.1.0.0/16"}}, "[n-a n-c]"},
		{"phase", all, control.NetworkFilter{Phases: []string{control.PhaseReady}}, "[n-b]"},
		{"cloud", all, control.NetworkFilter{Clouds: []string{"AWS"}}, "[]"},
		{"peering type", all, control.NetworkFilter{ConnectionTypes: []string{"PEERING"}}, "[n-a n-b]"},
		{"privatelink type", all, control.NetworkFilter{ConnectionTypes: []string{"PRIVATELINK"}}, "[n-b n-c]"},
		{"either type", all, control.NetworkFilter{ConnectionTypes: []string{"PRIVATELINK", "PEERING"}}, "[n-a n-b n-c]"},
		{"after", all, control.NetworkFilter{After: "n-a"}, "[n-b n-c]"},
		{"limit", all, control.NetworkFilter{Limit: 2}, "[n-a n-b]"},
	}
	view(t, s, func(tx control.Tx) error {
		for _, tt := range tests {
			got, err := tx.FindNetworks(ctx, tt.scope, tt.filter)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if g := fmt.Sprint(ids(got, netID)); g != tt.want {
				t.Errorf("%s: got %s, want %s", tt.name, g, tt.want)
			}
		}
		ps, _ := tx.FindPeerings(ctx, control.AllOrgs(), control.PeeringFilter{NetworkIDs: []string{"n-b"}})
		same(t, "peerings by network", ids(ps, func(p *control.Peering) string { return p.ID }), []string{"peer-2"})
		ps, _ = tx.FindPeerings(ctx, control.AllOrgs(), control.PeeringFilter{Phases: []string{control.PhaseProvisioning}, DisplayNames: []string{"peer-1"}})
		same(t, "peerings by phase and name", ids(ps, func(p *control.Peering) string { return p.ID }), []string{"peer-1"})
		cs, _ := tx.FindClusters(ctx, control.AllOrgs(), control.ClusterFilter{NetworkIDs: []string{"n-a"}})
		same(t, "clusters by network", ids(cs, func(c *control.Cluster) string { return c.ID }), []string{"lkc-1"})
		cs, _ = tx.FindClusters(ctx, control.AllOrgs(), control.ClusterFilter{EnvironmentID: f.env.ID, After: "lkc-1"})
		same(t, "clusters after", ids(cs, func(c *control.Cluster) string { return c.ID }), []string{"lkc-2"})
		return nil
	})
}

func testControlPagination(t *testing.T, open func(t *testing.T) *store.DB) {
	s := open(t).Control()
	svc := control.NewService(s, control.DefaultSettings())
	ctx := control.NewOperatorContext(context.Background())
	org := &control.Organization{DisplayName: "pages"}
	if err := svc.CreateOrganization(ctx, org); err != nil {
		t.Fatal(err)
	}
	octx := control.NewContextWithOrganization(context.Background(), org)
	want := map[string]bool{}
	for i := range 7 {
		env := &control.Environment{DisplayName: fmt.Sprint("e", i)}
		if err := svc.CreateEnvironment(octx, env); err != nil {
			t.Fatal(err)
		}
		want[env.ID] = true
	}
	var got []string
	token := ""
	for pages := 0; ; pages++ {
		envs, next, err := svc.FindEnvironments(octx, control.Page{Size: 3, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		if pages > 3 || len(envs) > 3 {
			t.Fatalf("page %d has %d items", pages, len(envs))
		}
		for _, e := range envs {
			got = append(got, e.ID)
		}
		if next == "" {
			break
		}
		token = next
	}
	if len(got) != 7 {
		t.Fatalf("paged through %v, want 7 environments", got)
	}
	for i, id := range got {
		if !want[id] || i > 0 && got[i-1] >= id {
			t.Fatalf("pages out of order or unknown: %v", got)
		}
	}
	_, _, err := svc.FindEnvironments(octx, control.Page{Token: "!!"})
	wantCode(t, err, control.EINVALID)
}

func testControlConstraints(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	s := open(t).Control()
	f := seed(t, s, "a")
	update(t, s, func(tx control.Tx) error { return tx.CreatePeering(ctx, peering(f, "peer-1", "vnet1")) })
	tests := []struct {
		name string
		fn   func(tx control.Tx) error
		code string
	}{
		{"duplicate organization", func(tx control.Tx) error { return tx.CreateOrganization(ctx, f.org) }, control.ECONFLICT},
		{"duplicate environment", func(tx control.Tx) error { return tx.CreateEnvironment(ctx, f.env) }, control.ECONFLICT},
		{"duplicate network", func(tx control.Tx) error { return tx.CreateNetwork(ctx, f.net) }, control.ECONFLICT},
		{"duplicate peering id", func(tx control.Tx) error { return tx.CreatePeering(ctx, peering(f, "peer-1", "vnet9")) }, control.ECONFLICT},
		{"same vnet other case", func(tx control.Tx) error { return tx.CreatePeering(ctx, peering(f, "peer-2", "VNET1")) }, control.ECONFLICT},
		{"api key of missing org", func(tx control.Tx) error {
			return tx.CreateAPIKey(ctx, &control.APIKey{Key: "K", OrgID: "nope", SecretHash: "h", CreatedAt: t0})
		}, control.ENOTFOUND},
		{"peering of missing network", func(tx control.Tx) error {
			p := peering(f, "peer-3", "vnet3")
			p.NetworkID = "n-nope"
			return tx.CreatePeering(ctx, p)
		}, control.ENOTFOUND},
		{"cluster of missing network", func(tx control.Tx) error {
			c := cluster(f, "lkc-3", 1)
			c.NetworkID = "n-nope"
			return tx.CreateCluster(ctx, c)
		}, control.ENOTFOUND},
		{"delete network with peering", func(tx control.Tx) error { return tx.DeleteNetwork(ctx, control.AllOrgs(), f.net.ID) }, control.ECONFLICT},
		{"delete environment with network", func(tx control.Tx) error { return tx.DeleteEnvironment(ctx, control.AllOrgs(), f.env.ID) }, control.ECONFLICT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, s.Update(ctx, tt.fn), tt.code)
		})
	}
}

func testControlRollback(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	s := open(t).Control()
	f := seed(t, s, "a")
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx control.Tx) error {
		if err := tx.CreatePeering(ctx, peering(f, "peer-1", "v1")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	view(t, s, func(tx control.Tx) error {
		_, err := tx.FindPeeringByID(ctx, control.AllOrgs(), "peer-1")
		wantCode(t, err, control.ENOTFOUND)
		return nil
	})
}

func testControlReopen(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	db := open(t)
	f := seed(t, db.Control(), "a")
	update(t, db.Control(), func(tx control.Tx) error { return tx.CreatePeering(ctx, peering(f, "peer-1", "v1")) })
	db.Close()
	s := open(t).Control()
	view(t, s, func(tx control.Tx) error {
		p, err := tx.FindPeeringByID(ctx, control.OrgScope(f.org.ID), "peer-1")
		if err != nil {
			return err
		}
		same(t, "peering after reopen", p, peering(f, "peer-1", "v1"))
		return nil
	})
}

// race runs n calls of fn at once, over two handles on the database (as two
// replicas would), and returns how many succeeded; every failure must have
// code failCode.
func race(t *testing.T, open func(t *testing.T) *store.DB, n int, failCode string, fn func(svc *control.Service, i int) error) int {
	t.Helper()
	svcs := []*control.Service{
		control.NewService(open(t).Control(), control.DefaultSettings()),
		control.NewService(open(t).Control(), control.DefaultSettings()),
	}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int
	)
	for i := range n {
		wg.Go(func() {
			err := fn(svcs[i%2], i)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if control.ErrorCode(err) != failCode {
				t.Errorf("call %d: %v, want success or %s", i, err, failCode)
			}
		})
	}
	wg.Wait()
	return ok
}

// seedService makes an organization and environment through a Service.
func seedService(t *testing.T, open func(t *testing.T) *store.DB) (context.Context, *control.Service, *control.Environment) {
	t.Helper()
	svc := control.NewService(open(t).Control(), control.DefaultSettings())
	org := &control.Organization{DisplayName: "racer"}
	if err := svc.CreateOrganization(control.NewOperatorContext(context.Background()), org); err != nil {
		t.Fatal(err)
	}
	ctx := control.NewContextWithOrganization(context.Background(), org)
	env := &control.Environment{DisplayName: "race"}
	if err := svc.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	return ctx, svc, env
}

func newNetwork(envID, cidr string) *control.Network {
	return &control.Network{EnvironmentID: envID, Cloud: "AZURE", Region: "eastus", CIDR: cidr, ConnectionTypes: []string{"PEERING"}}
}

func testControlRaceNetworkQuota(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx, _, env := seedService(t, open)
	limit := control.DefaultSettings().NetworksPerEnvironment
	ok := race(t, open, 3*limit, control.EQUOTA, func(svc *control.Service, i int) error {
		return svc.CreateNetwork(ctx, newNetwork(env.ID, fmt.Sprintf("10.%d.0.0/16", i+1)))
	})
	if ok != limit {
		t.Fatalf("%d networks created concurrently, want exactly %d", ok, limit)
	}
}

func testControlRaceNetworkOverlap(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx, _, env := seedService(t, open)
	ok := race(t, open, 8, control.EINVALID, func(svc *control.Service, i int) error {
		return svc.CreateNetwork(ctx, newNetwork(env.ID, "10.9.0.0/16"))
	})
	if ok != 1 {
		t.Fatalf("%d networks with one CIDR created concurrently, want 1", ok)
	}
}

func testControlRacePeeringUnique(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx, svc, env := seedService(t, open)
	n := newNetwork(env.ID, "10.1.0.0/16")
	if err := svc.CreateNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	ok := race(t, open, 10, control.ECONFLICT, func(svc *control.Service, i int) error {
		p := &control.Peering{
			EnvironmentID: env.ID, NetworkID: n.ID, Tenant: "5f1c2e3d-1111-4a2b-9c3d-0123456789ab",
			VNet:           "/subscriptions/0a1b2c3d-2222-4e5f-8a9b-abcdefabcdef/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet",
			CustomerRegion: "eastus",
		}
		return svc.CreatePeering(ctx, p)
	})
	if ok != 1 {
		t.Fatalf("%d peerings to one VNet created concurrently, want 1", ok)
	}
	// And the quota: 25 per network.
	limit := control.DefaultSettings().PeeringsPerNetwork
	ok = race(t, open, limit+10, control.EQUOTA, func(svc *control.Service, i int) error {
		p := &control.Peering{
			EnvironmentID: env.ID, NetworkID: n.ID, Tenant: "5f1c2e3d-1111-4a2b-9c3d-0123456789ab",
			VNet:           fmt.Sprintf("/subscriptions/0a1b2c3d-2222-4e5f-8a9b-abcdefabcdef/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet%d", i),
			CustomerRegion: "eastus",
		}
		return svc.CreatePeering(ctx, p)
	})
	if ok != limit-1 {
		t.Fatalf("%d more peerings created concurrently, want %d", ok, limit-1)
	}
}

func testControlRaceEnvironmentQuota(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx, _, _ := seedService(t, open)
	limit := control.DefaultSettings().EnvironmentsPerOrg
	ok := race(t, open, limit+10, control.EQUOTA, func(svc *control.Service, i int) error {
		return svc.CreateEnvironment(ctx, &control.Environment{DisplayName: fmt.Sprint("e", i)})
	})
	if ok != limit-1 {
		t.Fatalf("%d environments created concurrently, want %d", ok, limit-1)
	}
}

func testControlRaceClusterBudget(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx, svc, env := seedService(t, open)
	n := newNetwork(env.ID, "10.1.0.0/16")
	if err := svc.CreateNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	// 64 CKUs per network: at most four clusters of 16.
	ok := race(t, open, 9, control.EQUOTA, func(svc *control.Service, i int) error {
		return svc.CreateCluster(ctx, &control.Cluster{EnvironmentID: env.ID, NetworkID: n.ID, CKU: 16})
	})
	if ok != 4 {
		t.Fatalf("%d clusters of 16 CKUs created concurrently, want 4", ok)
	}
	// Two resizes that fit the budget apart but not together: one wins.
	n2 := newNetwork(env.ID, "10.2.0.0/16")
	if err := svc.CreateNetwork(ctx, n2); err != nil {
		t.Fatal(err)
	}
	var pair []*control.Cluster
	for range 2 {
		c := &control.Cluster{EnvironmentID: env.ID, NetworkID: n2.ID, CKU: 16}
		if err := svc.CreateCluster(ctx, c); err != nil {
			t.Fatal(err)
		}
		pair = append(pair, c)
	}
	ok = race(t, open, 2, control.EQUOTA, func(svc *control.Service, i int) error {
		_, err := svc.UpdateCluster(ctx, env.ID, pair[i].ID, control.ClusterUpdate{CKU: new(40)})
		return err
	})
	if ok != 1 {
		t.Fatalf("%d of two resizes to 40 CKUs beside a cluster of 16 succeeded, want 1", ok)
	}
}
