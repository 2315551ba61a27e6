package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/spf13/cobra"
)

// Client ids of the customer side.
const (
	// AzureCLIClientID is the az CLI's public client id, which the
	// customer's sign-in uses, as az does.
	AzureCLIClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
	// DefaultProviderAppID is the provider's multi-tenant app (Confluent's).
	DefaultProviderAppID = "f0955e3a-9013-4cf4-a1ea-21587621c9cc"
	// armAudience is the audience az and the SDK ask for ARM tokens.
	armAudience = "https://management.core.windows.net/"
)

// AzureSession is the customer's sign-in to the embedded Azure, kept in
// the config file by `peerplane azure login`. It holds the tenant, the user
// name and short-lived access tokens (as az keeps its token cache), never
// the password.
type AzureSession struct {
	URL      string                 `json:"url"`
	CAFile   string                 `json:"ca_file,omitempty"`
	Tenant   string                 `json:"tenant"`
	Username string                 `json:"username"`
	Tokens   map[string]cachedToken `json:"tokens,omitempty"` // by resource
}

type cachedToken struct {
	Token     string    `json:"access_token"`
	ExpiresOn time.Time `json:"expires_on"`
}

// azureTarget is an embedded Azure's URL and the HTTP client trusting its CA.
type azureTarget struct {
	url    string
	caFile string
	http   *http.Client
}

// cloudConfig is the cloud configuration for the embedded Azure.
func (t *azureTarget) cloudConfig() cloud.Configuration {
	return cloud.Configuration{
		ActiveDirectoryAuthorityHost: t.url + "/",
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Audience: armAudience, Endpoint: t.url},
		},
	}
}

func (t *azureTarget) clientOptions() policy.ClientOptions {
	return policy.ClientOptions{Cloud: t.cloudConfig(), Transport: t.http}
}

func (t *azureTarget) armOptions() *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: t.clientOptions()}
}

func (t *azureTarget) graphResource() string { return t.url + "/graph/" }

func newAzureTarget(azURL, caFile string) (*azureTarget, error) {
	u, err := url.Parse(azURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("embedded Azure URL %q: want https://host:port", azURL)
	}
	hc := &http.Client{Timeout: 60 * time.Second}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}
	}
	return &azureTarget{url: strings.TrimRight(azURL, "/"), caFile: caFile, http: hc}, nil
}

// azureFlags are the flags that find the embedded Azure at sign-in.
type azureFlags struct {
	dataDir, azureURL, caFile string
}

// target resolves the embedded Azure: --azure-url and --ca-file, else
// DATA_DIR/endpoints.json (--data-dir, $PEERPLANE_DATA_DIR, .data).
func (a *app) azureTarget(cmd *cobra.Command, f azureFlags) (*azureTarget, error) {
	switch {
	case f.azureURL != "" && f.caFile == "":
		return nil, usageError(cmd, "--azure-url needs --ca-file")
	case f.azureURL == "" && f.caFile != "":
		return nil, usageError(cmd, "--ca-file needs --azure-url")
	case f.azureURL != "":
		ca, _ := filepath.Abs(f.caFile)
		return newAzureTarget(f.azureURL, ca)
	}
	dir := f.dataDir
	if dir == "" {
		dir = a.getenv("PEERPLANE_DATA_DIR")
	}
	if dir == "" {
		dir = ".data"
	}
	sf, err := readDataDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if sf.AzureURL == "" {
		return nil, fmt.Errorf("no embedded Azure in %s: start `peerplane serve --data-dir %s` first, or pass --azure-url and --ca-file", filepath.Join(dir, "endpoints.json"), dir)
	}
	return newAzureTarget(sf.AzureURL, sf.CAFile)
}

// resourceOf turns a scope ("https://x/.default") into its resource.
func resourceOf(scope string) string {
	return strings.TrimRight(strings.TrimSuffix(scope, ".default"), "/")
}

// sessionCredential serves the tokens cached at sign-in.
type sessionCredential struct{ s *AzureSession }

func (c sessionCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	for _, scope := range opts.Scopes {
		if t, ok := c.s.Tokens[resourceOf(scope)]; ok && time.Until(t.ExpiresOn) > time.Minute {
			return azcore.AccessToken{Token: t.Token, ExpiresOn: t.ExpiresOn}, nil
		}
	}
	return azcore.AccessToken{}, fmt.Errorf("the Azure session of %s has expired: run `peerplane azure login` again, or set $PEERPLANE_AZURE_PASSWORD", c.s.Username)
}

// azureSession returns the signed-in session, its target and a credential:
// from $PEERPLANE_AZURE_PASSWORD when set (fresh tokens), else the tokens
// cached at sign-in.
func (a *app) azureSession() (*AzureSession, *azureTarget, azcore.TokenCredential, error) {
	cfg, _, err := a.loadConfig()
	if err != nil {
		return nil, nil, nil, err
	}
	s := cfg.Azure
	if s == nil || s.URL == "" {
		return nil, nil, nil, errors.New("not signed in to Azure: run `peerplane azure login --username USER` first")
	}
	t, err := newAzureTarget(s.URL, s.CAFile)
	if err != nil {
		return nil, nil, nil, err
	}
	if pw := a.getenv("PEERPLANE_AZURE_PASSWORD"); pw != "" {
		cred, err := t.userCredential(s.Tenant, s.Username, pw)
		return s, t, cred, err
	}
	return s, t, sessionCredential{s}, nil
}

func (t *azureTarget) userCredential(tenant, user, password string) (azcore.TokenCredential, error) {
	//lint:ignore SA1019 the embedded Azure's customer admin signs in with a password, as `az login --username --password` does.
	return azidentity.NewUsernamePasswordCredential(tenant, AzureCLIClientID, user, password, &azidentity.UsernamePasswordCredentialOptions{
		ClientOptions:            t.clientOptions(),
		DisableInstanceDiscovery: true,
	})
}

// azureError explains an Azure SDK error with Azure's code and message.
func azureError(err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		code, msg := re.ErrorCode, ""
		if re.RawResponse != nil && re.RawResponse.Body != nil {
			b, _ := io.ReadAll(re.RawResponse.Body)
			code2, msg2 := parseAzureBody(b)
			if code == "" {
				code = code2
			}
			msg = msg2
		}
		if msg == "" {
			msg = http.StatusText(re.StatusCode)
		}
		if code == "" {
			return fmt.Errorf("Azure: %s (HTTP %d)", msg, re.StatusCode)
		}
		return fmt.Errorf("Azure: (%s) %s", code, msg)
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) {
		msg := afe.Error()
		if afe.RawResponse != nil && afe.RawResponse.Body != nil {
			b, _ := io.ReadAll(afe.RawResponse.Body)
			var body struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if json.Unmarshal(b, &body) == nil && body.Description != "" {
				msg = body.Description
			}
		}
		return fmt.Errorf("Azure sign-in failed: %s", msg)
	}
	return err
}

// parseAzureBody reads ARM's {"error":{"code","message"}} (Graph's too).
func parseAzureBody(b []byte) (code, msg string) {
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil {
		return body.Error.Code, body.Error.Message
	}
	return "", ""
}

// jwtClaim returns a claim of an (unverified) JWT.
func jwtClaim(token, claim string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	s, _ := m[claim].(string)
	return s
}

// graph calls Microsoft Graph v1.0 on the embedded Azure with a token from
// cred; out, when not nil, receives the JSON answer.
func (t *azureTarget) graph(ctx context.Context, cred azcore.TokenCredential, method, path string, body, out any) (int, error) {
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{t.graphResource() + "/.default"}})
	if err != nil {
		return 0, azureError(err)
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.url+"/graph/v1.0/"+strings.TrimLeft(path, "/"), rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the embedded Azure at %s: %w", t.url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		code, msg := parseAzureBody(b)
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return resp.StatusCode, fmt.Errorf("Graph: (%s) %s", code, msg)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("Graph's answer is not JSON: %w", err)
		}
	}
	return resp.StatusCode, nil
}

// printAzure prints an Azure object as az does (JSON by default).
func printAzure(w io.Writer, format string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if format == outHuman {
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil {
			return printRaw(w, outJSON, raw)
		}
		var fields [][2]string
		for _, k := range []string{"id", "name", "location", "displayName", "appId", "roleName", "principalId", "roleDefinitionId", "scope"} {
			if s, ok := m[k].(string); ok {
				fields = append(fields, [2]string{k, s})
			}
		}
		if props, ok := m["properties"].(map[string]any); ok {
			for _, k := range []string{"roleName", "principalId", "roleDefinitionId", "scope", "provisioningState"} {
				if s, ok := props[k].(string); ok {
					fields = append(fields, [2]string{k, s})
				}
			}
			if as, ok := props["addressSpace"].(map[string]any); ok {
				fields = append(fields, [2]string{"addressPrefixes", fmt.Sprint(as["addressPrefixes"])})
			}
		}
		if tags, ok := m["tags"].(map[string]any); ok {
			for k, v := range tags {
				fields = append(fields, [2]string{"tags." + k, fmt.Sprint(v)})
			}
		}
		printFields(w, fields)
		return nil
	}
	return printRaw(w, format, raw)
}

// addAzureOutputFlag is -o for the azure commands: json by default, as az.
func addAzureOutputFlag(cmd *cobra.Command, out *string) {
	cmd.Flags().StringVarP(out, "output", "o", outJSON, "output format: json, yaml or human")
}

func (a *app) addAzureCommands(az *cobra.Command) {
	az.AddCommand(a.newAzureLoginCmd(), a.newAzureConsentCmd(), a.newAzureVNetCmd(), a.newAzureRoleCmd())
}

func (a *app) newAzureLoginCmd() *cobra.Command {
	var (
		f                      azureFlags
		user, password, tenant string
	)
	cmd := &cobra.Command{
		Use:   "login --username USER [--password PASSWORD] [--tenant TENANT]",
		Short: "Sign in to the embedded Azure as a customer user (like az login)",
		Long: `Sign in to the embedded Azure as a user of a customer tenant, as
` + "`az login --username --password`" + ` does, with the az CLI's client id.

The password comes from --password or $PEERPLANE_AZURE_PASSWORD and is never
written anywhere: the config file keeps the tenant, the user name and the
access tokens (valid for an hour, mode 0600), as az keeps its token cache.
When they expire, sign in again, or keep $PEERPLANE_AZURE_PASSWORD set and
every command signs in afresh.

The tenant defaults to the domain of the user name. The embedded Azure is
found in DATA_DIR/endpoints.json (--data-dir, $PEERPLANE_DATA_DIR, .data),
or given with --azure-url and --ca-file.`,
		Example: `  peerplane azure login --username admin@contoso.example --password Contoso-demo-pass1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if password == "" {
				password = a.getenv("PEERPLANE_AZURE_PASSWORD")
			}
			if password == "" {
				return usageError(cmd, "pass --password, or set $PEERPLANE_AZURE_PASSWORD")
			}
			if tenant == "" {
				_, domain, ok := strings.Cut(user, "@")
				if !ok || domain == "" {
					return usageError(cmd, "--username %q is not user@domain; pass --tenant", user)
				}
				tenant = domain
			}
			t, err := a.azureTarget(cmd, f)
			if err != nil {
				return err
			}
			cred, err := t.userCredential(tenant, user, password)
			if err != nil {
				return err
			}
			s := &AzureSession{URL: t.url, CAFile: t.caFile, Username: user, Tokens: map[string]cachedToken{}}
			for _, res := range []string{armAudience, t.graphResource()} {
				tok, err := cred.GetToken(cmd.Context(), policy.TokenRequestOptions{Scopes: []string{res + "/.default"}})
				if err != nil {
					return azureError(err)
				}
				s.Tokens[resourceOf(res+"/.default")] = cachedToken{Token: tok.Token, ExpiresOn: tok.ExpiresOn}
				if tid := jwtClaim(tok.Token, "tid"); tid != "" {
					s.Tenant = tid
				}
			}
			if s.Tenant == "" {
				s.Tenant = tenant
			}
			path, err := a.updateConfig(func(c *Config) { c.Azure = s })
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Signed in to tenant %s as %s (session in %s).\n", s.Tenant, user, path)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&user, "username", "u", "", "user name, e.g. admin@contoso.example")
	fs.StringVarP(&password, "password", "p", "", "password ($PEERPLANE_AZURE_PASSWORD); never stored")
	fs.StringVarP(&tenant, "tenant", "t", "", "tenant id or domain (default: the user name's domain)")
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory of peerplane serve ($PEERPLANE_DATA_DIR, default .data)")
	fs.StringVar(&f.azureURL, "azure-url", "", "URL of the embedded Azure, instead of DATA_DIR/endpoints.json (needs --ca-file)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM file of the embedded Azure's CA (with --azure-url)")
	_ = cmd.MarkFlagRequired("username")
	return cmd
}

func (a *app) newAzureConsentCmd() *cobra.Command {
	var tenant, appID, out string
	cmd := &cobra.Command{
		Use:   "consent --tenant TENANT [--app-id APP_ID]",
		Short: "Grant admin consent to the provider app in your tenant (like az ad sp create --id)",
		Long: `Create the provider app's service principal in your tenant, as a tenant
administrator's admin consent (or ` + "`az ad sp create --id APP_ID`" + `) does, through
Microsoft Graph (POST /graph/v1.0/servicePrincipals). Consenting twice is not
an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, out); err != nil {
				return err
			}
			s, t, cred, err := a.azureSession()
			if err != nil {
				return err
			}
			if tenant != "" && !strings.EqualFold(tenant, s.Tenant) {
				return fmt.Errorf("signed in to tenant %s, not %s: run `peerplane azure login --tenant %s` as that tenant's administrator", s.Tenant, tenant, tenant)
			}
			var sp map[string]any
			status, err := t.graph(cmd.Context(), cred, http.MethodPost, "servicePrincipals", map[string]string{"appId": appID}, &sp)
			if status == http.StatusConflict {
				var list struct {
					Value []map[string]any `json:"value"`
				}
				if _, err := t.graph(cmd.Context(), cred, http.MethodGet, "servicePrincipals?$filter="+url.QueryEscape("appId eq '"+appID+"'"), nil, &list); err != nil {
					return err
				}
				if len(list.Value) > 0 {
					sp = list.Value[0]
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "The app %s already has a service principal in tenant %s.\n", appID, s.Tenant)
			} else if err != nil {
				if status == http.StatusForbidden {
					return fmt.Errorf("%w\nAdmin consent needs a Global Administrator of tenant %s.", err, s.Tenant)
				}
				return err
			}
			delete(sp, "@odata.context")
			return printAzure(cmd.OutOrStdout(), out, sp)
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "your tenant id (default: the signed-in tenant)")
	cmd.Flags().StringVar(&appID, "app-id", DefaultProviderAppID, "the provider app's client id")
	addAzureOutputFlag(cmd, &out)
	return cmd
}

// armGet reads an ARM path (with api-version added) into out.
func armGet(ctx context.Context, t *azureTarget, cred azcore.TokenCredential, path string, out any) error {
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{armAudience + "/.default"}})
	if err != nil {
		return azureError(err)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url+path+sep+"api-version=2022-12-01", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := t.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the embedded Azure at %s: %w", t.url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		code, msg := parseAzureBody(b)
		return fmt.Errorf("Azure: (%s) %s", code, msg)
	}
	return json.Unmarshal(b, out)
}
