package connect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/peerplane/peerplane/internal/connect"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/store"
)

// These tests run the runtime against a real Kafka protocol broker
// (franz-go's kfake) on loopback, a real SQLite store and real HTTP and
// PostgreSQL servers. Hosts are loopback sockets here; the data plane's
// namespaces are exercised end to end in cmd/peerplane.

// wait bounds every wait; it only turns a hang into a failure.
const wait = 30 * time.Second

type world struct {
	t       *testing.T
	svc     *control.Service
	ctx     context.Context // the organization's
	env     string
	cluster string
	kafka   *kfake.Cluster
	hosts   *loopHosts
	rt      *connect.Runtime
	stop    func()
}

// loopHosts are hosts on loopback: every claim gets 127.0.0.1.
type loopHosts struct {
	mu      sync.Mutex
	claims  int
	vnetIDs []string
}

func (h *loopHosts) Claim(ctx context.Context, vnetID, owner string) (connect.Host, error) {
	h.mu.Lock()
	h.claims++
	h.vnetIDs = append(h.vnetIDs, vnetID)
	h.mu.Unlock()
	return &loopHost{done: make(chan struct{})}, nil
}

type loopHost struct {
	once sync.Once
	done chan struct{}
}

func (h *loopHost) Addr() string { return "127.0.0.1" }
func (h *loopHost) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}
func (h *loopHost) Done() <-chan struct{} { return h.done }
func (h *loopHost) Err() error            { return nil }
func (h *loopHost) Release()              { h.once.Do(func() { close(h.done) }) }

type endpoints struct{ kafka *kfake.Cluster }

func (e endpoints) Bootstrap(ctx context.Context, clusterID string) ([]string, error) {
	return e.kafka.ListenAddrs(), nil
}

const providerVNet = "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/provider/providers/Microsoft.Network/virtualNetworks/n-test"

// newWorld makes a store with a PROVISIONED cluster, a Kafka broker and a
// running runtime (stopped when the test ends).
func newWorld(t *testing.T, dir string) *world {
	t.Helper()
	ctx := context.Background()
	if dir == "" {
		dir = t.TempDir()
	}
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := control.NewService(db.Control(), control.DefaultSettings())
	w := &world{t: t, svc: svc, hosts: &loopHosts{}}
	octx := control.NewOperatorContext(ctx)
	orgs, _, err := svc.FindOrganizations(octx, control.Page{Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(orgs) == 0 {
		org := &control.Organization{DisplayName: "acme"}
		if err := svc.CreateOrganization(octx, org); err != nil {
			t.Fatal(err)
		}
		orgs = []*control.Organization{org}
		w.ctx = control.NewContextWithOrganization(ctx, org)
		env := &control.Environment{DisplayName: "prod"}
		if err := svc.CreateEnvironment(w.ctx, env); err != nil {
			t.Fatal(err)
		}
		n := &control.Network{EnvironmentID: env.ID, DisplayName: "n", Cloud: "AZURE", Region: "eastus", CIDR: "10.10.0.0/16", ConnectionTypes: []string{"PEERING"}}
		if err := svc.CreateNetwork(w.ctx, n); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.UpdateNetworkStatus(ctx, n.ID, control.NetworkStatus{Phase: control.PhaseReady, AzureVNet: providerVNet}); err != nil {
			t.Fatal(err)
		}
		c := &control.Cluster{EnvironmentID: env.ID, NetworkID: n.ID, DisplayName: "c", CKU: 1, Availability: "SINGLE_ZONE", Cloud: "AZURE", Region: "eastus"}
		if err := svc.CreateCluster(w.ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.UpdateClusterStatus(ctx, c.ID, control.ClusterStatus{Phase: control.ClusterPhaseProvisioned, BootstrapEndpoint: "SASL_SSL://10.10.20.4:9092"}); err != nil {
			t.Fatal(err)
		}
	}
	w.ctx = control.NewContextWithOrganization(ctx, orgs[0])
	envs, _, err := svc.FindEnvironments(w.ctx, control.Page{Size: 10})
	if err != nil || len(envs) != 1 {
		t.Fatalf("environments: %v %v", envs, err)
	}
	w.env = envs[0].ID
	cs, _, err := svc.FindClusters(w.ctx, control.ClusterFilter{EnvironmentID: w.env}, control.Page{Size: 10})
	if err != nil || len(cs) != 1 {
		t.Fatalf("clusters: %v %v", cs, err)
	}
	w.cluster = cs[0].ID
	w.kafka, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(filepath.Join(dir, "kafka")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.kafka.Close)
	w.start()
	return w
}

func (w *world) start() {
	rctx, cancel := context.WithCancel(context.Background())
	w.rt = connect.New(connect.Config{Control: w.svc, Endpoints: endpoints{w.kafka}, Hosts: w.hosts, Worker: "test",
		Resync: 50 * time.Millisecond, Flush: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	done := make(chan struct{})
	go func() { defer close(done); w.rt.Run(rctx) }()
	w.stop = sync.OnceFunc(func() { cancel(); <-done })
	w.t.Cleanup(w.stop)
}

func (w *world) create(name string, config map[string]string) {
	w.t.Helper()
	config["connector.class"] = strings.TrimSpace(config["connector.class"])
	if err := w.svc.CreateConnector(w.ctx, w.env, w.cluster, &control.Connector{Name: name, Config: config}); err != nil {
		w.t.Fatalf("create %s: %v", name, err)
	}
	w.rt.Kick()
}

// run returns the connector's run, nil when none yet.
func (w *world) run(name string) *control.ConnectorRun {
	r, err := w.svc.FindConnectorRun(context.Background(), w.cluster, name)
	if control.ErrorCode(err) == control.ENOTFOUND {
		return nil
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// waitRun waits until ok holds for the connector's run.
func (w *world) waitRun(name, what string, ok func(r *control.ConnectorRun) bool) *control.ConnectorRun {
	w.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		r := w.run(name)
		if r != nil && ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("connector %s: want %s; run %+v", name, what, r)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// collector is an HTTP API that records the order ids it receives.
type collector struct {
	mu     sync.Mutex
	ids    map[int64]int // orderid → times received
	posts  int
	bodies []string
	// status, when set, answers for a record of that id.
	status func(id int64) int
	srv    *http.Server
	ln     net.Listener
	addr   string
}

func newCollector(t *testing.T) *collector {
	c := &collector{ids: map[int64]int{}}
	c.srv = &http.Server{Handler: http.HandlerFunc(c.serve)}
	c.listen(t, "127.0.0.1:0")
	t.Cleanup(func() { c.srv.Close() })
	return c
}

func (c *collector) listen(t *testing.T, addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.ln, c.addr = ln, ln.Addr().String()
	go c.srv.Serve(ln)
}

func (c *collector) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var orders []connect.Order
	if err := json.Unmarshal(b, &orders); err != nil {
		http.Error(w, "not a JSON array of orders: "+err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status != nil {
		for _, o := range orders {
			if s := c.status(o.OrderID); s != 0 {
				http.Error(w, fmt.Sprintf("order %d refused", o.OrderID), s)
				return
			}
		}
	}
	c.posts++
	c.bodies = append(c.bodies, string(b))
	for _, o := range orders {
		c.ids[o.OrderID]++
	}
}

// has reports whether ids 0..n-1 all arrived.
func (c *collector) has(n int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range n {
		if c.ids[i] == 0 {
			return false
		}
	}
	return true
}

func (c *collector) waitAll(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !c.has(n) {
		if time.Now().After(deadline) {
			c.mu.Lock()
			t.Fatalf("the API received %d distinct ids, want 0..%d", len(c.ids), n-1)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func httpSink(url, topic string) map[string]string {
	return map[string]string{"connector.class": "HttpSink", "http.api.url": url, "topics": topic, "batch.max.size": "10",
		"batch.json.as.array": "true", "max.retries": "2", "retry.backoff.ms": "20", "http.connect.timeout.ms": "500"}
}

// TestPipeline runs DatagenSource → HttpSink: every order id arrives,
// the POSTs are JSON arrays of at most batch.max.size ORDERS records, the
// counts add up and both are RUNNING from a host in the network's VNet.
func TestPipeline(t *testing.T) {
	w := newWorld(t, "")
	api := newCollector(t)
	w.create("orders-source", map[string]string{"connector.class": "DatagenSource", "kafka.topic": "orders", "quickstart": "ORDERS",
		"max.interval": "2", "iterations": "200", "output.data.format": "JSON"})
	w.create("orders-sink", httpSink("http://"+api.addr+"/orders", "orders"))
	api.waitAll(t, 200)
	src := w.waitRun("orders-source", "200 out", func(r *control.ConnectorRun) bool { return r.RecordsOut == 200 })
	snk := w.waitRun("orders-sink", "200 out", func(r *control.ConnectorRun) bool { return r.RecordsOut == 200 })
	if src.State != control.ConnectorRunning || snk.State != control.ConnectorRunning || src.RecordsIn != 200 || snk.RecordsIn != 200 ||
		snk.RecordsDLQ != 0 || snk.Address != "127.0.0.1" || src.Worker != "test" || src.Offset != `{"iteration":200}` {
		t.Fatalf("runs: source %+v sink %+v", src, snk)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	for _, b := range api.bodies {
		var raw []map[string]any
		if err := json.Unmarshal([]byte(b), &raw); err != nil || len(raw) == 0 || len(raw) > 10 {
			t.Fatalf("a POST body is not a JSON array of 1..10 records: %s", b)
		}
		for _, f := range []string{"ordertime", "orderid", "itemid", "orderunits", "address"} {
			if _, ok := raw[0][f]; !ok {
				t.Fatalf("an order lacks %q: %s", f, b)
			}
		}
	}
	w.hosts.mu.Lock()
	defer w.hosts.mu.Unlock()
	for _, v := range w.hosts.vnetIDs {
		if v != providerVNet {
			t.Fatalf("a connector claimed its host in %s, not the network's VNet", v)
		}
	}
}

// TestHTTPSinkFailsAndRecovers closes the API while records keep coming:
// the sink turns FAILED with the connection's error, nothing is
// committed, and once the API listens again it delivers every record and
// is RUNNING, keeping its last error.
func TestHTTPSinkFailsAndRecovers(t *testing.T) {
	w := newWorld(t, "")
	api := newCollector(t)
	w.create("orders-sink", httpSink("http://"+api.addr+"/orders", "orders"))
	w.create("orders-source", map[string]string{"connector.class": "DatagenSource", "kafka.topic": "orders", "quickstart": "ORDERS", "max.interval": "5"})
	api.waitAll(t, 20)
	addr := api.addr
	api.srv.Close() // the API is gone: connection refused
	failed := w.waitRun("orders-sink", "FAILED", func(r *control.ConnectorRun) bool { return r.State == control.ConnectorFailed })
	if !strings.Contains(failed.LastError, "connection refused") || !strings.Contains(failed.LastError, "after 2 retries") {
		t.Fatalf("failed run's error: %q", failed.LastError)
	}
	src := w.waitRun("orders-source", "more records while the sink fails", func(r *control.ConnectorRun) bool { return r.RecordsOut > failed.RecordsOut+50 })
	api.srv = &http.Server{Handler: http.HandlerFunc(api.serve)}
	api.listen(t, addr)
	t.Cleanup(func() { api.srv.Close() })
	back := w.waitRun("orders-sink", "RUNNING again", func(r *control.ConnectorRun) bool { return r.State == control.ConnectorRunning })
	if back.LastError != failed.LastError || back.LastErrorAt.IsZero() {
		t.Fatalf("the recovered run forgot its last error: %+v", back)
	}
	api.waitAll(t, src.RecordsOut)
}

// TestHTTPSinkDeadLetter: records the API refuses (400) go to
// dlq-<connector id> with Connect's error headers and the sink goes on;
// with errors.tolerance=none the first refusal fails it.
func TestHTTPSinkDeadLetter(t *testing.T) {
	w := newWorld(t, "")
	api := newCollector(t)
	api.status = func(id int64) int {
		if id%10 == 3 {
			return http.StatusBadRequest
		}
		return 0
	}
	cfg := httpSink("http://"+api.addr+"/orders", "orders")
	cfg["batch.max.size"] = "1"
	w.create("orders-sink", cfg)
	w.create("orders-source", map[string]string{"connector.class": "DatagenSource", "kafka.topic": "orders", "quickstart": "ORDERS", "max.interval": "1", "iterations": "50"})
	r := w.waitRun("orders-sink", "50 records handled", func(r *control.ConnectorRun) bool { return r.RecordsOut+r.RecordsDLQ == 50 })
	if r.RecordsDLQ != 5 || r.State != control.ConnectorRunning || !strings.Contains(r.LastError, "400 Bad Request") || !strings.Contains(r.LastError, "dlq-lcc-") {
		t.Fatalf("run: %+v", r)
	}
	dlq := "dlq-" + control.ConnectorID(w.cluster, "orders-sink")
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.kafka.ListenAddrs()...), kgo.ConsumeTopics(dlq), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for len(got) < 5 && ctx.Err() == nil {
		got = append(got, cl.PollFetches(ctx).Records()...)
	}
	if len(got) != 5 {
		t.Fatalf("dead-letter topic %s holds %d records, want 5", dlq, len(got))
	}
	headers := map[string]string{}
	for _, h := range got[0].Headers {
		headers[h.Key] = string(h.Value)
	}
	if headers["__connect.errors.topic"] != "orders" || !strings.Contains(headers["__connect.errors.exception.message"], "400") || headers["__connect.errors.connector.name"] != "orders-sink" {
		t.Fatalf("dead-letter headers: %v", headers)
	}

	strict := httpSink("http://"+api.addr+"/orders", "orders")
	strict["batch.max.size"], strict["errors.tolerance"] = "1", "none"
	w.create("strict-sink", strict)
	f := w.waitRun("strict-sink", "FAILED", func(r *control.ConnectorRun) bool { return r.State == control.ConnectorFailed })
	if !strings.Contains(f.LastError, "errors.tolerance=none") || !strings.Contains(f.LastError, "400") || f.RecordsOut >= 45 || f.RecordsDLQ != 0 {
		t.Fatalf("strict sink: %+v", f)
	}
}

// TestLifecycle pauses, resumes, reconfigures and deletes a connector,
// and restarts the runtime: a DatagenSource resumes its ids and counts.
func TestLifecycle(t *testing.T) {
	dir := t.TempDir()
	w := newWorld(t, dir)
	w.create("gen", map[string]string{"connector.class": "DatagenSource", "kafka.topic": "orders", "quickstart": "ORDERS", "max.interval": "1"})
	w.waitRun("gen", "running", func(r *control.ConnectorRun) bool { return r.RecordsOut > 10 })
	running := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(wait)
		for (len(w.rt.Running()) == 1) != want {
			if time.Now().After(deadline) {
				t.Fatalf("running %v, want the connector running: %v", w.rt.Running(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := w.svc.SetConnectorPaused(w.ctx, w.env, w.cluster, "gen", true); err != nil {
		t.Fatal(err)
	}
	w.rt.Kick()
	running(false)
	paused := w.run("gen")
	time.Sleep(100 * time.Millisecond)
	if again := w.run("gen"); again.RecordsOut != paused.RecordsOut {
		t.Fatalf("a paused source went on: %d then %d", paused.RecordsOut, again.RecordsOut)
	}
	if err := w.svc.SetConnectorPaused(w.ctx, w.env, w.cluster, "gen", false); err != nil {
		t.Fatal(err)
	}
	w.rt.Kick()
	running(true)
	w.waitRun("gen", "more after resuming", func(r *control.ConnectorRun) bool { return r.RecordsOut > paused.RecordsOut+10 })

	// A new config restarts it: USERS records into another topic.
	k, err := w.svc.FindConnector(w.ctx, w.env, w.cluster, "gen")
	if err != nil {
		t.Fatal(err)
	}
	k.Config["quickstart"], k.Config["kafka.topic"] = "USERS", "users"
	if _, _, err := w.svc.PutConnectorConfig(w.ctx, w.env, w.cluster, "gen", k.Config); err != nil {
		t.Fatal(err)
	}
	w.rt.Kick()
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.kafka.ListenAddrs()...), kgo.ConsumeTopics("users"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var u connect.User
	recs := cl.PollFetches(ctx).Records()
	cl.Close()
	if len(recs) == 0 || json.Unmarshal(recs[0].Value, &u) != nil || !strings.HasPrefix(u.UserID, "User_") || string(recs[0].Key) != u.UserID || u.Gender == "" {
		t.Fatalf("users topic after the config change: %d records, first %+v", len(recs), recs)
	}

	// A restart resumes the position and the counts.
	w.stop()
	before := w.run("gen")
	var off struct{ Iteration int64 }
	if err := json.Unmarshal([]byte(before.Offset), &off); err != nil || off.Iteration != before.RecordsOut {
		t.Fatalf("stopped run: offset %q for %d records out", before.Offset, before.RecordsOut)
	}
	w.start()
	after := w.waitRun("gen", "more after the restart", func(r *control.ConnectorRun) bool { return r.RecordsOut > before.RecordsOut+5 })
	if err := json.Unmarshal([]byte(after.Offset), &off); err != nil || off.Iteration != after.RecordsOut {
		t.Fatalf("restarted run: offset %q for %d records out", after.Offset, after.RecordsOut)
	}

	if err := w.svc.DeleteConnector(w.ctx, w.env, w.cluster, "gen"); err != nil {
		t.Fatal(err)
	}
	w.rt.Kick()
	running(false)
	if r := w.run("gen"); r != nil {
		t.Fatalf("a deleted connector's run is left: %+v", r)
	}
}

// TestPostgresSink inserts records into a table it creates from their
// fields; a record that is not a JSON object goes to the dead-letter
// topic; without auto.create a missing table fails the connector naming
// it. It needs PEERPLANE_TEST_POSTGRES_URL.
func TestPostgresSink(t *testing.T) {
	dsn := os.Getenv("PEERPLANE_TEST_POSTGRES_URL")
	if dsn == "" {
		t.Skip("PEERPLANE_TEST_POSTGRES_URL is not set")
	}
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	table := fmt.Sprintf("orders_%d", time.Now().UnixNano())
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize()) })

	w := newWorld(t, "")
	prod, err := kgo.NewClient(kgo.SeedBrokers(w.kafka.ListenAddrs()...), kgo.DefaultProduceTopic("pg-orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if _, err := kadm.NewClient(prod).CreateTopic(ctx, 2, 1, nil, "pg-orders"); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := range 30 {
		v := fmt.Sprintf(`{"orderid": %d, "itemid": "Item_%d", "orderunits": %d.5, "paid": %v, "address": {"city": "City_1"}}`, i, i, i, i%2 == 0)
		if i == 7 {
			v = `[1, 2]`
		}
		recs = append(recs, &kgo.Record{Value: []byte(v)})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("jdbc:postgresql://%s:%d/%s", pc.Host, pc.Port, pc.Database)
	w.create("pg-sink", map[string]string{"connector.class": "PostgresSink", "connection.url": url, "connection.user": pc.User,
		"connection.password": pc.Password, "topics": "pg-orders", "table.name.format": table, "auto.create": "true", "batch.sizes": "8"})
	r := w.waitRun("pg-sink", "30 records handled", func(r *control.ConnectorRun) bool { return r.RecordsOut+r.RecordsDLQ == 30 })
	if r.RecordsOut != 29 || r.RecordsDLQ != 1 || r.State != control.ConnectorRunning || !strings.Contains(r.LastError, "not a JSON object") {
		t.Fatalf("run: %+v", r)
	}
	var n, sum int
	var units float64
	var city string
	if err := conn.QueryRow(ctx, "SELECT count(*), sum(orderid), sum(orderunits)::float8, min(address->>'city') FROM "+pgx.Identifier{table}.Sanitize()+" WHERE paid OR NOT paid").Scan(&n, &sum, &units, &city); err != nil {
		t.Fatal(err)
	}
	if n != 29 || sum != 435-7 || city != "City_1" || units != float64(435-7)+29*0.5 {
		t.Fatalf("table %s: %d rows, orderid sum %d, units %v, city %q", table, n, sum, units, city)
	}

	w.create("no-table", map[string]string{"connector.class": "PostgresSink", "connection.url": url, "connection.user": pc.User,
		"connection.password": pc.Password, "topics": "pg-orders", "table.name.format": table + "_missing"})
	f := w.waitRun("no-table", "FAILED", func(r *control.ConnectorRun) bool { return r.State == control.ConnectorFailed })
	if !strings.Contains(f.LastError, table+"_missing does not exist") || f.RecordsOut != 0 {
		t.Fatalf("sink without its table: %+v", f)
	}
}
