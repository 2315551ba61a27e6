// Package connect is the managed connector runtime: it runs the connectors
// of the classes Peerplane implements (control.ManagedClasses:
// DatagenSource, HttpSink, PostgresSink) against their cluster's Kafka
// endpoint, each from a host it claims in the cluster's network's provider
// VNet, so that its traffic comes from the network's CIDR and the
// customer's security rules apply to it for real.
//
// One Runtime owns every connector's goroutines. Run reads the stored
// connectors (control.Service.AllConnectorPlacements) when kicked and
// every Resync, and starts, stops or restarts a worker per connector so
// that exactly the non-paused connectors of PROVISIONED clusters run, each
// with its current config. A worker retries a failed run with capped
// exponential backoff and reports what happens (control.ConnectorRun:
// state, record counts, last error, a source's position) to the store,
// where every replica's API reads it.
//
// Delivery is at least once: a sink commits its consumer group's offsets
// (group connect-<connector id>) only after its destination accepted the
// records, and a source saves its position only after Kafka acknowledged
// the records; a failure or a restart between the two repeats them.
package connect

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/peerplane/peerplane/internal/control"
)

// Control is what the runtime needs of the control plane
// (*control.Service implements it).
type Control interface {
	// AllConnectorPlacements returns every connector with its cluster and
	// network.
	AllConnectorPlacements(ctx context.Context) ([]control.ConnectorPlacement, error)
	// FindConnectorRun returns ENOTFOUND if the connector has no run.
	FindConnectorRun(ctx context.Context, clusterID, name string) (*control.ConnectorRun, error)
	// PutConnectorRun returns ENOTFOUND if the connector is gone and
	// ECONFLICT if it is another of the same name.
	PutConnectorRun(ctx context.Context, run *control.ConnectorRun) error
}

var _ Control = (*control.Service)(nil)

// ClusterEndpoints tells where a cluster's Kafka brokers listen.
type ClusterEndpoints interface {
	// Bootstrap returns the cluster's broker addresses ("ip:port") inside
	// its network's provider VNet, or an error saying why there are none
	// (data plane off, cluster not PROVISIONED, being deleted).
	Bootstrap(ctx context.Context, clusterID string) ([]string, error)
}

// Hosts places hosts in VNets (cmd/peerplane adapts the data plane).
type Hosts interface {
	// Claim makes a host at a free address of VNet vnetID, held by owner
	// (for logs), and returns it once it can dial.
	Claim(ctx context.Context, vnetID, owner string) (Host, error)
}

// Host is an address in a VNet that connections are made from.
type Host interface {
	// Addr is the host's IP address.
	Addr() string
	// DialContext connects from the host to address (ip:port).
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
	// Done is closed when the host is gone (released, or removed with its
	// VNet); Err then says why.
	Done() <-chan struct{}
	Err() error
	// Release gives the address back; it is idempotent.
	Release()
}

// Config configures a Runtime.
type Config struct {
	Control   Control
	Endpoints ClusterEndpoints
	Hosts     Hosts
	// Worker names this replica in the runs it reports.
	Worker string
	Logger *slog.Logger
	// Resync is how often the stored connectors are read again without a
	// kick (default 2s): a connector changed through another replica, or a
	// cluster that became PROVISIONED, starts within it.
	Resync time.Duration
	// Flush is how often a worker stores its counts while they change
	// (default 1s); state changes are stored at once.
	Flush time.Duration
	// MaxBackoff caps the wait before a failed connector is tried again
	// (default 30s); the first wait is 1s, doubling.
	MaxBackoff time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Runtime runs managed connectors. Make one with New and run it with Run.
type Runtime struct {
	cfg  Config
	log  *slog.Logger
	kick chan struct{}

	mu      sync.Mutex
	workers map[string]*worker // by cluster/name
}

// New returns a runtime for cfg, filling in its defaults.
func New(cfg Config) *Runtime {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 2 * time.Second
	}
	if cfg.Flush <= 0 {
		cfg.Flush = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Runtime{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), workers: map[string]*worker{}}
}

// Kick asks Run to read the stored connectors now (a connector or cluster
// changed). It never blocks.
func (r *Runtime) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run runs the connectors until ctx is done, then stops every worker
// (each stores its last counts) and returns: no goroutine outlives it.
func (r *Runtime) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Resync)
	defer t.Stop()
	defer r.stopAll()
	for {
		if err := r.Sync(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("read connectors", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-t.C:
		}
	}
}

// Sync reads the stored connectors once and converges the workers on
// them: it starts the ones that should run, stops the ones that should
// not, and restarts those whose config, cluster or network changed.
func (r *Runtime) Sync(ctx context.Context) error {
	ps, err := r.cfg.Control.AllConnectorPlacements(ctx)
	if err != nil {
		return fmt.Errorf("read connectors: %w", err)
	}
	want := map[string]spec{}
	for _, p := range ps {
		if s, ok := specOf(p); ok {
			want[s.key()] = s
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var stopping []*worker
	for key, w := range r.workers {
		if s, ok := want[key]; !ok || s.fingerprint() != w.spec.fingerprint() {
			w.stop()
			stopping = append(stopping, w)
			delete(r.workers, key)
		}
	}
	for _, w := range stopping {
		w.wait()
	}
	for key, s := range want {
		if r.workers[key] == nil && ctx.Err() == nil {
			w := newWorker(r, s)
			r.workers[key] = w
			w.start(ctx)
		}
	}
	return nil
}

// Running returns the keys ("cluster/name") of the running workers, for
// tests and diagnostics.
func (r *Runtime) Running() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.workers))
	for k := range r.workers {
		out = append(out, k)
	}
	return out
}

func (r *Runtime) stopAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.workers {
		w.stop()
	}
	for key, w := range r.workers {
		w.wait()
		delete(r.workers, key)
	}
}

// spec is what a worker runs: a connector of a managed class in a
// PROVISIONED cluster, not paused.
type spec struct {
	Connector *control.Connector
	ClusterID string
	VNetID    string // the cluster's network's provider VNet
}

func (s spec) key() string { return s.ClusterID + "/" + s.Connector.Name }

// fingerprint changes when the worker must restart.
func (s spec) fingerprint() string {
	k := s.Connector
	return fmt.Sprint(k.CreatedAt.UnixMicro(), "|", k.UpdatedAt.UnixMicro(), "|", strings.ToLower(s.VNetID))
}

// specOf returns what runs for p, and false when nothing should.
func specOf(p control.ConnectorPlacement) (spec, bool) {
	k, cl, n := p.Connector, p.Cluster, p.Network
	if k.Paused || !control.IsManagedClass(k.Config["connector.class"]) || cl == nil || n == nil {
		return spec{}, false
	}
	if cl.Status.Phase != control.ClusterPhaseProvisioned || n.Status.AzureVNet == "" {
		return spec{}, false
	}
	return spec{Connector: k, ClusterID: cl.ID, VNetID: n.Status.AzureVNet}, true
}
