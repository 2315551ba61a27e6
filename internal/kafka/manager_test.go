package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/kafka"
)

// The Manager's lifecycle, without the data plane: hosts are loopback
// addresses (127.x), so brokers advertise and clients dial them directly.

// wait bounds the tests' waits; it only turns a hang into a failure.
const wait = 30 * time.Second

type fakeHost struct {
	addr netip.Addr
	done chan struct{}
	once sync.Once
	err  error
}

func (h *fakeHost) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	_, port, _ := net.SplitHostPort(address)
	return (&net.ListenConfig{}).Listen(ctx, network, net.JoinHostPort(h.addr.String(), port))
}

func (h *fakeHost) DialContext(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error) {
	return d.DialContext(ctx, network, address)
}

func (h *fakeHost) Done() <-chan struct{} { return h.done }
func (h *fakeHost) Err() error            { return h.err }
func (h *fakeHost) Release()              { h.once.Do(func() { close(h.done) }) }

// fakePlane hands out loopback hosts, refusing an address already held.
type fakePlane struct {
	mu    sync.Mutex
	held  map[netip.Addr]*fakeHost
	vnets map[string]bool
}

func (p *fakePlane) ClaimHost(ctx context.Context, vnetID string, addr netip.Addr, owner string) (kafka.Host, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.vnets[vnetID] {
		return nil, fmt.Errorf("VNet %s was not found", vnetID)
	}
	if h := p.held[addr]; h != nil {
		select {
		case <-h.done:
		default:
			return nil, fmt.Errorf("%s is already in use", addr)
		}
	}
	h := &fakeHost{addr: addr, done: make(chan struct{})}
	p.held[addr] = h
	return h, nil
}

// host returns the host last claimed at addr.
func (p *fakePlane) host(addr netip.Addr) *fakeHost {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held[addr]
}

// revoke ends the host at addr, as the data plane does when its VNet goes.
func (p *fakePlane) revoke(addr netip.Addr) {
	p.mu.Lock()
	h := p.held[addr]
	p.mu.Unlock()
	h.err = errors.New("the VNet was deleted")
	h.Release()
}

type fakeSource struct {
	mu       sync.Mutex
	clusters map[string]control.ClusterPlacement
}

func (s *fakeSource) ProvisionedClusters(context.Context) ([]control.ClusterPlacement, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []control.ClusterPlacement
	for _, p := range s.clusters {
		if p.Cluster.Status.Phase == control.ClusterPhaseProvisioned {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *fakeSource) ReconcileCluster(_ context.Context, id string) (*control.Cluster, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.clusters[id]
	if !ok {
		return nil, control.Errorf(control.ENOTFOUND, "Cluster %s was not found.", id)
	}
	return p.Cluster, nil
}

func (s *fakeSource) put(c *control.Cluster, vnet string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clusters[c.ID] = control.ClusterPlacement{Cluster: c, Network: &control.Network{ID: "n-test01", Region: "eastus",
		Status: control.NetworkStatus{Phase: control.PhaseReady, AzureVNet: vnet}}}
}

func (s *fakeSource) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.clusters, id)
}

type keys map[string]string // key → secret, of cluster "lkc-rest01"

func (k keys) AuthenticateClusterKey(_ context.Context, clusterID, key, secret string) (*control.ClusterAPIKey, error) {
	if s, ok := k[key]; ok && s == secret && clusterID == "lkc-rest01" {
		return &control.ClusterAPIKey{Key: key, ClusterID: clusterID}, nil
	}
	return nil, control.Errorf(control.EUNAUTHORIZED, "Authentication failed")
}

const vnet = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/provider"

// testCluster is a PROVISIONED cluster whose brokers are at loopback
// addresses 127.91.<n>.1…
func testCluster(id string, n, brokers int) *control.Cluster {
	c := &control.Cluster{ID: id, Availability: control.AvailabilitySingleZone}
	var addrs []netip.Addr
	for i := range brokers {
		addrs = append(addrs, netip.AddrFrom4([4]byte{127, 91, byte(n), byte(1 + i)}))
	}
	c.Status = control.PrivateEndpoints(c, &control.Network{ID: "n-test01", Region: "eastus"}, "peerplane.test", addrs)
	return c
}

type world struct {
	t      *testing.T
	dir    string
	plane  *fakePlane
	source *fakeSource
	m      *kafka.Manager
	stop   func()
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, dir: t.TempDir(), plane: &fakePlane{held: map[netip.Addr]*fakeHost{}, vnets: map[string]bool{vnet: true}},
		source: &fakeSource{clusters: map[string]control.ClusterPlacement{}}}
	w.start()
	t.Cleanup(func() { w.stop() })
	return w
}

// start runs a Manager on the world's directory (as serve does at start).
func (w *world) start() {
	w.m = kafka.New(kafka.Options{Source: w.source, Hosts: w.plane, Keys: keys{"KEY": "SECRET"}, Dir: w.dir, Resync: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.m.Run(ctx); close(done) }()
	w.stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			w.t.Fatal("the manager did not stop")
		}
	}
}

func (w *world) sync() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := w.m.Sync(ctx); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) bootstrap(id string) []string {
	w.t.Helper()
	addrs, err := w.m.Bootstrap(context.Background(), id)
	if err != nil {
		w.t.Fatalf("Bootstrap(%s): %v", id, err)
	}
	return addrs
}

// produce writes records from..to-1 (values "n") with acks from all
// replicas.
func produce(t *testing.T, addrs []string, topic string, from, to int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	createTopic(t, ctx, cl, topic)
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprint(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// createTopic creates topic with 3 partitions, unless it exists.
func createTopic(t *testing.T, ctx context.Context, cl *kgo.Client, topic string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 3, -1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// consume reads topic from the start until it holds n records and
// returns their values.
func consume(t *testing.T, addrs []string, topic string, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var got []string
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", len(got), n)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

// TestManagerLifecycle: a PROVISIONED cluster's brokers start (one per
// broker address) and take produces; a restart of the manager keeps every
// acknowledged record; a revoked host restarts the endpoint; deleting
// the cluster stops its brokers and removes its data, also when it was
// deleted while the manager was stopped.
func TestManagerLifecycle(t *testing.T) {
	w := newWorld(t)
	c := testCluster("lkc-life01", 1, 3)
	w.source.put(c, vnet)
	w.sync()
	addrs := w.bootstrap(c.ID)
	if !slices.Equal(addrs, c.Status.Brokers) {
		t.Fatalf("Bootstrap: %v, want the status's brokers %v", addrs, c.Status.Brokers)
	}
	name := strings.TrimSuffix(c.Status.BootstrapEndpoint, ":9092")
	if got := w.m.LookupHost(strings.ToUpper(name) + "."); len(got) != 3 || got[0] != netip.MustParseAddr("127.91.1.1") {
		t.Fatalf("LookupHost(%s): %v", name, got)
	}
	if got := w.m.LookupHost("lkc-nope.eastus.azure.private.peerplane.test"); got != nil {
		t.Fatalf("an unknown name resolves: %v", got)
	}
	produce(t, addrs, "orders", 0, 500)

	// A restart keeps what was acknowledged.
	w.stop()
	if _, err := net.DialTimeout("tcp", addrs[0], time.Second); err == nil {
		t.Fatal("a broker still listens after the manager stopped")
	}
	w.start()
	w.sync()
	produce(t, w.bootstrap(c.ID), "orders", 500, 1000)
	got := consume(t, w.bootstrap(c.ID), "orders", 1000)
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	for i := range 1000 {
		if seen[fmt.Sprint(i)] != 1 {
			t.Fatalf("record %d read %d times after the restart", i, seen[fmt.Sprint(i)])
		}
	}

	// A host the data plane removes: the endpoint starts again.
	revoked := netip.MustParseAddr("127.91.1.2")
	old := w.plane.host(revoked)
	w.plane.revoke(revoked)
	// The manager learns of it from the host (asynchronously): until it
	// claims the address again, the old endpoint may still answer, and
	// must not pass for the new one.
	for deadline := time.Now().Add(wait); w.plane.host(revoked) == old; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the manager did not claim a revoked broker's host again")
		}
	}
	deadline := time.Now().Add(wait)
	for {
		w.sync()
		if _, err := w.m.Bootstrap(context.Background(), c.ID); err == nil {
			if conn, err := net.DialTimeout("tcp", "127.91.1.2:9092", time.Second); err == nil {
				conn.Close()
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the endpoint did not come back after a host was revoked")
		}
	}
	if n := len(consume(t, w.bootstrap(c.ID), "orders", 1000)); n != 1000 {
		t.Fatalf("after the host came back: %d records", n)
	}

	// Deleted: brokers stop, data goes.
	w.source.remove(c.ID)
	w.sync()
	if _, err := os.Stat(filepath.Join(w.dir, c.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the deleted cluster's data is still there: %v", err)
	}
	if _, err := w.m.Bootstrap(context.Background(), c.ID); !errors.Is(err, kafka.ErrNotFound) {
		t.Fatalf("Bootstrap of a deleted cluster: %v, want ErrNotFound", err)
	}
	for _, a := range addrs {
		if conn, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			conn.Close()
			t.Fatalf("broker %s still listens after its cluster was deleted", a)
		}
	}

	// Deleted while stopped: removed at the next start.
	d := testCluster("lkc-life02", 2, 1)
	w.source.put(d, vnet)
	w.sync()
	produce(t, w.bootstrap(d.ID), "t", 0, 10)
	w.stop()
	w.source.remove(d.ID)
	w.start()
	w.sync()
	if _, err := os.Stat(filepath.Join(w.dir, d.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data of a cluster deleted while stopped is still there: %v", err)
	}
}

// TestManagerBootstrapErrors: Bootstrap says why a cluster has no
// brokers.
func TestManagerBootstrapErrors(t *testing.T) {
	w := newWorld(t)
	provisioning := &control.Cluster{ID: "lkc-prov01", Status: control.ClusterStatus{Phase: control.ClusterPhaseProvisioning}}
	w.source.put(provisioning, vnet)
	noVNet := testCluster("lkc-novn01", 3, 1)
	w.source.put(noVNet, "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/not-yet")
	taken := testCluster("lkc-take01", 4, 1)
	w.source.put(taken, vnet)
	if _, err := w.plane.ClaimHost(context.Background(), vnet, netip.MustParseAddr("127.91.4.1"), "someone"); err != nil {
		t.Fatal(err)
	}
	w.sync()
	for _, tt := range []struct {
		id   string
		want error
		text string
	}{
		{"lkc-none01", kafka.ErrNotFound, "not found"},
		{provisioning.ID, kafka.ErrNotProvisioned, "PROVISIONING"},
		{noVNet.ID, kafka.ErrNotRunning, "not-yet"},
		{taken.ID, kafka.ErrNotRunning, "already in use"},
	} {
		_, err := w.m.Bootstrap(context.Background(), tt.id)
		var nb *kafka.NoBrokersError
		if !errors.Is(err, tt.want) || !errors.As(err, &nb) || nb.ClusterID != tt.id || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("Bootstrap(%s): %v, want %v saying %q", tt.id, err, tt.want, tt.text)
		}
	}
	if _, err := (kafka.Off{}).Bootstrap(context.Background(), "lkc-x"); !errors.Is(err, kafka.ErrDataplaneOff) {
		t.Fatalf("Off: %v", err)
	}
}
