// Package console serves the web console: the seed document's Console flow
// in a browser. Sign in with a Cloud API key; browse environments and
// networks; add a VNet peering with the five fields; watch it go Pending →
// Error → Active live (server-sent events); grant access with the consent
// link (which brings the administrator back; the embedded Azure's private
// CA is offered to download and trust) and the az commands pre-filled
// from the checklist the reconciler stored with the peering; check the
// consent ("Continue": which steps are left), retry ("Create connection":
// Pending, then the result, live), delete; place Dedicated clusters in a
// network within its budget; add, pause and delete a cluster's managed
// connectors and see whether each runs or why it fails, live; and test
// whether an address reaches a cluster ("Test connectivity", through
// netcheck).
//
// Pages are html/template files and assets embedded with embed.FS, with a
// little vanilla JavaScript for live updates and copy buttons; every page
// and action also works without JavaScript. The console calls control's
// services directly, acting for the organization of the signed-in key.
//
// Sessions are kept in server memory: signing in again is needed after a
// restart, and replicas behind a load balancer need sticky sessions.
package console

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/netcheck"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is the path under which the console is served.
const Prefix = "/console/"

// Options configure the console. The services are required.
type Options struct {
	Environments control.EnvironmentService
	Networks     control.NetworkService
	Peerings     control.PeeringService
	Clusters     control.ClusterService
	Orgs         control.OrgService
	// Settings gives the current quotas and regions; nil uses
	// control.DefaultSettings.
	Settings func() control.Settings
	// CheckConsent checks a peering's consent step alone against Azure,
	// for "Continue" (the reconciler's Controller.CheckConsent); it returns
	// an error when Azure did not answer. Nil: Continue says it cannot
	// check.
	CheckConsent func(ctx context.Context, p *control.Peering) (control.Check, error)
	// AppID is the provider app's client id, shown by "Continue".
	AppID string
	// LoginURL is the Entra ID authority host customers consent at, such
	// as https://127.0.0.1:8443 (control.ProviderApp.LoginURL).
	LoginURL string
	// ConsentReturnURLs are ConsentReturnPath as absolute URLs on the
	// hosts the console answers on, each registered as a reply URL of the
	// provider app. When the browser reached the console on one of their
	// hosts, step 1 links to Entra's admin-consent endpoint (at LoginURL)
	// with that one as redirect_uri, and the consent page sends the
	// administrator back to the peering; otherwise to the stored consent
	// link, which has no way back.
	ConsentReturnURLs []string
	// AzureCA is the certificate (PEM) of the private CA the embedded
	// Azure's TLS certificate comes from. When set, the console serves it
	// at Prefix+"azure-ca.pem" and explains next to the consent link how
	// to trust it in a browser; nil (a certificate of the operator's own,
	// or a real Azure) shows nothing of the kind.
	AzureCA []byte
	// Reachability answers the network page's "Test connectivity" form
	// and evaluates the connectors' status; nil hides the form and shows
	// connectors without a status.
	Reachability *netcheck.Checker
	// Connectors manages the Dedicated clusters' managed connectors; nil
	// hides connectors.
	Connectors control.ConnectorService

	// PollInterval is how often a live page reads the services (default
	// 300ms); SessionTTL how long a sign-in lasts (default 8h).
	PollInterval time.Duration
	SessionTTL   time.Duration
	// SecureCookies marks cookies Secure even on plain HTTP requests (set
	// it behind a TLS-terminating proxy); requests over TLS always get
	// Secure cookies.
	SecureCookies bool
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// Logger receives internal errors. Nil discards.
	Logger *slog.Logger
}

// Console is the console's http.Handler. Close ends its live streams, so
// that an http.Server shutting down need not wait for them.
type Console struct {
	opts     Options
	mux      *http.ServeMux
	pages    map[string]*pageTemplate
	sessions *sessionStore
	history  *historyStore
	signIns  signInGuard

	closeOnce sync.Once
	closed    chan struct{}
}

// New returns the console handler, serving paths under Prefix.
func New(opts Options) *Console {
	if opts.Settings == nil {
		opts.Settings = control.DefaultSettings
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 300 * time.Millisecond
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 8 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{
		opts:     opts,
		mux:      http.NewServeMux(),
		pages:    parseTemplates(),
		sessions: newSessionStore(opts.Now, opts.SessionTTL),
		history:  newHistoryStore(),
		closed:   make(chan struct{}),
	}
	c.routes()
	return c
}

// Close ends the live streams. The handler keeps serving pages.
func (c *Console) Close() { c.closeOnce.Do(func() { close(c.closed) }) }

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "+
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix(Prefix+"static/", http.FileServerFS(static))
	c.mux.Handle("GET "+Prefix+"static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	c.mux.HandleFunc("GET "+Prefix+"{$}", c.home)
	c.mux.HandleFunc("GET "+Prefix+"login", c.loginPage)
	c.mux.HandleFunc("POST "+Prefix+"login", c.login)
	c.mux.HandleFunc("POST "+Prefix+"logout", c.logout)
	c.mux.HandleFunc("GET "+ConsentReturnPath, c.consentReturn)
	if len(c.opts.AzureCA) > 0 {
		c.mux.HandleFunc("GET "+Prefix+"azure-ca.pem", c.azureCA)
	}

	c.handle("GET "+Prefix+"environments", c.environmentsPage)
	c.handle("POST "+Prefix+"environments", c.createEnvironment)
	c.handle("GET "+Prefix+"environments/{env}", c.environmentPage)
	c.handle("POST "+Prefix+"environments/{env}/networks", c.createNetwork)
	c.handle("GET "+Prefix+"environments/{env}/networks/{net}", c.networkPage)
	c.handle("GET "+Prefix+"environments/{env}/networks/{net}/live", c.networkLive)
	c.handle("GET "+Prefix+"environments/{env}/networks/{net}/peerings/new", c.newPeeringPage)
	c.handle("POST "+Prefix+"environments/{env}/networks/{net}/peerings", c.createPeering)
	c.handle("POST "+Prefix+"environments/{env}/networks/{net}/clusters", c.createCluster)
	c.handle("GET "+Prefix+"environments/{env}/peerings/{id}", c.peeringPage)
	c.handle("GET "+Prefix+"environments/{env}/peerings/{id}/live", c.peeringLive)
	c.handle("POST "+Prefix+"environments/{env}/peerings/{id}/continue", c.continuePeering)
	c.handle("POST "+Prefix+"environments/{env}/peerings/{id}/retry", c.retryPeering)
	c.handle("POST "+Prefix+"environments/{env}/peerings/{id}/delete", c.deletePeering)
	if c.opts.Connectors != nil {
		conns := Prefix + "environments/{env}/networks/{net}/clusters/{cluster}/connectors"
		c.handle("POST "+conns, c.createConnector)
		c.handle("POST "+conns+"/{name}/delete", c.deleteConnector)
		c.handle("POST "+conns+"/{name}/pause", c.pauseConnector(true))
		c.handle("POST "+conns+"/{name}/resume", c.pauseConnector(false))
	}

	c.mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, nil, http.StatusNotFound, "There is no such page.")
	})
}

// handle registers h behind the session check: without a valid session
// a page redirects to the sign-in page and anything else gets 401; a POST
// must also carry the session's CSRF token and come from this origin.
func (c *Console) handle(pattern string, h func(w http.ResponseWriter, r *http.Request, s *session)) {
	c.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		s := c.currentSession(r)
		if s == nil {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/live") && !isFragment(r) {
				http.Redirect(w, r, Prefix+"login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "Sign in first.", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost && !c.checkPost(r, s.csrf) {
			c.renderError(w, r, s, http.StatusForbidden, "The form has expired or did not come from this console. Reload the page and try again.")
			return
		}
		h(w, r.WithContext(control.NewContextWithOrganization(r.Context(), s.organization())), s)
	})
}

func isFragment(r *http.Request) bool { return r.Header.Get("X-Console-Fragment") == "1" }
