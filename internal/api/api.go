// Package api serves the control plane's REST API: the Confluent Cloud
// subset (org/v2 environments, networking/v1 networks and peerings, cmk/v2
// Dedicated clusters, connect/v1 managed connectors), wire-compatible with
// Confluent's OpenAPI specs, and
// Peerplane's own /peerplane/v1 (organizations and API keys), documented by
// the OpenAPI document served at /openapi.yaml.
//
// Handlers are thin: decode, call a control service, encode. Every error
// goes through one adapter (writeError) that maps control's error codes to
// HTTP statuses and Confluent's Failure body, its error named by the
// request's X-Request-Id. Requests authenticate with a Cloud API key over
// HTTP Basic, each key limited by a token bucket whose state every answer
// carries in Confluent's X-RateLimit-* headers. An Observer gives every
// request its id and writes one access log line for it; serve puts one in
// front of the API, the console and /healthz.
package api

import (
	_ "embed"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/netcheck"
)

//go:embed openapi.yaml
var openAPIDocument []byte

// Options configure a Handler. The services are required.
type Options struct {
	Environments control.EnvironmentService
	Networks     control.NetworkService
	Peerings     control.PeeringService
	Clusters     control.ClusterService
	Orgs         control.OrgService
	// Connectors serves connect/v1; nil disables those routes.
	Connectors control.ConnectorService
	// ClusterKeys serves iam/v2 api-keys (cluster API keys); nil disables
	// those routes.
	ClusterKeys control.ClusterAPIKeyService

	// Settings are the operator settings; nil disables the route.
	Settings SettingsStore
	// Reachability answers GET /peerplane/v1/reachability and evaluates
	// connectors' status; nil disables the route.
	Reachability *netcheck.Checker
	// Probe adds a real connection attempt to a reachability answer
	// (probe=true); nil answers such queries with a NOT_PROBED probe.
	Probe Prober
	// VNetHosts claims hosts in VNets (POST /peerplane/v1/vnet-hosts);
	// nil answers that route with 404.
	VNetHosts VNetHosts

	// RateLimit is how many requests per second each API key may make
	// (sustained; Burst at once); past it, 429 with Retry-After. Every
	// response to a request with API key credentials carries the key's
	// X-RateLimit-Limit, -Remaining and -Reset. Zero disables the limit
	// and its headers.
	RateLimit float64
	Burst     int

	// BaseURL prefixes metadata.self and related links, e.g.
	// "https://api.example.com". Empty: derived from each request.
	BaseURL string
	// Logger receives internal errors and, unless the handler is nested in
	// another Observer, the access log. Nil discards.
	Logger *slog.Logger
	// Now is the clock of the rate limit and the access log's durations;
	// nil means time.Now.
	Now func() time.Time
}

// Server is the API's http.Handler.
type Server struct {
	opts     Options
	mux      *http.ServeMux
	observed http.Handler // mux behind an Observer
	limiter  *keyLimiter  // nil without Options.RateLimit
}

// New returns the API handler.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.BaseURL = strings.TrimSuffix(opts.BaseURL, "/")
	s := &Server{opts: opts, mux: http.NewServeMux()}
	if opts.RateLimit > 0 {
		s.limiter = newKeyLimiter(opts.RateLimit, max(opts.Burst, 1), opts.Now)
	}
	s.routes()
	s.observed = Observer{Logger: opts.Logger, Now: opts.Now}.Wrap(s.mux)
	return s
}

// ServeHTTP implements http.Handler. Requests not yet observed (served
// without an outer Observer) are observed here: each response carries
// X-Request-Id and each request an access log line.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.observed.ServeHTTP(w, r) }

// handlerFunc is a handler that returns its error to the adapter.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) routes() {
	// org/v2
	s.handle("GET /org/v2/environments", s.listEnvironments)
	s.handle("POST /org/v2/environments", s.createEnvironment)
	s.handle("GET /org/v2/environments/{id}", s.getEnvironment)
	s.handle("PATCH /org/v2/environments/{id}", s.updateEnvironment)
	s.handle("DELETE /org/v2/environments/{id}", s.deleteEnvironment)

	// networking/v1
	s.handle("GET /networking/v1/networks", s.listNetworks)
	s.handle("POST /networking/v1/networks", s.createNetwork)
	s.handle("GET /networking/v1/networks/{id}", s.getNetwork)
	s.handle("PATCH /networking/v1/networks/{id}", s.updateNetwork)
	s.handle("DELETE /networking/v1/networks/{id}", s.deleteNetwork)
	s.handle("GET /networking/v1/peerings", s.listPeerings)
	s.handle("POST /networking/v1/peerings", s.createPeering)
	s.handle("GET /networking/v1/peerings/{id}", s.getPeering)
	s.handle("PATCH /networking/v1/peerings/{id}", s.updatePeering)
	s.handle("DELETE /networking/v1/peerings/{id}", s.deletePeering)

	// cmk/v2
	s.handle("GET /cmk/v2/clusters", s.listClusters)
	s.handle("POST /cmk/v2/clusters", s.createCluster)
	s.handle("GET /cmk/v2/clusters/{id}", s.getCluster)
	s.handle("PATCH /cmk/v2/clusters/{id}", s.updateCluster)
	s.handle("DELETE /cmk/v2/clusters/{id}", s.deleteCluster)

	// peerplane/v1
	s.handle("GET /peerplane/v1/organizations", s.listOrganizations)
	s.handle("POST /peerplane/v1/organizations", s.createOrganization)
	s.handle("GET /peerplane/v1/organizations/{id}", s.getOrganization)
	s.handle("GET /peerplane/v1/organizations/{id}/api-keys", s.listAPIKeys)
	s.handle("POST /peerplane/v1/organizations/{id}/api-keys", s.createAPIKey)
	s.handle("DELETE /peerplane/v1/organizations/{id}/api-keys/{key}", s.deleteAPIKey)

	if s.opts.Connectors != nil {
		s.connectRoutes()
	}
	if s.opts.ClusterKeys != nil {
		s.iamRoutes()
	}

	s.peerplaneRoutes()
	s.handle("GET /peerplane/v1/reachability", s.reachability)
	s.vnetHostRoutes()

	s.mux.HandleFunc("GET /openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(openAPIDocument)
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, control.Errorf(control.ENOTFOUND, "No route for %s %s.", r.Method, r.URL.Path))
	})
}

// handle registers h behind authentication and the error adapter.
func (s *Server) handle(pattern string, h handlerFunc) {
	s.handleWith(pattern, h, s.writeError)
}

// handleConnect registers a connect/v1 handler: Connect's error body.
func (s *Server) handleConnect(pattern string, h handlerFunc) {
	s.handleWith(pattern, h, s.writeConnectError)
}

func (s *Server) handleWith(pattern string, h handlerFunc, writeErr func(w http.ResponseWriter, r *http.Request, err error)) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		key, secret, ok := r.BasicAuth()
		if !ok {
			writeErr(w, r, control.Errorf(control.EUNAUTHORIZED, "Valid authentication credentials must be provided."))
			return
		}
		// Before authenticating: a key guessing secrets is limited too.
		if q, ok := s.limiter.reserve(key); ok {
			q.setHeaders(w.Header())
			if q.wait > 0 {
				writeErr(w, r, control.Errorf(control.ETOOMANY, "API key %s sent more than %g requests per second (bursts of %d); retry after %d s.",
					key, s.opts.RateLimit, q.limit, ceilSeconds(q.wait)))
				return
			}
		}
		org, err := s.opts.Orgs.Authenticate(r.Context(), key, secret)
		if err != nil {
			writeErr(w, r, err)
			return
		}
		r = r.WithContext(control.NewContextWithOrganization(r.Context(), org))
		if err := checkContentType(r); err != nil {
			writeErr(w, r, err)
			return
		}
		if err := h(w, r); err != nil {
			writeErr(w, r, err)
		}
	})
}
