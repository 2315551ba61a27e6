package storetest

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/store"
)

// The lost-update races: one write transaction (the holder) is held right
// after it read the object it is about to write, and another write (the
// racer) runs meanwhile from another handle, as another replica would. On
// a store whose reads lock nothing, the racer commits inside that window
// and the holder then writes what it read over it: a deleted peering comes
// back READY, a retry or a rename is undone. The holder goes on once the
// racer has committed, or once it waits for the holder (which is what it
// must do when the holder keeps the row locked from its read to its
// write): on SQLite, whose write transactions run one at a time, as soon
// as the racer began; on PostgreSQL once it waits for a lock.

// raceTimeout only turns a hang into a failure.
const raceTimeout = 2 * time.Minute

// holdStore holds the first of its Update transactions that reads an
// object of kind ("environment", "network", "peering", "cluster" or
// "connector") with a Find…ByID method (FindConnector for a connector),
// right after that read and until release is closed; read is closed when
// it gets there.
type holdStore struct {
	control.Store
	kind          string
	once          *sync.Once
	read, release chan struct{}
}

func (h holdStore) Update(ctx context.Context, fn func(tx control.Tx) error) error {
	return h.Store.Update(ctx, func(tx control.Tx) error { return fn(holdTx{tx, h}) })
}

type holdTx struct {
	control.Tx
	h holdStore
}

// after holds the transaction the first time an object of the held kind
// was read.
func (t holdTx) after(kind string, err error) {
	if err != nil || kind != t.h.kind {
		return
	}
	t.h.once.Do(func() {
		close(t.h.read)
		<-t.h.release
	})
}

func (t holdTx) FindEnvironmentByID(ctx context.Context, scope control.Scope, id string) (*control.Environment, error) {
	v, err := t.Tx.FindEnvironmentByID(ctx, scope, id)
	t.after("environment", err)
	return v, err
}

func (t holdTx) FindNetworkByID(ctx context.Context, scope control.Scope, id string) (*control.Network, error) {
	v, err := t.Tx.FindNetworkByID(ctx, scope, id)
	t.after("network", err)
	return v, err
}

func (t holdTx) FindPeeringByID(ctx context.Context, scope control.Scope, id string) (*control.Peering, error) {
	v, err := t.Tx.FindPeeringByID(ctx, scope, id)
	t.after("peering", err)
	return v, err
}

func (t holdTx) FindClusterByID(ctx context.Context, scope control.Scope, id string) (*control.Cluster, error) {
	v, err := t.Tx.FindClusterByID(ctx, scope, id)
	t.after("cluster", err)
	return v, err
}

func (t holdTx) FindConnector(ctx context.Context, scope control.Scope, clusterID, name string) (*control.Connector, error) {
	v, err := t.Tx.FindConnector(ctx, scope, clusterID, name)
	t.after("connector", err)
	return v, err
}

// raceInWindow runs holder over one handle, held after it read an object
// of kind, and racer over another meanwhile, and returns their errors once
// both are done (see the comment at the top of this file).
func raceInWindow(t *testing.T, open func(t *testing.T) *store.DB, kind string, holder, racer func(svc *control.Service) error) (holderErr, racerErr error) {
	t.Helper()
	h := holdStore{Store: open(t).Control(), kind: kind, once: new(sync.Once), read: make(chan struct{}), release: make(chan struct{})}
	released := false
	defer func() {
		if !released {
			close(h.release) // after a failure, so that nothing stays blocked
		}
	}()
	racerDB := open(t)
	began := make(chan struct{})
	var beganOnce sync.Once
	racerSvc := control.NewService(hookStore{Store: racerDB.Control(), onUpdate: func() { beganOnce.Do(func() { close(began) }) }}, control.DefaultSettings())

	holderDone := make(chan error, 1)
	go func() { holderDone <- holder(control.NewService(h, control.DefaultSettings())) }()
	select {
	case <-h.read:
	case err := <-holderDone:
		t.Fatalf("the holder ended before it read the %s: %v", kind, err)
	case <-time.After(raceTimeout):
		t.Fatalf("the holder did not read the %s within %s", kind, raceTimeout)
	}

	racerDone := make(chan error, 1)
	go func() { racerDone <- racer(racerSvc) }()
	racerEnded := false
	var waits func() bool // reports whether the racer waits for a lock
	if racerDB.Dialect() == store.DialectSQLite {
		// It cannot commit before the holder: one writer at a time.
		waits = func() bool {
			select {
			case <-began:
				return true
			default:
				return false
			}
		}
	} else {
		waits = lockWaiter(t, racerDB)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(raceTimeout)
	for waiting := false; !racerEnded && !waiting; {
		select {
		case racerErr = <-racerDone:
			racerEnded = true
		case <-tick.C:
			waiting = waits()
		case <-deadline:
			t.Fatalf("the racer neither committed nor waited for a lock within %s", raceTimeout)
		}
	}
	if racerEnded {
		t.Logf("the racer committed while the holder held the %s it read", kind)
	} else {
		t.Logf("the racer waited for the holder, which held the %s it read", kind)
	}
	released = true
	close(h.release)
	select {
	case holderErr = <-holderDone:
	case <-time.After(raceTimeout):
		t.Fatalf("the holder did not end within %s of its release", raceTimeout)
	}
	if !racerEnded {
		select {
		case racerErr = <-racerDone:
		case <-time.After(raceTimeout):
			t.Fatalf("the racer did not end within %s of the holder", raceTimeout)
		}
	}
	return holderErr, racerErr
}

// lockWaiter returns a function reporting whether a session that has used
// a table of db's PostgreSQL schema waits for a lock.
func lockWaiter(t *testing.T, db *store.DB) func() bool {
	t.Helper()
	dsn, ok := openedDSNs.Load(db)
	if !ok {
		t.Fatal("lockWaiter: the database was not opened by an Opener")
	}
	cfg, err := pgx.ParseConfig(dsn.(string))
	if err != nil {
		t.Fatal(err)
	}
	conn := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { conn.Close() })
	return func() bool {
		t.Helper()
		var yes bool
		err := conn.QueryRowContext(context.Background(), `SELECT EXISTS (
			SELECT 1 FROM pg_locks w
			WHERE NOT w.granted AND w.pid <> pg_backend_pid() AND w.pid IN (
				SELECT h.pid FROM pg_locks h JOIN pg_class c ON c.oid = h.relation
				WHERE c.relnamespace = current_schema()::regnamespace))`).Scan(&yes)
		if err != nil {
			t.Fatalf("look for lock waits: %v", err)
		}
		return yes
	}
}

// lostUpdateCase is one race: holder is held after it read an object of
// kind while racer runs; check looks at the outcome.
type lostUpdateCase struct {
	name   string
	kind   string
	setup  func(t *testing.T, w envWorld)
	holder func(w envWorld) func(svc *control.Service) error
	racer  func(w envWorld) func(svc *control.Service) error
	check  func(t *testing.T, w envWorld, holderErr, racerErr error)
}

var (
	readyPeering   = control.PeeringStatus{Phase: control.PhaseReady}
	failedOnce     = control.PeeringStatus{Phase: control.PhaseFailed, ErrorCode: control.PeeringAppNotConsented, ErrorMessage: "The app is not consented."}
	failedAgain    = control.PeeringStatusOf(sampleChecklist(t0)) // FAILED another way, with its checklist
	providerVNet   = control.NetworkStatus{Phase: control.PhaseReady, AzureVNet: "/subscriptions/0a1b2c3d-3333-4e5f-8a9b-abcdefabcdef/resourceGroups/peerplane-n/providers/Microsoft.Network/virtualNetworks/n", AzureSubscription: "0a1b2c3d-3333-4e5f-8a9b-abcdefabcdef"}
	runningCluster = control.ClusterStatus{Phase: control.ClusterPhaseProvisioned, BootstrapEndpoint: "10.1.0.10:9092", HTTPEndpoint: "https://10.1.0.10:443"}
)

// The writes raced, as the API and the reconciler make them.
func peeringStatusWrite(from, to control.PeeringStatus) func(w envWorld) func(svc *control.Service) error {
	return func(w envWorld) func(svc *control.Service) error {
		return func(svc *control.Service) error {
			_, err := svc.UpdatePeeringStatusFrom(context.Background(), w.peering.ID, from, to)
			return err
		}
	}
}

func deletePeering(w envWorld) func(svc *control.Service) error {
	return func(svc *control.Service) error { return svc.DeletePeering(w.ctx, w.env.ID, w.peering.ID) }
}

func renamePeering(w envWorld) func(svc *control.Service) error {
	return func(svc *control.Service) error {
		_, err := svc.UpdatePeering(w.ctx, w.env.ID, w.peering.ID, control.PeeringUpdate{DisplayName: new("renamed")})
		return err
	}
}

func retryPeering(w envWorld) func(svc *control.Service) error {
	return func(svc *control.Service) error {
		_, err := svc.RetryPeering(w.ctx, w.env.ID, w.peering.ID)
		return err
	}
}

func networkStatusWrite(w envWorld) func(svc *control.Service) error {
	return func(svc *control.Service) error {
		_, err := svc.UpdateNetworkStatus(context.Background(), w.net.ID, providerVNet)
		return err
	}
}

func deleteNetwork(w envWorld) func(svc *control.Service) error {
	return func(svc *control.Service) error { return svc.DeleteNetwork(w.ctx, w.env.ID, w.net.ID) }
}

func renameNetwork(w envWorld) func(svc *control.Service) error {
	return func(svc *control.Service) error {
		_, err := svc.UpdateNetwork(w.ctx, w.env.ID, w.net.ID, control.NetworkUpdate{DisplayName: new("renamed")})
		return err
	}
}

func clusterStatusWrite(w envWorld) func(svc *control.Service) error {
	return func(svc *control.Service) error {
		_, err := svc.UpdateClusterStatus(context.Background(), w.cluster.ID, runningCluster)
		return err
	}
}

func deleteCluster(w envWorld) func(svc *control.Service) error {
	return func(svc *control.Service) error { return svc.DeleteCluster(w.ctx, w.env.ID, w.cluster.ID) }
}

func resizeCluster(w envWorld) func(svc *control.Service) error {
	return func(svc *control.Service) error {
		_, err := svc.UpdateCluster(w.ctx, w.env.ID, w.cluster.ID, control.ClusterUpdate{DisplayName: new("renamed"), CKU: new(4)})
		return err
	}
}

func deleteEnvironment(w envWorld) func(svc *control.Service) error {
	return func(svc *control.Service) error { return svc.DeleteEnvironment(w.ctx, w.env.ID) }
}

func renameEnvironment(w envWorld) func(svc *control.Service) error {
	return func(svc *control.Service) error {
		_, err := svc.UpdateEnvironment(w.ctx, w.env.ID, control.EnvironmentUpdate{DisplayName: new("renamed")})
		return err
	}
}

var sinkConfig = map[string]string{"connector.class": "PostgresSink", "connection.url": "jdbc:postgresql://10.2.0.4:5432/orders", "topics": "orders"}

func putConnectorConfig(w envWorld) func(svc *control.Service) error {
	return func(svc *control.Service) error {
		_, _, err := svc.PutConnectorConfig(w.ctx, w.env.ID, w.cluster.ID, w.connector.Name, maps.Clone(sinkConfig))
		return err
	}
}

func pauseConnector(w envWorld) func(svc *control.Service) error {
	return func(svc *control.Service) error {
		return svc.SetConnectorPaused(w.ctx, w.env.ID, w.cluster.ID, w.connector.Name, true)
	}
}

// The reads checked, as the reconciler makes them.
func storedPeering(t *testing.T, w envWorld) *control.Peering {
	t.Helper()
	p, err := w.svc.ReconcilePeering(context.Background(), w.peering.ID)
	if err != nil {
		t.Fatalf("read the peering: %v", err)
	}
	return p
}

func storedNetwork(t *testing.T, w envWorld) *control.Network {
	t.Helper()
	n, err := w.svc.ReconcileNetwork(context.Background(), w.net.ID)
	if err != nil {
		t.Fatalf("read the network: %v", err)
	}
	return n
}

func storedCluster(t *testing.T, w envWorld) *control.Cluster {
	t.Helper()
	c, err := w.svc.ReconcileCluster(context.Background(), w.cluster.ID)
	if err != nil {
		t.Fatalf("read the cluster: %v", err)
	}
	return c
}

func noErrors(t *testing.T, holderErr, racerErr error) {
	t.Helper()
	if holderErr != nil || racerErr != nil {
		t.Fatalf("holder: %v; racer: %v; want both to succeed", holderErr, racerErr)
	}
}

func wantPhase(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s is %s, want %s", what, got, want)
	}
}

func lostUpdateCases() []lostUpdateCase {
	failPeering := func(t *testing.T, w envWorld) {
		if _, err := w.svc.UpdatePeeringStatus(context.Background(), w.peering.ID, failedOnce); err != nil {
			t.Fatal(err)
		}
	}
	deprovisioned := func(t *testing.T, w envWorld, holderErr, racerErr error) {
		noErrors(t, holderErr, racerErr)
		wantPhase(t, "the deleted peering", storedPeering(t, w).Status.Phase, control.PhaseDeprovisioning)
	}
	return []lostUpdateCase{
		// Peerings.
		{name: "PeeringDeleteOverStatus", kind: "peering",
			holder: peeringStatusWrite(control.PeeringStatus{Phase: control.PhaseProvisioning}, readyPeering), racer: deletePeering,
			check: deprovisioned},
		{name: "PeeringDeleteOverRename", kind: "peering", holder: renamePeering, racer: deletePeering,
			check: deprovisioned},
		{name: "PeeringRenameOverDelete", kind: "peering", holder: deletePeering, racer: renamePeering,
			check: deprovisioned},
		{name: "PeeringRetryOverStatus", kind: "peering", setup: failPeering,
			holder: peeringStatusWrite(failedOnce, failedAgain), racer: retryPeering,
			check: func(t *testing.T, w envWorld, holderErr, racerErr error) {
				noErrors(t, holderErr, racerErr)
				wantPhase(t, "the retried peering", storedPeering(t, w).Status.Phase, control.PhaseProvisioning)
			}},
		{name: "PeeringStatusOverRetry", kind: "peering", setup: failPeering,
			holder: retryPeering, racer: peeringStatusWrite(failedOnce, failedAgain),
			check: func(t *testing.T, w envWorld, holderErr, racerErr error) {
				// The status write lands before the retry, which keeps its
				// checklist, or is refused as computed from a status the
				// retry replaced.
				p := storedPeering(t, w)
				wantPhase(t, "the retried peering", p.Status.Phase, control.PhaseProvisioning)
				if holderErr != nil || (racerErr != nil && control.ErrorCode(racerErr) != control.ECONFLICT) {
					t.Fatalf("retry: %v; status write: %v, want success or %s", holderErr, racerErr, control.ECONFLICT)
				}
				if racerErr == nil && !p.Status.Checklist.Equal(failedAgain.Checklist) {
					t.Fatalf("the status write succeeded but its checklist is gone after the retry: %+v", p.Status.Checklist)
				}
			}},
		{name: "PeeringRenameOverStatus", kind: "peering", holder: peeringStatusWrite(control.PeeringStatus{Phase: control.PhaseProvisioning}, readyPeering), racer: renamePeering,
			check: func(t *testing.T, w envWorld, holderErr, racerErr error) {
				noErrors(t, holderErr, racerErr)
				p := storedPeering(t, w)
				if p.DisplayName != "renamed" || p.Status.Phase != control.PhaseReady {
					t.Fatalf("peering %q is %s, want \"renamed\" and %s", p.DisplayName, p.Status.Phase, control.PhaseReady)
				}
			}},
		{name: "PeeringStatusOverRename", kind: "peering", holder: renamePeering, racer: peeringStatusWrite(control.PeeringStatus{Phase: control.PhaseProvisioning}, readyPeering),
			check: func(t *testing.T, w envWorld, holderErr, racerErr error) {
				noErrors(t, holderErr, racerErr)
				p := storedPeering(t, w)
				if p.DisplayName != "renamed" || p.Status.Phase != control.PhaseReady {
					t.Fatalf("peering %q is %s, want \"renamed\" and %s", p.DisplayName, p.Status.Phase, control.PhaseReady)
				}
			}},
		{name: "EnvironmentDeleteOverPeeringStatus", kind: "peering",
			holder: peeringStatusWrite(control.PeeringStatus{Phase: control.PhaseProvisioning}, readyPeering), racer: deleteEnvironment,
			check: func(t *testing.T, w envWorld, holderErr, racerErr error) {
				noErrors(t, holderErr, racerErr)
				checkNothingLive(t, w.svc, w.env.ID)
			}},

		// Networks.
		{name: "NetworkDeleteOverStatus", kind: "network", setup: func(t *testing.T, w envWorld) {
			// Only a network without peerings or clusters can be deleted.
			if err := w.svc.DeleteCluster(w.ctx, w.env.ID, w.cluster.ID); err != nil {
				t.Fatal(err)
			}
			if err := w.svc.DeletePeering(w.ctx, w.env.ID, w.peering.ID); err != nil {
				t.Fatal(err)
			}
			if err := w.svc.PurgePeering(context.Background(), w.peering.ID); err != nil {
				t.Fatal(err)
			}
		}, holder: networkStatusWrite, racer: deleteNetwork,
			check: func(t *testing.T, w envWorld, holderErr, racerErr error) {
				noErrors(t, holderErr, racerErr)
				if n := storedNetwork(t, w); n.Status != (control.NetworkStatus{Phase: control.PhaseDeprovisioning, AzureVNet: providerVNet.AzureVNet, AzureSubscription: providerVNet.AzureSubscription}) {
					t.Fatalf("deleted network %+v, want DEPROVISIONING keeping the VNet the status write found", n.Status)
				}
			}},
		{name: "EnvironmentDeleteOverNetworkStatus", kind: "network", holder: networkStatusWrite, racer: deleteEnvironment,
			check: func(t *testing.T, w envWorld, holderErr, racerErr error) {
				noErrors(t, holderErr, racerErr)
				checkNothingLive(t, w.svc, w.env.ID)
				if n := storedNetwork(t, w); n.Status.AzureVNet != providerVNet.AzureVNet {
					t.Fatalf("network of the deleted environment %+v lost the VNet the status write found (%s): it would never be deleted", n.Status, providerVNet.AzureVNet)
				}
			}},
		{name: "NetworkRenameOverStatus", kind: "network", holder: networkStatusWrite, racer: renameNetwork,
			check: func(t *testing.T, w envWorld, holderErr, racerErr error) {
				noErrors(t, holderErr, racerErr)
				if n := storedNetwork(t, w); n.DisplayName != "renamed" || n.Status != providerVNet {
					t.Fatalf("network %q %+v, want \"renamed\" %+v", n.DisplayName, n.Status, providerVNet)
				}
			}},
		{name: "NetworkStatusOverRename", kind: "network", holder: renameNetwork, racer: networkStatusWrite,
			check: func(t *testing.T, w envWorld, holderErr, racerErr error) {
				noErrors(t, holderErr, racerErr)
				if n := storedNetwork(t, w); n.DisplayName != "renamed" || n.Status != providerVNet {
					t.Fatalf("network %q %+v, want \"renamed\" %+v", n.DisplayName, n.Status, providerVNet)
				}
			}},

		// Clusters: deleted at once, so a write after the delete finds
		// nothing.
		{name: "ClusterDeleteOverStatus", kind: "cluster", holder: clusterStatusWrite, racer: deleteCluster,
			check: func(t *testing.T, w envWorld, holderErr, racerErr error) {
				if racerErr != nil || (holderErr != nil && control.ErrorCode(holderErr) != control.ENOTFOUND) {
					t.Fatalf("status write: %v, want success or %s; delete: %v", holderErr, control.ENOTFOUND, racerErr)
				}
				if _, err := w.svc.ReconcileCluster(context.Background(), w.cluster.ID); control.ErrorCode(err) != control.ENOTFOUND {
					t.Fatalf("deleted cluster: %v, want %s", err, control.ENOTFOUND)
				}
			}},
		{name: "ClusterDeleteOverResize", kind: "cluster", holder: resizeCluster, racer: deleteCluster,
			check: func(t *testing.T, w envWorld, holderErr, racerErr error) {
				noErrors(t, holderErr, racerErr)
				if _, err := w.svc.ReconcileCluster(context.Background(), w.cluster.ID); control.ErrorCode(err) != control.ENOTFOUND {
					t.Fatalf("deleted cluster: %v, want %s", err, control.ENOTFOUND)
				}
			}},
		{name: "ClusterResizeOverStatus", kind: "cluster", holder: clusterStatusWrite, racer: resizeCluster,
			check: func(t *testing.T, w envWorld, holderErr, racerErr error) {
				noErrors(t, holderErr, racerErr)
				if c := storedCluster(t, w); c.DisplayName != "renamed" || c.CKU != 4 || !c.Status.Equal(runningCluster) {
					t.Fatalf("cluster %q of %d CKU %+v, want \"renamed\" of 4 %+v", c.DisplayName, c.CKU, c.Status, runningCluster)
				}
			}},
		{name: "ClusterStatusOverResize", kind: "cluster", holder: resizeCluster, racer: clusterStatusWrite,
			check: func(t *testing.T, w envWorld, holderErr, racerErr error) {
				noErrors(t, holderErr, racerErr)
				if c := storedCluster(t, w); c.DisplayName != "renamed" || c.CKU != 4 || !c.Status.Equal(runningCluster) {
					t.Fatalf("cluster %q of %d CKU %+v, want \"renamed\" of 4 %+v", c.DisplayName, c.CKU, c.Status, runningCluster)
				}
			}},

		// Connectors and environments.
		{name: "ConnectorConfigOverPause", kind: "connector", holder: pauseConnector, racer: putConnectorConfig,
			check: func(t *testing.T, w envWorld, holderErr, racerErr error) {
				noErrors(t, holderErr, racerErr)
				c, err := w.svc.FindConnector(w.ctx, w.env.ID, w.cluster.ID, w.connector.Name)
				if err != nil {
					t.Fatal(err)
				}
				if !c.Paused || c.Config["connection.url"] != sinkConfig["connection.url"] {
					t.Fatalf("connector paused=%v with %v, want paused with the new config %v", c.Paused, c.Config, sinkConfig)
				}
			}},
		{name: "EnvironmentDeleteOverRename", kind: "environment", holder: renameEnvironment, racer: deleteEnvironment,
			check: func(t *testing.T, w envWorld, holderErr, racerErr error) {
				noErrors(t, holderErr, racerErr)
				checkNothingLive(t, w.svc, w.env.ID)
			}},
	}
}

// testControlRaceLostUpdates runs every lost-update race: a delete wins
// over any status write, rename or retry it races, and neither a status
// write nor a rename, resize, retry or config change undoes another.
func testControlRaceLostUpdates(t *testing.T, open func(t *testing.T) *store.DB) {
	for _, tt := range lostUpdateCases() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newEnvWorld(t, control.NewService(open(t).Control(), control.DefaultSettings()), "lost")
			if tt.setup != nil {
				tt.setup(t, w)
			}
			holderErr, racerErr := raceInWindow(t, open, tt.kind, tt.holder(w), tt.racer(w))
			tt.check(t, w, holderErr, racerErr)
		})
	}
}
