package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	connectv1 "github.com/confluentinc/ccloud-sdk-go-v2/connect/v1"

	"github.com/peerplane/peerplane/internal/cli"
	"github.com/peerplane/peerplane/internal/reach"
)

// reachWorld is the world of the reachability end-to-end tests, built
// through the real APIs: a READY network (10.40.0.0/16) with a PROVISIONED
// cluster; Contoso's VNet A (10.41.0.0/16, subnet "apps" with NSG
// "apps-nsg") peered with the network (READY); Contoso's VNet B
// (10.42.0.0/16) peered only with A, with forwarded traffic and gateway
// transit allowed on both halves.
type reachWorld struct {
	*e2e
	env, network, cluster string
	vnetA, vnetB, nsg     string
	connect               *connectv1.APIClient
}

const (
	reachNetCIDR = "10.40.0.0/16"
	reachVNetA   = "reach-a"
	reachVNetB   = "reach-b"
	reachNSG     = "apps-nsg"
)

func newReachWorld(t *testing.T) *reachWorld {
	e := startE2E(t, "")
	w := &reachWorld{e2e: e}
	w.env = e.createEnv("reach")
	n := e.createNetwork(w.env, "reach-net", "eastus", reachNetCIDR)
	w.network = n.GetId()
	c := e.createCluster(w.env, w.network, "kafka", 2)
	w.cluster = c.GetId()

	e.consent()
	e.putRole(e2eRoleActions...)
	w.vnetA = e.grantVNet(reachVNetA, "eastus", w.env, "10.41.0.0/16")
	w.nsg = e.createNSG("contoso-network", reachNSG)
	e.createSubnet(w.vnetA, "apps", "10.41.1.0/24", w.nsg)
	id := e.createPeering(w.env, w.network, "to-a", w.vnetA, "eastus")
	e.waitPeering(w.env, id, "READY")

	w.vnetB = e.createVNet("contoso-network", reachVNetB, "eastus", "10.42.0.0/16")
	e.peerVNets(w.vnetA, w.vnetB, "a-to-b")
	e.peerVNets(w.vnetB, w.vnetA, "b-to-a")

	ccfg := connectv1.NewConfiguration()
	ccfg.Servers = connectv1.ServerConfigurations{{URL: e.r.APIURL}}
	w.connect = connectv1.NewAPIClient(ccfg)
	return w
}

// reach asks GET /peerplane/v1/reachability.
func (w *reachWorld) reach(t *testing.T, src, dst string, port int) reach.Result {
	t.Helper()
	q := url.Values{"environment": {w.env}, "source": {src}, "destination": {dst}}
	if port != 0 {
		q.Set("port", fmt.Sprint(port))
	}
	var res reach.Result
	if code := w.on(t).peerplane("GET", "/peerplane/v1/reachability?"+q.Encode(), nil, &res); code != http.StatusOK {
		t.Fatalf("reachability %s → %s: %d %+v", src, dst, code, res)
	}
	return res
}

func wantBlocked(t *testing.T, res reach.Result, code string, mentions ...string) {
	t.Helper()
	if res.Verdict != reach.Unreachable || res.BlockedBy == nil || res.BlockedBy.Code != code {
		t.Fatalf("want UNREACHABLE %s, got %s %+v", code, res.Verdict, res.BlockedBy)
	}
	for _, m := range mentions {
		if !strings.Contains(res.BlockedBy.Detail, m) {
			t.Fatalf("blocked_by.detail %q does not mention %q", res.BlockedBy.Detail, m)
		}
	}
	if res.BlockedBy.Fix == "" {
		t.Fatalf("blocked_by has no fix: %+v", res.BlockedBy)
	}
}

// TestE2EReachability asks who reaches the cluster, over state made with
// the Azure SDK and the Confluent SDKs: the directly peered VNet does; the
// VNet peered only with it does not (peering is not transitive, whatever
// forwarded traffic and gateway transit say), naming the middle VNet; an
// outbound deny rule of higher priority blocks, naming itself; and inputs
// that pin nothing are 400s.
func TestE2EReachability(t *testing.T) {
	w := newReachWorld(t)

	res := w.reach(t, "10.41.1.4", w.cluster, 0)
	if res.Verdict != reach.Reachable || res.Port != 9092 {
		t.Fatalf("A → cluster: %s port %d %+v", res.Verdict, res.Port, res.BlockedBy)
	}
	var kinds []string
	for _, h := range res.Hops {
		kinds = append(kinds, h.Kind)
	}
	if strings.Join(kinds, ",") != "VNET,PEERING,VNET" || res.Hops[0].Name != reachVNetA {
		t.Fatalf("A → cluster hops: %+v", res.Hops)
	}

	wantBlocked(t, w.reach(t, "10.42.0.4", w.cluster, 0), reach.CodeTransitivePeering, reachVNetA)

	w.putRule(w.nsg, "deny-kafka", armnetwork.SecurityRulePropertiesFormat{
		Priority: to.Ptr[int32](100), Direction: to.Ptr(armnetwork.SecurityRuleDirectionOutbound),
		Access: to.Ptr(armnetwork.SecurityRuleAccessDeny), Protocol: to.Ptr(armnetwork.SecurityRuleProtocolTCP),
		SourceAddressPrefix: to.Ptr("*"), SourcePortRange: to.Ptr("*"),
		DestinationAddressPrefix: to.Ptr(reachNetCIDR), DestinationPortRange: to.Ptr("9092"),
	})
	wantBlocked(t, w.reach(t, "10.41.1.4", w.cluster, 0), reach.CodeNSGDeny, reachNSG, "deny-kafka", "100")
	// Another port is not denied by it.
	if res := w.reach(t, "10.41.1.4", "10.40.0.10", 443); res.Verdict != reach.Reachable {
		t.Fatalf("A → 10.40.0.10:443 with deny-kafka on 9092: %s %+v", res.Verdict, res.BlockedBy)
	}
	w.deleteRule(w.nsg, "deny-kafka")
	if res := w.reach(t, "10.41.1.4", w.cluster, 0); res.Verdict != reach.Reachable {
		t.Fatalf("A → cluster after deleting the rule: %s %+v", res.Verdict, res.BlockedBy)
	}

	for _, bad := range []struct{ query, field string }{
		{"source=10.41.1.4&destination=lkc-nope", "destination"},
		{"source=db.contoso&destination=" + w.cluster, "source"},
		{"source=10.41.1.4&destination=10.40.0.10&port=70000", "port"},
		{"source=10.41.1.4&destination=10.40.0.10", "port"},
	} {
		var f struct {
			Errors []struct{ Source struct{ Parameter string } }
		}
		code := w.peerplane("GET", "/peerplane/v1/reachability?environment="+w.env+"&"+bad.query, nil, &f)
		if code != http.StatusBadRequest || len(f.Errors) != 1 || f.Errors[0].Source.Parameter != bad.field {
			t.Errorf("%s: %d %+v, want 400 naming %s", bad.query, code, f, bad.field)
		}
	}
}

// connectorState reads a connector's status through the Connect SDK.
func (w *reachWorld) connectorState(t *testing.T, name string) (state, trace string) {
	t.Helper()
	ctx := contextWithConnectAuth(t, w.r.Credentials.APIKey, w.r.Credentials.APISecret)
	st, resp, err := w.connect.StatusConnectV1Api.ReadConnectv1ConnectorStatus(ctx, name, w.env, w.cluster).Execute()
	wantHTTP(t, "connector status", resp, err, http.StatusOK)
	return st.Connector.State, st.Connector.GetTrace()
}

// TestE2EConnectors drives managed connectors through Confluent's Connect
// SDK: a sink in the peered VNet runs; it fails with the reachability
// explanation when the sink subnet's NSG denies the network's CIDR, and
// runs again once the rule goes; a sink in a VNet peered only with the
// peered one fails naming transitivity; bad configs are 400s naming the
// key and create nothing; delete is 200, then 404.
func TestE2EConnectors(t *testing.T) {
	w := newReachWorld(t)
	ctx := contextWithConnectAuth(t, w.r.Credentials.APIKey, w.r.Credentials.APISecret)
	api := w.connect.ConnectorsConnectV1Api

	create := func(name string, config map[string]string) (*http.Response, error) {
		_, resp, err := api.CreateConnectv1Connector(ctx, w.env, w.cluster).
			InlineObject(connectv1.InlineObject{Name: &name, Config: &config}).Execute()
		return resp, err
	}
	resp, err := create("pg-sink", map[string]string{
		"connector.class": "PostgresSink", "connection.url": "jdbc:postgresql://10.41.1.10:5432/orders",
		"connection.password": "hunter2", "topics": "orders", "tasks.max": "2",
	})
	wantHTTP(t, "create pg-sink", resp, err, http.StatusCreated)

	c, resp, err := api.ReadConnectv1Connector(ctx, "pg-sink", w.env, w.cluster).Execute()
	wantHTTP(t, "read pg-sink", resp, err, http.StatusOK)
	if c.GetType() != "sink" || c.Config["connection.password"] == "hunter2" || c.Config["name"] != "pg-sink" || len(c.GetTasks()) != 2 {
		t.Fatalf("read pg-sink: %+v", c)
	}
	if state, trace := w.connectorState(t, "pg-sink"); state != "RUNNING" {
		t.Fatalf("pg-sink in the peered VNet is %s: %s", state, trace)
	}

	// The sink's subnet denies the network's CIDR.
	w.putRule(w.nsg, "deny-confluent", armnetwork.SecurityRulePropertiesFormat{
		Priority: to.Ptr[int32](110), Direction: to.Ptr(armnetwork.SecurityRuleDirectionInbound),
		Access: to.Ptr(armnetwork.SecurityRuleAccessDeny), Protocol: to.Ptr(armnetwork.SecurityRuleProtocolAsterisk),
		SourceAddressPrefix: to.Ptr(reachNetCIDR), SourcePortRange: to.Ptr("*"),
		DestinationAddressPrefix: to.Ptr("*"), DestinationPortRange: to.Ptr("*"),
	})
	state, trace := w.connectorState(t, "pg-sink")
	if state != "FAILED" {
		t.Fatalf("pg-sink behind deny-confluent is %s", state)
	}
	for _, m := range []string{"10.41.1.10:5432", "connection.url", "NSG_DENY", reachNSG, "deny-confluent", "Fix:"} {
		if !strings.Contains(trace, m) {
			t.Fatalf("trace does not mention %q: %s", m, trace)
		}
	}
	exp, resp, err := api.ListConnectv1ConnectorsWithExpansions(ctx, w.env, w.cluster).Expand("status,info,id").Execute()
	wantHTTP(t, "list with expansions", resp, err, http.StatusOK)
	if x, ok := exp["pg-sink"]; !ok || x.Status == nil || x.Status.Connector.State != "FAILED" || x.Id == nil || !strings.HasPrefix(x.Id.GetId(), "lcc-") {
		t.Fatalf("expanded list: %+v", exp)
	}

	w.deleteRule(w.nsg, "deny-confluent")
	if state, trace := w.connectorState(t, "pg-sink"); state != "RUNNING" {
		t.Fatalf("pg-sink after deleting deny-confluent is %s: %s", state, trace)
	}

	// A sink one peering too far, set through PUT config (create or update).
	_, resp, err = api.CreateOrUpdateConnectv1ConnectorConfig(ctx, "http-sink", w.env, w.cluster).
		RequestBody(map[string]string{"connector.class": "HttpSink", "http.api.url": "https://10.42.0.20/events", "topics": "orders"}).Execute()
	wantHTTP(t, "put http-sink config", resp, err, http.StatusOK)
	state, trace = w.connectorState(t, "http-sink")
	if state != "FAILED" || !strings.Contains(trace, reach.CodeTransitivePeering) || !strings.Contains(trace, reachVNetA) || !strings.Contains(trace, "10.42.0.20:443") {
		t.Fatalf("http-sink in VNet B: %s %s", state, trace)
	}

	// Paused is PAUSED, resumed evaluates again.
	resp, err = w.connect.LifecycleConnectV1Api.PauseConnectv1Connector(ctx, "http-sink", w.env, w.cluster).Execute()
	wantHTTP(t, "pause", resp, err, http.StatusAccepted)
	if state, _ := w.connectorState(t, "http-sink"); state != "PAUSED" {
		t.Fatalf("paused http-sink is %s", state)
	}
	resp, err = w.connect.LifecycleConnectV1Api.ResumeConnectv1Connector(ctx, "http-sink", w.env, w.cluster).Execute()
	wantHTTP(t, "resume", resp, err, http.StatusAccepted)
	if state, _ := w.connectorState(t, "http-sink"); state != "FAILED" {
		t.Fatalf("resumed http-sink is %s", state)
	}

	// Bad input: 400 naming the key, nothing created.
	for _, bad := range []struct {
		name    string
		config  map[string]string
		mention string
	}{
		{"dns-sink", map[string]string{"connector.class": "PostgresSink", "connection.url": "jdbc:postgresql://db.contoso:5432/x"}, "connection.url"},
		{"no-class", map[string]string{"connection.url": "jdbc:postgresql://10.41.1.10:5432/x"}, "connector.class"},
		{"bad port", map[string]string{"connector.class": "MySqlSink", "connection.host": "10.41.1.10", "connection.port": "99999"}, "name"},
		{"port-sink", map[string]string{"connector.class": "MySqlSink", "connection.host": "10.41.1.10", "connection.port": "99999"}, "connection.port"},
		{"pg-sink", map[string]string{"connector.class": "PostgresSink", "connection.url": "jdbc:postgresql://10.41.1.10:5432/x", "topics": "x"}, "already exists"},
	} {
		resp, err := create(bad.name, bad.config)
		want := http.StatusBadRequest
		if bad.mention == "already exists" {
			want = http.StatusConflict
		}
		wantHTTP(t, "create "+bad.name, resp, err, want)
		if body := sdkErr(resp, err); !strings.Contains(body, bad.mention) || !strings.Contains(body, `"error":{"code":`) {
			t.Errorf("create %s: error does not mention %q: %s", bad.name, bad.mention, body)
		}
	}
	names, resp, err := api.ListConnectv1Connectors(ctx, w.env, w.cluster).Execute()
	wantHTTP(t, "list", resp, err, http.StatusOK)
	if strings.Join(names, ",") != "http-sink,pg-sink" {
		t.Fatalf("connectors after bad creates: %v", names)
	}
	if _, resp, err := api.ListConnectv1Connectors(ctx, w.env, "lkc-nope").Execute(); resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("list in an unknown cluster: %s", sdkErr(resp, err))
	}

	_, resp, err = api.DeleteConnectv1Connector(ctx, "pg-sink", w.env, w.cluster).Execute()
	wantHTTP(t, "delete pg-sink", resp, err, http.StatusOK)
	_, resp, err = api.ReadConnectv1Connector(ctx, "pg-sink", w.env, w.cluster).Execute()
	wantHTTP(t, "read deleted pg-sink", resp, err, http.StatusNotFound)
	for what, call := range map[string]func() (*http.Response, error){
		"delete": func() (*http.Response, error) {
			_, resp, err := api.DeleteConnectv1Connector(ctx, "pg-sink", w.env, w.cluster).Execute()
			return resp, err
		},
		"pause": w.connect.LifecycleConnectV1Api.PauseConnectv1Connector(ctx, "pg-sink", w.env, w.cluster).Execute,
	} {
		resp, err := call()
		wantHTTP(t, what+" deleted pg-sink", resp, err, http.StatusNotFound)
		if body := sdkErr(resp, err); !strings.Contains(body, "Connector pg-sink was not found in Kafka cluster "+w.cluster) {
			t.Errorf("%s deleted pg-sink: %s", what, body)
		}
	}

	// A wrong key sees nothing.
	bad := contextWithConnectAuth(t, w.r.Credentials.APIKey, "wrong-secret")
	if _, resp, err := api.ListConnectv1Connectors(bad, w.env, w.cluster).Execute(); resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("list with a wrong secret: %s", sdkErr(resp, err))
	}
}

// TestCLIConnectors manages connectors with `peerplane connect cluster …`
// against the reachability world: create from a file, list and describe
// with status and trace, a bad host refused naming the key, pause, delete;
// and asks `peerplane network reach`, whose exit status says the verdict.
func TestCLIConnectors(t *testing.T) {
	w := newReachWorld(t)
	r := newCLIRunner(t, w.dir)
	r.run(t, "login", "--data-dir", w.dir)
	at := []string{"--cluster", w.cluster, "--environment", w.env}

	// network reach: 0 REACHABLE, 2 UNREACHABLE (one peering too far), 1
	// for a question it cannot answer, naming the field.
	inEnv := []string{"--environment", w.env}
	if out := r.run(t, append([]string{"network", "reach", "--source", "10.41.1.4", "--destination", w.cluster}, inEnv...)...); !strings.HasPrefix(out, "REACHABLE: ") {
		t.Fatalf("reach from VNet A:\n%s", out)
	}
	out, stderr := r.fail(t, cli.ExitUnreachable, append([]string{"network", "reach", "--source", "10.42.0.4", "--destination", w.cluster}, inEnv...)...)
	if !strings.HasPrefix(out, "UNREACHABLE: ") || !strings.Contains(out, reach.CodeTransitivePeering) || stderr != "" {
		t.Fatalf("reach from VNet B: stdout\n%s\nstderr\n%s", out, stderr)
	}
	if _, stderr := r.fail(t, cli.ExitError, append([]string{"network", "reach", "--source", "db.contoso", "--destination", w.cluster}, inEnv...)...); !strings.Contains(stderr, "source") {
		t.Fatalf("reach from a DNS name: %s", stderr)
	}

	file := func(name, body string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out = r.run(t, append([]string{"connect", "cluster", "create", "--config-file",
		file("ok.json", `{"name":"orders-sink","connector.class":"PostgresSink","connection.url":"jdbc:postgresql://10.41.1.10:5432/orders","connection.password":"hunter2","topics":"orders"}`)}, at...)...)
	if !strings.Contains(out, `Created connector "orders-sink"`) || !strings.Contains(out, "RUNNING") || strings.Contains(out, "hunter2") {
		t.Fatalf("create orders-sink:\n%s", out)
	}
	r.run(t, append([]string{"connect", "cluster", "create", "--config-file",
		file("far.json", `{"name":"far-sink","config":{"connector.class":"HttpSink","http.api.url":"http://10.42.0.20:8080/in","topics":"orders"}}`)}, at...)...)

	var list []struct {
		ID     struct{ ID string }
		Info   struct{ Name string }
		Status struct{ Connector struct{ State, Trace string } }
	}
	r.runJSON(t, &list, append([]string{"connect", "cluster", "list"}, at...)...)
	if len(list) != 2 || list[0].Info.Name != "far-sink" || list[0].Status.Connector.State != "FAILED" || list[1].Status.Connector.State != "RUNNING" {
		t.Fatalf("list: %+v", list)
	}
	out = r.run(t, append([]string{"connect", "cluster", "describe", list[0].ID.ID}, at...)...)
	for _, m := range []string{"far-sink", "FAILED", "TRANSITIVE_PEERING_NOT_SUPPORTED", reachVNetA} {
		if !strings.Contains(out, m) {
			t.Fatalf("describe far-sink does not show %q:\n%s", m, out)
		}
	}

	_, errText := r.fail(t, cli.ExitError, append([]string{"connect", "cluster", "create", "--config-file",
		file("dns.json", `{"name":"dns-sink","connector.class":"PostgresSink","connection.url":"jdbc:postgresql://db.contoso:5432/x"}`)}, at...)...)
	if !strings.Contains(errText, "connection.url") || !strings.Contains(errText, "not an IP address") {
		t.Fatalf("create with a DNS name: %s", errText)
	}

	r.run(t, append([]string{"connect", "cluster", "pause", "orders-sink"}, at...)...)
	if out := r.run(t, append([]string{"connect", "cluster", "describe", "orders-sink"}, at...)...); !strings.Contains(out, "PAUSED") {
		t.Fatalf("describe paused orders-sink:\n%s", out)
	}
	r.run(t, append([]string{"connect", "cluster", "delete", "far-sink"}, at...)...)
	if _, errText := r.fail(t, cli.ExitError, append([]string{"connect", "cluster", "describe", "far-sink"}, at...)...); !strings.Contains(errText, "not found") {
		t.Fatalf("describe deleted far-sink: %s", errText)
	}
}
