package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/store"
)

func boolPtr(b bool) *bool { return &b }

// testControlEnvironmentDeleting checks the store's side of an environment
// being deleted: UpdateEnvironment writes Deleting, FindEnvironmentByID
// returns the environment with it, FindEnvironments filters on it, and
// DeleteEnvironment still refuses while networks refer to the row.
func testControlEnvironmentDeleting(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	s := open(t).Control()
	a, b := seed(t, s, "a"), seed(t, s, "b")
	a.env.Deleting, a.env.UpdatedAt = true, t0.Add(time.Hour)
	update(t, s, func(tx control.Tx) error { return tx.UpdateEnvironment(ctx, a.env) })
	envID := func(e *control.Environment) string { return e.ID }
	view(t, s, func(tx control.Tx) error {
		got, err := tx.FindEnvironmentByID(ctx, control.OrgScope(a.org.ID), a.env.ID)
		if err != nil {
			return err
		}
		same(t, "environment being deleted", got, a.env)
		all := control.AllOrgs()
		for _, tt := range []struct {
			scope  control.Scope
			filter control.EnvironmentFilter
			want   []string
		}{
			{all, control.EnvironmentFilter{}, []string{"env-a", "env-b"}},
			{all, control.EnvironmentFilter{Deleting: boolPtr(true)}, []string{"env-a"}},
			{all, control.EnvironmentFilter{Deleting: boolPtr(false)}, []string{"env-b"}},
			{control.OrgScope(a.org.ID), control.EnvironmentFilter{Deleting: boolPtr(false)}, []string{}},
			{control.OrgScope(b.org.ID), control.EnvironmentFilter{Deleting: boolPtr(false)}, []string{"env-b"}},
			{all, control.EnvironmentFilter{Deleting: boolPtr(true), After: "env-a"}, []string{}},
		} {
			envs, err := tx.FindEnvironments(ctx, tt.scope, tt.filter)
			if err != nil {
				return err
			}
			same(t, fmt.Sprintf("environments of %s %+v", tt.scope, tt.filter), ids(envs, envID), tt.want)
		}
		return nil
	})
	// Back to live, as an update of the flag.
	a.env.Deleting = false
	update(t, s, func(tx control.Tx) error { return tx.UpdateEnvironment(ctx, a.env) })
	view(t, s, func(tx control.Tx) error {
		got, err := tx.FindEnvironmentByID(ctx, control.AllOrgs(), a.env.ID)
		same(t, "environment no longer deleting", got, a.env)
		return err
	})
	// The row cannot go while its network does.
	a.env.Deleting = true
	update(t, s, func(tx control.Tx) error { return tx.UpdateEnvironment(ctx, a.env) })
	wantCode(t, s.Update(ctx, func(tx control.Tx) error { return tx.DeleteEnvironment(ctx, control.AllOrgs(), a.env.ID) }), control.ECONFLICT)
	update(t, s, func(tx control.Tx) error {
		if err := tx.DeleteNetwork(ctx, control.AllOrgs(), a.net.ID); err != nil {
			return err
		}
		return tx.DeleteEnvironment(ctx, control.AllOrgs(), a.env.ID)
	})
	view(t, s, func(tx control.Tx) error {
		_, err := tx.FindEnvironmentByID(ctx, control.AllOrgs(), a.env.ID)
		wantCode(t, err, control.ENOTFOUND)
		return nil
	})
}

// envWorld is an organization's environment holding a network with a
// peering, a cluster with a connector, created through a Service.
type envWorld struct {
	ctx       context.Context // the organization's
	svc       *control.Service
	env       *control.Environment
	net       *control.Network
	peering   *control.Peering
	cluster   *control.Cluster
	connector *control.Connector
}

func newEnvWorld(t *testing.T, svc *control.Service, name string) envWorld {
	t.Helper()
	org := &control.Organization{DisplayName: name}
	if err := svc.CreateOrganization(control.NewOperatorContext(context.Background()), org); err != nil {
		t.Fatal(err)
	}
	w := envWorld{ctx: control.NewContextWithOrganization(context.Background(), org), svc: svc}
	w.env = &control.Environment{DisplayName: name}
	w.net = newNetwork("", "10.1.0.0/16")
	w.cluster = &control.Cluster{NetworkID: "", CKU: 2}
	steps := []func() error{
		func() error { return svc.CreateEnvironment(w.ctx, w.env) },
		func() error { w.net.EnvironmentID = w.env.ID; return svc.CreateNetwork(w.ctx, w.net) },
		func() error {
			w.peering = newPeering(w.env.ID, w.net.ID, "vnet")
			return svc.CreatePeering(w.ctx, w.peering)
		},
		func() error {
			w.cluster.EnvironmentID, w.cluster.NetworkID = w.env.ID, w.net.ID
			return svc.CreateCluster(w.ctx, w.cluster)
		},
		func() error {
			w.connector = &control.Connector{Name: "sink", Config: map[string]string{"connector.class": "PostgresSink", "connection.url": "jdbc:postgresql://10.2.0.4:5432/db", "topics": "orders"}}
			return svc.CreateConnector(w.ctx, w.env.ID, w.cluster.ID, w.connector)
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func newPeering(envID, netID, vnet string) *control.Peering {
	return &control.Peering{
		EnvironmentID: envID, NetworkID: netID, Tenant: "5f1c2e3d-1111-4a2b-9c3d-0123456789ab",
		VNet:           "/subscriptions/0a1b2c3d-2222-4e5f-8a9b-abcdefabcdef/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/" + vnet,
		CustomerRegion: "eastus",
	}
}

// testControlDeleteEnvironment deletes an environment that holds
// everything through the Service: it is gone to its organization at once,
// its clusters and connectors are deleted, its networks and peerings are
// DEPROVISIONING, it resumes after a restart (AllObjectKeys), and its row
// is purged only once nothing is left. Another organization's environment
// is untouched, and a deleted one does not count toward the quota.
func testControlDeleteEnvironment(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	svc := control.NewService(open(t).Control(), control.DefaultSettings())
	var changes []control.ObjectKey
	var mu sync.Mutex
	svc.OnChange = func(c control.ObjectKey) { mu.Lock(); changes = append(changes, c); mu.Unlock() }
	w, bystander := newEnvWorld(t, svc, "doomed"), newEnvWorld(t, svc, "bystander")
	// A READY network with its VNet, so that the VNet is kept to delete.
	vnet := control.NetworkStatus{Phase: control.PhaseReady, AzureVNet: "/subscriptions/p/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/" + w.net.ID, AzureSubscription: "p"}
	if _, err := svc.UpdateNetworkStatus(ctx, w.net.ID, vnet); err != nil {
		t.Fatal(err)
	}
	changes = nil

	if err := svc.DeleteEnvironment(w.ctx, w.env.ID); err != nil {
		t.Fatalf("delete an environment that holds everything: %v", err)
	}
	wantChanges := []control.ObjectKey{control.NetworkKey(w.net.ID), control.ClusterKey(w.cluster.ID),
		control.PeeringKey(w.peering.ID), control.EnvironmentKey(w.env.ID)}
	same(t, "changes told to the reconciler", changes, wantChanges)

	// To its organization everything is gone at once.
	for what, err := range map[string]error{
		"get environment":    second(svc.FindEnvironmentByID(w.ctx, w.env.ID)),
		"patch environment":  second(svc.UpdateEnvironment(w.ctx, w.env.ID, control.EnvironmentUpdate{DisplayName: new("x")})),
		"delete again":       svc.DeleteEnvironment(w.ctx, w.env.ID),
		"get network":        second(svc.FindNetworkByID(w.ctx, w.env.ID, w.net.ID)),
		"patch network":      second(svc.UpdateNetwork(w.ctx, w.env.ID, w.net.ID, control.NetworkUpdate{DisplayName: new("x")})),
		"delete network":     svc.DeleteNetwork(w.ctx, w.env.ID, w.net.ID),
		"get peering":        second(svc.FindPeeringByID(w.ctx, w.env.ID, w.peering.ID)),
		"patch peering":      second(svc.UpdatePeering(w.ctx, w.env.ID, w.peering.ID, control.PeeringUpdate{DisplayName: new("x")})),
		"delete peering":     svc.DeletePeering(w.ctx, w.env.ID, w.peering.ID),
		"retry peering":      second(svc.RetryPeering(w.ctx, w.env.ID, w.peering.ID)),
		"get cluster":        second(svc.FindClusterByID(w.ctx, w.env.ID, w.cluster.ID)),
		"delete cluster":     svc.DeleteCluster(w.ctx, w.env.ID, w.cluster.ID),
		"get connector":      second(svc.FindConnector(w.ctx, w.env.ID, w.cluster.ID, "sink")),
		"create network":     svc.CreateNetwork(w.ctx, newNetwork(w.env.ID, "10.7.0.0/16")),
		"create peering":     svc.CreatePeering(w.ctx, newPeering(w.env.ID, w.net.ID, "other")),
		"create cluster":     svc.CreateCluster(w.ctx, &control.Cluster{EnvironmentID: w.env.ID, NetworkID: w.net.ID, CKU: 1}),
		"create a connector": svc.CreateConnector(w.ctx, w.env.ID, w.cluster.ID, &control.Connector{Name: "x", Config: map[string]string{"connector.class": "X"}}),
	} {
		if control.ErrorCode(err) != control.ENOTFOUND {
			t.Errorf("%s in a deleted environment: %v, want %s", what, err, control.ENOTFOUND)
		}
		if strings.HasPrefix(what, "create") && what != "create a connector" && control.ErrorField(err) != "/spec/environment/id" {
			t.Errorf("%s in a deleted environment names %q, want /spec/environment/id", what, control.ErrorField(err))
		}
	}
	// Lists under it answer as under an environment that never existed.
	for what, errs := range map[string][2]error{
		"networks": {third(svc.FindNetworks(w.ctx, control.NetworkFilter{EnvironmentID: w.env.ID}, control.Page{})),
			third(svc.FindNetworks(w.ctx, control.NetworkFilter{EnvironmentID: "env-never"}, control.Page{}))},
		"peerings": {third(svc.FindPeerings(w.ctx, control.PeeringFilter{EnvironmentID: w.env.ID}, control.Page{})),
			third(svc.FindPeerings(w.ctx, control.PeeringFilter{EnvironmentID: "env-never"}, control.Page{}))},
		"clusters": {third(svc.FindClusters(w.ctx, control.ClusterFilter{EnvironmentID: w.env.ID}, control.Page{})),
			third(svc.FindClusters(w.ctx, control.ClusterFilter{EnvironmentID: "env-never"}, control.Page{}))},
	} {
		deleted, unknown := errs[0], errs[1]
		if control.ErrorCode(deleted) != control.EFORBIDDEN || control.ErrorField(deleted) != "environment" ||
			control.ErrorCode(unknown) != control.ErrorCode(deleted) || control.ErrorField(unknown) != control.ErrorField(deleted) {
			t.Errorf("list %s: deleted environment %v, unknown one %v; want both %s naming environment", what, deleted, unknown, control.EFORBIDDEN)
		}
	}
	envs, _, err := svc.FindEnvironments(w.ctx, control.Page{})
	if err != nil || len(envs) != 0 {
		t.Fatalf("environments listed after the delete: %v, %v", envs, err)
	}

	// For the reconciler: the environment is being deleted, its network
	// (with its VNet) and peering are DEPROVISIONING, its cluster and
	// connector are gone.
	env, err := svc.ReconcileEnvironment(ctx, w.env.ID)
	if err != nil || !env.Deleting {
		t.Fatalf("reconciler reads the environment %+v, %v; want it being deleted", env, err)
	}
	n, _ := svc.ReconcileNetwork(ctx, w.net.ID)
	if n.Status != (control.NetworkStatus{Phase: control.PhaseDeprovisioning, AzureVNet: vnet.AzureVNet, AzureSubscription: vnet.AzureSubscription}) {
		t.Fatalf("network after the delete: %+v", n.Status)
	}
	if p, _ := svc.ReconcilePeering(ctx, w.peering.ID); p.Status.Phase != control.PhaseDeprovisioning {
		t.Fatalf("peering after the delete: %+v", p.Status)
	}
	if _, err := svc.ReconcileCluster(ctx, w.cluster.ID); control.ErrorCode(err) != control.ENOTFOUND {
		t.Fatalf("cluster after the delete: %v, want gone", err)
	}
	// A status write does not bring anything back.
	if n, err := svc.UpdateNetworkStatus(ctx, w.net.ID, vnet); err != nil || n.Status.Phase != control.PhaseDeprovisioning {
		t.Fatalf("network status write after the delete: %+v, %v", n, err)
	}
	keys, err := svc.AllObjectKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []control.ObjectKey{control.EnvironmentKey(w.env.ID), control.NetworkKey(w.net.ID), control.PeeringKey(w.peering.ID)} {
		if !slices.Contains(keys, k) {
			t.Errorf("AllObjectKeys %v lacks %s: a restart would not resume it", keys, k)
		}
	}
	if slices.Contains(keys, control.EnvironmentKey(bystander.env.ID)) {
		t.Errorf("AllObjectKeys %v lists a live environment", keys)
	}
	left, err := svc.ObjectKeysOfEnvironment(ctx, w.env.ID)
	same(t, "left in the environment", left, []control.ObjectKey{control.NetworkKey(w.net.ID), control.PeeringKey(w.peering.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ObjectKeysOfEnvironment(ctx, ""); control.ErrorCode(err) != control.EINVALID {
		t.Fatalf("ObjectKeysOfEnvironment(\"\"): %v, want %s", err, control.EINVALID)
	}

	// The row goes only once nothing is left.
	if err := svc.PurgeEnvironment(ctx, w.env.ID); control.ErrorCode(err) != control.ECONFLICT {
		t.Fatalf("purge with a network left: %v, want %s", err, control.ECONFLICT)
	}
	if err := svc.PurgeEnvironment(ctx, bystander.env.ID); control.ErrorCode(err) != control.ECONFLICT {
		t.Fatalf("purge of a live environment: %v, want %s", err, control.ECONFLICT)
	}
	if err := svc.PurgePeering(ctx, w.peering.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.PurgeNetwork(ctx, w.net.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.PurgeEnvironment(ctx, w.env.ID); err != nil {
		t.Fatalf("purge of an empty environment being deleted: %v", err)
	}
	if _, err := svc.ReconcileEnvironment(ctx, w.env.ID); control.ErrorCode(err) != control.ENOTFOUND {
		t.Fatalf("environment after its purge: %v, want gone", err)
	}
	if err := svc.PurgeEnvironment(ctx, w.env.ID); control.ErrorCode(err) != control.ENOTFOUND {
		t.Fatalf("second purge: %v, want %s", err, control.ENOTFOUND)
	}

	// The other organization's environment kept everything.
	if _, err := svc.FindConnector(bystander.ctx, bystander.env.ID, bystander.cluster.ID, "sink"); err != nil {
		t.Fatalf("bystander's connector: %v", err)
	}
	if p, err := svc.FindPeeringByID(bystander.ctx, bystander.env.ID, bystander.peering.ID); err != nil || p.Status.Phase != control.PhaseProvisioning {
		t.Fatalf("bystander's peering: %+v, %v", p, err)
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T, U any](_ T, _ U, err error) error { return err }

// testControlDeleteEmptyEnvironment: an environment without networks holds
// nothing in Azure, so its row goes in the delete itself.
func testControlDeleteEmptyEnvironment(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx, svc, env := seedService(t, open)
	if err := svc.DeleteEnvironment(ctx, env.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ReconcileEnvironment(context.Background(), env.ID); control.ErrorCode(err) != control.ENOTFOUND {
		t.Fatalf("empty environment after its delete: %v, want its row gone", err)
	}
	if err := svc.DeleteEnvironment(ctx, env.ID); control.ErrorCode(err) != control.ENOTFOUND {
		t.Fatalf("delete again: %v, want %s", err, control.ENOTFOUND)
	}
}

// testControlEnvironmentQuotaAfterDelete: at environments_per_org, deleting
// an environment (still being deleted: it holds a network) frees its place
// at once.
func testControlEnvironmentQuotaAfterDelete(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx, svc, first := seedService(t, open)
	if err := svc.CreateNetwork(ctx, newNetwork(first.ID, "10.1.0.0/16")); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < control.DefaultSettings().EnvironmentsPerOrg; i++ {
		if err := svc.CreateEnvironment(ctx, &control.Environment{DisplayName: fmt.Sprint("e", i)}); err != nil {
			t.Fatal(err)
		}
	}
	err := svc.CreateEnvironment(ctx, &control.Environment{DisplayName: "one too many"})
	wantCode(t, err, control.EQUOTA)
	if err := svc.DeleteEnvironment(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if env, err := svc.ReconcileEnvironment(context.Background(), first.ID); err != nil || !env.Deleting {
		t.Fatalf("deleted environment with a network: %+v, %v; want it kept, being deleted", env, err)
	}
	if err := svc.CreateEnvironment(ctx, &control.Environment{DisplayName: "recreated"}); err != nil {
		t.Fatalf("recreate at the quota after a delete: %v", err)
	}
	wantCode(t, svc.CreateEnvironment(ctx, &control.Environment{DisplayName: "one too many again"}), control.EQUOTA)
}

// hookStore calls onUpdate before each Update begins, and onCreate inside
// it before each CreateNetwork, CreatePeering and CreateCluster, so that a
// test can hold a transaction at the point where it has made its checks
// and is about to insert.
type hookStore struct {
	control.Store
	onUpdate, onCreate func()
}

func (h hookStore) Update(ctx context.Context, fn func(tx control.Tx) error) error {
	if h.onUpdate != nil {
		h.onUpdate()
	}
	return h.Store.Update(ctx, func(tx control.Tx) error { return fn(hookTx{tx, h.onCreate}) })
}

type hookTx struct {
	control.Tx
	onCreate func()
}

func (t hookTx) before() {
	if t.onCreate != nil {
		t.onCreate()
	}
}

func (t hookTx) CreateNetwork(ctx context.Context, n *control.Network) error {
	t.before()
	return t.Tx.CreateNetwork(ctx, n)
}

func (t hookTx) CreatePeering(ctx context.Context, p *control.Peering) error {
	t.before()
	return t.Tx.CreatePeering(ctx, p)
}

func (t hookTx) CreateCluster(ctx context.Context, c *control.Cluster) error {
	t.before()
	return t.Tx.CreateCluster(ctx, c)
}

// testControlRaceDeleteEnvironment holds a create of a network, a peering
// or a cluster after it checked the environment and before it inserts, and
// deletes the environment from another handle meanwhile: the create lands
// (it passed its checks) and the delete, which waits for it, takes the new
// object with the environment, so nothing live is left in it.
func testControlRaceDeleteEnvironment(t *testing.T, open func(t *testing.T) *store.DB) {
	for _, kind := range []string{"network", "peering", "cluster"} {
		t.Run(kind, func(t *testing.T) {
			ctx, svc, env := seedService(t, open)
			n := newNetwork(env.ID, "10.1.0.0/16")
			if err := svc.CreateNetwork(ctx, n); err != nil {
				t.Fatal(err)
			}
			reached, release, deleting := make(chan struct{}), make(chan struct{}), make(chan struct{})
			var reachedOnce, deletingOnce sync.Once
			creator := control.NewService(hookStore{Store: open(t).Control(), onCreate: func() {
				reachedOnce.Do(func() { close(reached) })
				<-release
			}}, control.DefaultSettings())
			deleter := control.NewService(hookStore{Store: open(t).Control(), onUpdate: func() {
				deletingOnce.Do(func() { close(deleting) })
			}}, control.DefaultSettings())

			created := make(chan error, 1)
			go func() {
				switch kind {
				case "network":
					created <- creator.CreateNetwork(ctx, newNetwork(env.ID, "10.2.0.0/16"))
				case "peering":
					created <- creator.CreatePeering(ctx, newPeering(env.ID, n.ID, "vnet"))
				default:
					created <- creator.CreateCluster(ctx, &control.Cluster{EnvironmentID: env.ID, NetworkID: n.ID, CKU: 1})
				}
			}()
			<-reached // the create holds the environment and is about to insert
			deleted := make(chan error, 1)
			go func() { deleted <- deleter.DeleteEnvironment(ctx, env.ID) }()
			<-deleting
			close(release)
			if err := <-created; err != nil {
				t.Fatalf("create %s, held past its checks: %v", kind, err)
			}
			if err := <-deleted; err != nil {
				t.Fatalf("delete environment: %v", err)
			}
			checkNothingLive(t, svc, env.ID)
		})
	}
}

// checkNothingLive checks that envID is being deleted and holds nothing but
// DEPROVISIONING networks and peerings.
func checkNothingLive(t *testing.T, svc *control.Service, envID string) {
	t.Helper()
	ctx := context.Background()
	if e, err := svc.ReconcileEnvironment(ctx, envID); err != nil || !e.Deleting {
		t.Fatalf("environment after its delete: %+v, %v; want it being deleted", e, err)
	}
	left, err := svc.ObjectKeysOfEnvironment(ctx, envID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range left {
		var phase string
		switch id := k.ID; k.Kind {
		case control.KindNetwork:
			x, err := svc.ReconcileNetwork(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			phase = x.Status.Phase
		case control.KindPeering:
			x, err := svc.ReconcilePeering(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			phase = x.Status.Phase
		default:
			t.Fatalf("%s is left in the deleted environment", k)
		}
		if phase != control.PhaseDeprovisioning {
			t.Errorf("%s is %s in the deleted environment, want %s", k, phase, control.PhaseDeprovisioning)
		}
	}
}
