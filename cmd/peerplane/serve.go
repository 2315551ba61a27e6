package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

	"github.com/peerplane/peerplane/internal/api"
	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/connect"
	"github.com/peerplane/peerplane/internal/console"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/dataplane"
	"github.com/peerplane/peerplane/internal/metrics"
	"github.com/peerplane/peerplane/internal/netcheck"
	"github.com/peerplane/peerplane/internal/reach"
	"github.com/peerplane/peerplane/internal/reconcile"
	"github.com/peerplane/peerplane/internal/store"
	"github.com/peerplane/peerplane/internal/tlsca"
	"github.com/peerplane/peerplane/internal/world"
)

// ServeConfig is the configuration of `peerplane serve`. Every flag
// defaults from a PEERPLANE_* environment variable.
type ServeConfig struct {
	DataDir          string
	Listen           string
	AzureListen      string
	Store            string
	World            string
	Demo             bool
	ProviderAppID    string
	ProviderTenantID string
	OperatorToken    string
	LogLevel         string
	// LogFormat is "text" (logfmt-style lines; also when empty) or "json"
	// (one object a line).
	LogFormat string
	// MetricsListen, when set, serves /metrics (and the probes) on its own
	// listener instead of the API's.
	MetricsListen string
	// APIRateLimit is how many requests per second each API key may make
	// to the control-plane API (APIRateBurst at once); 0 disables it.
	APIRateLimit float64
	APIRateBurst int

	// ExternalAzure points the reconciler at a real Azure (public cloud by
	// default) as the provider app, instead of the embedded one, which is
	// then not started. It needs ProviderTenantID, ProviderSubscriptionID
	// and ProviderClientSecret (from $PEERPLANE_PROVIDER_CLIENT_SECRET only,
	// to keep it out of process listings).
	ExternalAzure          bool
	ProviderSubscriptionID string
	ProviderClientSecret   string
	AzureAuthorityHost     string
	AzureARMEndpoint       string
	AzureARMAudience       string
	// LeaseTTL is the reconciler's leader lease: a replica that dies
	// holding it is replaced within about this long (hidden; tests that
	// kill servers shorten it).
	LeaseTTL time.Duration
	// WrapAzure, when set, wraps the reconciler's Azure client (in-process
	// callers only, such as `peerplane bench` timing the Azure calls).
	WrapAzure func(reconcile.Azure) reconcile.Azure
	// AzureCAFile, with ExternalAzure, is a PEM bundle to trust instead of
	// the system's roots (an Azure Stack, a proxy, another Peerplane's
	// embedded Azure); it also turns off Entra ID instance discovery,
	// which only the public cloud answers.
	AzureCAFile string
	// Dataplane is auto, netns or off (dataplane.go); empty is off, for
	// in-process callers that do not ask for one.
	Dataplane string
	// ClusterEndpoints, when set, tells the connector runtime where each
	// cluster's Kafka brokers listen (in-process callers only; without it
	// connectors fail saying the server runs no Kafka endpoint).
	ClusterEndpoints connect.ClusterEndpoints
}

// bindServeFlags registers serve's flags on fs with defaults from getenv.
func bindServeFlags(fs *pflag.FlagSet, c *ServeConfig, getenv func(string) string) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.DataDir, "data-dir", env("PEERPLANE_DATA_DIR", ".data"), "directory for the SQLite database, the CA and credentials ($PEERPLANE_DATA_DIR)")
	fs.StringVar(&c.Listen, "listen", env("PEERPLANE_LISTEN", "127.0.0.1:8080"), "address of the control-plane API and console ($PEERPLANE_LISTEN)")
	fs.StringVar(&c.AzureListen, "azure-listen", env("PEERPLANE_AZURE_LISTEN", "127.0.0.1:8443"), "address of the embedded Azure, served over HTTPS ($PEERPLANE_AZURE_LISTEN)")
	fs.StringVar(&c.Store, "store", env("PEERPLANE_STORE", ""), "postgres://… to keep state in PostgreSQL; default SQLite in the data directory ($PEERPLANE_STORE)")
	fs.StringVar(&c.World, "world", env("PEERPLANE_WORLD", ""), "YAML world file seeding the embedded Azure ($PEERPLANE_WORLD)")
	fs.BoolVar(&c.Demo, "demo", getenv("PEERPLANE_DEMO") == "true" || getenv("PEERPLANE_DEMO") == "1", "load the demo customer tenant ($PEERPLANE_DEMO)")
	fs.StringVar(&c.ProviderAppID, "provider-app-id", env("PEERPLANE_PROVIDER_APP_ID", azureemu.DefaultProviderAppID), "client id of the provider's multi-tenant app ($PEERPLANE_PROVIDER_APP_ID)")
	fs.StringVar(&c.ProviderTenantID, "provider-tenant-id", env("PEERPLANE_PROVIDER_TENANT_ID", ""), "provider tenant id; default: generated on first start ($PEERPLANE_PROVIDER_TENANT_ID)")
	fs.StringVar(&c.OperatorToken, "operator-token", env("PEERPLANE_OPERATOR_TOKEN", ""), "bearer token that opens /_emulator routes beyond loopback ($PEERPLANE_OPERATOR_TOKEN)")
	fs.BoolVar(&c.ExternalAzure, "external-azure", getenv("PEERPLANE_EXTERNAL_AZURE") == "true" || getenv("PEERPLANE_EXTERNAL_AZURE") == "1", "reconcile against a real Azure as the provider app instead of the embedded one ($PEERPLANE_EXTERNAL_AZURE)")
	fs.StringVar(&c.ProviderSubscriptionID, "provider-subscription-id", env("PEERPLANE_PROVIDER_SUBSCRIPTION_ID", ""), "with --external-azure: the subscription of the provider VNets ($PEERPLANE_PROVIDER_SUBSCRIPTION_ID)")
	fs.StringVar(&c.AzureAuthorityHost, "azure-authority-host", env("PEERPLANE_AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/"), "with --external-azure: Entra ID authority host ($PEERPLANE_AZURE_AUTHORITY_HOST)")
	fs.StringVar(&c.AzureARMEndpoint, "azure-arm-endpoint", env("PEERPLANE_AZURE_ARM_ENDPOINT", "https://management.azure.com"), "with --external-azure: Resource Manager endpoint ($PEERPLANE_AZURE_ARM_ENDPOINT)")
	fs.StringVar(&c.AzureARMAudience, "azure-arm-audience", env("PEERPLANE_AZURE_ARM_AUDIENCE", "https://management.core.windows.net/"), "with --external-azure: Resource Manager token audience ($PEERPLANE_AZURE_ARM_AUDIENCE)")
	fs.StringVar(&c.AzureCAFile, "azure-ca-file", env("PEERPLANE_AZURE_CA_FILE", ""), "with --external-azure: PEM CA bundle to trust for Azure, for a private cloud or another Peerplane's embedded Azure ($PEERPLANE_AZURE_CA_FILE)")
	c.ProviderClientSecret = getenv("PEERPLANE_PROVIDER_CLIENT_SECRET")
	ttl, _ := time.ParseDuration(env("PEERPLANE_LEASE_TTL", "6s"))
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", ttl, "how long a dead leader's reconciler lease blocks the next one ($PEERPLANE_LEASE_TTL)")
	_ = fs.MarkHidden("lease-ttl")
	rl, err := strconv.ParseFloat(env("PEERPLANE_API_RATE_LIMIT", "200"), 64)
	if err != nil {
		rl = -1 // validate names it
	}
	fs.Float64Var(&c.APIRateLimit, "api-rate-limit", rl, "requests per second each API key may make; past it 429 with Retry-After; 0 disables ($PEERPLANE_API_RATE_LIMIT)")
	rb, err := strconv.Atoi(env("PEERPLANE_API_RATE_BURST", "400"))
	if err != nil {
		rb = -1
	}
	fs.IntVar(&c.APIRateBurst, "api-rate-burst", rb, "requests an API key may make at once before --api-rate-limit applies ($PEERPLANE_API_RATE_BURST)")
	bindDataplaneFlag(fs, c, getenv)
	fs.StringVar(&c.LogLevel, "log-level", env("PEERPLANE_LOG_LEVEL", "info"), "debug, info, warn or error ($PEERPLANE_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", env("PEERPLANE_LOG_FORMAT", logText), "text or json: one JSON object a log line ($PEERPLANE_LOG_FORMAT)")
	fs.StringVar(&c.MetricsListen, "metrics-listen", env("PEERPLANE_METRICS_LISTEN", ""), "address to serve Prometheus /metrics (and /healthz, /readyz) on; default: the API's listener ($PEERPLANE_METRICS_LISTEN)")
}

// validate checks the configuration, naming the flag at fault.
func (c *ServeConfig) validate() error {
	if c.DataDir == "" {
		return errors.New("--data-dir must not be empty")
	}
	addrs := map[string]string{"--listen": c.Listen}
	if c.MetricsListen != "" {
		addrs["--metrics-listen"] = c.MetricsListen
	}
	if !c.ExternalAzure {
		addrs["--azure-listen"] = c.AzureListen
	}
	for flag, addr := range addrs {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s %q is not host:port: %w", flag, addr, err)
		}
	}
	if !azureemu.IsGUID(c.ProviderAppID) {
		return fmt.Errorf("--provider-app-id %q is not a GUID", c.ProviderAppID)
	}
	if c.ProviderTenantID != "" && !azureemu.IsGUID(c.ProviderTenantID) {
		return fmt.Errorf("--provider-tenant-id %q is not a GUID", c.ProviderTenantID)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if err := c.validateDataplane(); err != nil {
		return err
	}
	if err := checkLogFormat(c.LogFormat); err != nil {
		return err
	}
	if !(c.APIRateLimit >= 0) {
		return fmt.Errorf("--api-rate-limit must be a number of requests per second, 0 or more (check $PEERPLANE_API_RATE_LIMIT), not %v", c.APIRateLimit)
	}
	if c.APIRateLimit > 0 && c.APIRateBurst < 1 {
		return fmt.Errorf("--api-rate-burst must be a whole number, 1 or more (check $PEERPLANE_API_RATE_BURST), not %d", c.APIRateBurst)
	}
	if c.ExternalAzure {
		switch {
		case !azureemu.IsGUID(c.ProviderTenantID):
			return errors.New("--external-azure needs --provider-tenant-id, the provider app's home tenant (a GUID)")
		case !azureemu.IsGUID(c.ProviderSubscriptionID):
			return errors.New("--external-azure needs --provider-subscription-id, where provider VNets are created (a GUID)")
		case c.ProviderClientSecret == "":
			return errors.New("--external-azure needs the provider app's client secret in $PEERPLANE_PROVIDER_CLIENT_SECRET")
		case c.Demo || c.World != "":
			return errors.New("--demo and --world seed the embedded Azure; they do not go with --external-azure")
		}
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func newServeCmd(getenv func(string) string) *cobra.Command {
	var cfg ServeConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane and the embedded Azure",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return Serve(cmd.Context(), cfg, cmd.OutOrStdout(), nil)
		},
	}
	bindServeFlags(cmd.Flags(), &cfg, getenv)
	return cmd
}

// Ready describes a started server, for tests and the walkthrough.
type Ready struct {
	APIURL      string
	MetricsURL  string // Prometheus /metrics, on the API's listener or --metrics-listen's
	AzureURL    string
	CAFile      string
	Provider    ProviderCredentials
	Credentials Credentials
	// Dataplane is the server's data plane, nil when off (for in-process
	// callers such as the bench).
	Dataplane *dataplane.Plane
}

// ProviderCredentials are the provider's own identities, kept in
// DATA_DIR/provider.json (mode 0600): only the control plane holds them.
type ProviderCredentials struct {
	TenantID       string `json:"tenant_id"`
	SubscriptionID string `json:"subscription_id"`
	ClientID       string `json:"client_id"`
	ClientSecret   string `json:"client_secret"`
	AdminUser      string `json:"admin_user"`
	AdminPassword  string `json:"admin_password"`
}

// Serve runs until ctx is done. ready, when not nil, is called once both
// listeners accept connections.
func Serve(ctx context.Context, cfg ServeConfig, out io.Writer, ready func(Ready)) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	level, _ := parseLevel(cfg.LogLevel)
	log := newLogger(os.Stderr, cfg.LogFormat, level)
	obs := observeWith{metrics.New()}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	dsn := cfg.Store
	if dsn == "" {
		dsn = filepath.Join(cfg.DataDir, "peerplane.db")
	}
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer db.Close()

	var (
		az       *embeddedAzure
		azCfg    azure.Config
		loginURL string
		prov     ProviderCredentials
	)
	if cfg.ExternalAzure {
		prov = ProviderCredentials{TenantID: cfg.ProviderTenantID, SubscriptionID: cfg.ProviderSubscriptionID, ClientID: cfg.ProviderAppID, ClientSecret: cfg.ProviderClientSecret}
		loginURL = strings.TrimRight(cfg.AzureAuthorityHost, "/")
		azCfg = azure.Config{Cloud: cloud.Configuration{
			ActiveDirectoryAuthorityHost: cfg.AzureAuthorityHost,
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Audience: cfg.AzureARMAudience, Endpoint: cfg.AzureARMEndpoint},
			},
		}}
		if cfg.AzureCAFile != "" {
			pem, err := os.ReadFile(cfg.AzureCAFile)
			if err != nil {
				return fmt.Errorf("--azure-ca-file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("--azure-ca-file %s holds no PEM certificate", cfg.AzureCAFile)
			}
			azCfg.Transport = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}}
			azCfg.DisableInstanceDiscovery = true
		}
	} else {
		if az, err = startEmbeddedAzure(ctx, cfg, db, log); err != nil {
			return err
		}
		defer az.ln.Close()
		prov, loginURL = az.prov, az.url
		azCfg = azure.Config{
			Cloud: cloud.Configuration{
				ActiveDirectoryAuthorityHost: az.url + "/",
				Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
					cloud.ResourceManager: {Audience: "https://management.core.windows.net/", Endpoint: az.url},
				},
			},
			Transport:                az.client,
			DisableInstanceDiscovery: true,
		}
	}
	azCfg.ProviderTenantID, azCfg.ClientID, azCfg.ClientSecret, azCfg.ProviderSubscriptionID = prov.TenantID, prov.ClientID, prov.ClientSecret, prov.SubscriptionID
	azCfg.Observe = obs.m.ObserveAzureRequest

	apiLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	defer apiLn.Close()
	svc := control.NewService(db.Control(), control.DefaultSettings())
	// No peering may name the provider's own tenant or subscription.
	svc.Provider = control.ProviderAccount{TenantID: prov.TenantID, SubscriptionID: prov.SubscriptionID}
	if err := svc.LoadSettings(ctx); err != nil {
		return fmt.Errorf("load operator settings: %w", err)
	}
	creds, err := bootstrapOrganization(ctx, svc, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("bootstrap organization: %w", err)
	}
	azClient, err := azure.New(azCfg)
	if err != nil {
		return err
	}
	var recAzure reconcile.Azure = azClient
	if cfg.WrapAzure != nil {
		recAzure = cfg.WrapAzure(azClient)
	}
	leaseTTL := cfg.LeaseTTL
	if leaseTTL <= 0 {
		leaseTTL = 6 * time.Second
	}
	newController := func() *reconcile.Controller {
		return reconcile.New(reconcile.Config{Control: svc, Azure: recAzure, App: control.ProviderApp{AppID: prov.ClientID, LoginURL: loginURL},
			Provider: svc.Provider, Logger: log.With("component", "reconciler"), Observe: obs.reconcile})
	}
	host, _ := os.Hostname()
	leader := &reconcile.Leader{Lease: db, Name: "reconciler", Holder: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), uuid.NewString()[:8]),
		TTL: leaseTTL, New: newController, Logger: log.With("component", "leader")}
	// Connectors run where the reconciler runs (connectors.go).
	var connectors *connectorRuntime
	observeLeading := obs.leader(leader)
	leader.OnLeading = func(leading bool) {
		observeLeading(leading)
		connectors.leading(leading)
	}
	svc.OnChange = func(c control.Change) {
		switch c.Kind {
		case "connector":
			connectors.kick()
			return
		case "cluster":
			connectors.kick()
		}
		leader.Enqueue(c.Kind, c.ID)
	}
	// Continue checks the consent through a controller of its own: every
	// replica answers it, leader or not.
	consent := newController()

	apiMux := http.NewServeMux()
	// Probes and metrics need no API key; /metrics moves to --metrics-listen when set.
	metricsSrv, metricsLn, err := listenMetrics(cfg.MetricsListen, db, obs.m, log.With("component", "probe"))
	if err != nil {
		return err
	}
	if metricsLn != nil {
		defer metricsLn.Close()
		handleProbes(apiMux, db, nil, log.With("component", "probe"))
	} else {
		handleProbes(apiMux, db, obs.m, log.With("component", "probe"))
	}
	apiOpts := api.Options{
		Environments: svc, Networks: svc, Peerings: svc, Clusters: svc, Orgs: svc, Settings: svc, Connectors: svc,
		Logger:    log.With("component", "api"),
		RateLimit: cfg.APIRateLimit, Burst: cfg.APIRateBurst,
	}
	// Reachability reads Azure's network state from the embedded Azure's
	// snapshot route, or through ARM as the provider app against a real one.
	snapshot := armNetworkSnapshot(azClient, time.Now)
	if az != nil {
		snapshot = emulatorNetworkSnapshot(az.client, az.url, cfg.OperatorToken)
	}
	apiOpts.Reachability = &netcheck.Checker{Environments: svc, Networks: svc, Clusters: svc, Peerings: svc, Snapshot: snapshot}
	plane, err := startDataplane(ctx, cfg, az, log.With("component", "dataplane"))
	if err != nil {
		return err
	}
	if plane != nil {
		defer plane.Close()
		connectors = newConnectorRuntime(ctx, plane, svc, cfg.ClusterEndpoints, leader.Holder, log.With("component", "connect"))
		apiOpts.Reachability.Runs = svc
		apiOpts.Probe = dataplaneProber(plane)
		apiOpts.VNetHosts = &vnetHosts{plane: plane, svc: svc, snapshot: snapshot, held: map[string]int{}}
	}
	apiMux.Handle("/", api.New(apiOpts))

	// The web console: / redirects to it; the API keeps every other path.
	con := console.New(console.Options{Environments: svc, Networks: svc, Peerings: svc, Clusters: svc, Orgs: svc, Connectors: svc,
		Settings: svc.Settings, CheckConsent: consent.CheckConsent, AppID: prov.ClientID, Reachability: apiOpts.Reachability, Logger: log.With("component", "console")})
	apiMux.Handle(console.Prefix, con)
	apiMux.Handle("GET /{$}", http.RedirectHandler(console.Prefix, http.StatusFound))

	// One Observer in front of the API, the console and /healthz: every
	// response carries X-Request-Id and every request one access log line.
	observed := api.Observer{Logger: log.With("component", "http"), Quiet: quietRoutes, Observe: obs.apiRequest}.Wrap(apiMux)
	apiSrv := &http.Server{Handler: observed, ReadHeaderTimeout: 10 * time.Second}
	apiSrv.RegisterOnShutdown(con.Close)
	if plane != nil {
		// Hosts' streams end when the plane closes, so Shutdown need not
		// wait for them.
		apiSrv.RegisterOnShutdown(func() { plane.Close() })
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return ignoreClosed(apiSrv.Serve(apiLn)) })
	g.Go(func() error { leader.Run(gctx); return nil })
	g.Go(func() error {
		// Replicas sharing PostgreSQL see each other's settings changes.
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				if err := svc.LoadSettings(gctx); err != nil && gctx.Err() == nil {
					log.Warn("reload operator settings", "err", err)
				}
			}
		}
	})
	if metricsSrv != nil {
		g.Go(func() error { return ignoreClosed(metricsSrv.Serve(metricsLn)) })
	}
	if az != nil {
		az.srv.Handler = obs.embeddedAzure(az.srv.Handler)
		g.Go(func() error { return ignoreClosed(az.srv.ServeTLS(az.ln, "", "")) })
		if plane != nil {
			g.Go(func() error {
				plane.Follow(gctx, func() reach.Snapshot { return reachSnapshot(az.emu.Snapshot()) }, az.emu.Changed)
				return nil
			})
		}
		g.Go(func() error {
			watchAzureEvents(gctx, az.client, az.url, cfg.OperatorToken, prov.TenantID, svc, leader, log.With("component", "events"))
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		// Connectors stop (and store their counts) while their hosts and
		// the store are still there.
		connectors.leading(false)
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := apiSrv.Shutdown(sctx)
		if metricsSrv != nil {
			err = errors.Join(err, metricsSrv.Shutdown(sctx))
		}
		if az != nil {
			err = errors.Join(err, az.srv.Shutdown(sctx))
		}
		if plane != nil {
			err = errors.Join(err, plane.Close())
		}
		return err
	})
	endpoints := map[string]string{"api_url": "http://" + apiLn.Addr().String()}
	endpoints["metrics_url"] = endpoints["api_url"] + "/metrics"
	if metricsLn != nil {
		endpoints["metrics_url"] = "http://" + metricsLn.Addr().String() + "/metrics"
	}
	r := Ready{APIURL: endpoints["api_url"], MetricsURL: endpoints["metrics_url"], Provider: prov, Credentials: creds, Dataplane: plane}
	if az != nil {
		endpoints["url"], endpoints["ca_file"] = az.url, az.ca.CertPath
		r.AzureURL, r.CAFile = az.url, az.ca.CertPath
	}
	endpoint, _ := json.MarshalIndent(endpoints, "", "  ")
	if err := tlsca.WriteFileAtomic(filepath.Join(cfg.DataDir, "endpoints.json"), append(endpoint, '\n'), 0o644); err != nil {
		return err
	}
	printWalkthrough(out, r, cfg)
	if ready != nil {
		ready(r)
	}
	return g.Wait()
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// bootstrapProvider makes sure the provider tenant, its subscription and
// its multi-tenant app exist, that the app's service principal may manage
// networks in the provider subscription, and that DATA_DIR/provider.json
// holds a working client secret. It is idempotent.
func bootstrapProvider(ctx context.Context, emu *azureemu.Emulator, cfg ServeConfig) (ProviderCredentials, error) {
	path := filepath.Join(cfg.DataDir, "provider.json")
	var pc ProviderCredentials
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &pc); err != nil {
			return pc, fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return pc, err
	}
	if cfg.ProviderTenantID != "" {
		pc.TenantID = cfg.ProviderTenantID
	}
	if pc.TenantID == "" {
		pc.TenantID = uuid.NewString()
	}
	if pc.SubscriptionID == "" {
		pc.SubscriptionID = uuid.NewString()
	}
	if _, ok := emu.FindTenant(pc.TenantID); !ok {
		pc.AdminUser = "admin@provider.peerplane.local"
		pc.AdminPassword = randomPassword()
		if _, err := emu.CreateTenant(ctx, azureemu.TenantSpec{ID: pc.TenantID, DisplayName: "Peerplane Provider", DefaultDomain: "provider.peerplane.local",
			Admin: &azureemu.UserSpec{UserPrincipalName: pc.AdminUser, Password: pc.AdminPassword}}); err != nil {
			return pc, err
		}
	}
	if _, err := emu.CreateSubscription(ctx, pc.TenantID, azureemu.SubscriptionSpec{ID: pc.SubscriptionID, DisplayName: "Peerplane Provider Networks"}); err != nil {
		var ee *azureemu.Error
		if !errors.As(err, &ee) || ee.Status != http.StatusConflict {
			return pc, err
		}
	}
	app, ok := emu.FindApplication(cfg.ProviderAppID)
	switch {
	case !ok:
		a, secret, err := emu.CreateApplication(ctx, pc.TenantID, azureemu.ApplicationSpec{AppID: cfg.ProviderAppID, DisplayName: "Confluent Cloud Peering (Peerplane)", SignInAudience: "AzureADMultipleOrgs"})
		if err != nil {
			return pc, err
		}
		app, pc.ClientSecret = a, secret
	case !strings.EqualFold(pc.ClientID, cfg.ProviderAppID) || pc.ClientSecret == "":
		secret, err := emu.AddApplicationSecret(ctx, cfg.ProviderAppID, "peerplane serve")
		if err != nil {
			return pc, err
		}
		pc.ClientSecret = secret
	}
	if !strings.EqualFold(app.TenantID, pc.TenantID) {
		return pc, fmt.Errorf("--provider-app-id %s is registered in tenant %s, not in the provider tenant %s", app.AppID, app.TenantID, pc.TenantID)
	}
	pc.ClientID = app.AppID
	sp, ok := emu.FindServicePrincipal(pc.TenantID, app.AppID)
	if !ok {
		return pc, fmt.Errorf("the provider app %s has no service principal in the provider tenant", app.AppID)
	}
	if _, err := emu.AssignRole(ctx, "/subscriptions/"+pc.SubscriptionID, azureemu.RoleContributor, sp.ID); err != nil {
		return pc, err
	}
	b, _ := json.MarshalIndent(pc, "", "  ")
	if err := tlsca.WriteFileAtomic(path, append(b, '\n'), 0o600); err != nil {
		return pc, err
	}
	return pc, nil
}

func randomPassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return "Pp1-" + base64.RawURLEncoding.EncodeToString(b)
}

func printWalkthrough(out io.Writer, r Ready, cfg ServeConfig) {
	fmt.Fprintf(out, "Peerplane is running.\n\n")
	fmt.Fprintf(out, "  Control plane API:  %s\n", r.APIURL)
	fmt.Fprintf(out, "  Metrics:            %s   (probes: /healthz, /readyz)\n", r.MetricsURL)
	if r.AzureURL != "" {
		fmt.Fprintf(out, "  Embedded Azure:     %s   (CA certificate: %s)\n", r.AzureURL, r.CAFile)
	} else {
		fmt.Fprintf(out, "  Azure:              external, %s and %s\n", cfg.AzureAuthorityHost, cfg.AzureARMEndpoint)
	}
	creds := filepath.Join(cfg.DataDir, "credentials.json")
	fmt.Fprintf(out, "  API key:            %s   (secret in %s)\n", r.Credentials.APIKey, creds)
	fmt.Fprintf(out, "  Web console:        %s%s   (sign in with the API key and its secret from %s)\n", r.APIURL, console.Prefix, creds)
	fmt.Fprintf(out, "  CLI:                peerplane login --data-dir %s\n", cfg.DataDir)
	if r.AzureURL != "" {
		fmt.Fprintf(out, "  Provider tenant:    %s   (app %s, credentials in %s)\n", r.Provider.TenantID, r.Provider.ClientID, filepath.Join(cfg.DataDir, "provider.json"))
	} else {
		fmt.Fprintf(out, "  Provider tenant:    %s   (app %s, subscription %s)\n", r.Provider.TenantID, r.Provider.ClientID, r.Provider.SubscriptionID)
	}
	if cfg.Demo {
		fmt.Fprintf(out, "\nDemo customer tenant Contoso (5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01):\n")
		fmt.Fprintf(out, "  Sign in as admin@contoso.example / Contoso-demo-pass1 (Global Administrator).\n")
		fmt.Fprintf(out, "  Subscription 6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02, VNet contoso-network/contoso-vnet (10.1.0.0/16, eastus).\n")
		fmt.Fprintf(out, "\n  Admin consent for the provider app:\n    %s/5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01/oauth2/authorize?client_id=%s&response_type=code\n", r.AzureURL, r.Provider.ClientID)
		fmt.Fprintf(out, "\n  Use the real az CLI against it:\n    eval \"$(peerplane azure az-env --shim --data-dir %s)\"\n    az login --username admin@contoso.example --password Contoso-demo-pass1\n", cfg.DataDir)
	}
	fmt.Fprintln(out)
}

// Credentials are the first organization's Cloud API key, written to
// DATA_DIR/credentials.json (mode 0600) on first start.
type Credentials struct {
	APIKey         string `json:"api_key"`
	APISecret      string `json:"api_secret"`
	OrganizationID string `json:"organization_id"`
}

// bootstrapOrganization makes sure an operator organization exists and
// that DATA_DIR/credentials.json holds one of its API keys. It is
// idempotent: an existing file is kept as it is.
func bootstrapOrganization(ctx context.Context, svc *control.Service, dir string) (Credentials, error) {
	path := filepath.Join(dir, "credentials.json")
	var c Credentials
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &c); err != nil {
			return c, fmt.Errorf("%s: %w", path, err)
		}
		if _, err := svc.Authenticate(ctx, c.APIKey, c.APISecret); err == nil {
			return c, nil
		}
		// A key deleted through the API, or a new store: make another.
	} else if !errors.Is(err, os.ErrNotExist) {
		return c, err
	}
	octx := control.NewOperatorContext(ctx)
	orgs, _, err := svc.FindOrganizations(octx, control.Page{Size: 100})
	if err != nil {
		return c, err
	}
	var org *control.Organization
	for _, o := range orgs {
		if o.Operator {
			org = o
			break
		}
	}
	if org == nil {
		org = &control.Organization{DisplayName: "Default organization", Operator: true}
		if err := svc.CreateOrganization(octx, org); err != nil {
			return c, err
		}
	}
	key, secret, err := svc.CreateAPIKey(octx, org.ID, "created by peerplane serve")
	if err != nil {
		return c, err
	}
	c = Credentials{APIKey: key.Key, APISecret: secret, OrganizationID: org.ID}
	b, _ := json.MarshalIndent(c, "", "  ")
	return c, tlsca.WriteFileAtomic(path, append(b, '\n'), 0o600)
}

// eventTarget says which peerings an emulator event may affect: a peering
// half Peerplane made is named after its peering (peer-…), so a change to
// one targets that peering alone, on either side; otherwise it is a
// (tenant, ARM scope) pair: a role assignment targets the peerings whose
// VNet is under its scope, a VNet change those of that VNet, a consent or a
// role definition every peering of the tenant, any other provider-tenant
// change every peering. Security group changes do not affect peerings.
func eventTarget(ev azureemu.Event, providerTenant string) (target [2]string, peering string, ok bool) {
	if ev.Type == azureemu.EventPeering || ev.Type == azureemu.EventPeeringDeleted {
		vnet, name, _ := strings.Cut(ev.ResourceID, "/virtualNetworkPeerings/")
		if strings.HasPrefix(name, "peer-") {
			return [2]string{}, name, true
		}
		if strings.EqualFold(ev.TenantID, providerTenant) {
			return [2]string{}, "", false // not one of ours
		}
		return [2]string{ev.TenantID, vnet}, "", true
	}
	if strings.EqualFold(ev.TenantID, providerTenant) {
		return [2]string{}, "", true
	}
	switch ev.Type {
	case azureemu.EventRoleAssignment, azureemu.EventVNet, azureemu.EventVNetDeleted:
		return [2]string{ev.TenantID, ev.ResourceID}, "", true
	case azureemu.EventNSG:
		return [2]string{}, "", false
	}
	return [2]string{ev.TenantID, ""}, "", true
}

// watchAzureEvents long-polls the embedded Azure's change feed and hands
// the peerings a change may affect to the reconciler, so that a consent,
// role assignment, tag or deleted half is acted on at once rather than at
// the next retry.
func watchAzureEvents(ctx context.Context, client *http.Client, azureURL, token, providerTenant string, svc *control.Service, leader *reconcile.Leader, log *slog.Logger) {
	after := int64(-1)
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/_emulator/events?after=%d&wait=25s", azureURL, after), nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		var body struct {
			Events []azureemu.Event `json:"events"`
			Last   int64            `json:"last"`
		}
		resp, err := client.Do(req)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
		}
		if err != nil {
			if ctx.Err() == nil {
				log.Debug("read azure events", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		if after >= 0 {
			targets := map[[2]string]bool{} // (tenant, scope); "" matches all
			var keys []string
			for _, ev := range body.Events {
				t, peering, ok := eventTarget(ev, providerTenant)
				switch {
				case peering != "":
					keys = append(keys, "peering/"+peering)
				case ok:
					targets[t] = true
				}
			}
			leader.EnqueueKeys(keys)
			if body.Last < after { // the emulator restarted: resync all
				targets[[2]string{}] = true
			}
			if targets[[2]string{}] {
				targets = map[[2]string]bool{{}: true}
			}
			for t := range targets {
				keys, err := svc.PeeringKeysForScope(ctx, t[0], t[1])
				if err != nil {
					log.Warn("find peerings for an azure change", "tenant", t[0], "scope", t[1], "err", err)
					continue
				}
				leader.EnqueueKeys(keys)
			}
		}
		after = body.Last
	}
}

// embeddedAzure is the embedded Azure's listener, server and the client
// that trusts its CA.
type embeddedAzure struct {
	emu    *azureemu.Emulator
	url    string
	ca     *tlsca.CA
	ln     net.Listener
	srv    *http.Server
	client *http.Client
	prov   ProviderCredentials
}

// startEmbeddedAzure loads the embedded Azure from db, bootstraps the
// provider, seeds the demo and world files, and listens (not yet serving)
// on --azure-listen over TLS with a certificate from the data directory's
// CA.
func startEmbeddedAzure(ctx context.Context, cfg ServeConfig, db *store.DB, log *slog.Logger) (*embeddedAzure, error) {
	ca, err := tlsca.LoadOrCreate(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("certificate authority: %w", err)
	}
	host, _, _ := net.SplitHostPort(cfg.AzureListen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	cert, err := ca.ServerCertificate(host, "127.0.0.1", "::1", "localhost")
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.AzureListen)
	if err != nil {
		return nil, fmt.Errorf("--azure-listen: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			ln.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	url := "https://" + net.JoinHostPort(host, port)
	emu, err := azureemu.New(ctx, azureemu.Options{BaseURL: url, Store: db, OperatorToken: cfg.OperatorToken, Logger: log.With("component", "azure")})
	if err != nil {
		return nil, err
	}
	prov, err := bootstrapProvider(ctx, emu, cfg)
	if err != nil {
		return nil, fmt.Errorf("bootstrap provider: %w", err)
	}
	if cfg.Demo {
		demo, err := world.Demo()
		if err == nil {
			err = world.Apply(ctx, emu, demo)
		}
		if err != nil {
			return nil, fmt.Errorf("load demo world: %w", err)
		}
	}
	if cfg.World != "" {
		f, err := world.ReadFile(cfg.World)
		if err == nil {
			err = world.Apply(ctx, emu, f)
		}
		if err != nil {
			return nil, fmt.Errorf("--world: %w", err)
		}
	}
	ok = true
	return &embeddedAzure{
		emu: emu, url: url, ca: ca, ln: ln, prov: prov,
		srv: &http.Server{Handler: emu, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)},
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}},
	}, nil
}
