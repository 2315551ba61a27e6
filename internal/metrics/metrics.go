// Package metrics is Peerplane's Prometheus registry: the series one
// `peerplane serve` replica exports at /metrics, and the methods the hooks
// of the other packages feed them through (api.Observer.Observe,
// reconcile.Config.Observe, reconcile.Leader.OnLeading, azure.Config.Observe,
// and EmbeddedAzure around the embedded Azure's handler). It imports no
// other internal package: cmd/peerplane wires it.
//
// Every label takes its values from a bounded set: ServeMux patterns, not
// paths; Azure operation names, not URLs; HTTP methods outside the standard
// ones are "other". Each Metrics has its own registry, so several servers
// in one process (tests) do not share series.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Buckets are the latency histograms' upper bounds in seconds: from an API
// read served from memory (sub-millisecond) to a long-poll or a reconcile
// waiting on a slow Azure (a minute).
var Buckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Metrics holds the registry and its collectors. Its methods are safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	apiRequests *prometheus.CounterVec   // route, method, code
	apiDuration *prometheus.HistogramVec // route, method

	reconciles        *prometheus.CounterVec   // kind, outcome, error_code
	reconcileDuration *prometheus.HistogramVec // kind, outcome

	azureRequests *prometheus.CounterVec   // operation, code
	azureDuration *prometheus.HistogramVec // operation

	embeddedRequests *prometheus.CounterVec   // operation, code
	embeddedDuration *prometheus.HistogramVec // operation

	leaseHeld        *prometheus.GaugeVec   // lease
	leaseTransitions *prometheus.CounterVec // lease
}

// New returns a Metrics with every series registered, and the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.apiRequests = counter("peerplane_api_requests_total",
		"Requests served on the API listener (API, console, probes), by ServeMux route pattern, method and status code.",
		"route", "method", "code")
	m.apiDuration = histogram("peerplane_api_request_duration_seconds",
		"Time to serve a request on the API listener, by route pattern and method.",
		"route", "method")
	m.reconciles = counter("peerplane_reconcile_total",
		"Reconciles run by this replica's controller, by object kind and outcome (ok, requeue, failed, error); error_code is the object's error code when the outcome is failed.",
		"kind", "outcome", "error_code")
	m.reconcileDuration = histogram("peerplane_reconcile_duration_seconds",
		"Time one reconcile took, by object kind and outcome.",
		"kind", "outcome")
	m.azureRequests = counter("peerplane_azure_requests_total",
		"HTTP requests the control plane's Azure SDK client sent (ARM and Entra ID), by operation and final status code (\"error\" when no response came).",
		"operation", "code")
	m.azureDuration = histogram("peerplane_azure_request_duration_seconds",
		"Time of an Azure SDK request, retries included, by operation.",
		"operation")
	m.embeddedRequests = counter("peerplane_embedded_azure_requests_total",
		"Requests the embedded Azure served (ARM, Entra ID, Graph, operator routes), by operation and status code.",
		"operation", "code")
	m.embeddedDuration = histogram("peerplane_embedded_azure_request_duration_seconds",
		"Time the embedded Azure took to serve a request, by operation.",
		"operation")
	m.leaseHeld = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "peerplane_leader_lease_held",
		Help: "1 while this replica holds the leader lease (and runs the reconciler), else 0.",
	}, []string{"lease"})
	m.leaseTransitions = counter("peerplane_leader_lease_transitions_total",
		"Times this replica started or stopped holding the leader lease.",
		"lease")
	m.reg.MustRegister(m.apiRequests, m.apiDuration, m.reconciles, m.reconcileDuration,
		m.azureRequests, m.azureDuration, m.embeddedRequests, m.embeddedDuration,
		m.leaseHeld, m.leaseTransitions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func counter(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

func histogram(name, help string, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: Buckets}, labels)
}

// Registry returns the registry, to gather from or to register more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus' text (or negotiated) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// ObserveAPIRequest counts a request served on the API listener. route is
// the ServeMux pattern that matched ("" when none did: "unmatched").
func (m *Metrics) ObserveAPIRequest(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	method = Method(method)
	m.apiRequests.WithLabelValues(route, method, code(status)).Inc()
	m.apiDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// ObserveReconcile counts a reconcile of an object of kind with outcome;
// errorCode is the object's error code for a failed one, else "".
func (m *Metrics) ObserveReconcile(kind, outcome, errorCode string, d time.Duration) {
	m.reconciles.WithLabelValues(kind, outcome, errorCode).Inc()
	m.reconcileDuration.WithLabelValues(kind, outcome).Observe(d.Seconds())
}

// ObserveAzureRequest counts a request of the Azure SDK client; status 0
// means no response came.
func (m *Metrics) ObserveAzureRequest(operation string, status int, d time.Duration) {
	m.azureRequests.WithLabelValues(operation, code(status)).Inc()
	m.azureDuration.WithLabelValues(operation).Observe(d.Seconds())
}

// ObserveEmbeddedAzureRequest counts a request the embedded Azure served.
func (m *Metrics) ObserveEmbeddedAzureRequest(operation string, status int, d time.Duration) {
	m.embeddedRequests.WithLabelValues(operation, code(status)).Inc()
	m.embeddedDuration.WithLabelValues(operation).Observe(d.Seconds())
}

// WatchLease exports the lease's series at 0 before this replica first
// tries to lead, so that a replica that never leads still shows them.
func (m *Metrics) WatchLease(lease string) {
	m.leaseHeld.WithLabelValues(lease).Set(0)
	m.leaseTransitions.WithLabelValues(lease)
}

// LeaseChanged records that this replica started (held) or stopped
// holding lease: one transition.
func (m *Metrics) LeaseChanged(lease string, held bool) {
	v := 0.0
	if held {
		v = 1
	}
	m.leaseHeld.WithLabelValues(lease).Set(v)
	m.leaseTransitions.WithLabelValues(lease).Inc()
}

// QueueStats is what WatchQueue reads of the reconcile queue at each scrape.
type QueueStats struct {
	Depth     int           // keys ready to be processed
	Delayed   int           // keys waiting for a retry's backoff or a resync
	OldestAge time.Duration // how long the oldest ready key has waited
}

// WatchQueue exports the reconcile queue's depth, delayed keys and oldest
// item's age, read from stats at each scrape (so keeping them costs
// nothing between scrapes). Call it once.
func (m *Metrics) WatchQueue(stats func() QueueStats) {
	m.reg.MustRegister(&queueCollector{stats: stats})
}

var (
	queueDepthDesc = prometheus.NewDesc("peerplane_reconcile_queue_depth",
		"Keys ready to be reconciled and waiting for a worker (0 on a replica that does not lead).", nil, nil)
	queueDelayedDesc = prometheus.NewDesc("peerplane_reconcile_queue_delayed",
		"Keys waiting to be re-queued: a failed object's backoff, or the periodic resync of a settled one.", nil, nil)
	queueAgeDesc = prometheus.NewDesc("peerplane_reconcile_queue_oldest_item_age_seconds",
		"How long the key ready the longest has waited for a worker; 0 when none is waiting.", nil, nil)
)

type queueCollector struct{ stats func() QueueStats }

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueDelayedDesc
	ch <- queueAgeDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(st.Depth))
	ch <- prometheus.MustNewConstMetric(queueDelayedDesc, prometheus.GaugeValue, float64(st.Delayed))
	ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, st.OldestAge.Seconds())
}

// EmbeddedAzure returns h (the embedded Azure) with each request counted
// by ObserveEmbeddedAzureRequest under the name operation gives it.
func (m *Metrics) EmbeddedAzure(h http.Handler, operation func(method, path string) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			p := recover()
			status := sw.status
			switch {
			case status != 0:
			case p != nil:
				status = http.StatusInternalServerError // net/http aborts the response
			default:
				status = http.StatusOK // nothing written: net/http answers 200
			}
			m.ObserveEmbeddedAzureRequest(operation(r.Method, r.URL.Path), status, time.Since(start))
			if p != nil {
				panic(p)
			}
		}()
		h.ServeHTTP(sw, r)
	})
}

// statusWriter records a response's status.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 && status >= 200 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets a long-poll's answer through.
func (w *statusWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap gives http.ResponseController the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Method returns method when it is one of HTTP's standard methods, else
// "other", so that a client cannot add label values.
func Method(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// codes holds the label values of the status codes, so that labelling a
// request does not allocate.
var codes = func() (c [600]string) {
	for i := 100; i < len(c); i++ {
		c[i] = strconv.Itoa(i)
	}
	return c
}()

// code returns status as a label value: "error" for 0 (no response), the
// number for a valid status, "other" otherwise.
func code(status int) string {
	switch {
	case status == 0:
		return "error"
	case status >= 100 && status < len(codes):
		return codes[status]
	}
	return "other"
}
