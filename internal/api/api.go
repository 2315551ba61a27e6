// Package api serves the control plane's REST API: the Confluent Cloud
// subset (org/v2 environments, networking/v1 networks and peerings, cmk/v2
// Dedicated clusters, connect/v1 managed connectors), wire-compatible with
// Confluent's OpenAPI specs, and
// Peerplane's own /peerplane/v1 (organizations and API keys), documented by
// the OpenAPI document served at /openapi.yaml.
//
// Handlers are thin: decode, call a control service, encode. Every error
// goes through one adapter (writeError) that maps control's error codes to
// HTTP statuses and Confluent's Failure body. Requests authenticate with a
// Cloud API key over HTTP Basic.
package api

import (
	_ "embed"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

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

	// Diagnose runs a peering's checklist; nil disables the route.
	Diagnose Diagnoser
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
	// (sustained; Burst at once); past it, 429 with Retry-After. Zero
	// disables the limit.
	RateLimit float64
	Burst     int

	// BaseURL prefixes metadata.self and related links, e.g.
	// "https://api.example.com". Empty: derived from each request.
	BaseURL string
	// Logger receives internal errors. Nil discards.
	Logger *slog.Logger
}

// Server is the API's http.Handler.
type Server struct {
	opts    Options
	mux     *http.ServeMux
	limiter *keyLimiter // nil without Options.RateLimit
}

// New returns the API handler.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.BaseURL = strings.TrimSuffix(opts.BaseURL, "/")
	s := &Server{opts: opts, mux: http.NewServeMux()}
	if opts.RateLimit > 0 {
		s.limiter = newKeyLimiter(opts.RateLimit, max(opts.Burst, 1))
	}
	s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

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
		if wait := s.limiter.reserve(key); wait > 0 {
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeErr(w, r, control.Errorf(control.ETOOMANY, "API key %s sent more than %g requests per second; retry after %d s.", key, s.opts.RateLimit, secs))
			return
		}
		org, err := s.opts.Orgs.Authenticate(r.Context(), key, secret)
		if err != nil {
			writeErr(w, r, err)
			return
		}
		r = r.WithContext(control.NewContextWithOrganization(r.Context(), org))
		if err := h(w, r); err != nil {
			writeErr(w, r, err)
		}
	})
}
