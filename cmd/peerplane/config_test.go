package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestServeConfigFromFlagsAndEnv(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c ServeConfig)
		wantErr string
	}{
		{name: "defaults", check: func(t *testing.T, c ServeConfig) {
			if c.DataDir != ".data" || c.Listen != "127.0.0.1:8080" || c.AzureListen != "127.0.0.1:8443" || c.ProviderAppID != "f0955e3a-9013-4cf4-a1ea-21587621c9cc" || c.Demo {
				t.Fatalf("defaults = %+v", c)
			}
		}},
		{name: "env", env: map[string]string{"PEERPLANE_DATA_DIR": "/tmp/x", "PEERPLANE_LISTEN": "127.0.0.1:9", "PEERPLANE_DEMO": "true"}, check: func(t *testing.T, c ServeConfig) {
			if c.DataDir != "/tmp/x" || c.Listen != "127.0.0.1:9" || !c.Demo {
				t.Fatalf("from env = %+v", c)
			}
		}},
		{name: "flags beat env", args: []string{"--data-dir", "/d", "--azure-listen", "127.0.0.1:0"}, env: map[string]string{"PEERPLANE_DATA_DIR": "/tmp/x"}, check: func(t *testing.T, c ServeConfig) {
			if c.DataDir != "/d" || c.AzureListen != "127.0.0.1:0" {
				t.Fatalf("flags = %+v", c)
			}
		}},
		{name: "rate limit default", check: func(t *testing.T, c ServeConfig) {
			if c.APIRateLimit != 200 || c.APIRateBurst != 400 {
				t.Fatalf("rate limit defaults = %v/%d", c.APIRateLimit, c.APIRateBurst)
			}
		}},
		{name: "rate limit off", args: []string{"--api-rate-limit", "0"}, check: func(t *testing.T, c ServeConfig) {
			if c.APIRateLimit != 0 {
				t.Fatalf("rate limit = %v", c.APIRateLimit)
			}
		}},
		{name: "bad rate limit env", env: map[string]string{"PEERPLANE_API_RATE_LIMIT": "fast"}, wantErr: "--api-rate-limit"},
		{name: "negative rate limit", args: []string{"--api-rate-limit", "-1"}, wantErr: "--api-rate-limit"},
		{name: "bad rate burst", args: []string{"--api-rate-burst", "0"}, wantErr: "--api-rate-burst"},
		{name: "bad listen", args: []string{"--listen", "8080"}, wantErr: "--listen"},
		{name: "bad app id", args: []string{"--provider-app-id", "nope"}, wantErr: "--provider-app-id"},
		{name: "bad tenant id", args: []string{"--provider-tenant-id", "x"}, wantErr: "--provider-tenant-id"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: "--log-level"},
		{name: "log format default", check: func(t *testing.T, c ServeConfig) {
			if c.LogFormat != "text" || c.MetricsListen != "" {
				t.Fatalf("log format %q, metrics listen %q", c.LogFormat, c.MetricsListen)
			}
		}},
		{name: "log format and metrics listener from env", env: map[string]string{"PEERPLANE_LOG_FORMAT": "json", "PEERPLANE_METRICS_LISTEN": "127.0.0.1:9090"}, check: func(t *testing.T, c ServeConfig) {
			if c.LogFormat != "json" || c.MetricsListen != "127.0.0.1:9090" {
				t.Fatalf("log format %q, metrics listen %q", c.LogFormat, c.MetricsListen)
			}
		}},
		{name: "bad log format", args: []string{"--log-format", "xml"}, wantErr: "--log-format"},
		{name: "bad log format env", env: map[string]string{"PEERPLANE_LOG_FORMAT": "JSON "}, wantErr: "PEERPLANE_LOG_FORMAT"},
		{name: "bad metrics listen", args: []string{"--metrics-listen", "9090"}, wantErr: "--metrics-listen"},
		{name: "empty data dir", args: []string{"--data-dir", ""}, wantErr: "--data-dir"},
		{name: "external azure needs a tenant", args: []string{"--external-azure"}, wantErr: "--provider-tenant-id"},
		{name: "external azure needs a subscription", args: []string{"--external-azure", "--provider-tenant-id", "11111111-1111-4111-8111-111111111111"}, wantErr: "--provider-subscription-id"},
		{name: "external azure needs a secret", args: []string{"--external-azure", "--provider-tenant-id", "11111111-1111-4111-8111-111111111111", "--provider-subscription-id", "22222222-2222-4222-8222-222222222222"}, wantErr: "PEERPLANE_PROVIDER_CLIENT_SECRET"},
		{name: "external azure takes no demo", args: []string{"--external-azure", "--demo", "--provider-tenant-id", "11111111-1111-4111-8111-111111111111", "--provider-subscription-id", "22222222-2222-4222-8222-222222222222"}, env: map[string]string{"PEERPLANE_PROVIDER_CLIENT_SECRET": "s"}, wantErr: "--demo"},
		{name: "tls cert without key", args: []string{"--azure-tls-cert", "c.pem", "--azure-ca-file", "ca.pem"}, wantErr: "--azure-tls-key"},
		{name: "tls key without cert", env: map[string]string{"PEERPLANE_AZURE_TLS_KEY": "k.pem"}, wantErr: "--azure-tls-cert and --azure-tls-key go together"},
		{name: "tls cert needs its CA", args: []string{"--azure-tls-cert", "c.pem", "--azure-tls-key", "k.pem"}, wantErr: "--azure-tls-cert needs --azure-ca-file"},
		{name: "tls cert is the embedded azure's", args: []string{"--external-azure", "--provider-tenant-id", "11111111-1111-4111-8111-111111111111", "--provider-subscription-id", "22222222-2222-4222-8222-222222222222",
			"--azure-tls-cert", "c.pem", "--azure-tls-key", "k.pem", "--azure-ca-file", "ca.pem"}, env: map[string]string{"PEERPLANE_PROVIDER_CLIENT_SECRET": "s"}, wantErr: "do not go with --external-azure"},
		{name: "ca file alone", args: []string{"--azure-ca-file", "ca.pem"}, wantErr: "--azure-ca-file goes with --external-azure or --azure-tls-cert"},
		{name: "tls from env", env: map[string]string{"PEERPLANE_AZURE_TLS_CERT": "c.pem", "PEERPLANE_AZURE_TLS_KEY": "k.pem", "PEERPLANE_AZURE_CA_FILE": "ca.pem"}, check: func(t *testing.T, c ServeConfig) {
			if c.AzureTLSCert != "c.pem" || c.AzureTLSKey != "k.pem" || c.AzureCAFile != "ca.pem" {
				t.Fatalf("tls from env = %+v", c)
			}
		}},
		{name: "external azure", args: []string{"--external-azure", "--provider-tenant-id", "11111111-1111-4111-8111-111111111111", "--provider-subscription-id", "22222222-2222-4222-8222-222222222222"}, env: map[string]string{"PEERPLANE_PROVIDER_CLIENT_SECRET": "s"}, check: func(t *testing.T, c ServeConfig) {
			if !c.ExternalAzure || c.ProviderClientSecret != "s" || c.AzureARMEndpoint != "https://management.azure.com" || c.AzureAuthorityHost != "https://login.microsoftonline.com/" {
				t.Fatalf("external azure config = %+v", c)
			}
		}},
		{name: "data plane default", check: func(t *testing.T, c ServeConfig) {
			if c.Dataplane != dataplaneAuto {
				t.Fatalf("--dataplane default = %q", c.Dataplane)
			}
		}},
		{name: "data plane flag beats env", args: []string{"--dataplane", "netns"}, env: map[string]string{"PEERPLANE_DATAPLANE": "off"}, check: func(t *testing.T, c ServeConfig) {
			if c.Dataplane != dataplaneNetns {
				t.Fatalf("--dataplane = %q", c.Dataplane)
			}
		}},
		{name: "bad data plane", args: []string{"--dataplane", "on"}, wantErr: "--dataplane"},
		{name: "private dns domain default", check: func(t *testing.T, c ServeConfig) {
			if c.PrivateDNSDomain != "confluent.cloud" {
				t.Fatalf("--private-dns-domain default = %q", c.PrivateDNSDomain)
			}
		}},
		{name: "private dns domain from env", env: map[string]string{"PEERPLANE_PRIVATE_DNS_DOMAIN": "example.test"}, check: func(t *testing.T, c ServeConfig) {
			if c.PrivateDNSDomain != "example.test" {
				t.Fatalf("--private-dns-domain = %q", c.PrivateDNSDomain)
			}
		}},
		{name: "bad private dns domain", args: []string{"--private-dns-domain", "no_dots"}, wantErr: "--private-dns-domain"},
		{name: "bad private dns domain env", env: map[string]string{"PEERPLANE_PRIVATE_DNS_DOMAIN": "a..b"}, wantErr: "PEERPLANE_PRIVATE_DNS_DOMAIN"},
		{name: "bad data plane env", env: map[string]string{"PEERPLANE_DATAPLANE": "yes"}, wantErr: "PEERPLANE_DATAPLANE"},
		{name: "data plane netns with a real azure", args: []string{"--dataplane", "netns", "--external-azure", "--provider-tenant-id", "11111111-1111-4111-8111-111111111111", "--provider-subscription-id", "22222222-2222-4222-8222-222222222222"}, env: map[string]string{"PEERPLANE_PROVIDER_CLIENT_SECRET": "s"}, wantErr: "--external-azure"},
		{name: "lease and reconcile defaults", check: func(t *testing.T, c ServeConfig) {
			if c.leaseTTL() != 6*time.Second || c.reconcileTimeout() != 5*time.Second {
				t.Fatalf("lease %v, reconcile timeout %v; want 6s and 5s", c.leaseTTL(), c.reconcileTimeout())
			}
		}},
		{name: "resync default", check: func(t *testing.T, c ServeConfig) {
			if c.resync() != 0 {
				t.Fatalf("resync %v with the embedded Azure, want 0 (the reconciler's default)", c.resync())
			}
		}},
		{name: "resync default against a real azure", args: []string{"--external-azure", "--provider-tenant-id", "11111111-1111-4111-8111-111111111111", "--provider-subscription-id", "22222222-2222-4222-8222-222222222222"}, env: map[string]string{"PEERPLANE_PROVIDER_CLIENT_SECRET": "s"}, check: func(t *testing.T, c ServeConfig) {
			if c.resync() != externalResync {
				t.Fatalf("resync %v with --external-azure, want %v", c.resync(), externalResync)
			}
		}},
		{name: "resync from env", env: map[string]string{"PEERPLANE_RESYNC": "2m"}, check: func(t *testing.T, c ServeConfig) {
			if c.resync() != 2*time.Minute {
				t.Fatalf("resync %v, want 2m", c.resync())
			}
		}},
		{name: "negative resync", args: []string{"--resync", "-1m"}, wantErr: "--resync"},
		{name: "bad resync env", env: map[string]string{"PEERPLANE_RESYNC": "hourly"}, wantErr: "--resync"},
		{name: "reconcile timeout follows the lease", args: []string{"--lease-ttl", "600ms"}, check: func(t *testing.T, c ServeConfig) {
			if c.reconcileTimeout() != 500*time.Millisecond {
				t.Fatalf("reconcile timeout %v with a lease of 600ms, want 500ms", c.reconcileTimeout())
			}
		}},
		{name: "reconcile timeout from env", env: map[string]string{"PEERPLANE_RECONCILE_TIMEOUT": "3s"}, check: func(t *testing.T, c ServeConfig) {
			if c.reconcileTimeout() != 3*time.Second {
				t.Fatalf("reconcile timeout %v, want 3s", c.reconcileTimeout())
			}
		}},
		{name: "reconcile timeout not under the lease", args: []string{"--lease-ttl", "2s", "--reconcile-timeout", "2s"}, wantErr: "--reconcile-timeout"},
		{name: "bad reconcile timeout env", env: map[string]string{"PEERPLANE_RECONCILE_TIMEOUT": "soon"}, wantErr: "--reconcile-timeout"},
		{name: "bad lease env", env: map[string]string{"PEERPLANE_LEASE_TTL": "long"}, wantErr: "--lease-ttl"},
		{name: "secret key from env and file flag", args: []string{"--secret-key-file", "/run/secrets/k"}, env: map[string]string{"PEERPLANE_SECRET_KEY": "k"}, check: func(t *testing.T, c ServeConfig) {
			if c.SecretKey != "k" || c.SecretKeyFile != "/run/secrets/k" {
				t.Fatalf("secret key %q, file %q", c.SecretKey, c.SecretKeyFile)
			}
		}},
		{name: "azure url", args: []string{"--azure-url", "https://azure.example:8443"}, check: func(t *testing.T, c ServeConfig) {
			if c.AzureURL != "https://azure.example:8443" {
				t.Fatalf("azure url %q", c.AzureURL)
			}
		}},
		{name: "azure url not https", args: []string{"--azure-url", "http://azure.example"}, wantErr: "--azure-url"},
		{name: "azure url with a path", env: map[string]string{"PEERPLANE_AZURE_URL": "https://azure.example/x"}, wantErr: "--azure-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c ServeConfig
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			bindServeFlags(fs, &c, func(k string) string { return tt.env[k] })
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := c.validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("validate() = %v, want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
