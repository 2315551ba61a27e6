package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/console"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/reach"
	"github.com/peerplane/peerplane/internal/reach/reachtest"
)

// connectorWorld is the reachability world with connectors on, its
// snapshot swapped under a lock (the live stream reads it concurrently)
// and its reads counted.
type connectorWorld struct {
	*reachtest.World
	org   *control.Organization
	mu    sync.Mutex
	snap  reach.Snapshot
	reads atomic.Int64
}

// newConnectorFixture signs in to a console with the world, its checker
// and connectors; adjust, if given, changes the options.
func newConnectorFixture(t *testing.T, adjust ...func(*console.Options)) (*fixture, *connectorWorld) {
	cw := &connectorWorld{}
	f := newFixture(t, func(o *console.Options, svc *control.Service, org *control.Organization) {
		cw.World = reachtest.New(t, svc, org)
		cw.org, cw.snap = org, cw.World.Snapshot
		cw.Checker.Snapshot = func(context.Context, reach.World) (*reach.Snapshot, error) {
			cw.reads.Add(1)
			cw.mu.Lock()
			defer cw.mu.Unlock()
			s := cw.snap
			return &s, nil
		}
		o.Reachability, o.Connectors = cw.Checker, svc
		for _, a := range adjust {
			a(o)
		}
	})
	f.signIn(f.secret)
	return f, cw
}

// setContosoRules replaces the rules of contoso-vnet's NSG.
func (cw *connectorWorld) setContosoRules(rules ...reach.SecurityRule) {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	nsgs := append([]reach.NSG(nil), cw.snap.NSGs...)
	nsgs[0].SecurityRules = rules
	cw.snap.NSGs = nsgs
}

// denyPostgres blocks the cluster's network from Postgres in contoso-vnet.
var denyPostgres = reach.SecurityRule{Name: "DenyKafkaToPostgres", Priority: 100, Direction: "Inbound", Access: "Deny", Protocol: "Tcp",
	SourceAddressPrefixes: []string{"10.200.0.0/16"}, DestinationAddressPrefixes: []string{"*"},
	SourcePortRanges: []string{"*"}, DestinationPortRanges: []string{"5432"}}

func (cw *connectorWorld) netURL() string {
	return "/console/environments/" + cw.Env + "/networks/" + cw.Network
}

func (cw *connectorWorld) connectorsURL() string {
	return cw.netURL() + "/clusters/" + cw.Cluster + "/connectors"
}

func (cw *connectorWorld) connectors(t *testing.T, f *fixture) []string {
	t.Helper()
	ks, err := f.svc.FindConnectors(control.NewContextWithOrganization(context.Background(), cw.org), cw.Env, cw.Cluster)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range ks {
		names = append(names, k.Name)
	}
	return names
}

// connectorHTML returns the part of a page showing connector name's
// status in the world's cluster.
func connectorHTML(t *testing.T, body, cluster, name string) string {
	t.Helper()
	i := strings.Index(body, `data-live="connector:`+cluster+`:`+name+`"`)
	if i < 0 {
		t.Fatalf("connector %s is not shown", name)
	}
	rest := body[i:]
	if j := strings.Index(rest, `class="conn-actions"`); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func wantAll(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(s, want) {
			t.Errorf("%s lacks %s\n%s", what, want, s)
		}
	}
}

// openLive opens path's event stream and returns each patch event's
// patches, by key.
func openLive(t *testing.T, f *fixture, path string) <-chan map[string]string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	resp, err := f.client.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("live: %v %v", resp, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	out := make(chan map[string]string, 1000)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 4<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			if e, ok := strings.CutPrefix(line, "event: "); ok {
				event = e
			}
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok || event != "patch" {
				continue
			}
			var ps []struct{ Key, HTML string }
			if json.Unmarshal([]byte(data), &ps) != nil {
				continue
			}
			m := map[string]string{}
			for _, p := range ps {
				m[p.Key] = p.HTML
			}
			out <- m
		}
	}()
	return out
}

// waitPatch waits for a patch of key whose HTML contains every want.
func waitPatch(t *testing.T, events <-chan map[string]string, key string, wants ...string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-events:
			if !ok {
				t.Fatalf("the stream ended before a patch of %s with %q", key, wants)
			}
			html, has := m[key]
			if !has {
				continue
			}
			all := true
			for _, w := range wants {
				all = all && strings.Contains(html, w)
			}
			if all {
				return html
			}
		case <-deadline:
			t.Fatalf("no patch of %s with %q", key, wants)
		}
	}
}

func TestConnectorsStatusAndLive(t *testing.T) {
	f, cw := newConnectorFixture(t)
	tok := f.csrf(cw.netURL())

	// Two sinks through the form: one in the peered VNet, one in the spoke.
	for _, k := range []struct{ name, class, url, config string }{
		{"orders-sink", "PostgresSink", "jdbc:postgresql://" + reachtest.ContosoVM + ":5432/orders", "topics=orders\n# a comment\n\ntasks.max = 2"},
		{"spoke-sink", "PostgresSink", "jdbc:postgresql://" + reachtest.SpokeVM + ":5432/orders", "topics=orders"},
	} {
		st, _, loc := f.post(cw.connectorsURL(), url.Values{"csrf": {tok}, "name": {k.name}, "class": {k.class}, "url": {k.url}, "config": {k.config}})
		if st != http.StatusSeeOther || loc != cw.netURL()+"#connectors-"+cw.Cluster {
			t.Fatalf("add %s: %d %s", k.name, st, loc)
		}
	}
	ks, err := f.svc.FindConnector(control.NewContextWithOrganization(context.Background(), cw.org), cw.Env, cw.Cluster, "orders-sink")
	if err != nil || ks.Config["topics"] != "orders" || ks.Config["tasks.max"] != "2" || ks.Config["connector.class"] != "PostgresSink" || len(ks.Config) != 5 {
		t.Fatalf("orders-sink: %+v %v", ks, err)
	}

	st, body, _ := f.get(cw.netURL())
	if st != http.StatusOK {
		t.Fatalf("network page: %d", st)
	}
	wantAll(t, "the page", body, `Connectors in orders <code>`+cw.Cluster+`</code>`, "added to cluster orders",
		`<summary class="btn btn-secondary" id="add-connector-`+cw.Cluster+`"`,
		`<label for="conn-`+cw.Cluster+`-f-url">Host URL (connection.url)</label>`,
		"A private IP address in a peered VNet, e.g. jdbc:postgresql://10.1.0.4:5432/orders",
		`<label for="conn-`+cw.Cluster+`-f-config">More config (optional)</label>`, `<textarea id="conn-`+cw.Cluster+`-f-config" name="config"`,
		`<label for="confirm-`+cw.Cluster+`-orders-sink">Type <strong>orders-sink</strong> to confirm</label>`)
	running := connectorHTML(t, body, cw.Cluster, "orders-sink")
	wantAll(t, "orders-sink", running, `<h4>orders-sink</h4><span class="badge active">Running</span>`, "<dd>PostgresSink</dd>", "<dd>Sink</dd>",
		"<code>10.1.0.4:5432</code> <span class=\"muted\">connection.url</span> <span class=\"hostmark ok\">✓ reachable</span>")
	if strings.Contains(running, "conn-reason") {
		t.Error("a running connector shows a reason")
	}
	failed := connectorHTML(t, body, cw.Cluster, "spoke-sink")
	wantAll(t, "spoke-sink", failed, `<span class="badge error">Failed</span>`, `<div class="alert blocked conn-reason">`,
		"Cannot reach <code>10.2.0.4:5432</code></strong> (connection.url) from the cluster: <code class=\"code\">TRANSITIVE_PEERING_NOT_SUPPORTED</code>",
		"not transitive", "<strong>Fix:</strong> Peer VNet", "✕ not reachable")

	// Live: an NSG rule denying the cluster's network turns orders-sink
	// Failed with NSG_DENY, its removal Running again; the spoke's stays.
	events := openLive(t, f, cw.netURL()+"/live")
	key := "connector:" + cw.Cluster + ":orders-sink"
	waitPatch(t, events, key, "Running")
	cw.setContosoRules(denyPostgres)
	html := waitPatch(t, events, key, "Failed", "NSG_DENY")
	wantAll(t, "the NSG_DENY patch", html, "DenyKafkaToPostgres", "contoso-nsg", "<strong>Fix:</strong>")
	if _, body, _ := f.get(cw.netURL()); !strings.Contains(connectorHTML(t, body, cw.Cluster, "orders-sink"), "NSG_DENY") {
		t.Error("the page, rendered again, does not show NSG_DENY")
	}
	cw.setContosoRules()
	waitPatch(t, events, key, `<span class="badge active">Running</span>`)

	// Pause and resume.
	if st, _, loc := f.post(cw.connectorsURL()+"/orders-sink/pause", url.Values{"csrf": {tok}}); st != http.StatusSeeOther || !strings.HasSuffix(loc, "#connectors-"+cw.Cluster) {
		t.Fatalf("pause: %d %s", st, loc)
	}
	waitPatch(t, events, key, "Paused")
	_, body, _ = f.get(cw.netURL())
	wantAll(t, "paused", body, `<span class="badge muted">Paused</span>`, ">Resume<span class=\"sr-only\"> connector orders-sink</span>", "Connector orders-sink paused")
	if st, _, _ := f.post(cw.connectorsURL()+"/orders-sink/resume", url.Values{"csrf": {tok}}); st != http.StatusSeeOther {
		t.Fatalf("resume: %d", st)
	}
	waitPatch(t, events, key, "Running")

	// Delete needs the name typed; the list goes without it, live.
	st, body, _ = f.post(cw.connectorsURL()+"/spoke-sink/delete", url.Values{"csrf": {tok}, "confirm": {"nope"}})
	if st != http.StatusBadRequest {
		t.Fatalf("delete without confirmation: %d", st)
	}
	wantAll(t, "the unconfirmed deletion", body, `<p class="error" id="confirm-`+cw.Cluster+`-spoke-sink-err">Type the connector&#39;s name, spoke-sink, to confirm.</p>`,
		`aria-invalid="true"`)
	if got := cw.connectors(t, f); len(got) != 2 {
		t.Fatalf("after an unconfirmed deletion: %v", got)
	}
	if st, _, loc := f.post(cw.connectorsURL()+"/spoke-sink/delete", url.Values{"csrf": {tok}, "confirm": {"spoke-sink"}}); st != http.StatusSeeOther || !strings.HasPrefix(loc, cw.netURL()) {
		t.Fatalf("delete: %d %s", st, loc)
	}
	if got := cw.connectors(t, f); len(got) != 1 || got[0] != "orders-sink" {
		t.Fatalf("after deletion: %v", got)
	}
	list := waitPatch(t, events, "connectors:"+cw.Cluster, "orders-sink")
	if strings.Contains(list, "spoke-sink") {
		t.Error("the live list still shows the deleted connector")
	}
	if st, _, _ := f.post(cw.connectorsURL()+"/spoke-sink/delete", url.Values{"csrf": {tok}, "confirm": {"spoke-sink"}}); st != http.StatusNotFound {
		t.Fatalf("delete again: %d", st)
	}
	// Without the CSRF token nothing happens.
	if st, _, _ := f.post(cw.connectorsURL()+"/orders-sink/delete", url.Values{"confirm": {"orders-sink"}}); st != http.StatusForbidden {
		t.Fatalf("delete without the CSRF token: %d", st)
	}
}

func TestConnectorFormErrors(t *testing.T) {
	f, cw := newConnectorFixture(t)
	tok := f.csrf(cw.netURL())
	good := url.Values{"csrf": {tok}, "name": {"orders-sink"}, "class": {"PostgresSink"}, "url": {"jdbc:postgresql://10.1.0.4:5432/orders"}, "config": {"topics=orders"}}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range good {
			v[k] = vs
		}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		what         string
		form         url.Values
		status       int
		field, error string
	}{
		{"a DNS host", with("url", "jdbc:postgresql://db.contoso.example:5432/orders"), 400, "url", `Host "db.contoso.example" in config "connection.url" is not an IP address`},
		{"a URL without a scheme", with("url", "10.1.0.4"), 400, "url", "not a URL of the form scheme://host:port"},
		{"no class", with("class", ""), 400, "class", "Connector class is required, e.g. PostgresSink or HttpSink."},
		{"a bad name", with("name", "-orders"), 400, "name", "must be 1 to 64 letters, digits"},
		{"no name", with("name", ""), 400, "name", "Connector name is required."},
		{"a line that is not key=value", with("config", "topics=orders\nnope"), 400, "config", "Line 2, “nope”, is not key=value."},
		{"a DNS host in more config", with("url", "", "config", "connection.host=db.contoso.example\nconnection.port=5432"), 400, "config", `Host "db.contoso.example" in config "connection.host"`},
		{"the class twice", with("config", "connector.class=HttpSink"), 400, "config", "“connector.class” is set in the field above"},
		{"a config name unlike the name", with("config", "name=other"), 400, "config", `must equal the connector&#39;s name`},
	} {
		st, body, _ := f.post(cw.connectorsURL(), tc.form)
		if st != tc.status {
			t.Errorf("%s: status %d, want %d", tc.what, st, tc.status)
		}
		id := "conn-" + cw.Cluster + "-f-" + tc.field
		errP := `<p class="error" id="` + id + `-err" data-error-for="` + tc.field + `">`
		i := strings.Index(body, errP)
		if i < 0 || !strings.Contains(body[i:min(len(body), i+len(errP)+300)], htmlEscape(tc.error)) {
			t.Errorf("%s: no error %q next to %s", tc.what, tc.error, tc.field)
		}
		wantAll(t, tc.what, body, `id="`+id+`" name="`+tc.field+`"`, `<details class="add-connector" open>`)
		if got := cw.connectors(t, f); len(got) != 0 {
			t.Fatalf("%s created %v", tc.what, got)
		}
	}
	// Every bad field at once, the values kept.
	st, body, _ := f.post(cw.connectorsURL(), with("name", "-orders", "class", "", "url", "jdbc:postgresql://db:5432/x"))
	if st != http.StatusBadRequest || strings.Count(body, `aria-invalid="true"`) != 3 || !strings.Contains(body, `value="jdbc:postgresql://db:5432/x"`) {
		t.Errorf("three bad fields: %d, %d marked", st, strings.Count(body, `aria-invalid="true"`))
	}

	// The same name twice: the conflict, next to the name.
	if st, _, _ := f.post(cw.connectorsURL(), good); st != http.StatusSeeOther {
		t.Fatalf("add: %d", st)
	}
	st, body, _ = f.post(cw.connectorsURL(), good)
	if st != http.StatusConflict || !strings.Contains(body, "Cluster orders already has a connector named orders-sink.") {
		t.Fatalf("the same name again: %d", st)
	}
	// A cluster of another network, or none.
	if st, _, _ := f.post(cw.netURL()+"/clusters/lkc-nope00/connectors", good); st != http.StatusNotFound {
		t.Fatalf("an unknown cluster: %d", st)
	}
	if got := cw.connectors(t, f); len(got) != 1 {
		t.Fatalf("connectors: %v", got)
	}
}

func TestConnectorsOfAnotherOrganization(t *testing.T) {
	f, cw := newConnectorFixture(t)
	tok := f.csrf(cw.netURL())
	if st, _, _ := f.post(cw.connectorsURL(), url.Values{"csrf": {tok}, "name": {"orders-sink"}, "class": {"PostgresSink"},
		"url": {"jdbc:postgresql://10.1.0.4:5432/orders"}, "config": {"topics=orders"}}); st != http.StatusSeeOther {
		t.Fatalf("add: %d", st)
	}

	// Another organization with its own world: it sees neither Acme's
	// network nor its connectors, and cannot touch them.
	octx := control.NewOperatorContext(context.Background())
	other := &control.Organization{DisplayName: "Globex"}
	if err := f.svc.CreateOrganization(octx, other); err != nil {
		t.Fatal(err)
	}
	key, secret, err := f.svc.CreateAPIKey(octx, other.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	theirs := reachtest.New(t, f.svc, other)
	jar, _ := cookiejar.New(nil)
	g := &fixture{t: t, srv: f.srv, svc: f.svc, key: key.Key, secret: secret,
		client: &http.Client{Jar: jar, CheckRedirect: f.client.CheckRedirect}}
	g.signIn(secret)
	gtok := g.csrf("/console/environments")

	st, body, _ := g.get(cw.netURL())
	if st != http.StatusNotFound || strings.Contains(body, "orders-sink") {
		t.Fatalf("Acme's network as Globex: %d, shows the connector: %v", st, strings.Contains(body, "orders-sink"))
	}
	st, body, _ = g.get("/console/environments/" + theirs.Env + "/networks/" + theirs.Network)
	if st != http.StatusOK || strings.Contains(body, "<h4>orders-sink</h4>") || !strings.Contains(body, "No connectors in this cluster yet.") {
		t.Fatalf("Globex's own network: %d", st)
	}
	if st, _, _ := g.post(cw.connectorsURL(), url.Values{"csrf": {gtok}, "name": {"intruder"}, "class": {"HttpSink"}}); st != http.StatusNotFound {
		t.Fatalf("add to Acme's cluster as Globex: %d", st)
	}
	for _, action := range []string{"delete", "pause"} {
		if st, _, _ := g.post(cw.connectorsURL()+"/orders-sink/"+action, url.Values{"csrf": {gtok}, "confirm": {"orders-sink"}}); st != http.StatusNotFound {
			t.Fatalf("%s Acme's connector as Globex: %d", action, st)
		}
	}
	k, err := f.svc.FindConnector(control.NewContextWithOrganization(context.Background(), cw.org), cw.Env, cw.Cluster, "orders-sink")
	if err != nil || k.Paused {
		t.Fatalf("Acme's connector after Globex tried: %+v %v", k, err)
	}
	if got := cw.connectors(t, f); len(got) != 1 {
		t.Fatalf("connectors: %v", got)
	}
}

// TestConnectorStatusCost checks that a page evaluates status once per
// cluster that has connectors, and that a live page re-reads Azure's state
// at most about once a second.
func TestConnectorStatusCost(t *testing.T) {
	f, cw := newConnectorFixture(t)
	ctx := control.NewContextWithOrganization(context.Background(), cw.org)
	empty := &control.Cluster{EnvironmentID: cw.Env, NetworkID: cw.Network, DisplayName: "empty", Availability: control.AvailabilitySingleZone, CKU: 1}
	if err := f.svc.CreateCluster(ctx, empty); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UpdateClusterStatus(ctx, empty.ID, control.ClusterStatus{Phase: control.ClusterPhaseProvisioned, BootstrapEndpoint: "SASL_SSL://10.200.1.11:9092"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if err := f.svc.CreateConnector(ctx, cw.Env, cw.Cluster, &control.Connector{Name: name,
			Config: map[string]string{"connector.class": "PostgresSink", "connection.url": "jdbc:postgresql://10.1.0.4:5432/x", "topics": "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	cw.reads.Store(0)
	_, body, _ := f.get(cw.netURL())
	if n := cw.reads.Load(); n != 1 {
		t.Errorf("one page read Azure's state %d times, want once (one cluster has connectors)", n)
	}
	wantAll(t, "the page", body, "Connectors in empty", "No connectors in this cluster yet.")

	cw.reads.Store(0)
	start := time.Now()
	events := openLive(t, f, cw.netURL()+"/live")
	waitPatch(t, events, "connector:"+cw.Cluster+":a", "Running")
	time.Sleep(1500 * time.Millisecond) // 75 polls of 20ms
	n, most := cw.reads.Load(), int64(time.Since(start)/time.Second)+1
	if n < 1 || n > most {
		t.Errorf("a live page read Azure's state %d times in %s, want 1 to %d", n, time.Since(start), most)
	}
}

func TestConnectorsWithoutChecker(t *testing.T) {
	f, cw := newConnectorFixture(t, func(o *console.Options) { o.Reachability = nil })
	ctx := control.NewContextWithOrganization(context.Background(), cw.org)
	for _, k := range []*control.Connector{
		{Name: "orders-sink", Config: map[string]string{"connector.class": "PostgresSink", "connection.url": "jdbc:postgresql://10.1.0.4:5432/x", "topics": "x"}},
		{Name: "paused-source", Paused: true, Config: map[string]string{"connector.class": "PostgresSource", "connection.url": "jdbc:postgresql://10.1.0.4:5432/x"}},
	} {
		if err := f.svc.CreateConnector(ctx, cw.Env, cw.Cluster, k); err != nil {
			t.Fatal(err)
		}
	}
	st, body, _ := f.get(cw.netURL())
	if st != http.StatusOK {
		t.Fatalf("network page: %d", st)
	}
	wantAll(t, "the page", body, "Reachability cannot be checked on this server", "<dd>Source</dd>")
	wantAll(t, "orders-sink", connectorHTML(t, body, cw.Cluster, "orders-sink"), `<span class="badge muted">Not checked</span>`)
	wantAll(t, "paused-source", connectorHTML(t, body, cw.Cluster, "paused-source"), `<span class="badge muted">Paused</span>`)
	if strings.Contains(body, "Test connectivity") {
		t.Error("the Test connectivity form without a checker")
	}
}

func TestConnectorsHiddenWithoutService(t *testing.T) {
	f, cw := newConnectorFixture(t, func(o *console.Options) { o.Connectors = nil })
	tok := f.csrf(cw.netURL())
	_, body, _ := f.get(cw.netURL())
	if strings.Contains(body, "Connectors in") || strings.Contains(body, "Add connector") {
		t.Error("connectors shown without a connector service")
	}
	if st, _, _ := f.post(cw.connectorsURL(), url.Values{"csrf": {tok}, "name": {"x"}, "class": {"HttpSink"}}); st != http.StatusNotFound {
		t.Errorf("POST a connector without a connector service: %d", st)
	}
}

// TestConnectorRuns: when connectors run (the checker has the runtime's
// runs), each shows its records in and out, where its traffic comes from
// and its last error; a failed one shows the real error and the model's
// reason; the live stream sends the counts as they change.
func TestConnectorRuns(t *testing.T) {
	f, cw := newConnectorFixture(t, func(o *console.Options) { o.Reachability.Runs = o.Connectors.(*control.Service) })
	ctx := control.NewContextWithOrganization(context.Background(), cw.org)
	for _, name := range []string{"orders-sink", "far-sink"} {
		vm := reachtest.ContosoVM
		if name == "far-sink" {
			vm = reachtest.SpokeVM
		}
		if err := f.svc.CreateConnector(ctx, cw.Env, cw.Cluster, &control.Connector{Name: name,
			Config: map[string]string{"connector.class": "HttpSink", "http.api.url": "http://" + vm + ":8080/in", "topics": "orders"}}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(name, state string, out int64, lastErr string) {
		t.Helper()
		k, err := f.svc.FindConnector(ctx, cw.Env, cw.Cluster, name)
		if err != nil {
			t.Fatal(err)
		}
		run := &control.ConnectorRun{ClusterID: cw.Cluster, Name: name, Generation: k.CreatedAt, ConfigAt: k.UpdatedAt, State: state,
			Since: time.Now(), Address: "10.200.0.4", RecordsIn: out + 2, RecordsOut: out, LastError: lastErr}
		if lastErr != "" {
			run.LastErrorAt = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
		}
		if err := f.svc.PutConnectorRun(context.Background(), run); err != nil {
			t.Fatal(err)
		}
	}
	put("orders-sink", control.ConnectorRunning, 40, "")
	put("far-sink", control.ConnectorFailed, 0, `Post "http://`+reachtest.SpokeVM+`:8080/in": dial tcp: i/o timeout`)
	_, body, _ := f.get(cw.netURL())
	wantAll(t, "the page", body, `<dd class="conn-in">42</dd>`, `<dd class="conn-out">40</dd>`, "<code>10.200.0.4</code>",
		"dial tcp: i/o timeout", "2026-12-06 10:00:00 UTC", reach.CodeTransitivePeering)

	events := openLive(t, f, cw.netURL()+"/live")
	waitPatch(t, events, "connector:"+cw.Cluster+":orders-sink", `<dd class="conn-out">40</dd>`)
	put("orders-sink", control.ConnectorRunning, 90, "")
	waitPatch(t, events, "connector:"+cw.Cluster+":orders-sink", `<dd class="conn-out">90</dd>`)
}

// TestConnectorFormHTTPSink: for an HttpSink the form's host URL is its
// http.api.url.
func TestConnectorFormHTTPSink(t *testing.T) {
	f, cw := newConnectorFixture(t)
	tok := f.csrf(cw.netURL())
	if st, body, _ := f.post(cw.connectorsURL(), url.Values{"csrf": {tok}, "name": {"events"}, "class": {"HttpSink"},
		"url": {"http://10.1.0.4:8080/in"}, "config": {"topics=orders"}}); st != http.StatusSeeOther {
		t.Fatalf("add an HttpSink: %d\n%s", st, body)
	}
	k, err := f.svc.FindConnector(control.NewContextWithOrganization(context.Background(), cw.org), cw.Env, cw.Cluster, "events")
	if err != nil || k.Config["http.api.url"] != "http://10.1.0.4:8080/in" || k.Config["connection.url"] != "" {
		t.Fatalf("the HttpSink's config: %v %v", k, err)
	}
}
