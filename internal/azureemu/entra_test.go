package azureemu

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// updateGolden rewrites golden files (go test -run … -update). The flag
// may also be defined by other tests of the package; share it then.
var updateGolden = func() *bool {
	if f := flag.Lookup("update"); f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			if b, ok := g.Get().(bool); ok {
				v := b
				return &v
			}
		}
	}
	return flag.Bool("update", false, "rewrite golden files")
}()

func goldenUpdate() bool {
	if f := flag.Lookup("update"); f != nil {
		return f.Value.String() == "true"
	}
	return *updateGolden
}

var guidPattern = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// fixedIDs are ids the tests choose; they stay as they are in golden files.
var fixedIDs = map[string]bool{
	testProviderTenant: true, testProviderSub: true, testCustomerTenant: true, testCustomerSub: true,
	DefaultProviderAppID: true, AzureCLIClientID: true, testSingleTenantApp: true,
	"00000003-0000-0000-c000-000000000000": true,
}

// volatileKeys are JSON keys whose values change on every run.
var volatileKeys = map[string]bool{
	"access_token": true, "refresh_token": true, "id_token": true, "timestamp": true, "trace_id": true,
	"correlation_id": true, "request-id": true, "date": true, "device_code": true, "user_code": true,
	"createdDateTime": true, "endDateTime": true, "hint": true, "kid": true, "n": true, "x5t": true,
	"expires_on": true, "not_before": true, "client_info": true,
}

// normalizeJSON rewrites a JSON body for a golden file: the server's URL
// becomes https://emu, generated GUIDs become <id-N> in order of
// appearance, volatile values become "<volatile>", and keys are sorted.
func normalizeJSON(t testing.TB, base string, body []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	ids := map[string]string{}
	var walk func(any) any
	walk = func(x any) any {
		switch x := x.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if volatileKeys[k] && x[k] != nil {
					x[k] = "<volatile>"
					continue
				}
				x[k] = walk(x[k])
			}
			return x
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
			return x
		case string:
			s := strings.ReplaceAll(x, base, "https://emu")
			s = strings.ReplaceAll(s, strings.TrimPrefix(base, "https://"), "emu")
			return guidPattern.ReplaceAllStringFunc(s, func(g string) string {
				if fixedIDs[strings.ToLower(g)] {
					return g
				}
				if r, ok := ids[strings.ToLower(g)]; ok {
					return r
				}
				r := fmt.Sprintf("<id-%d>", len(ids)+1)
				ids[strings.ToLower(g)] = r
				return r
			})
		}
		return x
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(walk(v)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// golden compares a normalized JSON body with testdata/<dir>/<name>.json.
func golden(t testing.TB, base, dir, name string, body []byte) {
	t.Helper()
	got := normalizeJSON(t, base, body)
	path := filepath.Join("testdata", dir, name+".json")
	if goldenUpdate() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

const testSingleTenantApp = "55555555-5555-4555-8555-555555555555"

// entraWorld is two tenants, the provider's multi-tenant app (with a
// secret) in the provider tenant, and a non-admin user in the customer
// tenant.
type entraWorld struct {
	*testEmu
	secret       string
	singleSecret string
	clock        *testClock
}

const testCustomerUser = "user@contoso.example"

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newEntraWorld(t testing.TB) *entraWorld {
	t.Helper()
	te := newTestEmu(t, nil)
	clock := &testClock{t: time.Now()}
	te.now = clock.Now
	te.seedTwoTenants(t)
	ctx := context.Background()
	app, secret, err := te.CreateApplication(ctx, testProviderTenant, ApplicationSpec{AppID: DefaultProviderAppID, DisplayName: "Confluent Cloud Peering"})
	if err != nil {
		t.Fatal(err)
	}
	if !app.Multitenant() {
		t.Fatal("provider app should be multi-tenant")
	}
	_, single, err := te.CreateApplication(ctx, testProviderTenant, ApplicationSpec{AppID: testSingleTenantApp, DisplayName: "Provider Internal Tool", SignInAudience: "AzureADMyOrg"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := te.CreateUser(ctx, testCustomerTenant, UserSpec{UserPrincipalName: testCustomerUser, Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	return &entraWorld{testEmu: te, secret: secret, singleSecret: single, clock: clock}
}

// postForm posts a form to path on the emulator and returns status and body.
func (te *testEmu) postForm(t testing.TB, path string, form url.Values) (int, []byte) {
	t.Helper()
	resp, err := te.srv.Client().PostForm(te.srv.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (te *testEmu) get(t testing.TB, path, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, te.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := te.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func decodeMap(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

// passwordToken gets a token with the password grant and returns the
// whole response.
func (te *testEmu) passwordToken(t testing.TB, tenant, upn, scope string) map[string]any {
	t.Helper()
	code, b := te.postForm(t, "/"+tenant+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"password"}, "client_id": {AzureCLIClientID}, "username": {upn},
		"password": {testPassword}, "scope": {scope + " openid profile offline_access"}, "client_info": {"1"}})
	if code != 200 {
		t.Fatalf("password grant: %d %s", code, b)
	}
	return decodeMap(t, b)
}

func jwtClaims(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return decodeMap(t, b)
}

func (w *entraWorld) secretCred(t testing.TB, tenant, clientID, secret string) *azidentity.ClientSecretCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenant, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:              policy.ClientOptions{Cloud: w.cloudConfig(), Transport: w.srv.Client(), Retry: policy.RetryOptions{MaxRetries: -1}},
		DisableInstanceDiscovery:   true,
		AdditionallyAllowedTenants: []string{"*"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

var armScope = []string{"https://management.core.windows.net//.default"}

func TestEntraClientSecretCredentialAcrossTenants(t *testing.T) {
	w := newEntraWorld(t)
	ctx := context.Background()
	cred := w.secretCred(t, testProviderTenant, DefaultProviderAppID, w.secret)

	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: armScope})
	if err != nil {
		t.Fatalf("token in the home tenant: %v", err)
	}
	c, err := w.parseToken(tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	homeSP, _ := w.FindServicePrincipal(testProviderTenant, DefaultProviderAppID)
	if c.TenantID != testProviderTenant || c.ObjectID != homeSP.ID || c.AppID != DefaultProviderAppID || c.Audience != "https://management.core.windows.net/" || c.PrincipalType != "ServicePrincipal" {
		t.Errorf("home token caller = %+v", c)
	}

	// Before consent the customer tenant does not know the app.
	_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: armScope, TenantID: testCustomerTenant})
	if err == nil || !strings.Contains(err.Error(), "AADSTS700016") || !strings.Contains(err.Error(), "unauthorized_client") ||
		!strings.Contains(err.Error(), "Application with identifier '"+DefaultProviderAppID+"' was not found in the directory '"+testCustomerTenant+"'") {
		t.Fatalf("token before consent: err = %v, want AADSTS700016", err)
	}

	if err := w.update(ctx, func(tx *txn) error {
		_, err := w.ensureServicePrincipalTx(tx, testCustomerTenant, tx.s.apps[lower(DefaultProviderAppID)])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	tok, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: armScope, TenantID: testCustomerTenant})
	if err != nil {
		t.Fatalf("token after consent: %v", err)
	}
	c, _ = w.parseToken(tok.Token)
	custSP, _ := w.FindServicePrincipal(testCustomerTenant, DefaultProviderAppID)
	if c.TenantID != testCustomerTenant || c.ObjectID != custSP.ID {
		t.Errorf("customer token caller = %+v, want oid %s", c, custSP.ID)
	}

	// The wrong secret is invalid_client.
	bad := w.secretCred(t, testProviderTenant, DefaultProviderAppID, "not-the-secret")
	if _, err := bad.GetToken(ctx, policy.TokenRequestOptions{Scopes: armScope}); err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Errorf("wrong secret: %v", err)
	}
	// A single-tenant app never gets a token in another tenant.
	single := w.secretCred(t, testCustomerTenant, testSingleTenantApp, w.singleSecret)
	if _, err := single.GetToken(ctx, policy.TokenRequestOptions{Scopes: armScope}); err == nil || !strings.Contains(err.Error(), "AADSTS700016") {
		t.Errorf("single-tenant app in another tenant: %v", err)
	}
}

func TestEntraTokenErrorsWire(t *testing.T) {
	w := newEntraWorld(t)
	cases := []struct {
		name   string
		path   string
		form   url.Values
		status int
		code   string
		aadsts string
	}{
		{"missing_grant_type", "/" + testProviderTenant + "/oauth2/v2.0/token", url.Values{}, 400, "invalid_request", "AADSTS900144"},
		{"unsupported_grant", "/" + testProviderTenant + "/oauth2/v2.0/token", url.Values{"grant_type": {"implicit"}, "client_id": {DefaultProviderAppID}}, 400, "unsupported_grant_type", "AADSTS70003"},
		{"missing_scope", "/" + testProviderTenant + "/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultProviderAppID}, "client_secret": {w.secret}}, 400, "invalid_request", "AADSTS900144"},
		{"not_consented", "/" + testCustomerTenant + "/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultProviderAppID}, "client_secret": {w.secret}, "scope": {"https://management.azure.com/.default"}}, 400, "unauthorized_client", "AADSTS700016"},
		{"wrong_secret", "/" + testProviderTenant + "/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultProviderAppID}, "client_secret": {"x"}, "scope": {"https://management.azure.com/.default"}}, 401, "invalid_client", "AADSTS7000215"},
		{"no_secret", "/" + testProviderTenant + "/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultProviderAppID}, "scope": {"https://management.azure.com/.default"}}, 401, "invalid_client", "AADSTS7000218"},
		{"app_scope_without_default", "/" + testProviderTenant + "/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultProviderAppID}, "client_secret": {w.secret}, "scope": {"https://management.azure.com/user_impersonation"}}, 400, "invalid_scope", "AADSTS1002012"},
		{"unknown_resource", "/" + testProviderTenant + "/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultProviderAppID}, "client_secret": {w.secret}, "scope": {"https://vault.azure.net/.default"}}, 400, "invalid_resource", "AADSTS500011"},
		{"two_resources", "/" + testProviderTenant + "/oauth2/v2.0/token", url.Values{"grant_type": {"password"}, "client_id": {AzureCLIClientID}, "username": {testCustomerAdmin}, "password": {testPassword}, "scope": {"https://management.azure.com/.default https://graph.microsoft.com/.default"}}, 400, "invalid_scope", "AADSTS28000"},
		{"common_client_credentials", "/common/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultProviderAppID}, "client_secret": {w.secret}, "scope": {"https://management.azure.com/.default"}}, 400, "invalid_request", "AADSTS50059"},
		{"unknown_tenant", "/99999999-9999-4999-8999-999999999999/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}}, 400, "invalid_tenant", "AADSTS90002"},
		{"wrong_password", "/" + testCustomerTenant + "/oauth2/v2.0/token", url.Values{"grant_type": {"password"}, "client_id": {AzureCLIClientID}, "username": {testCustomerAdmin}, "password": {"nope"}, "scope": {"https://management.core.windows.net//.default"}}, 400, "invalid_grant", "AADSTS50126"},
		{"user_in_other_tenant", "/" + testProviderTenant + "/oauth2/v2.0/token", url.Values{"grant_type": {"password"}, "client_id": {AzureCLIClientID}, "username": {testCustomerAdmin}, "password": {testPassword}, "scope": {"https://management.core.windows.net//.default"}}, 400, "invalid_grant", "AADSTS50034"},
		{"missing_username", "/" + testCustomerTenant + "/oauth2/v2.0/token", url.Values{"grant_type": {"password"}, "client_id": {AzureCLIClientID}, "scope": {"https://management.core.windows.net//.default"}}, 400, "invalid_request", "AADSTS900144"},
		{"bad_refresh_token", "/common/oauth2/v2.0/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {AzureCLIClientID}, "refresh_token": {"abc.def.ghi"}}, 400, "invalid_grant", "AADSTS9002313"},
		{"unknown_device_code", "/common/oauth2/v2.0/token", url.Values{"grant_type": {grantDeviceCode}, "client_id": {AzureCLIClientID}, "device_code": {"nope"}}, 400, "invalid_grant", "AADSTS70000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, b := w.postForm(t, tc.path, tc.form)
			m := decodeMap(t, b)
			if status != tc.status || m["error"] != tc.code || !strings.HasPrefix(fmt.Sprint(m["error_description"]), tc.aadsts+": ") {
				t.Fatalf("got %d %s, want %d %s %s", status, b, tc.status, tc.code, tc.aadsts)
			}
			golden(t, w.srv.URL, "entra", "token_error_"+tc.name, b)
		})
	}
	// GET on the token endpoint is refused, not served.
	if status, _ := w.get(t, "/"+testProviderTenant+"/oauth2/v2.0/token", ""); status != http.StatusMethodNotAllowed {
		t.Errorf("GET token endpoint: %d", status)
	}
}

func TestEntraDiscoveryDocuments(t *testing.T) {
	w := newEntraWorld(t)
	for _, tc := range []struct{ name, path string }{
		{"openid_v2_tenant", "/" + testCustomerTenant + "/v2.0/.well-known/openid-configuration"},
		{"openid_v2_domain", "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"},
		{"openid_v2_common", "/common/v2.0/.well-known/openid-configuration"},
		{"openid_v1_tenant", "/" + testCustomerTenant + "/.well-known/openid-configuration"},
		{"openid_adfs", "/adfs/.well-known/openid-configuration"},
		{"jwks", "/" + testCustomerTenant + "/discovery/v2.0/keys"},
		{"jwks_adfs", "/adfs/discovery/keys"},
		{"userrealm", "/common/userrealm/admin@contoso.example?api-version=1.0"},
		{"instance_discovery", "/common/discovery/instance?api-version=1.1&authorization_endpoint=" + url.QueryEscape("https://x/organizations/oauth2/v2.0/authorize")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, b := w.get(t, tc.path, "")
			if status != 200 {
				t.Fatalf("%d %s", status, b)
			}
			golden(t, w.srv.URL, "entra", tc.name, b)
		})
	}
	status, b := w.get(t, "/nosuchtenant.example/v2.0/.well-known/openid-configuration", "")
	if status != 400 || !strings.Contains(string(b), "AADSTS90002") {
		t.Errorf("unknown tenant: %d %s", status, b)
	}
	if status, _ := w.get(t, "/"+testCustomerTenant+"/nosuch", ""); status != 404 {
		t.Errorf("unknown endpoint: %d", status)
	}
}

func TestEntraPasswordGrant(t *testing.T) {
	w := newEntraWorld(t)
	resp := w.passwordToken(t, testCustomerTenant, testCustomerAdmin, "https://management.core.windows.net//.default")
	golden(t, w.srv.URL, "entra", "token_password", mustJSON(t, resp))
	adminID := w.userID(t, testCustomerAdmin)
	at := jwtClaims(t, resp["access_token"].(string))
	if audOf(at) != "https://management.core.windows.net/" || at["tid"] != testCustomerTenant || at["oid"] != adminID || at["idtyp"] != "user" || at["appid"] != AzureCLIClientID {
		t.Errorf("access token claims = %v", at)
	}
	idt := jwtClaims(t, resp["id_token"].(string))
	if idt["aud"] != AzureCLIClientID || idt["iss"] != w.srv.URL+"/"+testCustomerTenant+"/v2.0" || idt["preferred_username"] != testCustomerAdmin || idt["oid"] != adminID {
		t.Errorf("id token claims = %v", idt)
	}
	ci, _ := base64.RawURLEncoding.DecodeString(resp["client_info"].(string))
	if string(ci) != fmt.Sprintf(`{"uid":"%s","utid":"%s"}`, adminID, testCustomerTenant) {
		t.Errorf("client_info = %s", ci)
	}

	// Scope spellings keep the resource's own trailing slash.
	for scope, aud := range map[string]string{
		"https://management.azure.com/.default":                   "https://management.azure.com",
		w.srv.URL + "/graph//.default":                            w.srv.URL + "/graph/",
		"https://management.core.windows.net//user_impersonation": "https://management.core.windows.net/",
	} {
		r := w.passwordToken(t, "organizations", testCustomerAdmin, scope)
		if got := audOf(jwtClaims(t, r["access_token"].(string))); got != aud {
			t.Errorf("scope %s: aud %v, want %s", scope, got, aud)
		}
	}

	// ADFS: the tenant comes from the user name.
	r := w.passwordToken(t, "adfs", testCustomerUser, "https://management.core.windows.net//.default")
	if c := jwtClaims(t, r["access_token"].(string)); c["tid"] != testCustomerTenant {
		t.Errorf("adfs token tid = %v", c["tid"])
	}
	if c := jwtClaims(t, r["id_token"].(string)); c["iss"] != w.srv.URL+"/adfs" {
		t.Errorf("adfs id token iss = %v", c["iss"])
	}

	// v1 endpoint with resource=.
	status, b := w.postForm(t, "/"+testCustomerTenant+"/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {AzureCLIClientID},
		"username": {testCustomerAdmin}, "password": {testPassword}, "resource": {"https://management.core.windows.net/"}})
	if status != 200 {
		t.Fatalf("v1 password grant: %d %s", status, b)
	}
	v1 := decodeMap(t, b)
	if v1["resource"] != "https://management.core.windows.net/" || v1["expires_on"] == nil {
		t.Errorf("v1 response = %v", v1)
	}

	// The SDK's UsernamePasswordCredential (user realm discovery, then ROPC).
	cred, err := azidentity.NewUsernamePasswordCredential(testCustomerTenant, AzureCLIClientID, testCustomerAdmin, testPassword, &azidentity.UsernamePasswordCredentialOptions{
		ClientOptions:            policy.ClientOptions{Cloud: w.cloudConfig(), Transport: w.srv.Client()},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: armScope})
	if err != nil {
		t.Fatalf("UsernamePasswordCredential: %v", err)
	}
	if c, err := w.parseToken(tok.Token); err != nil || c.ObjectID != adminID {
		t.Errorf("sdk user token: %+v %v", c, err)
	}
}

// audOf returns a JWT's audience, whether a string or a one-element array.
func audOf(claims map[string]any) string {
	switch a := claims["aud"].(type) {
	case string:
		return a
	case []any:
		if len(a) == 1 {
			return fmt.Sprint(a[0])
		}
	}
	return fmt.Sprint(claims["aud"])
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEntraTokenExpiryEnforced(t *testing.T) {
	w := newEntraWorld(t)
	resp := w.passwordToken(t, testCustomerTenant, testCustomerAdmin, w.srv.URL+"/graph//.default")
	at := resp["access_token"].(string)
	if status, b := w.get(t, "/graph/v1.0/me", at); status != 200 {
		t.Fatalf("fresh token: %d %s", status, b)
	}
	w.clock.Advance(time.Hour + time.Second)
	status, b := w.get(t, "/graph/v1.0/me", at)
	if status != 401 || !strings.Contains(string(b), "InvalidAuthenticationToken") {
		t.Errorf("expired token: %d %s", status, b)
	}
	// The SDK credential honours the clock too: an expired app token is refused by ARM audiences.
	cred := w.secretCred(t, testProviderTenant, DefaultProviderAppID, w.secret)
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: armScope})
	if err != nil {
		t.Fatal(err)
	}
	// Checked once while fresh, its signature is not checked again: its
	// expiry still is.
	if _, err := w.parseToken(tok.Token); err != nil {
		t.Fatalf("parse fresh app token: %v", err)
	}
	w.clock.Advance(2 * time.Hour)
	if _, err := w.parseToken(tok.Token); err != errTokenExpired {
		t.Errorf("parse expired app token: %v", err)
	}
}

func TestEntraRefreshTokenSurvivesRestart(t *testing.T) {
	w := newEntraWorld(t)
	resp := w.passwordToken(t, testCustomerTenant, testCustomerAdmin, "https://management.core.windows.net//.default")
	rt := resp["refresh_token"].(string)

	// A refresh token is not an access token.
	if status, _ := w.get(t, "/graph/v1.0/me", rt); status != 401 {
		t.Errorf("refresh token used as access token: %d", status)
	}
	if _, err := w.parseToken(rt); err == nil {
		t.Error("parseToken accepted a refresh token")
	}

	// Restart: a new emulator over the same store and address.
	e2, err := New(context.Background(), Options{BaseURL: w.srv.URL, Store: w.store, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	w.srv.Config.Handler = e2
	w.clock.Advance(2 * time.Hour) // the access token has expired; the refresh token has not
	status, b := w.postForm(t, "/organizations/oauth2/v2.0/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {AzureCLIClientID},
		"refresh_token": {rt}, "scope": {w.srv.URL + "/graph//.default offline_access openid profile"}})
	if status != 200 {
		t.Fatalf("refresh after restart: %d %s", status, b)
	}
	r2 := decodeMap(t, b)
	if c := jwtClaims(t, r2["access_token"].(string)); audOf(c) != w.srv.URL+"/graph/" || c["tid"] != testCustomerTenant {
		t.Errorf("refreshed token claims: %v", c)
	}
	if status, b := w.get(t, "/graph/v1.0/me", r2["access_token"].(string)); status != 200 {
		t.Errorf("refreshed token on Graph: %d %s", status, b)
	}
	// Another client cannot redeem it; nor can another tenant.
	status, b = w.postForm(t, "/organizations/oauth2/v2.0/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {DefaultProviderAppID}, "refresh_token": {rt}})
	if status != 400 || !strings.Contains(string(b), "invalid_grant") {
		t.Errorf("refresh with another client: %d %s", status, b)
	}
	status, b = w.postForm(t, "/"+testProviderTenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {AzureCLIClientID}, "refresh_token": {rt}})
	if status != 400 || !strings.Contains(string(b), "AADSTS50034") {
		t.Errorf("refresh in another tenant: %d %s", status, b)
	}
	// Expired refresh token.
	w.clock.Advance(refreshTokenLifetime)
	status, b = w.postForm(t, "/organizations/oauth2/v2.0/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {AzureCLIClientID}, "refresh_token": {rt}})
	if status != 400 || !strings.Contains(string(b), "AADSTS700082") {
		t.Errorf("expired refresh token: %d %s", status, b)
	}
}

// browser is an HTTP client with cookies, as a browser on the emulator's
// pages.
func (te *testEmu) browser(t testing.TB) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := *te.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// openForm GETs a page and returns its CSRF token.
func openForm(t testing.TB, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	m := csrfRE.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no CSRF token in %s", b)
	}
	return string(m[1])
}

func submit(t testing.TB, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestEntraDeviceCodeCredential(t *testing.T) {
	w := newEntraWorld(t)
	prompted := false
	cred, err := azidentity.NewDeviceCodeCredential(&azidentity.DeviceCodeCredentialOptions{
		ClientOptions:            policy.ClientOptions{Cloud: w.cloudConfig(), Transport: w.srv.Client()},
		DisableInstanceDiscovery: true,
		TenantID:                 "organizations",
		ClientID:                 AzureCLIClientID,
		UserPrompt: func(ctx context.Context, m azidentity.DeviceCodeMessage) error {
			prompted = true
			if m.VerificationURL != w.srv.URL+"/devicelogin" || !strings.Contains(m.Message, m.UserCode) {
				t.Errorf("device code message = %+v", m)
			}
			b := w.browser(t)
			tok := openForm(t, b, m.VerificationURL)
			// A wrong password shows the error and approves nothing.
			resp, body := submit(t, b, m.VerificationURL, url.Values{"csrf_token": {tok}, "code": {m.UserCode}, "username": {testCustomerUser}, "password": {"wrong"}})
			if resp.StatusCode != 401 || !strings.Contains(body, "AADSTS50126") {
				t.Errorf("wrong password: %d %s", resp.StatusCode, body)
			}
			resp, body = submit(t, b, m.VerificationURL, url.Values{"csrf_token": {tok}, "code": {strings.ToLower(m.UserCode)}, "username": {testCustomerUser}, "password": {testPassword}})
			if resp.StatusCode != 200 || !strings.Contains(body, "You have signed in") {
				t.Errorf("device login: %d %s", resp.StatusCode, body)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: armScope})
	if err != nil {
		t.Fatalf("device code: %v", err)
	}
	if !prompted {
		t.Fatal("no prompt")
	}
	c, err := w.parseToken(tok.Token)
	if err != nil || c.ObjectID != w.userID(t, testCustomerUser) || c.TenantID != testCustomerTenant {
		t.Errorf("device code token: %+v %v", c, err)
	}
}

func TestEntraDeviceCodeWire(t *testing.T) {
	w := newEntraWorld(t)
	status, b := w.postForm(t, "/adfs/oauth2/v2.0/devicecode", url.Values{"client_id": {AzureCLIClientID}, "scope": {"https://management.core.windows.net//.default offline_access"}})
	if status != 200 {
		t.Fatalf("devicecode: %d %s", status, b)
	}
	dc := decodeMap(t, b)
	golden(t, w.srv.URL, "entra", "devicecode", bytes.ReplaceAll(b, []byte(dc["user_code"].(string)), []byte("USERCODE")))
	poll := func() (int, map[string]any) {
		s, b := w.postForm(t, "/adfs/oauth2/v2.0/token", url.Values{"grant_type": {grantDeviceCode}, "client_id": {AzureCLIClientID}, "device_code": {dc["device_code"].(string)}})
		return s, decodeMap(t, b)
	}
	if s, m := poll(); s != 400 || m["error"] != "authorization_pending" {
		t.Fatalf("pending: %d %v", s, m)
	}
	// The login page refuses a POST without the page's token.
	b2 := w.browser(t)
	resp, body := submit(t, b2, w.srv.URL+"/devicelogin", url.Values{"code": {dc["user_code"].(string)}, "username": {testCustomerAdmin}, "password": {testPassword}})
	if resp.StatusCode != 403 {
		t.Errorf("devicelogin without CSRF token: %d %s", resp.StatusCode, body)
	}
	if s, m := poll(); s != 400 || m["error"] != "authorization_pending" {
		t.Fatalf("still pending: %d %v", s, m)
	}
	tok := openForm(t, b2, w.srv.URL+"/devicelogin?otc="+dc["user_code"].(string))
	if resp, body := submit(t, b2, w.srv.URL+"/devicelogin", url.Values{"csrf_token": {tok}, "code": {dc["user_code"].(string)}, "username": {testCustomerAdmin}, "password": {testPassword}}); resp.StatusCode != 200 {
		t.Fatalf("approve: %d %s", resp.StatusCode, body)
	}
	s, m := poll()
	if s != 200 || m["access_token"] == nil || m["refresh_token"] == nil || m["id_token"] == nil {
		t.Fatalf("approved: %d %v", s, m)
	}
	if s, m := poll(); s != 400 || m["error"] != "invalid_grant" {
		t.Errorf("redeemed twice: %d %v", s, m)
	}

	// Expiry.
	status, b = w.postForm(t, "/"+testCustomerTenant+"/oauth2/v2.0/devicecode", url.Values{"client_id": {AzureCLIClientID}, "scope": {"https://management.core.windows.net//.default"}})
	if status != 200 {
		t.Fatal(status, string(b))
	}
	dc = decodeMap(t, b)
	w.clock.Advance(deviceCodeLifetime + time.Second)
	if s, m := poll(); s != 400 || m["error"] != "expired_token" {
		t.Errorf("expired: %d %v", s, m)
	}
}

func TestConsentPage(t *testing.T) {
	w := newEntraWorld(t)
	consentURL := w.srv.URL + "/" + testCustomerTenant + "/oauth2/authorize?client_id=" + DefaultProviderAppID + "&response_type=code"

	// The page names the app and the publisher and says what approving does.
	b := w.browser(t)
	resp, err := b.Get(consentURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"Confluent Cloud Peering", "Provider (" + testProviderTenant + ")", "creates the app&#39;s service principal in your tenant",
		`<label for="username">`, `id="username" name="username"`, `id="password" name="password"`, `id="accept"`, `id="cancel"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("headers: %v", resp.Header)
	}
	tok := csrfRE.FindStringSubmatch(string(page))[1]

	// Without the token (or from another browser) nothing happens.
	other := w.browser(t)
	if r, body := submit(t, other, consentURL, url.Values{"csrf_token": {tok}, "action": {"accept"}, "username": {testCustomerAdmin}, "password": {testPassword}}); r.StatusCode != 403 {
		t.Errorf("CSRF token from another browser: %d %s", r.StatusCode, body)
	}
	if r, _ := submit(t, b, consentURL, url.Values{"action": {"accept"}, "username": {testCustomerAdmin}, "password": {testPassword}}); r.StatusCode != 403 {
		t.Errorf("no CSRF token: %d", r.StatusCode)
	}
	// A token for another page does not work here.
	tokOther := openForm(t, b, w.srv.URL+"/organizations/v2.0/adminconsent?client_id="+DefaultProviderAppID)
	if r, _ := submit(t, b, consentURL, url.Values{"csrf_token": {tokOther}, "action": {"accept"}, "username": {testCustomerAdmin}, "password": {testPassword}}); r.StatusCode != 403 {
		t.Errorf("token of another page: %d", r.StatusCode)
	}
	if r, _ := submit(t, b, consentURL, url.Values{"csrf_token": {"1.abc"}, "action": {"accept"}, "username": {testCustomerAdmin}, "password": {testPassword}}); r.StatusCode != 403 {
		t.Errorf("forged token: %d", r.StatusCode)
	}
	if _, ok := w.FindServicePrincipal(testCustomerTenant, DefaultProviderAppID); ok {
		t.Fatal("service principal created without a valid CSRF token")
	}

	// Wrong password: the form again, with the error.
	r, body := submit(t, b, consentURL, url.Values{"csrf_token": {tok}, "action": {"accept"}, "username": {testCustomerAdmin}, "password": {"wrong"}})
	if r.StatusCode != 401 || !strings.Contains(body, "AADSTS50126") || !strings.Contains(body, `value="`+testCustomerAdmin+`"`) {
		t.Errorf("wrong password: %d %s", r.StatusCode, body)
	}
	// A non-admin is refused.
	r, body = submit(t, b, consentURL, url.Values{"csrf_token": {tok}, "action": {"accept"}, "username": {testCustomerUser}, "password": {testPassword}})
	if r.StatusCode != 403 || !strings.Contains(body, "AADSTS90094") || !strings.Contains(body, "only an administrator can grant") {
		t.Errorf("non-admin: %d %s", r.StatusCode, body)
	}
	// An admin of another tenant cannot consent for this one.
	r, body = submit(t, b, consentURL, url.Values{"csrf_token": {tok}, "action": {"accept"}, "username": {testProviderAdmin}, "password": {testPassword}})
	if r.StatusCode != 401 || !strings.Contains(body, "AADSTS50034") {
		t.Errorf("admin of another tenant: %d %s", r.StatusCode, body)
	}
	if _, ok := w.FindServicePrincipal(testCustomerTenant, DefaultProviderAppID); ok {
		t.Fatal("service principal created by a refused consent")
	}

	// The admin approves, twice: one service principal, one event.
	_, last, _ := w.events.since(0)
	r, body = submit(t, b, consentURL, url.Values{"csrf_token": {tok}, "action": {"accept"}, "username": {testCustomerAdmin}, "password": {testPassword}})
	sp, ok := w.FindServicePrincipal(testCustomerTenant, DefaultProviderAppID)
	if r.StatusCode != 200 || !ok || !strings.Contains(body, sp.ID) {
		t.Fatalf("admin consent: %d %s", r.StatusCode, body)
	}
	tok2 := openForm(t, b, w.srv.URL+"/organizations/v2.0/adminconsent?client_id="+DefaultProviderAppID)
	r, body = submit(t, b, w.srv.URL+"/organizations/v2.0/adminconsent?client_id="+DefaultProviderAppID, url.Values{"csrf_token": {tok2}, "action": {"accept"}, "username": {testCustomerAdmin}, "password": {testPassword}})
	if r.StatusCode != 200 || !strings.Contains(body, sp.ID) {
		t.Fatalf("second consent: %d %s", r.StatusCode, body)
	}
	n := 0
	w.view(func(s *state) {
		for _, x := range s.sps {
			if x.AppID == DefaultProviderAppID && x.TenantID == testCustomerTenant {
				n++
			}
		}
	})
	evs, _, _ := w.events.since(last)
	consents := 0
	admin := w.userID(t, testCustomerAdmin)
	for _, ev := range evs {
		if ev.Type == EventConsent {
			consents++
			// The consent is the signed-in administrator's change.
			if ev.Actor != admin {
				t.Errorf("the consent event's actor is %q, want the admin %s", ev.Actor, admin)
			}
		}
	}
	if n != 1 || consents != 1 {
		t.Errorf("after two approvals: %d service principals, %d consent events", n, consents)
	}
	// The app now gets tokens in the customer tenant.
	if _, err := w.secretCred(t, testCustomerTenant, DefaultProviderAppID, w.secret).GetToken(context.Background(), policy.TokenRequestOptions{Scopes: armScope}); err != nil {
		t.Errorf("token after consent: %v", err)
	}
}

func TestConsentPageRedirectAndRefusals(t *testing.T) {
	w := newEntraWorld(t)
	if err := w.AddApplicationRedirectURI(context.Background(), DefaultProviderAppID, "http://127.0.0.1:9/done"); err != nil {
		t.Fatal(err)
	}
	b := w.browser(t)
	u := w.srv.URL + "/" + testCustomerTenant + "/v2.0/adminconsent?client_id=" + DefaultProviderAppID + "&redirect_uri=" + url.QueryEscape("http://127.0.0.1:9/done") + "&state=xyz"
	tok := openForm(t, b, u)
	r, body := submit(t, b, u, url.Values{"csrf_token": {tok}, "action": {"cancel"}})
	if r.StatusCode != 302 || !strings.Contains(r.Header.Get("Location"), "error=access_denied") || !strings.Contains(r.Header.Get("Location"), "state=xyz") {
		t.Errorf("cancel: %d %v %s", r.StatusCode, r.Header, body)
	}
	r, body = submit(t, b, u, url.Values{"csrf_token": {tok}, "action": {"accept"}, "username": {testCustomerAdmin}, "password": {testPassword}})
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != 302 || loc.Query().Get("admin_consent") != "True" || loc.Query().Get("tenant") != testCustomerTenant || loc.Query().Get("state") != "xyz" || loc.Host != "127.0.0.1:9" {
		t.Errorf("accept: %d %v %s", r.StatusCode, r.Header, body)
	}

	for _, tc := range []struct {
		name, path string
		status     int
		want       string
	}{
		{"unknown app", "/" + testCustomerTenant + "/oauth2/authorize?response_type=code&client_id=99999999-9999-4999-8999-999999999999", 400, "AADSTS700016"},
		{"missing client_id", "/" + testCustomerTenant + "/oauth2/authorize?response_type=code", 400, "AADSTS900144"},
		{"missing response_type", "/" + testCustomerTenant + "/oauth2/authorize?client_id=" + DefaultProviderAppID, 400, "AADSTS900144"},
		{"single-tenant app", "/" + testCustomerTenant + "/oauth2/v2.0/authorize?response_type=code&client_id=" + testSingleTenantApp, 400, "AADSTS50194"},
		{"unknown tenant", "/nosuch.example/oauth2/authorize?response_type=code&client_id=" + DefaultProviderAppID, 400, "AADSTS90002"},
		{"bad redirect", "/" + testCustomerTenant + "/v2.0/adminconsent?client_id=" + DefaultProviderAppID + "&redirect_uri=javascript:alert(1)", 400, "AADSTS50011"},
	} {
		status, body := w.get(t, tc.path, "")
		if status != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d, want %d %s: %s", tc.name, status, tc.status, tc.want, body)
		}
	}
	// Single-tenant app via organizations: the customer admin is refused on POST.
	su := w.srv.URL + "/organizations/v2.0/adminconsent?client_id=" + testSingleTenantApp
	tok = openForm(t, b, su)
	r, body = submit(t, b, su, url.Values{"csrf_token": {tok}, "action": {"accept"}, "username": {testCustomerAdmin}, "password": {testPassword}})
	if r.StatusCode != 400 || !strings.Contains(body, "AADSTS50194") {
		t.Errorf("single-tenant via organizations: %d %s", r.StatusCode, body)
	}
	if _, ok := w.FindServicePrincipal(testCustomerTenant, testSingleTenantApp); ok {
		t.Error("single-tenant app consented in another tenant")
	}
}
