package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/peerplane/peerplane/internal/control"
)

// Host is an address claimed in a VNet (a *dataplane.Host): listeners
// opened on it and connections dialed from it live in the VNet's network.
type Host interface {
	// Listen listens on the host's address: address is ":port".
	Listen(ctx context.Context, network, address string) (net.Listener, error)
	// DialContext connects from the host.
	DialContext(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error)
	// Done is closed when the host is gone (released, or removed by the
	// data plane); Err says why.
	Done() <-chan struct{}
	Err() error
	// Release gives the address back.
	Release()
}

// Hosts claims hosts in VNets (the data plane, through cmd's wiring).
type Hosts interface {
	// ClaimHost claims addr in the VNet vnetID for owner (named in logs).
	// It fails when the VNet is not (yet) known or the address is taken.
	ClaimHost(ctx context.Context, vnetID string, addr netip.Addr, owner string) (Host, error)
}

// Source is what the endpoints read of the control plane.
type Source interface {
	// ProvisionedClusters returns every PROVISIONED cluster with its
	// network.
	ProvisionedClusters(ctx context.Context) ([]control.ClusterPlacement, error)
	// ReconcileCluster returns a cluster of any organization; ENOTFOUND if
	// it does not exist.
	ReconcileCluster(ctx context.Context, id string) (*control.Cluster, error)
}

// KeyAuthenticator checks cluster API keys (control.Service).
type KeyAuthenticator interface {
	// AuthenticateClusterKey returns EUNAUTHORIZED unless key and secret
	// are a key of cluster clusterID.
	AuthenticateClusterKey(ctx context.Context, clusterID, key, secret string) (*control.ClusterAPIKey, error)
}

// Options configure a Manager.
type Options struct {
	Source Source
	Hosts  Hosts
	Keys   KeyAuthenticator
	// Dir holds the brokers' logs, one directory per cluster, named by its
	// id: what is there for no cluster is removed.
	Dir string
	// Certificate returns the REST endpoint's TLS certificate for hosts
	// (the cluster's private name and broker addresses).
	Certificate func(hosts ...string) (tls.Certificate, error)
	// Resync is how often the clusters are read again when nothing says
	// they changed (another replica's changes); default 5s.
	Resync time.Duration
	// Logger receives starts, stops and failures. Nil discards them.
	Logger *slog.Logger
}

// Manager runs a Kafka endpoint for every PROVISIONED cluster whose
// network's provider VNet the data plane has: one kfake broker per broker
// address of the cluster's status, each on a host claimed at that address
// in the provider VNet, listening on :9092 (PLAINTEXT) and advertising its
// private address, plus the cluster's Kafka REST v3 endpoint on :443
// (TLS) at each of them. Each cluster's log is kept in Dir/<cluster id>
// with SyncWrites: a produce is acknowledged once its batch is written and
// fsynced, so a restart (or a crash of the machine) keeps it. Endpoints
// start when a cluster is PROVISIONED (and on Run for existing ones); they
// stop when Run ends, keeping their data, and when their cluster is
// deleted, removing it.
//
// Manager implements ClusterEndpoints. It is safe for concurrent use.
type Manager struct {
	opts Options
	log  *slog.Logger

	kick chan struct{}

	mu      sync.Mutex
	running map[string]*endpoint
	failed  map[string]error                 // start failures, by cluster id
	zone    map[string][]netip.Addr          // private name (lower case, no dot at the end) → brokers
	known   map[string]control.ClusterStatus // PROVISIONED clusters seen at the last sync
	synced  chan struct{}                    // closed and replaced after each sync
	gen     uint64                           // bumped by Kick
	done    uint64                           // the gen the last finished sync started at
	stopped bool
}

// endpoint is one cluster's running brokers.
type endpoint struct {
	id      string
	spec    spec
	hosts   []Host
	cluster *kfake.Cluster
	rest    *restServer
	servers []*http.Server
	gone    chan struct{} // closed when a host is gone or the endpoint stops
	once    sync.Once
}

func (ep *endpoint) closeGone() { ep.once.Do(func() { close(ep.gone) }) }

// spec is what a cluster's endpoint is made from.
type spec struct {
	vnetID  string
	brokers []netip.Addr
	name    string // the private name, e.g. lkc-….eastus.azure.private.confluent.cloud
}

func (s spec) equal(o spec) bool {
	return strings.EqualFold(s.vnetID, o.vnetID) && slices.Equal(s.brokers, o.brokers) && s.name == o.name
}

// New returns a Manager; Run starts it.
func New(opts Options) *Manager {
	if opts.Resync <= 0 {
		opts.Resync = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{opts: opts, log: opts.Logger, kick: make(chan struct{}, 1),
		running: map[string]*endpoint{}, failed: map[string]error{}, zone: map[string][]netip.Addr{},
		known: map[string]control.ClusterStatus{}, synced: make(chan struct{})}
}

// Kick asks for the clusters to be read again now: a hint, after a change.
func (m *Manager) Kick() {
	m.mu.Lock()
	m.gen++
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Sync waits until a sync started after the call has finished (for tests
// and callers that just changed a cluster). It returns ctx's error if ctx
// ends first, or an error once Run has ended.
func (m *Manager) Sync(ctx context.Context) error {
	m.Kick()
	m.mu.Lock()
	want := m.gen
	m.mu.Unlock()
	for {
		m.mu.Lock()
		done, ch, stopped := m.done, m.synced, m.stopped
		m.mu.Unlock()
		if done >= want {
			return nil
		}
		if stopped {
			return errors.New("the Kafka endpoints are stopped")
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Run keeps the endpoints in line with the clusters until ctx ends, then
// stops every broker (keeping its data) and returns.
func (m *Manager) Run(ctx context.Context) error {
	retry := time.Duration(0)
	for {
		m.mu.Lock()
		gen := m.gen
		m.mu.Unlock()
		err := m.sync(ctx)
		m.mu.Lock()
		m.done = gen
		close(m.synced)
		m.synced = make(chan struct{})
		failing := len(m.failed) > 0
		m.mu.Unlock()
		wait := m.opts.Resync
		switch {
		case err != nil && ctx.Err() == nil:
			m.log.Warn("read clusters for the Kafka endpoints", "err", err)
			fallthrough
		case failing:
			// Retry soon: a provider VNet the data plane has not seen yet, an
			// address a host holds for a moment.
			retry = min(max(2*retry, 200*time.Millisecond), m.opts.Resync)
			wait = retry
		default:
			retry = 0
		}
		select {
		case <-ctx.Done():
			m.stopAll()
			return nil
		case <-m.kick:
		case <-time.After(wait):
		}
	}
}

// stopAll stops every endpoint, keeping its data.
func (m *Manager) stopAll() {
	m.mu.Lock()
	eps := m.running
	m.running = map[string]*endpoint{}
	m.stopped = true
	close(m.synced)
	m.synced = make(chan struct{})
	m.mu.Unlock()
	for _, ep := range eps {
		ep.stop()
	}
}

// sync converges the endpoints on the stored clusters: it stops the
// endpoints of clusters gone (removing their data) or changed, and starts
// the missing ones.
func (m *Manager) sync(ctx context.Context) error {
	ps, err := m.opts.Source.ProvisionedClusters(ctx)
	if err != nil {
		return err
	}
	want := map[string]spec{}
	zone := map[string][]netip.Addr{}
	known := map[string]control.ClusterStatus{}
	for _, p := range ps {
		c := p.Cluster
		known[c.ID] = c.Status
		name := hostOf(c.Status.BootstrapEndpoint)
		brokers := c.Status.BrokerAddrs()
		if name != "" && len(brokers) > 0 {
			zone[name] = brokers
		}
		if p.Network.Status.AzureVNet == "" || len(brokers) == 0 {
			continue
		}
		want[c.ID] = spec{vnetID: p.Network.Status.AzureVNet, brokers: brokers, name: name}
	}
	m.mu.Lock()
	m.zone, m.known = zone, known
	running := make(map[string]*endpoint, len(m.running))
	for id, ep := range m.running {
		running[id] = ep
	}
	m.mu.Unlock()

	for id, ep := range running {
		s, ok := want[id]
		lost := false
		select {
		case <-ep.gone:
			lost = true
		default:
		}
		if ok && s.equal(ep.spec) && !lost {
			continue
		}
		m.mu.Lock()
		delete(m.running, id)
		m.mu.Unlock()
		ep.stop()
		switch {
		case !ok:
			m.log.Info("Kafka endpoint stopped: the cluster is gone", "cluster", id)
		case lost:
			m.log.Warn("Kafka endpoint stopped: a broker's host is gone; restarting it", "cluster", id, "err", ep.hostErr())
		default:
			m.log.Info("Kafka endpoint stopped: its addresses changed; restarting it", "cluster", id)
		}
	}
	m.removeData(want)

	for id, s := range want {
		m.mu.Lock()
		_, ok := m.running[id]
		m.mu.Unlock()
		if ok {
			continue
		}
		ep, err := m.start(ctx, id, s)
		m.mu.Lock()
		if err != nil {
			m.failed[id] = err
		} else {
			delete(m.failed, id)
			m.running[id] = ep
		}
		m.mu.Unlock()
		if err != nil {
			m.log.Warn("Kafka endpoint did not start; retrying", "cluster", id, "err", err)
			continue
		}
		m.log.Info("Kafka endpoint started", "cluster", id, "brokers", ep.addrs(), "name", s.name)
	}
	m.mu.Lock()
	for id := range m.failed {
		if _, ok := want[id]; !ok {
			delete(m.failed, id)
		}
	}
	m.mu.Unlock()
	return nil
}

// removeData removes the log directories of clusters that are not
// wanted: deleted (also while the server was down).
func (m *Manager) removeData(want map[string]spec) {
	ents, err := os.ReadDir(m.opts.Dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), control.PrefixCluster) {
			continue
		}
		if _, ok := want[e.Name()]; ok {
			continue
		}
		m.mu.Lock()
		_, known := m.known[e.Name()]
		m.mu.Unlock()
		if known {
			continue // PROVISIONED, but its network has no VNet yet
		}
		if err := os.RemoveAll(filepath.Join(m.opts.Dir, e.Name())); err != nil {
			m.log.Warn("remove a deleted cluster's Kafka data", "cluster", e.Name(), "err", err)
			continue
		}
		m.log.Info("removed a deleted cluster's Kafka data", "cluster", e.Name())
	}
}

// start claims a host per broker, starts the brokers on them and the REST
// endpoint. On failure nothing is left claimed or running.
func (m *Manager) start(ctx context.Context, id string, s spec) (_ *endpoint, err error) {
	ep := &endpoint{id: id, spec: s, gone: make(chan struct{})}
	defer func() {
		if err != nil {
			ep.stop()
		}
	}()
	for _, a := range s.brokers {
		h, err := m.opts.Hosts.ClaimHost(ctx, s.vnetID, a, "Kafka cluster "+id)
		if err != nil {
			return nil, fmt.Errorf("claim broker address %s: %w", a, err)
		}
		ep.hosts = append(ep.hosts, h)
	}
	dir := filepath.Join(m.opts.Dir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the cluster's data directory: %w", err)
	}
	next := 0
	listen := func(network, _ string) (net.Listener, error) {
		if next >= len(ep.hosts) {
			return nil, errors.New("more brokers than broker addresses")
		}
		h := ep.hosts[next]
		next++
		return h.Listen(ctx, "tcp4", fmt.Sprintf(":%d", control.KafkaPort))
	}
	ports := make([]int, len(s.brokers))
	for i := range ports {
		ports[i] = control.KafkaPort
	}
	ep.cluster, err = kfake.NewCluster(kfake.ListenFn(listen), kfake.Ports(ports...), kfake.ClusterID(id),
		kfake.DataDir(dir), kfake.SyncWrites(), kfake.DefaultNumPartitions(6), kfake.WithLogger(kfakeLogger{m.log.With("cluster", id)}))
	if err != nil {
		return nil, fmt.Errorf("start the brokers: %w", err)
	}

	client, err := kgo.NewClient(kgo.SeedBrokers(ep.addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			return ep.hosts[0].DialContext(ctx, &net.Dialer{Timeout: 5 * time.Second}, network, host)
		}))
	if err != nil {
		return nil, fmt.Errorf("REST endpoint's client: %w", err)
	}
	ep.rest = newRESTServer(id, client, m.opts.Keys, m.log.With("cluster", id, "component", "kafka-rest"))
	var tlsCfg *tls.Config
	if m.opts.Certificate != nil {
		names := []string{s.name}
		for _, a := range s.brokers {
			names = append(names, a.String())
		}
		cert, err := m.opts.Certificate(names...)
		if err != nil {
			return nil, fmt.Errorf("REST endpoint's certificate: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	for _, h := range ep.hosts {
		ln, err := h.Listen(ctx, "tcp4", fmt.Sprintf(":%d", control.RESTPort))
		if err != nil {
			return nil, fmt.Errorf("REST endpoint: %w", err)
		}
		if tlsCfg != nil {
			ln = tls.NewListener(ln, tlsCfg)
		}
		srv := &http.Server{Handler: ep.rest, ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelDebug)}
		ep.servers = append(ep.servers, srv)
		go srv.Serve(ln)
	}
	for _, h := range ep.hosts {
		go func() {
			select {
			case <-h.Done():
				ep.closeGone()
				m.Kick()
			case <-ep.gone:
			}
		}()
	}
	return ep, nil
}

// stop closes the REST endpoint and the brokers (which save their state)
// and releases the hosts. It is safe on a partly started endpoint.
func (ep *endpoint) stop() {
	for _, srv := range ep.servers {
		srv.Close()
	}
	if ep.rest != nil {
		ep.rest.client.Close()
	}
	if ep.cluster != nil {
		ep.cluster.Close()
	}
	ep.closeGone()
	for _, h := range ep.hosts {
		h.Release()
	}
}

func (ep *endpoint) addrs() []string {
	out := make([]string, len(ep.spec.brokers))
	for i, a := range ep.spec.brokers {
		out[i] = netip.AddrPortFrom(a, control.KafkaPort).String()
	}
	return out
}

func (ep *endpoint) hostErr() error {
	for _, h := range ep.hosts {
		if err := h.Err(); err != nil {
			return err
		}
	}
	return nil
}

// Bootstrap implements ClusterEndpoints.
func (m *Manager) Bootstrap(ctx context.Context, clusterID string) ([]string, error) {
	m.mu.Lock()
	ep := m.running[clusterID]
	failure := m.failed[clusterID]
	m.mu.Unlock()
	if ep != nil {
		select {
		case <-ep.gone:
		default:
			return ep.addrs(), nil
		}
	}
	c, err := m.opts.Source.ReconcileCluster(ctx, clusterID)
	switch {
	case control.ErrorCode(err) == control.ENOTFOUND:
		return nil, &NoBrokersError{ClusterID: clusterID, Err: ErrNotFound}
	case err != nil:
		return nil, fmt.Errorf("read cluster %s: %w", clusterID, err)
	case c.Status.Phase != control.ClusterPhaseProvisioned:
		return nil, &NoBrokersError{ClusterID: clusterID, Err: ErrNotProvisioned,
			Reason: fmt.Sprintf("the cluster is %s, not PROVISIONED", c.Status.Phase)}
	case failure != nil:
		return nil, &NoBrokersError{ClusterID: clusterID, Err: ErrNotRunning, Reason: "its brokers failed to start: " + failure.Error()}
	}
	return nil, &NoBrokersError{ClusterID: clusterID, Err: ErrNotRunning, Reason: "its brokers are starting"}
}

// LookupHost returns the broker addresses a cluster's private name
// (case-insensitive, with or without the final dot) resolves to, or nil:
// the private DNS zone. Every PROVISIONED cluster has its name, running or
// not, as a private DNS zone's record would be.
func (m *Manager) LookupHost(name string) []netip.Addr {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.zone[name])
}

// hostOf returns the host of "host:port" (lower case), or "".
func hostOf(hostPort string) string {
	h, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return ""
	}
	return strings.ToLower(h)
}

// kfakeLogger sends kfake's warnings and errors to the log.
type kfakeLogger struct{ log *slog.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		l.log.Error("kafka broker: " + fmt.Sprintf(msg, args...))
	case kfake.LogLevelWarn:
		l.log.Warn("kafka broker: " + fmt.Sprintf(msg, args...))
	}
}

var _ ClusterEndpoints = (*Manager)(nil)

// Off is the ClusterEndpoints of a server without a data plane: every
// cluster has no brokers, ErrDataplaneOff.
type Off struct{}

// Bootstrap implements ClusterEndpoints.
func (Off) Bootstrap(_ context.Context, clusterID string) ([]string, error) {
	return nil, &NoBrokersError{ClusterID: clusterID, Err: ErrDataplaneOff}
}
