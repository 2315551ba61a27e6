package main

// The tests of what an operator sees of a running server: Prometheus
// /metrics after the seed flow, /readyz when the store goes away or lacks
// migrations, and JSON log lines from the built binary.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/metrics/metricstest"
	"github.com/peerplane/peerplane/internal/seal"
	"github.com/peerplane/peerplane/internal/store"
	"github.com/peerplane/peerplane/internal/store/storetest"
)

// metricWant is one expectation on a scrape: the series of name with
// labels sum to at least min (exactly min when exact).
type metricWant struct {
	name   string
	labels []string
	min    float64
	exact  bool
}

func atLeast(min float64, name string, labels ...string) metricWant {
	return metricWant{name: name, labels: labels, min: min}
}

func exactly(v float64, name string, labels ...string) metricWant {
	return metricWant{name: name, labels: labels, min: v, exact: true}
}

// waitMetrics scrapes url until every want holds and returns that scrape.
// A reconcile or an embedded-Azure request is counted just after its
// effect shows through the API, so the first scrape may be a moment early;
// the bound only turns a hang into a failure.
func waitMetrics(t *testing.T, url string, wants ...metricWant) metricstest.Families {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for {
		fams := metricstest.Scrape(t, nil, url)
		var missing []string
		for _, w := range wants {
			v, ok := fams.Value(w.name, w.labels...)
			if !ok || v < w.min || w.exact && v != w.min {
				missing = append(missing, fmt.Sprintf("%s%v = %v (present: %v), want %v%v", w.name, w.labels, v, ok, map[bool]string{true: "", false: "≥ "}[w.exact], w.min))
			}
		}
		if len(missing) == 0 {
			return fams
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, /metrics lacks:\n  %s", e2eWait, strings.Join(missing, "\n  "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetricsAfterSeedFlow runs the seed flow to READY and then reads
// every series an operator relies on from /metrics, without an API key.
func TestMetricsAfterSeedFlow(t *testing.T) {
	e := startE2E(t, "")
	if e.r.MetricsURL != e.r.APIURL+"/metrics" {
		t.Fatalf("MetricsURL = %s, want the API listener's /metrics", e.r.MetricsURL)
	}
	env := e.createEnv("prod")
	n := e.createNetwork(env, "prod-net", "eastus", "10.10.0.0/16")
	id := e.createPeering(env, n.GetId(), "contoso", demoVNetID, "eastus")
	e.waitFailed(env, id, "APP_NOT_CONSENTED")
	e.consent()
	e.waitFailed(env, id, "PERMISSION_DENIED") // cannot read the VNet
	e.putRole(e2eRoleActions...)
	e.assign(demoVNetID)
	e.tag(demoVNetID, env)
	e.waitPeering(env, id, "READY")

	fams := waitMetrics(t, e.r.MetricsURL,
		// The API, by route pattern.
		atLeast(1, "peerplane_api_requests_total", "route", "POST /networking/v1/peerings", "method", "POST", "code", "202"),
		atLeast(1, "peerplane_api_requests_total", "route", "GET /networking/v1/peerings/{id}", "method", "GET", "code", "200"),
		atLeast(1, "peerplane_api_request_duration_seconds", "route", "GET /networking/v1/peerings/{id}", "method", "GET"),
		// Reconciles: the peering failed without consent, then without a
		// role, then was ok; the network was ok.
		atLeast(1, "peerplane_reconcile_total", "kind", "peering", "outcome", "failed", "error_code", "APP_NOT_CONSENTED"),
		atLeast(1, "peerplane_reconcile_total", "kind", "peering", "outcome", "failed", "error_code", "PERMISSION_DENIED"),
		atLeast(1, "peerplane_reconcile_total", "kind", "peering", "outcome", "ok", "error_code", ""),
		atLeast(1, "peerplane_reconcile_total", "kind", "network", "outcome", "ok"),
		atLeast(3, "peerplane_reconcile_duration_seconds", "kind", "peering"),
		// The reconciler's Azure calls: the refused token, the refused
		// read, and the two halves' PUTs.
		atLeast(1, "peerplane_azure_requests_total", "operation", "token", "code", "400"),
		atLeast(1, "peerplane_azure_requests_total", "operation", "virtualNetworks.get", "code", "403"),
		atLeast(1, "peerplane_azure_requests_total", "operation", "virtualNetworks.createOrUpdate"),
		atLeast(2, "peerplane_azure_requests_total", "operation", "virtualNetworkPeerings.createOrUpdate"),
		atLeast(2, "peerplane_azure_request_duration_seconds", "operation", "virtualNetworkPeerings.createOrUpdate"),
		// The embedded Azure served them, and the customer's calls.
		atLeast(2, "peerplane_embedded_azure_requests_total", "operation", "virtualNetworkPeerings.createOrUpdate"),
		atLeast(1, "peerplane_embedded_azure_requests_total", "operation", "token", "code", "400"),
		atLeast(1, "peerplane_embedded_azure_requests_total", "operation", "graph.servicePrincipals.create", "code", "201"),
		atLeast(1, "peerplane_embedded_azure_requests_total", "operation", "roleAssignments.createOrUpdate", "code", "201"),
		atLeast(1, "peerplane_embedded_azure_requests_total", "operation", "virtualNetworks.update", "code", "200"),
		atLeast(2, "peerplane_embedded_azure_request_duration_seconds", "operation", "virtualNetworkPeerings.createOrUpdate"),
		// The only replica leads, since it started.
		exactly(1, "peerplane_leader_lease_held", "lease", "reconciler"),
		exactly(1, "peerplane_leader_lease_transitions_total", "lease", "reconciler"),
		// The queue: the READY network and peering wait for their resync.
		atLeast(0, "peerplane_reconcile_queue_depth"),
		atLeast(2, "peerplane_reconcile_queue_delayed"),
		atLeast(0, "peerplane_reconcile_queue_oldest_item_age_seconds"),
		// The standard collectors.
		atLeast(1, "go_goroutines"),
		atLeast(0, "process_cpu_seconds_total"),
	)
	ok, _ := fams.Value("peerplane_azure_requests_total", "operation", "virtualNetworkPeerings.createOrUpdate", "code", "200")
	created, _ := fams.Value("peerplane_azure_requests_total", "operation", "virtualNetworkPeerings.createOrUpdate", "code", "201")
	if ok+created < 2 {
		t.Errorf("successful peering PUTs: %v with 200 and %v with 201, want both halves", ok, created)
	}

	// Bounded labels: route patterns and operation names, never ids.
	ids := []string{env, n.GetId(), id, demoTenant, demoSubscription, e.r.Provider.TenantID}
	for _, fam := range []string{"peerplane_api_requests_total", "peerplane_api_request_duration_seconds"} {
		for _, route := range fams.LabelValues(fam, "route") {
			for _, x := range ids {
				if strings.Contains(route, x) {
					t.Errorf("%s has route %q, which names %s", fam, route, x)
				}
			}
		}
	}
	opName := regexp.MustCompile(`^[a-zA-Z]+(\.[a-zA-Z]+){0,2}$`)
	for _, fam := range []string{"peerplane_azure_requests_total", "peerplane_embedded_azure_requests_total"} {
		for _, op := range fams.LabelValues(fam, "operation") {
			if !opName.MatchString(op) {
				t.Errorf("%s has operation %q, which is no operation name", fam, op)
			}
		}
	}

	// Probes answer without an API key too.
	for _, probe := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(e.r.APIURL + probe)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v %v", probe, resp, err)
		}
		resp.Body.Close()
	}
	waitMetrics(t, e.r.MetricsURL, atLeast(1, "peerplane_api_requests_total", "route", "GET /readyz", "code", "200"))
}

// TestMetricsListen: with --metrics-listen, /metrics and the probes are
// served there, and /metrics is no longer on the API's listener.
func TestMetricsListen(t *testing.T) {
	e := startE2E(t, "", func(c *ServeConfig) { c.MetricsListen = "127.0.0.1:0" })
	if strings.HasPrefix(e.r.MetricsURL, e.r.APIURL) || !strings.HasSuffix(e.r.MetricsURL, "/metrics") {
		t.Fatalf("MetricsURL = %s with --metrics-listen (API at %s)", e.r.MetricsURL, e.r.APIURL)
	}
	waitMetrics(t, e.r.MetricsURL, exactly(1, "peerplane_leader_lease_held", "lease", "reconciler"), atLeast(1, "go_goroutines"))
	base := strings.TrimSuffix(e.r.MetricsURL, "/metrics")
	for _, probe := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + probe)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s on --metrics-listen: %v %v", probe, resp, err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(e.r.APIURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || bytes.Contains(b, []byte("peerplane_")) {
		t.Fatalf("the API listener still serves /metrics: %s\n%s", resp.Status, b)
	}
}

// readyz GETs url and decodes the answer.
func readyz(t *testing.T, url string) (int, readiness) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body readiness
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: %s, body is not JSON: %v", url, resp.Status, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q", url, ct)
	}
	return resp.StatusCode, body
}

// TestReadyzNamesWhatIsNotReady runs /readyz over a real SQLite store:
// ready; not ready when a migration this binary carries is missing; not
// ready when the store is closed.
func TestReadyzNamesWhatIsNotReady(t *testing.T) {
	dsn := storetest.SQLiteDSN(t)
	db, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := httptest.NewServer(readyHandler(db, readyTimeout, newLogger(io.Discard, logText, 0)))
	defer srv.Close()

	status, body := readyz(t, srv.URL)
	if status != http.StatusOK || body.Status != "ready" || len(body.NotReady) != 0 || len(body.Checks) != 2 || !body.Checks[0].OK || !body.Checks[1].OK {
		t.Fatalf("fresh store: %d %+v", status, body)
	}

	// Another process removes the latest migration's record: this binary
	// needs it, so the replica is not ready.
	raw, err := sql.Open("sqlite", strings.TrimPrefix(dsn, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`DELETE FROM schema_migrations WHERE version = $1`, db.BinarySchemaVersion()); err != nil {
		t.Fatal(err)
	}
	status, body = readyz(t, srv.URL)
	wantDetail := fmt.Sprintf("at migration %d; this binary needs %d", db.BinarySchemaVersion()-1, db.BinarySchemaVersion())
	if status != http.StatusServiceUnavailable || body.Status != "not ready" || !slices.Equal(body.NotReady, []string{"migrations"}) ||
		!body.Checks[0].OK || body.Checks[1].OK || !strings.Contains(body.Checks[1].Detail, wantDetail) {
		t.Fatalf("missing migration: %d %+v, want 503 naming migrations (%q)", status, body, wantDetail)
	}

	db.Close()
	status, body = readyz(t, srv.URL)
	if status != http.StatusServiceUnavailable || !slices.Equal(body.NotReady, []string{"store", "migrations"}) || body.Checks[0].OK ||
		strings.Contains(body.Checks[0].Detail, "closed") {
		t.Fatalf("closed store: %d %+v, want 503 naming the store (without the cause)", status, body)
	}
}

// TestReadyzWhenPostgresSchemaIsDropped points a server at a PostgreSQL
// schema, then drops the schema under it: PostgreSQL still answers, but
// the migrations are gone, and /readyz says so.
func TestReadyzWhenPostgresSchemaIsDropped(t *testing.T) {
	base := os.Getenv("PEERPLANE_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("set PEERPLANE_TEST_POSTGRES_URL to run the PostgreSQL readiness test")
	}
	dsn := storetest.PostgresDSN(t, base)
	schema := regexp.MustCompile(`search_path=(t_[0-9a-f]+)`).FindStringSubmatch(dsn)[1]
	e := startE2E(t, "", func(c *ServeConfig) { c.Store = dsn; c.LogLevel = "error"; c.SecretKey = seal.NewSecret() })
	if status, body := readyz(t, e.r.APIURL+"/readyz"); status != http.StatusOK || body.Status != "ready" {
		t.Fatalf("before: %d %+v", status, body)
	}

	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
		t.Fatal(err)
	}
	// Stop the server, then bring the schema back for PostgresDSN's
	// cleanup to drop.
	t.Cleanup(func() {
		e.stop()
		if _, err := admin.Exec("CREATE SCHEMA IF NOT EXISTS " + schema); err != nil {
			t.Error(err)
		}
	})
	status, body := readyz(t, e.r.APIURL+"/readyz")
	if status != http.StatusServiceUnavailable || body.Status != "not ready" || !slices.Equal(body.NotReady, []string{"migrations"}) ||
		!body.Checks[0].OK || body.Checks[1].Detail != "the applied migrations cannot be read" {
		t.Fatalf("after DROP SCHEMA: %d %+v, want 503 naming migrations", status, body)
	}
	// The process itself is up.
	resp, err := http.Get(e.r.APIURL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz after DROP SCHEMA: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestLogFormatJSON runs the built binary with --log-format json: every
// line it logs is a JSON object, the access log line of a request carries
// its request id, and probes stay out of the info log. A bad format is
// refused naming the flag.
func TestLogFormatJSON(t *testing.T) {
	bin := peerplaneBinary(t)
	dir := t.TempDir()
	srv := newServeProcess(t, bin, "", dir, append(os.Environ(), "PEERPLANE_LOG_LEVEL=info"), "--data-dir", dir, "--log-format", "json")
	var stderr bytes.Buffer // the log alone; stdout is the banner
	srv.stderr = &stderr
	srv.start()
	url := srv.apiURL
	if status, body := readyz(t, url+"/readyz"); status != http.StatusOK {
		t.Fatalf("/readyz: %d %+v", status, body)
	}
	for _, p := range []string{"/healthz", "/metrics", "/readyz"} {
		if resp, err := http.Get(url + p); err == nil {
			resp.Body.Close()
		}
	}
	req, _ := http.NewRequest(http.MethodGet, url+"/networking/v1/networks?environment=env-x", nil)
	req.Header.Set("X-Request-Id", "json-log-test-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET without an API key: %s", resp.Status)
	}
	// SIGTERM: a clean stop (status 0), after which stderr is complete.
	srv.stop()

	var lines int
	var access map[string]any
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not a JSON object: %v\n%s", err, sc.Text())
		}
		lines++
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Fatalf("log line without %q: %s", k, sc.Text())
			}
		}
		if rec["msg"] == "http request" {
			if route, _ := rec["route"].(string); slices.Contains(quietRoutes, route) {
				t.Errorf("probe %s logged at info: %s", route, sc.Text())
			}
			if rec["request_id"] == "json-log-test-1" {
				access = rec
			}
		}
	}
	if lines == 0 {
		t.Fatal("serve logged nothing")
	}
	if access == nil || access["status"] != float64(401) || access["route"] != "GET /networking/v1/networks" || access["level"] != "INFO" {
		t.Fatalf("access log line of the request: %v\n%s", access, stderr.String())
	}

	stdout, errText, code := runProcess(t, time.Minute, "", os.Environ(), bin, "serve", "--data-dir", filepath.Join(dir, "x"), "--log-format", "xml")
	if code == 0 || !strings.Contains(stdout+errText, "--log-format") {
		t.Fatalf("--log-format xml: exit %d\n%s%s", code, stdout, errText)
	}
}
