package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	connectv1 "github.com/confluentinc/ccloud-sdk-go-v2/connect/v1"
)

// Managed connectors that move data, end to end: Serve with the data
// plane, whose clusters' Kafka endpoints the connectors use; sinks run by
// `peerplane vnet exec` in the customer's VNet; the Connect SDK and the CLI
// as clients.

// httpSinkHelper is the "httpsink PORT" helper: an HTTP API on the host's
// address that takes JSON arrays of ORDERS records and prints "got ID"
// for each.
func httpSinkHelper(port string) {
	ln, err := net.Listen("tcp", net.JoinHostPort(os.Getenv("PEERPLANE_VNET_IP"), port))
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "listening on", os.Getenv("PEERPLANE_VNET_IP"))
	out.Flush()
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var orders []struct {
			OrderID int64 `json:"orderid"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &orders); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, o := range orders {
			fmt.Fprintln(out, "got", o.OrderID)
		}
		out.Flush()
	}))
}

// received is what an httpsink helper printed.
type received struct {
	mu  sync.Mutex
	ids map[int64]int
}

// startHTTPSink runs the httpsink helper at ip in vnet until the test
// ends.
func (e *e2e) startHTTPSink(vnet, ip string, port int) *received {
	e.t.Helper()
	cmd := e.vnetExec(vnet, ip, fmt.Sprintf("httpsink %d", port))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	rd := bufio.NewReader(stdout)
	if line, _ := rd.ReadString('\n'); !strings.HasPrefix(line, "listening on "+ip) {
		e.t.Fatalf("httpsink at %s in %s: %q", ip, vnet, line)
	}
	got := &received{ids: map[int64]int{}}
	go func() {
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			var id int64
			if _, err := fmt.Sscanf(line, "got %d", &id); err == nil {
				got.mu.Lock()
				got.ids[id]++
				got.mu.Unlock()
			}
		}
	}()
	return got
}

// missing returns the ids below n not received.
func (r *received) missing(n int64) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for i := range n {
		if r.ids[i] == 0 {
			out = append(out, i)
		}
	}
	return out
}

// connectSDK returns Confluent's Connect SDK for the server and a context
// with the API key.
func (e *e2e) connectSDK() (*connectv1.APIClient, context.Context) {
	ccfg := connectv1.NewConfiguration()
	ccfg.Servers = connectv1.ServerConfigurations{{URL: e.r.APIURL}}
	return connectv1.NewAPIClient(ccfg), contextWithConnectAuth(e.t, e.r.Credentials.APIKey, e.r.Credentials.APISecret)
}

// connStatus is a connector's status as the API sends it, with
// Peerplane's additions.
type connStatus struct {
	Connector struct{ State, Trace string }
	Tasks     []struct{ State string }
	Metrics   *struct {
		Received int64 `json:"received_records"`
		Sent     int64 `json:"sent_records"`
		DLQ      int64 `json:"dead_letter_queue_records"`
	}
	LastError *struct {
		Message string
		Time    time.Time
	} `json:"last_error"`
	SourceAddress string `json:"source_address"`
}

// connectorStatus reads a status with the Connect SDK (which must accept
// it) and as raw JSON.
func (e *e2e) connectorStatus(sdk *connectv1.APIClient, env, cluster, name string) connStatus {
	e.t.Helper()
	ctx := contextWithConnectAuth(e.t, e.r.Credentials.APIKey, e.r.Credentials.APISecret)
	st, resp, err := sdk.StatusConnectV1Api.ReadConnectv1ConnectorStatus(ctx, name, env, cluster).Execute()
	wantHTTP(e.t, "status of "+name, resp, err, http.StatusOK)
	var raw connStatus
	if code := e.peerplane("GET", "/connect/v1/environments/"+env+"/clusters/"+cluster+"/connectors/"+name+"/status", nil, &raw); code != http.StatusOK {
		e.t.Fatalf("status of %s: %d", name, code)
	}
	if st.Connector.State != raw.Connector.State && raw.Connector.State != "" {
		// Read twice; a change in between is fine, the SDK decoded it.
		e.t.Logf("status of %s moved from %s to %s between two reads", name, st.Connector.State, raw.Connector.State)
	}
	return raw
}

// waitConnector polls a connector's status until ok.
func (e *e2e) waitConnector(sdk *connectv1.APIClient, env, cluster, name, what string, bound time.Duration, ok func(connStatus) bool) connStatus {
	e.t.Helper()
	deadline := time.Now().Add(bound)
	for {
		st := e.connectorStatus(sdk, env, cluster, name)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("connector %s: want %s within %s; status %+v", name, what, bound, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// connectWait bounds the waits of a pipeline: a failure shows after the
// sink's retries, a recovery after the runtime's backoff (capped at 30s).
const connectWait = 90 * time.Second

// TestE2EConnectorPipeline runs DatagenSource → HttpSink with the sink in
// the customer's VNet: records flow; an inbound deny rule for the
// network's CIDR on the sink's subnet (the customer's, through the Azure
// SDK) turns the sink FAILED with the real error and the rule's name
// while the source goes on; deleting the rule lets it recover by itself;
// every order id the source wrote reaches the sink (at least once:
// duplicates are allowed, gaps are not). The CLI's describe shows the
// counts.
func TestE2EConnectorPipeline(t *testing.T) {
	e := startDataplaneE2E(t)
	env := e.createEnv("connect")
	n := e.createNetwork(env, "cp-net", "eastus", "10.70.0.0/16")
	e.consent()
	e.putRole(e2eRoleActions...)
	vnetA := e.grantVNet("cp-a", "eastus", env, "10.71.0.0/16")
	nsg := e.createNSG("contoso-network", "cp-apps-nsg")
	e.createSubnet(vnetA, "apps", "10.71.1.0/24", nsg)
	id := e.createPeering(env, n.GetId(), "cp", vnetA, "eastus")
	e.waitPeering(env, id, "READY")
	cl := e.createCluster(env, n.GetId(), "orders", 2)
	cluster := cl.GetId()
	got := e.startHTTPSink(vnetA, "10.71.1.20", 8080)

	sdk, ctx := e.connectSDK()
	create := func(name string, config map[string]string) {
		t.Helper()
		_, resp, err := sdk.ConnectorsConnectV1Api.CreateConnectv1Connector(ctx, env, cluster).
			InlineObject(connectv1.InlineObject{Name: &name, Config: &config}).Execute()
		wantHTTP(t, "create "+name, resp, err, http.StatusCreated)
	}
	create("orders-source", map[string]string{"connector.class": "DatagenSource", "kafka.topic": "orders", "quickstart": "ORDERS",
		"max.interval": "40", "output.data.format": "JSON"})
	create("orders-sink", map[string]string{"connector.class": "HttpSink", "topics": "orders", "http.api.url": "http://10.71.1.20:8080/orders",
		"batch.max.size": "10", "batch.json.as.array": "true", "max.retries": "2", "retry.backoff.ms": "100", "http.connect.timeout.ms": "1000"})

	running := func(st connStatus) bool {
		return st.Connector.State == "RUNNING" && st.Metrics != nil && st.Metrics.Sent >= 20
	}
	src := e.waitConnector(sdk, env, cluster, "orders-source", "RUNNING, 20 sent", connectWait, running)
	snk := e.waitConnector(sdk, env, cluster, "orders-sink", "RUNNING, 20 sent", connectWait, running)
	if !strings.HasPrefix(src.SourceAddress, "10.70.") || !strings.HasPrefix(snk.SourceAddress, "10.70.") || len(snk.Tasks) != 1 || snk.Tasks[0].State != "RUNNING" {
		t.Fatalf("running connectors: %+v, %+v", src, snk)
	}
	if miss := got.missing(20); len(miss) > 0 {
		t.Fatalf("the sink reports 20 sent but the API lacks %v", miss)
	}
	cli := newCLIRunner(t, e.dir)
	cli.run(t, "login", "--data-dir", e.dir)
	out := cli.run(t, "connect", "cluster", "describe", "orders-sink", "--cluster", cluster, "--environment", env)
	for _, m := range []string{"RUNNING", "Records in", "Records out", "Source address", snk.SourceAddress} {
		if !strings.Contains(out, m) {
			t.Fatalf("describe orders-sink does not show %q:\n%s", m, out)
		}
	}

	// The customer denies the network's CIDR on the sink's subnet.
	e.putRule(nsg, "deny-confluent", armnetwork.SecurityRulePropertiesFormat{
		Priority: to.Ptr[int32](100), Direction: to.Ptr(armnetwork.SecurityRuleDirectionInbound),
		Access: to.Ptr(armnetwork.SecurityRuleAccessDeny), Protocol: to.Ptr(armnetwork.SecurityRuleProtocolAsterisk),
		SourceAddressPrefix: to.Ptr("10.70.0.0/16"), SourcePortRange: to.Ptr("*"),
		DestinationAddressPrefix: to.Ptr("*"), DestinationPortRange: to.Ptr("*"),
	})
	failed := e.waitConnector(sdk, env, cluster, "orders-sink", "FAILED", connectWait, func(st connStatus) bool { return st.Connector.State == "FAILED" })
	for _, m := range []string{"10.71.1.20:8080", "NSG_DENY", "deny-confluent", "cp-apps-nsg", "http.api.url"} {
		if !strings.Contains(failed.Connector.Trace, m) {
			t.Fatalf("the FAILED sink's trace does not mention %q:\n%s", m, failed.Connector.Trace)
		}
	}
	if failed.LastError == nil || !strings.Contains(failed.LastError.Message, "timeout") || failed.LastError.Time.IsZero() {
		t.Fatalf("the FAILED sink's last error: %+v", failed.LastError)
	}
	// The source, inside the provider's network, goes on.
	during := e.connectorStatus(sdk, env, cluster, "orders-source")
	e.waitConnector(sdk, env, cluster, "orders-source", "more records while the sink fails", connectWait, func(st connStatus) bool {
		return st.Connector.State == "RUNNING" && st.Metrics.Sent > during.Metrics.Sent+10
	})

	// The rule goes: the sink recovers by itself and keeps its last error.
	e.deleteRule(nsg, "deny-confluent")
	back := e.waitConnector(sdk, env, cluster, "orders-sink", "RUNNING again", connectWait, func(st connStatus) bool { return st.Connector.State == "RUNNING" })
	if back.LastError == nil || back.LastError.Message != failed.LastError.Message {
		t.Fatalf("the recovered sink's last error: %+v", back.LastError)
	}

	// Nothing lost: pause the source, then every id it wrote arrives.
	resp, err := sdk.LifecycleConnectV1Api.PauseConnectv1Connector(ctx, "orders-source", env, cluster).Execute()
	wantHTTP(t, "pause the source", resp, err, http.StatusAccepted)
	paused := e.waitConnector(sdk, env, cluster, "orders-source", "PAUSED", connectWait, func(st connStatus) bool { return st.Connector.State == "PAUSED" })
	time.Sleep(200 * time.Millisecond) // the stopped worker's last store
	paused = e.connectorStatus(sdk, env, cluster, "orders-source")
	total := paused.Metrics.Sent
	deadline := time.Now().Add(connectWait)
	for miss := got.missing(total); len(miss) > 0; miss = got.missing(total) {
		if time.Now().After(deadline) {
			t.Fatalf("the source wrote %d orders; the sink's API never got %d of them: %v", total, len(miss), miss[:min(len(miss), 20)])
		}
		time.Sleep(50 * time.Millisecond)
	}
	final := e.waitConnector(sdk, env, cluster, "orders-sink", "caught up", connectWait, func(st connStatus) bool { return st.Metrics.Sent >= total })
	t.Logf("source wrote %d orders; the sink delivered %d (%d received from Kafka), failed once with %q", total, final.Metrics.Sent, final.Metrics.Received, failed.LastError.Message)
}

// TestE2EPostgresSink fills a table of a PostgreSQL running in the
// customer's VNet (initdb'd for the test, password authentication): a
// wrong password is FAILED with PostgreSQL's own error; the right one
// (PUT config) lets the sink create the table from the records' fields
// and insert every record.
func TestE2EPostgresSink(t *testing.T) {
	pgBin := "/usr/lib/postgresql/15/bin"
	if _, err := os.Stat(pgBin + "/postgres"); err != nil {
		t.Skip("PostgreSQL 15's binaries are not installed")
	}
	e := startDataplaneE2E(t)
	env := e.createEnv("pgsink")
	n := e.createNetwork(env, "pg-net", "eastus", "10.72.0.0/16")
	e.grantDemoVNet(env)
	id := e.createPeering(env, n.GetId(), "pg", demoVNetID, "eastus")
	e.waitPeering(env, id, "READY")
	cl := e.createCluster(env, n.GetId(), "users", 2)
	cluster := cl.GetId()
	const dbIP = "10.1.0.30"
	e.startPostgres(pgBin, "contoso-network/contoso-vnet", dbIP, "s3cret-pw")

	sdk, ctx := e.connectSDK()
	put := func(name string, config map[string]string) {
		t.Helper()
		_, resp, err := sdk.ConnectorsConnectV1Api.CreateOrUpdateConnectv1ConnectorConfig(ctx, name, env, cluster).RequestBody(config).Execute()
		wantHTTP(t, "put "+name, resp, err, http.StatusOK)
	}
	put("users-source", map[string]string{"connector.class": "DatagenSource", "kafka.topic": "users", "quickstart": "USERS", "max.interval": "10", "iterations": "100"})
	sink := map[string]string{"connector.class": "PostgresSink", "topics": "users", "connection.url": "jdbc:postgresql://" + dbIP + ":5432/postgres",
		"connection.user": "postgres", "connection.password": "wrong", "auto.create": "true", "table.name.format": "kafka_${topic}"}
	put("users-sink", sink)
	failed := e.waitConnector(sdk, env, cluster, "users-sink", "FAILED", connectWait, func(st connStatus) bool { return st.Connector.State == "FAILED" })
	if !strings.Contains(failed.Connector.Trace, "password authentication failed for user \"postgres\"") || strings.Contains(failed.Connector.Trace, "NSG_DENY") {
		t.Fatalf("the sink with a wrong password: %q", failed.Connector.Trace)
	}
	sink["connection.password"] = "s3cret-pw"
	put("users-sink", sink)
	e.waitConnector(sdk, env, cluster, "users-source", "100 sent", connectWait, func(st connStatus) bool { return st.Metrics != nil && st.Metrics.Sent == 100 })
	done := e.waitConnector(sdk, env, cluster, "users-sink", "100 inserted", connectWait, func(st connStatus) bool {
		return st.Connector.State == "RUNNING" && st.Metrics != nil && st.Metrics.Sent >= 100
	})
	if done.Metrics.DLQ != 0 {
		t.Fatalf("sink: %+v", done.Metrics)
	}
	rows := e.psql(pgBin, "contoso-network/contoso-vnet", dbIP, "s3cret-pw", `SELECT count(*), count(DISTINCT gender) > 1, min(userid) LIKE 'User_%' FROM kafka_users`)
	if rows != "100|t|t" {
		t.Fatalf("kafka_users: %q, want 100 rows of users", rows)
	}
}

// startPostgres initdbs a temporary cluster (password authentication,
// owned by the postgres OS user) and runs it at ip in vnet until the test
// ends; everything it made is removed then.
func (e *e2e) startPostgres(bin, vnet, ip, password string) {
	t := e.t
	t.Helper()
	dir, err := os.MkdirTemp("", "peerplane-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pwfile := dir + "/pw"
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", "postgres:postgres", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown %s: %v %s", dir, err, out)
	}
	if out, err := exec.Command("runuser", "-u", "postgres", "--", bin+"/initdb", "-D", dir+"/data", "-U", "postgres",
		"--auth=scram-sha-256", "--pwfile="+pwfile).CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	hba, err := os.OpenFile(dir+"/data/pg_hba.conf", os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(hba, "host all all 0.0.0.0/0 scram-sha-256")
	hba.Close()
	// setpriv execs postgres itself (no parent left between), so that
	// SIGINT reaches the postmaster, which stops its backends.
	cmd := e.vnetExecCommand(vnet, ip, "setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups", "--",
		bin+"/postgres", "-D", dir+"/data", "-k", dir, "-c", "listen_addresses="+ip, "-p", "5432")
	logPath := dir + "/postgres.log"
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), "ready to accept connections") {
			return
		}
		select {
		case <-exited:
			t.Fatalf("postgres exited:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres did not start within 30s:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// psql runs a query from a host of vnet against the database at ip.
func (e *e2e) psql(bin, vnet, ip, password, query string) string {
	e.t.Helper()
	cmd := e.vnetExecCommand(vnet, "", bin+"/psql", "-h", ip, "-U", "postgres", "-d", "postgres", "-At", "-c", query)
	cmd.Env = append(cmd.Env, "PGPASSWORD="+password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("psql %q: %v\n%s", query, err, out)
	}
	return strings.TrimSpace(string(out))
}

// vnetExecCommand is `peerplane vnet exec --vnet vnet [--ip ip] -- argv…`.
func (e *e2e) vnetExecCommand(vnet, ip string, argv ...string) *exec.Cmd {
	args := []string{"vnet", "exec", "--vnet", vnet}
	if ip != "" {
		args = append(args, "--ip", ip)
	}
	cmd := exec.Command(peerplaneBinary(e.t), append(append(args, "--"), argv...)...)
	cmd.Env = e.vnetExec("", "", "").Env
	return cmd
}
