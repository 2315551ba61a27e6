package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/seal"
	"github.com/peerplane/peerplane/internal/store"
	"github.com/peerplane/peerplane/internal/tlsca"
)

// The installation's identity lives in the store (store.DB.LoadIdentity),
// one document per name, its secrets sealed with the secret key, so that
// every replica serves the same provider, CA and bootstrap API key. The
// data directory keeps copies for the operator and the clients:
// provider.json, credentials.json and azure-ca.pem.
const (
	identityProvider = "provider"
	identityCA       = "azure-ca"
	identityAPIKey   = "bootstrap-api-key"

	// secretKeyFile holds the secret key generated on SQLite when none is
	// given.
	secretKeyFile = "secret.key"
)

// installation reads and writes the identity in the store.
type installation struct {
	db  *store.DB
	box *seal.Box
	dir string // the data directory
	log *slog.Logger
}

// openInstallation returns the installation of db with the secret key of
// cfg: $PEERPLANE_SECRET_KEY, else the file --secret-key-file names. On
// SQLite without either it uses DATA_DIR/secret.key, generating it on
// first start; on PostgreSQL, where replicas share the identity, a key
// must be given, the same to every replica.
func openInstallation(cfg ServeConfig, db *store.DB, log *slog.Logger) (*installation, error) {
	key := cfg.SecretKey
	if key == "" && cfg.SecretKeyFile != "" {
		b, err := os.ReadFile(cfg.SecretKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--secret-key-file: %w", err)
		}
		key = strings.TrimSpace(string(b))
	}
	if key == "" && db.Dialect() == store.DialectPostgres {
		return nil, errors.New("--store postgres://… needs a secret key, the same on every replica, to seal the provider's credentials in the database: " +
			"set $PEERPLANE_SECRET_KEY, or --secret-key-file, to a random value of at least 32 characters (e.g. `openssl rand -base64 32`)")
	}
	if key == "" {
		path := filepath.Join(cfg.DataDir, secretKeyFile)
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			key = seal.NewSecret()
			if err := tlsca.WriteFileAtomic(path, []byte(key+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("write the generated secret key: %w", err)
			}
			log.Info("generated a secret key to seal the provider's credentials", "file", path)
		case err != nil:
			return nil, fmt.Errorf("read the secret key: %w", err)
		default:
			key = strings.TrimSpace(string(b))
		}
	}
	box, err := seal.New(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &installation{db: db, box: box, dir: cfg.DataDir, log: log}, nil
}

// load decodes the identity document name into v (its sealed fields
// still sealed). It reports whether there was one.
func (in *installation) load(ctx context.Context, name string, v any) (bool, error) {
	b, err := in.db.LoadIdentity(ctx, name)
	if err != nil || b == nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("identity %s in the store: %w", name, err)
	}
	return true, nil
}

// save stores v as the identity document name.
func (in *installation) save(ctx context.Context, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return in.db.SaveIdentity(ctx, name, b)
}

// seal seals a secret field of document name.
func (in *installation) seal(name, field, plain string) string {
	if plain == "" {
		return ""
	}
	return in.box.Seal(name+"/"+field, []byte(plain))
}

// open opens a sealed field of document name.
func (in *installation) open(name, field, sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	b, err := in.box.Open(name+"/"+field, sealed)
	if errors.Is(err, seal.ErrOpen) {
		return "", fmt.Errorf("the %s of the installation's %s, in the store, does not open with this secret key: give every replica the key the installation was created with", field, name)
	}
	if err != nil {
		return "", fmt.Errorf("%s of %s in the store: %w", field, name, err)
	}
	return string(b), nil
}

// storedCA is the embedded Azure's CA as stored.
type storedCA struct {
	CertPEM string `json:"cert_pem"`
	KeyPEM  string `json:"key_pem"` // sealed
}

// loadCA returns the embedded Azure's CA from the store. An installation
// that has none there yet adopts the one in the data directory (from
// before the store kept it), or gets a new one. Every replica writes the
// certificate to DATA_DIR/azure-ca.pem for its clients; the key stays in
// the store.
func (in *installation) loadCA(ctx context.Context) (*tlsca.CA, error) {
	var sc storedCA
	ok, err := in.load(ctx, identityCA, &sc)
	if err != nil {
		return nil, err
	}
	var ca *tlsca.CA
	if ok {
		key, err := in.open(identityCA, "key", sc.KeyPEM)
		if err != nil {
			return nil, err
		}
		if ca, err = tlsca.Parse([]byte(sc.CertPEM), []byte(key)); err != nil {
			return nil, fmt.Errorf("the CA in the store: %w", err)
		}
		if old, err := tlsca.Load(in.dir); err == nil && !old.Cert.Equal(ca.Cert) {
			in.log.Warn("the data directory's CA is not the installation's: using the one in the store", "dir", in.dir)
		}
	} else {
		switch ca, err = tlsca.Load(in.dir); {
		case errors.Is(err, os.ErrNotExist):
			if ca, err = tlsca.New(); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		default:
			in.log.Info("moving the data directory's CA into the store", "dir", in.dir)
		}
		keyPEM, err := ca.KeyPEM()
		if err != nil {
			return nil, err
		}
		if err := in.save(ctx, identityCA, storedCA{CertPEM: string(ca.CertPEM), KeyPEM: in.seal(identityCA, "key", string(keyPEM))}); err != nil {
			return nil, err
		}
	}
	if err := ca.WriteCert(in.dir); err != nil {
		return nil, err
	}
	return ca, nil
}

// storedProvider is the provider's identity as stored.
type storedProvider struct {
	TenantID       string `json:"tenant_id"`
	SubscriptionID string `json:"subscription_id"`
	ClientID       string `json:"client_id"`
	ClientSecret   string `json:"client_secret"` // sealed
	AdminUser      string `json:"admin_user"`
	AdminPassword  string `json:"admin_password"` // sealed
}

// loadProvider returns the provider's identity from the store, and
// whether there was one.
func (in *installation) loadProvider(ctx context.Context) (ProviderCredentials, bool, error) {
	var sp storedProvider
	ok, err := in.load(ctx, identityProvider, &sp)
	if !ok || err != nil {
		return ProviderCredentials{}, ok, err
	}
	pc := ProviderCredentials{TenantID: sp.TenantID, SubscriptionID: sp.SubscriptionID, ClientID: sp.ClientID, AdminUser: sp.AdminUser}
	if pc.ClientSecret, err = in.open(identityProvider, "client_secret", sp.ClientSecret); err != nil {
		return pc, true, err
	}
	if pc.AdminPassword, err = in.open(identityProvider, "admin_password", sp.AdminPassword); err != nil {
		return pc, true, err
	}
	return pc, true, nil
}

func (in *installation) saveProvider(ctx context.Context, pc ProviderCredentials) error {
	return in.save(ctx, identityProvider, storedProvider{
		TenantID: pc.TenantID, SubscriptionID: pc.SubscriptionID, ClientID: pc.ClientID, AdminUser: pc.AdminUser,
		ClientSecret:  in.seal(identityProvider, "client_secret", pc.ClientSecret),
		AdminPassword: in.seal(identityProvider, "admin_password", pc.AdminPassword),
	})
}

// bootstrapProvider makes sure the provider tenant, its subscription and
// its multi-tenant app exist, that the app's service principal may manage
// networks in the provider subscription, and that the store holds the
// provider's identity with a working client secret; it writes a copy to
// DATA_DIR/provider.json. An installation whose identity is not in the
// store yet adopts DATA_DIR/provider.json when there is one. It is
// idempotent; run it under the store's identity lock.
func bootstrapProvider(ctx context.Context, emu *azureemu.Emulator, cfg ServeConfig, in *installation) (ProviderCredentials, error) {
	path := filepath.Join(cfg.DataDir, "provider.json")
	pc, stored, err := in.loadProvider(ctx)
	if err != nil {
		return pc, err
	}
	var file ProviderCredentials
	fileBytes, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(fileBytes, &file); err != nil {
			return pc, fmt.Errorf("%s: %w", path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return pc, err
	}
	switch {
	case !stored && file.TenantID != "":
		in.log.Info("moving the provider's identity from provider.json into the store", "tenant", file.TenantID)
		pc = file
	case stored && file.TenantID != "" && file != pc:
		in.log.Warn("provider.json is not the installation's provider: rewriting it from the store", "file_tenant", file.TenantID, "tenant", pc.TenantID)
	}
	if cfg.ProviderTenantID != "" {
		if stored && !strings.EqualFold(pc.TenantID, cfg.ProviderTenantID) {
			return pc, fmt.Errorf("--provider-tenant-id %s is not this installation's provider tenant %s (kept in the store)", cfg.ProviderTenantID, pc.TenantID)
		}
		pc.TenantID = cfg.ProviderTenantID
	}
	before := pc
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
			var ee *azureemu.Error
			if errors.As(err, &ee) && ee.Code == "DomainAlreadyExists" {
				return pc, fmt.Errorf("%w: the embedded Azure holds a provider tenant, but the store has no provider identity: "+
					"start one replica, once, with the data directory holding the installation's provider.json, so that it moves the identity into the store", err)
			}
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
	if !stored || pc != before {
		if err := in.saveProvider(ctx, pc); err != nil {
			return pc, err
		}
	}
	b, _ := json.MarshalIndent(pc, "", "  ")
	if b = append(b, '\n'); !bytes.Equal(b, fileBytes) {
		if err := tlsca.WriteFileAtomic(path, b, 0o600); err != nil {
			return pc, err
		}
	}
	return pc, nil
}

func randomPassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return "Pp1-" + base64.RawURLEncoding.EncodeToString(b)
}

// storedAPIKey is the bootstrap API key as stored.
type storedAPIKey struct {
	APIKey         string `json:"api_key"`
	APISecret      string `json:"api_secret"` // sealed
	OrganizationID string `json:"organization_id"`
}

// bootstrapOrganization makes sure an operator organization exists and
// that DATA_DIR/credentials.json holds one of its API keys: the
// installation's bootstrap key, kept in the store so that every replica
// writes the same one. A key is created only when no working one is left:
// on the first start of an installation, or after the bootstrap key was
// deleted through the API (the new one replaces it in the store); a
// replica joining with an empty data directory creates none. A
// credentials.json whose key still works is kept as it is (and becomes the
// bootstrap key of an installation from before the store kept one). Run
// it under the store's identity lock.
func bootstrapOrganization(ctx context.Context, svc *control.Service, dir string, in *installation) (Credentials, error) {
	path := filepath.Join(dir, "credentials.json")
	works := func(c Credentials) bool {
		if c.APIKey == "" {
			return false
		}
		_, err := svc.Authenticate(ctx, c.APIKey, c.APISecret)
		return err == nil
	}
	var stored Credentials
	var sk storedAPIKey
	hasStored, err := in.load(ctx, identityAPIKey, &sk)
	if err != nil {
		return Credentials{}, err
	}
	if hasStored {
		secret, err := in.open(identityAPIKey, "api_secret", sk.APISecret)
		if err != nil {
			return Credentials{}, err
		}
		stored = Credentials{APIKey: sk.APIKey, APISecret: secret, OrganizationID: sk.OrganizationID}
	}
	var file Credentials
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &file); err != nil {
			return file, fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return file, err
	}
	save := func(c Credentials) error {
		return in.save(ctx, identityAPIKey, storedAPIKey{APIKey: c.APIKey, OrganizationID: c.OrganizationID, APISecret: in.seal(identityAPIKey, "api_secret", c.APISecret)})
	}
	write := func(c Credentials) error {
		b, _ := json.MarshalIndent(c, "", "  ")
		return tlsca.WriteFileAtomic(path, append(b, '\n'), 0o600)
	}
	switch {
	case works(file):
		if !hasStored || !works(stored) {
			return file, save(file)
		}
		return file, nil
	case works(stored):
		return stored, write(stored)
	}
	if hasStored {
		in.log.Warn("the bootstrap API key no longer works (deleted through the API?): creating another", "api_key", stored.APIKey)
	}
	octx := control.NewOperatorContext(ctx)
	orgs, _, err := svc.FindOrganizations(octx, control.Page{Size: 100})
	if err != nil {
		return Credentials{}, err
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
			return Credentials{}, err
		}
	}
	key, secret, err := svc.CreateAPIKey(octx, org.ID, "created by peerplane serve")
	if err != nil {
		return Credentials{}, err
	}
	c := Credentials{APIKey: key.Key, APISecret: secret, OrganizationID: org.ID}
	if err := save(c); err != nil {
		return c, err
	}
	return c, write(c)
}
