package reconcile

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/store"
)

const fakeProviderTenant = "00000000-0000-4000-8000-0000000000aa"

// envWorld is a control plane on SQLite with an organization's
// environment holding a READY network, a READY peering with both halves
// Connected, a PROVISIONED cluster and a connector, reconciled by ctl over
// the fake Azure.
type envWorld struct {
	svc      *control.Service
	az       *fakeAzure
	ctl      *Controller
	octx     context.Context
	env      *control.Environment
	net      *control.Network
	peering  *control.Peering
	cluster  *control.Cluster
	custVNet string
}

func newEnvWorld(t *testing.T) *envWorld {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w := &envWorld{svc: control.NewService(db.Control(), control.DefaultSettings()), az: newFakeAzure(fakeProviderTenant)}
	w.ctl = w.newController()
	w.svc.OnChange = func(c control.ObjectKey) { w.ctl.Enqueue(c) }
	org := &control.Organization{DisplayName: "acme"}
	if err := w.svc.CreateOrganization(control.NewOperatorContext(ctx), org); err != nil {
		t.Fatal(err)
	}
	w.octx = control.NewContextWithOrganization(ctx, org)
	w.env = &control.Environment{DisplayName: "prod"}
	must(t, w.svc.CreateEnvironment(w.octx, w.env))
	w.custVNet = "/subscriptions/6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/contoso"
	w.az.addVNet(w.custVNet, "eastus", map[string]string{control.EnvTag: w.env.ID}, "10.1.0.0/16")
	w.net = &control.Network{EnvironmentID: w.env.ID, Cloud: "AZURE", Region: "eastus", CIDR: "10.10.0.0/16", ConnectionTypes: []string{"PEERING"}}
	must(t, w.svc.CreateNetwork(w.octx, w.net))
	w.drain(t)
	w.peering = &control.Peering{EnvironmentID: w.env.ID, NetworkID: w.net.ID, Cloud: "AZURE", CustomerRegion: "eastus",
		Tenant: "5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01", VNet: w.custVNet}
	must(t, w.svc.CreatePeering(w.octx, w.peering))
	w.cluster = &control.Cluster{EnvironmentID: w.env.ID, NetworkID: w.net.ID, CKU: 2}
	must(t, w.svc.CreateCluster(w.octx, w.cluster))
	w.drain(t)
	must(t, w.svc.CreateConnector(w.octx, w.env.ID, w.cluster.ID, &control.Connector{Name: "sink",
		Config: map[string]string{"connector.class": "PostgresSink", "connection.url": "jdbc:postgresql://10.1.0.4:5432/db", "topics": "orders"}}))

	p, err := w.svc.ReconcilePeering(ctx, w.peering.ID)
	if err != nil || p.Status.Phase != control.PhaseReady {
		t.Fatalf("peering before the delete: %+v, %v", p, err)
	}
	if c, err := w.svc.ReconcileCluster(ctx, w.cluster.ID); err != nil || c.Status.Phase != control.ClusterPhaseProvisioned {
		t.Fatalf("cluster before the delete: %+v, %v", c, err)
	}
	vnets, halves := w.az.snapshot()
	if len(vnets) != 2 || len(halves) != 2 {
		t.Fatalf("Azure before the delete: VNets %v, halves %v", vnets, halves)
	}
	return w
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (w *envWorld) newController() *Controller {
	return New(Config{Control: w.svc, Azure: w.az, App: testApp})
}

// drain reconciles every queued key, and the keys they queue, until the
// queue is empty, without letting time pass: a key that asks to be looked
// at again soon (waiting for another object) is queued again at once, one
// that asks for the periodic resync is left out. It returns the keys in
// the order reconciled and stops at the first error.
func (w *envWorld) drain(t *testing.T) []Key {
	t.Helper()
	return w.drainOnly(t, func(Key) bool { return true })
}

// drainOnly is drain for the keys run selects; the others are dropped, as
// a process that dies before reaching them would.
func (w *envWorld) drainOnly(t *testing.T, run func(key Key) bool) []Key {
	t.Helper()
	var done []Key
	for n := 0; w.ctl.q.Len() > 0; n++ {
		if n > 200 {
			t.Fatalf("the queue does not drain: %v", done[len(done)-20:])
		}
		key, _ := w.ctl.q.Get()
		if !run(key) {
			w.ctl.q.Done(key)
			continue
		}
		res, err := w.ctl.Reconcile(context.Background(), key)
		if err == nil && res.RequeueAfter > 0 && !res.Resync {
			w.ctl.q.Add(key) // processing: queued again after Done
		}
		w.ctl.q.Done(key)
		done = append(done, key)
		var f *failed
		if err != nil && !errors.As(err, &f) {
			return done
		}
	}
	return done
}

// gone checks nothing of the environment is left: no row, no Azure half,
// no provider VNet.
func (w *envWorld) gone(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if _, err := w.svc.ReconcileEnvironment(ctx, w.env.ID); control.ErrorCode(err) != control.ENOTFOUND {
		t.Errorf("environment row: %v, want gone", err)
	}
	if _, err := w.svc.ReconcileNetwork(ctx, w.net.ID); control.ErrorCode(err) != control.ENOTFOUND {
		t.Errorf("network row: %v, want gone", err)
	}
	if _, err := w.svc.ReconcilePeering(ctx, w.peering.ID); control.ErrorCode(err) != control.ENOTFOUND {
		t.Errorf("peering row: %v, want gone", err)
	}
	if _, err := w.svc.ReconcileCluster(ctx, w.cluster.ID); control.ErrorCode(err) != control.ENOTFOUND {
		t.Errorf("cluster row: %v, want gone", err)
	}
	vnets, halves := w.az.snapshot()
	if len(halves) != 0 || len(vnets) != 1 || vnets[0] != strings.ToLower(w.custVNet) {
		t.Errorf("left in Azure: VNets %v, halves %v; want only the customer's VNet", vnets, halves)
	}
}

// TestReconcileDeletedEnvironment: after DELETE the reconciler removes both
// halves of the peering, then the provider VNet, then the rows, the
// environment's last.
func TestReconcileDeletedEnvironment(t *testing.T) {
	w := newEnvWorld(t)
	must(t, w.svc.DeleteEnvironment(w.octx, w.env.ID))
	done := w.drain(t)
	w.gone(t)
	if last := done[len(done)-1]; last != environmentKey(w.env.ID) {
		t.Fatalf("reconciled %v: want the environment last", done)
	}
}

// TestReconcileDeletedEnvironmentAfterRestart: the delete is acknowledged,
// then the process dies before the reconciler does anything (or after it
// removed only some of it); a new controller resumes from the store alone.
func TestReconcileDeletedEnvironmentAfterRestart(t *testing.T) {
	for _, stop := range []string{"before anything", "after the customer half", "after the peering", "after the provider VNet", "after the network"} {
		t.Run(stop, func(t *testing.T) {
			w := newEnvWorld(t)
			// The first process dies at stop: Azure refuses everything
			// after it, and the process's queue is lost.
			var dead bool
			w.az.fail = func(op, what string) error {
				if dead {
					return errors.New("the process died")
				}
				switch {
				case stop == "before anything",
					stop == "after the customer half" && op == "DeletePeering" && len(w.az.halves) == 1:
					dead = true
				case stop == "after the provider VNet" && op == "DeleteProviderVNet":
					// The VNet goes; the process dies before the purge.
					delete(w.az.vnets, strings.ToLower(w.az.ProviderVNetID(what)))
					dead = true
				}
				if dead {
					return errors.New("the process died")
				}
				return nil
			}
			must(t, w.svc.DeleteEnvironment(w.octx, w.env.ID))
			switch stop {
			case "after the peering": // only the peering's key ran
				w.drainOnly(t, func(key Key) bool { return key.Kind == KindPeering })
				if _, err := w.svc.ReconcilePeering(context.Background(), w.peering.ID); control.ErrorCode(err) != control.ENOTFOUND {
					t.Fatalf("peering after its key ran: %v", err)
				}
			case "after the network": // all but the environment's key ran
				w.drainOnly(t, func(key Key) bool { return key.Kind != KindEnvironment })
				if _, err := w.svc.ReconcileNetwork(context.Background(), w.net.ID); control.ErrorCode(err) != control.ENOTFOUND {
					t.Fatalf("network after its key ran: %v", err)
				}
			default:
				w.drain(t)
			}
			if _, err := w.svc.ReconcileEnvironment(context.Background(), w.env.ID); err != nil {
				t.Fatalf("the environment's row went before its Azure resources: %v", err)
			}

			// Restart: a new controller, what the store says only.
			w.az.fail = nil
			w.ctl = w.newController()
			must(t, w.ctl.EnqueueAll(context.Background()))
			w.drain(t)
			w.gone(t)
		})
	}
}

// TestReconcileDeletedEnvironmentWaitsForAzure: while Azure refuses to
// delete a half, the network and the environment stay (being deleted), and
// the environment key does not purge anything; once Azure answers, all go.
func TestReconcileDeletedEnvironmentWaitsForAzure(t *testing.T) {
	w := newEnvWorld(t)
	refused := 0
	w.az.fail = func(op, _ string) error {
		if op == "DeletePeering" {
			refused++
			return &azure.Error{Status: 503, Code: "ServiceUnavailable", Message: "try later"}
		}
		return nil
	}
	must(t, w.svc.DeleteEnvironment(w.octx, w.env.ID))
	w.drain(t)
	// The failed peering key waits for its backoff; run the others again.
	for _, k := range []Key{networkKey(w.net.ID), environmentKey(w.env.ID)} {
		if _, err := w.ctl.Reconcile(context.Background(), k); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	if refused == 0 {
		t.Fatal("Azure was never asked to delete a half")
	}
	if env, err := w.svc.ReconcileEnvironment(context.Background(), w.env.ID); err != nil || !env.Deleting {
		t.Fatalf("environment while a half is left: %+v, %v; want it kept, being deleted", env, err)
	}
	if n, err := w.svc.ReconcileNetwork(context.Background(), w.net.ID); err != nil || n.Status.Phase != control.PhaseDeprovisioning {
		t.Fatalf("network while a half is left: %+v, %v", n, err)
	}
	if vnets, _ := w.az.snapshot(); len(vnets) != 2 {
		t.Fatalf("the provider VNet went while a half of its peering is left: %v", vnets)
	}
	w.az.fail = nil
	w.ctl.Enqueue(peeringKey(w.peering.ID))
	w.drain(t)
	w.gone(t)
}
