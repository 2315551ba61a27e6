package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

	"github.com/peerplane/peerplane/internal/api"
	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/azureid"
	"github.com/peerplane/peerplane/internal/console"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/dataplane"
	"github.com/peerplane/peerplane/internal/kafka"
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
	// holding it is replaced within about this long.
	LeaseTTL time.Duration
	// ReconcileTimeout bounds each reconcile; shorter than LeaseTTL, 0
	// for 5/6 of it.
	ReconcileTimeout time.Duration
	// SecretKey seals the provider's credentials, the CA's key and the
	// bootstrap API key in the store (from $PEERPLANE_SECRET_KEY only, to
	// keep it out of process listings); SecretKeyFile names a file holding
	// it instead. Needed on PostgreSQL; on SQLite one is generated into
	// the data directory when neither is given.
	SecretKey     string
	SecretKeyFile string
	// AzureURL is the embedded Azure's address as its clients reach it,
	// such as a load balancer's in front of several replicas; default
	// https://<--azure-listen>. It is the issuer and authority the
	// emulator announces, and its host is in the TLS certificate.
	AzureURL string
	// WrapAzure, when set, wraps the reconciler's Azure client (in-process
	// callers only, such as `peerplane bench` timing the Azure calls).
	WrapAzure func(reconcile.Azure) reconcile.Azure
	// Resync is about how often a READY peering is re-checked against
	// Azure (--resync); zero for resync(). NetworkResync is the same for a
	// READY network's provider VNet; zero for reconcile.Config's default
	// (in-process callers only: tests that need many resyncs).
	Resync, NetworkResync time.Duration
	// ReconcileWorkers is the number of concurrent reconciles; zero for
	// reconcile.Config's default. In-process callers only (benchmarks).
	ReconcileWorkers int
	// AzureCAFile is the PEM bundle of the CA that verifies Azure's TLS
	// certificate. With ExternalAzure it is trusted instead of the
	// system's roots (an Azure Stack, a proxy, another Peerplane's
	// embedded Azure) and turns off Entra ID instance discovery, which
	// only the public cloud answers; with AzureTLSCert it is the CA of
	// that certificate, which the reconciler, the CLI and az trust.
	AzureCAFile string
	// AzureTLSCert and AzureTLSKey are a certificate (PEM, with any
	// intermediates) and its key of the operator's own, such as one made
	// with mkcert, for the embedded Azure's HTTPS instead of one from the
	// installation's private CA. They need AzureCAFile.
	AzureTLSCert string
	AzureTLSKey  string
	// wrapAzureHandler, when set, wraps the embedded Azure's HTTP handler
	// (tests: to know a request is in its hands).
	wrapAzureHandler func(http.Handler) http.Handler
	// Dataplane is auto, netns or off (dataplane.go); empty is off, for
	// in-process callers that do not ask for one.
	Dataplane string
	// PrivateDNSDomain is the domain of the clusters' private names
	// (kafka.go); empty is control.DefaultPrivateDNSDomain.
	PrivateDNSDomain string
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
	fs.StringVar(&c.AzureCAFile, "azure-ca-file", env("PEERPLANE_AZURE_CA_FILE", ""), "PEM CA bundle that verifies Azure's certificate: with --external-azure, a private cloud's or another Peerplane's; with --azure-tls-cert, its CA, such as $(mkcert -CAROOT)/rootCA.pem ($PEERPLANE_AZURE_CA_FILE)")
	fs.StringVar(&c.AzureTLSCert, "azure-tls-cert", env("PEERPLANE_AZURE_TLS_CERT", ""), "PEM certificate of your own (such as one made with mkcert) for the embedded Azure's HTTPS, instead of one from Peerplane's private CA; needs --azure-tls-key and --azure-ca-file ($PEERPLANE_AZURE_TLS_CERT)")
	fs.StringVar(&c.AzureTLSKey, "azure-tls-key", env("PEERPLANE_AZURE_TLS_KEY", ""), "PEM private key of --azure-tls-cert ($PEERPLANE_AZURE_TLS_KEY)")
	c.ProviderClientSecret = getenv("PEERPLANE_PROVIDER_CLIENT_SECRET")
	c.SecretKey = getenv("PEERPLANE_SECRET_KEY")
	fs.StringVar(&c.SecretKeyFile, "secret-key-file", env("PEERPLANE_SECRET_KEY_FILE", ""), "file holding the key that seals the provider's credentials in the store, the same on every replica; or set $PEERPLANE_SECRET_KEY. Needed with PostgreSQL; on SQLite DATA_DIR/secret.key is generated ($PEERPLANE_SECRET_KEY_FILE)")
	fs.StringVar(&c.AzureURL, "azure-url", env("PEERPLANE_AZURE_URL", ""), "the embedded Azure's URL as clients reach it, e.g. a load balancer's in front of replicas; default https://<--azure-listen> ($PEERPLANE_AZURE_URL)")
	duration := func(name, def string) time.Duration {
		d, err := time.ParseDuration(env(name, def))
		if err != nil {
			return -1 // validate names it
		}
		return d
	}
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", duration("PEERPLANE_LEASE_TTL", "6s"), "the reconciler's leader lease: a replica that dies leading is replaced within it ($PEERPLANE_LEASE_TTL)")
	fs.DurationVar(&c.Resync, "resync", duration("PEERPLANE_RESYNC", "0s"), "about how often a READY peering is re-checked against Azure, a safety net behind Azure's change events; 0: 1h with the embedded Azure, whose events carry every change, 5m with --external-azure, which has none ($PEERPLANE_RESYNC)")
	fs.DurationVar(&c.ReconcileTimeout, "reconcile-timeout", duration("PEERPLANE_RECONCILE_TIMEOUT", "0s"), "deadline of each reconcile, shorter than --lease-ttl; 0: 5/6 of it ($PEERPLANE_RECONCILE_TIMEOUT)")
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
	bindKafkaFlags(fs, c, getenv)
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
	if !azureid.IsGUID(c.ProviderAppID) {
		return fmt.Errorf("--provider-app-id %q is not a GUID", c.ProviderAppID)
	}
	if c.ProviderTenantID != "" && !azureid.IsGUID(c.ProviderTenantID) {
		return fmt.Errorf("--provider-tenant-id %q is not a GUID", c.ProviderTenantID)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if err := c.validateDataplane(); err != nil {
		return err
	}
	if err := c.validatePrivateDNSDomain(); err != nil {
		return err
	}
	if err := checkLogFormat(c.LogFormat); err != nil {
		return err
	}
	if c.LeaseTTL != 0 && c.LeaseTTL < 100*time.Millisecond {
		return fmt.Errorf("--lease-ttl must be a duration of 100ms or more (check $PEERPLANE_LEASE_TTL), not %v", c.LeaseTTL)
	}
	if c.ReconcileTimeout < 0 || c.ReconcileTimeout > 0 && c.ReconcileTimeout >= c.leaseTTL() {
		return fmt.Errorf("--reconcile-timeout must be a duration shorter than --lease-ttl %v (check $PEERPLANE_RECONCILE_TIMEOUT), not %v", c.leaseTTL(), c.ReconcileTimeout)
	}
	if c.Resync < 0 {
		return fmt.Errorf("--resync must be a duration, 0 for the default (check $PEERPLANE_RESYNC), not %v", c.Resync)
	}
	if c.AzureURL != "" {
		u, err := url.Parse(c.AzureURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("--azure-url %q must be https://host[:port], without a path", c.AzureURL)
		}
	}
	if !(c.APIRateLimit >= 0) {
		return fmt.Errorf("--api-rate-limit must be a number of requests per second, 0 or more (check $PEERPLANE_API_RATE_LIMIT), not %v", c.APIRateLimit)
	}
	if c.APIRateLimit > 0 && c.APIRateBurst < 1 {
		return fmt.Errorf("--api-rate-burst must be a whole number, 1 or more (check $PEERPLANE_API_RATE_BURST), not %d", c.APIRateBurst)
	}
	if c.ExternalAzure {
		switch {
		case !azureid.IsGUID(c.ProviderTenantID):
			return errors.New("--external-azure needs --provider-tenant-id, the provider app's home tenant (a GUID)")
		case !azureid.IsGUID(c.ProviderSubscriptionID):
			return errors.New("--external-azure needs --provider-subscription-id, where provider VNets are created (a GUID)")
		case c.ProviderClientSecret == "":
			return errors.New("--external-azure needs the provider app's client secret in $PEERPLANE_PROVIDER_CLIENT_SECRET")
		case c.Demo || c.World != "":
			return errors.New("--demo and --world seed the embedded Azure; they do not go with --external-azure")
		}
	}
	switch {
	case (c.AzureTLSCert == "") != (c.AzureTLSKey == ""):
		return errors.New("--azure-tls-cert and --azure-tls-key go together: give both, or neither for a certificate from Peerplane's private CA")
	case c.AzureTLSCert != "" && c.ExternalAzure:
		return errors.New("--azure-tls-cert and --azure-tls-key are the embedded Azure's certificate; they do not go with --external-azure")
	case c.AzureTLSCert != "" && c.AzureCAFile == "":
		return errors.New("--azure-tls-cert needs --azure-ca-file, the PEM file of the CA that signed it (mkcert's is $(mkcert -CAROOT)/rootCA.pem), for the reconciler, the CLI and az to trust it")
	case c.AzureCAFile != "" && !c.ExternalAzure && c.AzureTLSCert == "":
		return errors.New("--azure-ca-file goes with --external-azure or --azure-tls-cert: the embedded Azure's private CA needs none")
	}
	return nil
}

// leaseTTL is LeaseTTL, 6s when not set.
func (c *ServeConfig) leaseTTL() time.Duration {
	if c.LeaseTTL == 0 {
		return 6 * time.Second
	}
	return c.LeaseTTL
}

// externalResync is how often a READY peering is re-checked against a
// real Azure, which sends Peerplane no change events: a customer deleting
// their half shows as DISCONNECTED within about this long.
const externalResync = 5 * time.Minute

// resync is Resync; when not set, externalResync with --external-azure,
// else zero for the reconciler's default (the embedded Azure's events wake
// a peering at once, the resync is only a safety net).
func (c *ServeConfig) resync() time.Duration {
	if c.Resync == 0 && c.ExternalAzure {
		return externalResync
	}
	return c.Resync
}

// reconcileTimeout is ReconcileTimeout, 5/6 of the lease when not set.
func (c *ServeConfig) reconcileTimeout() time.Duration {
	if c.ReconcileTimeout == 0 {
		return c.leaseTTL() * 5 / 6
	}
	return c.ReconcileTimeout
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
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane and the embedded Azure",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			return Serve(cmd.Context(), cfg, cmd.OutOrStdout(), nil)
		},
	}
	bindServeFlags(cmd.Flags(), &cfg, getenv)
	// For `peerplane bench --scale --server-cpuprofile`: the profile is
	// complete once serve exits after SIGTERM or SIGINT.
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the server's run to this file")
	cmd.Flags().MarkHidden("cpuprofile")
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
	// Kafka finds the clusters' brokers (kafka.Off without a data plane),
	// and KafkaManager runs them (nil without a data plane).
	Kafka        kafka.ClusterEndpoints
	KafkaManager *kafka.Manager
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
	inst, err := openInstallation(cfg, db, log.With("component", "identity"))
	if err != nil {
		return err
	}
	// One replica at a time bootstraps the installation (provider, CA,
	// demo world, first API key); the others wait, then find it there.
	unlock, err := db.LockIdentity(ctx)
	if err != nil {
		return fmt.Errorf("wait for other replicas to bootstrap: %w", err)
	}
	defer unlock()
	host, _ := os.Hostname()
	replica := fmt.Sprintf("%s/%d/%s", host, os.Getpid(), uuid.NewString()[:8])
	// Wake-ups between replicas: over PostgreSQL's LISTEN/NOTIFY; one
	// SQLite process keeps them local.
	relay := &reconcile.Relay{Self: replica, Logger: log.With("component", "relay")}
	if db.Dialect() == store.DialectPostgres {
		relay.PubSub = db
	}

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
		if az, err = startEmbeddedAzure(ctx, cfg, db, inst, relay, log); err != nil {
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
	creds, err := bootstrapOrganization(ctx, svc, cfg.DataDir, inst)
	if err != nil {
		return fmt.Errorf("bootstrap organization: %w", err)
	}
	unlock()
	azClient, err := azure.New(azCfg)
	if err != nil {
		return err
	}
	var recAzure reconcile.Azure = azClient
	if cfg.WrapAzure != nil {
		recAzure = cfg.WrapAzure(azClient)
	}
	// The clusters' Kafka endpoints, on the data plane (kafka.go); set
	// below, before anything runs.
	var kafkaMgr *kafka.Manager
	newController := func() *reconcile.Controller {
		return reconcile.New(reconcile.Config{Control: svc, Azure: recAzure, App: control.ProviderApp{AppID: prov.ClientID, LoginURL: loginURL},
			Provider: svc.Provider, Timeout: cfg.reconcileTimeout(), Resync: cfg.resync(), NetworkResync: cfg.NetworkResync, Workers: cfg.ReconcileWorkers, Logger: log.With("component", "reconciler"), Observe: obs.reconcile,
			PrivateDNSDomain: cfg.PrivateDNSDomain,
			ClusterChanged: func(string) {
				if kafkaMgr != nil {
					kafkaMgr.Kick()
				}
			}})
	}
	leader := &reconcile.Leader{Lease: db, Name: "reconciler", Holder: replica,
		TTL: cfg.leaseTTL(), New: newController, Logger: log.With("component", "leader")}
	// Connectors run where the reconciler runs (connectors.go).
	var connectors *connectorRuntime
	observeLeading := obs.leader(leader)
	leader.OnLeading = func(leading bool) {
		observeLeading(leading)
		connectors.leading(leading)
	}
	relay.Queue = leader
	// A write through any replica reaches the leader's queue; a
	// connector's change kicks this replica's runtime (the leader's reads
	// the store again within 2 s).
	svc.OnChange = func(c control.ObjectKey) {
		switch c.Kind {
		case control.KindConnector:
			connectors.kick()
			return
		case control.KindCluster:
			connectors.kick()
		}
		relay.Changed(c)
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
		Environments: svc, Networks: svc, Peerings: svc, Clusters: svc, Orgs: svc, Settings: svc, Connectors: svc, ClusterKeys: svc,
		Logger:    log.With("component", "api"),
		RateLimit: cfg.APIRateLimit, Burst: cfg.APIRateBurst,
	}
	// Reachability reads Azure's network state from the embedded Azure's
	// snapshot route, or through ARM as the provider app against a real one.
	snapshot := armNetworkSnapshot(azClient, time.Now)
	if az != nil {
		snapshot = emulatorNetworkSnapshot(az.client, az.local, cfg.OperatorToken)
	}
	apiOpts.Reachability = &netcheck.Checker{Environments: svc, Networks: svc, Clusters: svc, Peerings: svc, Snapshot: snapshot}
	plane, err := startDataplane(ctx, cfg, az, log.With("component", "dataplane"))
	if err != nil {
		return err
	}
	if plane != nil {
		defer plane.Close()
		// Kafka REST's certificates come from the installation's private
		// CA, also when the embedded Azure serves a certificate of the
		// operator's own (then the CA is made on the first cluster's
		// start): the clusters' private names are Peerplane's.
		kafkaMgr = startKafka(cfg, plane, svc, func() (*tlsca.CA, error) { return inst.loadCA(ctx) }, log.With("component", "kafka"))
		connectors = newConnectorRuntime(ctx, plane, svc, clusterEndpoints(kafkaMgr), leader.Holder, log.With("component", "connect"))
		apiOpts.Reachability.Runs = svc
		apiOpts.Probe = dataplaneProber(plane)
		apiOpts.VNetHosts = &vnetHosts{plane: plane, svc: svc, snapshot: snapshot, held: map[string]int{}, zone: kafkaMgr,
			log: log.With("component", "vnet-hosts")}
		relayed := svc.OnChange
		svc.OnChange = func(c control.ObjectKey) {
			relayed(c)
			if c.Kind == control.KindCluster || c.Kind == control.KindEnvironment {
				kafkaMgr.Kick()
			}
		}
	}
	apiMux.Handle("/", api.New(apiOpts))

	// The web console: / redirects to it; the API keeps every other path.
	conOpts := console.Options{Environments: svc, Networks: svc, Peerings: svc, Clusters: svc, Orgs: svc, Connectors: svc,
		Settings: svc.Settings, CheckConsent: consent.CheckConsent, AppID: prov.ClientID, LoginURL: loginURL, Reachability: apiOpts.Reachability, Logger: log.With("component", "console")}
	if az != nil {
		// The consent page sends the administrator back to the console
		// only at a reply URL registered for the provider app.
		for _, u := range consoleReturnURLs(apiLn.Addr()) {
			if err := az.emu.AddApplicationRedirectURI(ctx, prov.ClientID, u); err != nil {
				return fmt.Errorf("register the console as a reply URL of the provider app: %w", err)
			}
			conOpts.ConsentReturnURLs = append(conOpts.ConsentReturnURLs, u)
		}
		conOpts.AzureCA = az.tls.privateCA
	}
	con := console.New(conOpts)
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
	// The background loops stop before the embedded Azure's server does,
	// so that none of them opens a connection to it while it shuts down.
	var loops sync.WaitGroup
	goLoop := func(run func(context.Context)) {
		loops.Add(1)
		g.Go(func() error { defer loops.Done(); run(gctx); return nil })
	}
	g.Go(func() error { return ignoreClosed(apiSrv.Serve(apiLn)) })
	goLoop(leader.Run)
	goLoop(relay.Run)
	if kafkaMgr != nil {
		g.Go(func() error { return kafkaMgr.Run(gctx) })
	}
	goLoop(func(gctx context.Context) {
		// Replicas sharing PostgreSQL see each other's settings changes.
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return
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
		if cfg.wrapAzureHandler != nil {
			az.srv.Handler = cfg.wrapAzureHandler(az.srv.Handler)
		}
		g.Go(func() error { return ignoreClosed(az.srv.ServeTLS(az.ln, "", "")) })
		if plane != nil {
			goLoop(func(gctx context.Context) {
				plane.Follow(gctx, func() reach.Snapshot { return reachSnapshot(az.emu.Snapshot()) }, az.emu.Changed)
			})
		}
		// The embedded Azure's changes, this replica's and those the relay
		// brings from the others, wake the peerings they affect.
		watcher := &reconcile.EventWatcher{Client: az.client, URL: az.local, Token: cfg.OperatorToken, ProviderTenant: prov.TenantID,
			ProviderApp: prov.ClientID, Peerings: svc, Queue: leader, Logger: log.With("component", "events")}
		goLoop(watcher.Run)
	}
	g.Go(func() error {
		<-gctx.Done()
		// Connectors stop (and store their counts) while their hosts and
		// the store are still there.
		connectors.leading(false)
		shutdownHTTP(apiSrv, "api", log)
		if metricsSrv != nil {
			shutdownHTTP(metricsSrv, "metrics", log)
		}
		loops.Wait()
		if az != nil {
			// An HTTP/2 connection our own clients opened as the server
			// began to shut down would never hear its GOAWAY and hold
			// Shutdown to its deadline: close them from this side.
			az.client.CloseIdleConnections()
			shutdownHTTP(az.srv, "azure", log)
		}
		if plane != nil {
			return plane.Close()
		}
		return nil
	})
	endpoints := map[string]string{"api_url": "http://" + apiLn.Addr().String()}
	endpoints["metrics_url"] = endpoints["api_url"] + "/metrics"
	if metricsLn != nil {
		endpoints["metrics_url"] = "http://" + metricsLn.Addr().String() + "/metrics"
	}
	r := Ready{APIURL: endpoints["api_url"], MetricsURL: endpoints["metrics_url"], Provider: prov, Credentials: creds, Dataplane: plane,
		Kafka: clusterEndpoints(kafkaMgr), KafkaManager: kafkaMgr}
	if az != nil {
		endpoints["url"], endpoints["ca_file"] = az.url, az.tls.caFile
		r.AzureURL, r.CAFile = az.url, az.tls.caFile
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

// shutdownGrace is how long a stopping server waits for its requests in
// flight before it closes their connections.
const shutdownGrace = 5 * time.Second

// shutdownHTTP stops srv: it stops accepting, waits up to shutdownGrace
// for the requests in flight, then closes the connections still open (a
// client's idle HTTP/2 connection that never heard the GOAWAY, a request
// that outlives the grace). Either way the server is stopped: a slow
// client is logged, not the shutdown's failure.
func shutdownHTTP(srv *http.Server, name string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("connections still open after the shutdown grace; closing them", "server", name, "grace", shutdownGrace, "err", err)
		srv.Close()
	}
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
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

// embeddedAzure is the embedded Azure's listener, server and the client
// that trusts its CA.
type embeddedAzure struct {
	emu *azureemu.Emulator
	// url is the address its clients use (--azure-url, or the listener's);
	// local is this replica's listener, for what must reach this replica
	// itself: its event feed and network snapshot.
	url, local string
	tls        *azureTLS
	ln         net.Listener
	srv        *http.Server
	client     *http.Client
	prov       ProviderCredentials
}

// startEmbeddedAzure loads the embedded Azure from db, bootstraps the
// provider, seeds the demo and world files, and listens (not yet serving)
// on --azure-listen over TLS with a certificate from the installation's
// CA, or the operator's own (loadAzureTLS). The emulator's events go to
// the relay, and the relay's from other replicas to the emulator's feed.
// Run it under the identity lock.
func startEmbeddedAzure(ctx context.Context, cfg ServeConfig, db *store.DB, inst *installation, relay *reconcile.Relay, log *slog.Logger) (*embeddedAzure, error) {
	host := azureHost(cfg.AzureListen)
	names := []azureName{{host, "--azure-listen " + cfg.AzureListen}}
	if cfg.AzureURL != "" {
		u, _ := url.Parse(cfg.AzureURL) // validated
		names = append([]azureName{{u.Hostname(), "--azure-url " + cfg.AzureURL}}, names...)
	}
	tlsc, err := loadAzureTLS(cfg, names, func() (*tlsca.CA, error) { return inst.loadCA(ctx) })
	if err != nil {
		return nil, err
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
	local := "https://" + net.JoinHostPort(host, port)
	public := local
	if cfg.AzureURL != "" {
		public = strings.TrimRight(cfg.AzureURL, "/")
	}
	emu, err := azureemu.New(ctx, azureemu.Options{BaseURL: public, Store: db, OperatorToken: cfg.OperatorToken,
		OnEvents: relay.Events, Logger: log.With("component", "azure")})
	if err != nil {
		return nil, err
	}
	relay.OnEvents = emu.RelayEvents
	prov, err := bootstrapProvider(ctx, emu, cfg, inst)
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
		emu: emu, url: public, local: local, tls: tlsc, ln: ln, prov: prov,
		srv: &http.Server{Handler: emu, TLSConfig: &tls.Config{Certificates: []tls.Certificate{tlsc.cert}, MinVersion: tls.VersionTLS12},
			ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)},
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tlsc.roots}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}},
	}, nil
}
