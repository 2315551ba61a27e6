package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/peerplane/peerplane/internal/api"
	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/metrics"
	"github.com/peerplane/peerplane/internal/reconcile"
)

// Log formats of --log-format.
const (
	logText = "text"
	logJSON = "json"
)

// newLogger returns serve's logger: logfmt-style text lines, or one JSON
// object a line, on w at level.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == logJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// checkLogFormat accepts "text", "json" and "" (text, for a ServeConfig
// built in code).
func checkLogFormat(format string) error {
	if format != "" && format != logText && format != logJSON {
		return fmt.Errorf("--log-format %q: want text or json (check $PEERPLANE_LOG_FORMAT)", format)
	}
	return nil
}

// Probe routes: answered without an API key and logged at debug only.
const (
	routeHealthz = "GET /healthz"
	routeReadyz  = "GET /readyz"
	routeMetrics = "GET /metrics"
)

// quietRoutes are the probe and scrape routes the access log keeps at debug.
var quietRoutes = []string{routeHealthz, routeReadyz, routeMetrics}

// handleProbes registers /healthz and /readyz on mux, and /metrics when m
// is not nil.
func handleProbes(mux *http.ServeMux, db readyStore, m *metrics.Metrics, log *slog.Logger) {
	mux.HandleFunc(routeHealthz, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle(routeReadyz, readyHandler(db, readyTimeout, log))
	if m != nil {
		mux.Handle(routeMetrics, m.Handler())
	}
}

// listenMetrics listens on addr, when not empty, for a server of /metrics
// and the probes; it returns nils when addr is empty.
func listenMetrics(addr string, db readyStore, m *metrics.Metrics, log *slog.Logger) (*http.Server, net.Listener, error) {
	if addr == "" {
		return nil, nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	mux := http.NewServeMux()
	handleProbes(mux, db, m, log)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln, nil
}

// observeWith feeds m from the API's Observer, the reconciler, the leader,
// the Azure client and the embedded Azure's handler (when not nil): the
// hooks each of them offers.
type observeWith struct{ m *metrics.Metrics }

func (o observeWith) apiRequest(r *http.Request, rec api.Record) {
	o.m.ObserveAPIRequest(rec.Route, rec.Method, rec.Status, rec.Duration)
}

func (o observeWith) reconcile(ob reconcile.Observation) {
	o.m.ObserveReconcile(ob.Kind, ob.Outcome, ob.ErrorCode, ob.Duration)
}

// leader exports l's lease and queue, and returns the OnLeading hook.
func (o observeWith) leader(l *reconcile.Leader) func(bool) {
	o.m.WatchLease(l.Name)
	o.m.WatchQueue(func() metrics.QueueStats { return metrics.QueueStats(l.QueueStats()) })
	return func(leading bool) { o.m.LeaseChanged(l.Name, leading) }
}

func (o observeWith) embeddedAzure(h http.Handler) http.Handler {
	return o.m.EmbeddedAzure(h, azure.Operation)
}

// readyTimeout bounds each /readyz check: a store slower than this is not
// ready to serve.
const readyTimeout = 2 * time.Second

// readyStore is what /readyz asks of the store; *store.DB implements it.
type readyStore interface {
	Ping(ctx context.Context) error
	SchemaVersion(ctx context.Context) (int, error)
	BinarySchemaVersion() int
}

// readyCheck is one line of /readyz's answer.
type readyCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// readiness is /readyz's answer.
type readiness struct {
	Status   string       `json:"status"` // "ready" or "not ready"
	NotReady []string     `json:"not_ready,omitempty"`
	Checks   []readyCheck `json:"checks"`
}

// readyHandler answers /readyz: 200 when the store answers a query within
// timeout and its schema has every migration this binary carries (a newer
// one is fine: migrations are additive); else 503 naming each check that
// failed. The body says what failed, not why: the cause, which may name
// hosts, goes to the log.
func readyHandler(db readyStore, timeout time.Duration, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		store := readyCheck{Name: "store", OK: true, Detail: "the store answered a query"}
		migrations := readyCheck{Name: "migrations"}
		if err := db.Ping(ctx); err != nil {
			store.OK, store.Detail = false, "the store did not answer a query"
			if errors.Is(err, context.DeadlineExceeded) {
				store.Detail = fmt.Sprintf("the store did not answer a query within %v", timeout)
			}
			migrations.Detail = "not checked: the store did not answer"
			log.Warn("not ready: store", "err", err)
		} else if applied, err := db.SchemaVersion(ctx); err != nil {
			migrations.Detail = "the applied migrations cannot be read"
			log.Warn("not ready: migrations", "err", err)
		} else if want := db.BinarySchemaVersion(); applied < want {
			migrations.Detail = fmt.Sprintf("the store's schema is at migration %d; this binary needs %d (a restart applies the missing ones)", applied, want)
			log.Warn("not ready: migrations", "applied", applied, "want", want)
		} else {
			migrations.OK, migrations.Detail = true, fmt.Sprintf("the store's schema is at migration %d; this binary needs %d", applied, want)
		}
		body := readiness{Status: "ready", Checks: []readyCheck{store, migrations}}
		status := http.StatusOK
		for _, c := range body.Checks {
			if !c.OK {
				body.Status, status = "not ready", http.StatusServiceUnavailable
				body.NotReady = append(body.NotReady, c.Name)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
}
