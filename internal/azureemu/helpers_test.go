package azureemu

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Shared test fixtures. Fixed ids keep golden files stable.
const (
	testProviderTenant = "11111111-1111-4111-8111-111111111111"
	testProviderSub    = "22222222-2222-4222-8222-222222222222"
	testCustomerTenant = "33333333-3333-4333-8333-333333333333"
	testCustomerSub    = "44444444-4444-4444-8444-444444444444"
	testCustomerAdmin  = "admin@contoso.example"
	testProviderAdmin  = "admin@provider.example"
	testPassword       = "Passw0rd!Passw0rd"
)

// testEmu is an emulator behind a real TLS listener on 127.0.0.1.
type testEmu struct {
	*Emulator
	srv   *httptest.Server
	store DocStore
}

// newTestEmu starts an emulator over TLS with store (nil: a fresh
// MemoryDocStore). The server closes when the test ends.
func newTestEmu(t testing.TB, store DocStore) *testEmu {
	t.Helper()
	if store == nil {
		store = &MemoryDocStore{}
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e, err := New(context.Background(), Options{BaseURL: srv.URL, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = e
	// Every test's last state must be what its store loads into.
	t.Cleanup(func() { checkIndexes(t, e) })
	return &testEmu{Emulator: e, srv: srv, store: store}
}

// seedTwoTenants creates a provider and a customer tenant, each with an
// admin and a subscription the admin owns.
func (e *Emulator) seedTwoTenants(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	for _, s := range []struct{ tenant, sub, admin, name string }{
		{testProviderTenant, testProviderSub, testProviderAdmin, "Provider"},
		{testCustomerTenant, testCustomerSub, testCustomerAdmin, "Contoso"},
	} {
		if _, err := e.CreateTenant(ctx, TenantSpec{ID: s.tenant, DisplayName: s.name, Admin: &UserSpec{UserPrincipalName: s.admin, Password: testPassword}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.CreateSubscription(ctx, s.tenant, SubscriptionSpec{ID: s.sub, DisplayName: s.name + " subscription"}); err != nil {
			t.Fatal(err)
		}
	}
}

// cloudConfig points the Azure SDK at the test emulator.
func (te *testEmu) cloudConfig() cloud.Configuration {
	return cloud.Configuration{
		ActiveDirectoryAuthorityHost: te.srv.URL + "/",
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Audience: "https://management.core.windows.net/", Endpoint: te.srv.URL},
		},
	}
}

// armOptions are client options for the arm* SDK clients, trusting the
// test server's certificate and polling fast.
func (te *testEmu) armOptions(auxTenants ...string) *arm.ClientOptions {
	return &arm.ClientOptions{
		ClientOptions: policy.ClientOptions{
			Cloud:     te.cloudConfig(),
			Transport: te.srv.Client(),
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		AuxiliaryTenants: auxTenants,
	}
}

// staticCred is an azcore.TokenCredential that mints emulator tokens for a
// fixed principal, per tenant, without going through the token endpoint.
type staticCred struct {
	e      *Emulator
	caller map[string]Caller // by tenant id; "" is the default
}

func (c staticCred) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	who, ok := c.caller[opts.TenantID]
	if !ok {
		who = c.caller[""]
	}
	tok, exp, err := c.e.issueToken(who, "https://management.core.windows.net/", "")
	return azcore.AccessToken{Token: tok, ExpiresOn: exp}, err
}

// credFor returns a credential acting as the principal with object id oid
// in tenant (a user if isUser).
func (te *testEmu) credFor(tenant, oid string, isUser bool) staticCred {
	pt := "ServicePrincipal"
	if isUser {
		pt = "User"
	}
	return staticCred{e: te.Emulator, caller: map[string]Caller{"": {TenantID: tenant, ObjectID: oid, PrincipalType: pt, AppID: AzureCLIClientID}}}
}

// userID returns the object id of the user with that principal name.
func (te *testEmu) userID(t testing.TB, upn string) string {
	t.Helper()
	var id string
	te.view(func(s *state) {
		for _, u := range s.users {
			if u.UserPrincipalName == upn {
				id = u.ID
			}
		}
	})
	if id == "" {
		t.Fatalf("no user %s", upn)
	}
	return id
}

var _ = http.MethodGet
var _ = time.Second
