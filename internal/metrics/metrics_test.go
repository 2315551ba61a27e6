package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/metrics"
	"github.com/peerplane/peerplane/internal/metrics/metricstest"
)

// scrape serves m's handler and scrapes it as Prometheus would.
func scrape(t *testing.T, m *metrics.Metrics) metricstest.Families {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	return metricstest.Scrape(t, srv.Client(), srv.URL)
}

func want(t *testing.T, fams metricstest.Families, value float64, name string, labels ...string) {
	t.Helper()
	if got, ok := fams.Value(name, labels...); !ok || got != value {
		t.Errorf("%s%v = %v (found %v), want %v", name, labels, got, ok, value)
	}
}

func TestSeriesAndLabels(t *testing.T) {
	m := metrics.New()
	m.ObserveAPIRequest("GET /networking/v1/peerings/{id}", "GET", 200, 3*time.Millisecond)
	m.ObserveAPIRequest("GET /networking/v1/peerings/{id}", "GET", 200, time.Millisecond)
	m.ObserveAPIRequest("", "BREW", 405, time.Millisecond)
	m.ObserveReconcile("peering", "failed", "APP_NOT_CONSENTED", 20*time.Millisecond)
	m.ObserveReconcile("peering", "ok", "", 40*time.Millisecond)
	m.ObserveAzureRequest("virtualNetworkPeerings.createOrUpdate", 200, 5*time.Millisecond)
	m.ObserveAzureRequest("token", 0, time.Second)
	m.ObserveEmbeddedAzureRequest("virtualNetworks.get", 403, time.Millisecond)
	m.WatchLease("reconciler")
	m.WatchQueue(func() metrics.QueueStats {
		return metrics.QueueStats{Depth: 3, Delayed: 7, OldestAge: 1500 * time.Millisecond}
	})

	fams := scrape(t, m)
	want(t, fams, 2, "peerplane_api_requests_total", "route", "GET /networking/v1/peerings/{id}", "method", "GET", "code", "200")
	want(t, fams, 2, "peerplane_api_request_duration_seconds", "route", "GET /networking/v1/peerings/{id}", "method", "GET")
	// A method outside HTTP's own and no route: bounded label values.
	want(t, fams, 1, "peerplane_api_requests_total", "route", "unmatched", "method", "other", "code", "405")
	want(t, fams, 1, "peerplane_reconcile_total", "kind", "peering", "outcome", "failed", "error_code", "APP_NOT_CONSENTED")
	want(t, fams, 1, "peerplane_reconcile_total", "kind", "peering", "outcome", "ok", "error_code", "")
	want(t, fams, 2, "peerplane_reconcile_duration_seconds", "kind", "peering")
	want(t, fams, 1, "peerplane_azure_requests_total", "operation", "virtualNetworkPeerings.createOrUpdate", "code", "200")
	want(t, fams, 1, "peerplane_azure_requests_total", "operation", "token", "code", "error")
	want(t, fams, 1, "peerplane_azure_request_duration_seconds", "operation", "token")
	want(t, fams, 1, "peerplane_embedded_azure_requests_total", "operation", "virtualNetworks.get", "code", "403")
	want(t, fams, 1, "peerplane_embedded_azure_request_duration_seconds", "operation", "virtualNetworks.get")
	want(t, fams, 0, "peerplane_leader_lease_held", "lease", "reconciler")
	want(t, fams, 0, "peerplane_leader_lease_transitions_total", "lease", "reconciler")
	want(t, fams, 3, "peerplane_reconcile_queue_depth")
	want(t, fams, 7, "peerplane_reconcile_queue_delayed")
	want(t, fams, 1.5, "peerplane_reconcile_queue_oldest_item_age_seconds")
	for _, std := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if _, ok := fams.Value(std); !ok {
			t.Errorf("no %s: the Go and process collectors are not registered", std)
		}
	}
	// The API histogram's buckets: a 3ms and a 1ms request.
	for _, mt := range fams["peerplane_api_request_duration_seconds"].GetMetric() {
		for _, b := range mt.GetHistogram().GetBucket() {
			switch b.GetUpperBound() {
			case .0005:
				if b.GetCumulativeCount() != 0 {
					t.Errorf("le=0.0005 holds %d", b.GetCumulativeCount())
				}
			case .0025:
				if mt.GetLabel()[1].GetValue() == "GET" && b.GetCumulativeCount() != 1 {
					t.Errorf("le=0.0025 holds %d, want 1", b.GetCumulativeCount())
				}
			}
		}
	}
}

func TestLeaseTransitions(t *testing.T) {
	m := metrics.New()
	m.WatchLease("reconciler")
	m.LeaseChanged("reconciler", true)
	fams := scrape(t, m)
	want(t, fams, 1, "peerplane_leader_lease_held", "lease", "reconciler")
	want(t, fams, 1, "peerplane_leader_lease_transitions_total", "lease", "reconciler")
	m.LeaseChanged("reconciler", false)
	m.LeaseChanged("reconciler", true)
	fams = scrape(t, m)
	want(t, fams, 1, "peerplane_leader_lease_held", "lease", "reconciler")
	want(t, fams, 3, "peerplane_leader_lease_transitions_total", "lease", "reconciler")
}

// TestEmbeddedAzureCountsEachRequest: the wrapper names requests with the
// given function and records what the handler answered: an explicit
// status, an implicit 200, and a panic as a 500; a long-poll can flush.
func TestEmbeddedAzureCountsEachRequest(t *testing.T) {
	m := metrics.New()
	var paths []string
	h := m.EmbeddedAzure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/created":
			w.WriteHeader(http.StatusCreated)
		case "/flushed":
			io.WriteString(w, "part")
			http.NewResponseController(w).Flush()
		case "/panics":
			panic(http.ErrAbortHandler)
		}
	}), func(method, path string) string {
		paths = append(paths, path)
		return strings.ToLower(method) + strings.ReplaceAll(path, "/", ".")
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, p := range []string{"/created", "/flushed", "/silent", "/panics"} {
		// POST: the client does not retry it when the handler aborts.
		resp, err := srv.Client().Post(srv.URL+p, "text/plain", nil)
		if err == nil {
			resp.Body.Close()
		}
	}
	// A flushed response reaches the client before its handler returns:
	// Close waits for every handler, and so for every observation.
	srv.Close()
	fams := scrape(t, m)
	want(t, fams, 1, "peerplane_embedded_azure_requests_total", "operation", "post.created", "code", "201")
	want(t, fams, 1, "peerplane_embedded_azure_requests_total", "operation", "post.flushed", "code", "200")
	want(t, fams, 1, "peerplane_embedded_azure_requests_total", "operation", "post.silent", "code", "200")
	want(t, fams, 1, "peerplane_embedded_azure_requests_total", "operation", "post.panics", "code", "500")
	if !slices.Equal(paths, []string{"/created", "/flushed", "/silent", "/panics"}) {
		t.Fatalf("named %v", paths)
	}
}

func TestMethod(t *testing.T) {
	for in, out := range map[string]string{"GET": "GET", "DELETE": "DELETE", "get": "other", "BREW": "other", "": "other"} {
		if got := metrics.Method(in); got != out {
			t.Errorf("Method(%q) = %q, want %q", in, got, out)
		}
	}
}

// BenchmarkObserveAPIRequest is what metrics add to each API request.
func BenchmarkObserveAPIRequest(b *testing.B) {
	m := metrics.New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveAPIRequest("GET /networking/v1/peerings/{id}", "GET", 200, 3*time.Millisecond)
		}
	})
}
