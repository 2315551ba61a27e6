package azure_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/azureemu"
)

const (
	provTenant = "aaaaaaaa-0000-4000-8000-000000000001"
	provSub    = "aaaaaaaa-0000-4000-8000-000000000002"
	custTenant = "bbbbbbbb-0000-4000-8000-000000000001"
	custSub    = "bbbbbbbb-0000-4000-8000-000000000002"
	custAdmin  = "admin@customer.example"
	password   = "Customer-pass-1"
	roleID     = "cccccccc-0000-4000-8000-000000000001"
)

// world is an embedded Azure over TLS with a provider tenant (and its
// multi-tenant app) and a customer tenant with a VNet.
type world struct {
	emu     *azureemu.Emulator
	srv     *httptest.Server
	client  *azure.Client
	custVN  string
	cloud   cloud.Configuration
	adminCr *azidentity.UsernamePasswordCredential

	mu    sync.Mutex
	calls []call // what the client's Config.Observe was told
}

// call is one request the client reported.
type call struct {
	op     string
	status int
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	emu, err := azureemu.New(ctx, azureemu.Options{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = emu
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(emu.CreateTenant(ctx, azureemu.TenantSpec{ID: provTenant, DisplayName: "Provider", Admin: &azureemu.UserSpec{UserPrincipalName: "admin@provider.example", Password: password}}))
	must(emu.CreateSubscription(ctx, provTenant, azureemu.SubscriptionSpec{ID: provSub}))
	app, secret, err := emu.CreateApplication(ctx, provTenant, azureemu.ApplicationSpec{AppID: azureemu.DefaultProviderAppID, DisplayName: "Provider app"})
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := emu.FindServicePrincipal(provTenant, app.AppID)
	must(emu.AssignRole(ctx, "/subscriptions/"+provSub, azureemu.RoleContributor, sp.ID))
	must(emu.CreateTenant(ctx, azureemu.TenantSpec{ID: custTenant, DisplayName: "Customer", Admin: &azureemu.UserSpec{UserPrincipalName: custAdmin, Password: password}}))
	must(emu.CreateSubscription(ctx, custTenant, azureemu.SubscriptionSpec{ID: custSub}))
	must(emu.PutResourceGroup(ctx, custSub, "rg", "eastus", nil))
	v, err := emu.PutVirtualNetwork(ctx, azureemu.VNetSpec{SubscriptionID: custSub, ResourceGroup: "rg", Name: "vnet", Location: "eastus", AddressPrefixes: []string{"10.1.0.0/16"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := cloud.Configuration{
		ActiveDirectoryAuthorityHost: srv.URL + "/",
		Services:                     map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: {Audience: "https://management.core.windows.net/", Endpoint: srv.URL}},
	}
	w := &world{emu: emu, srv: srv, custVN: v.ID, cloud: cfg}
	w.client, err = azure.New(azure.Config{Cloud: cfg, Transport: srv.Client(), DisableInstanceDiscovery: true,
		ProviderTenantID: provTenant, ClientID: app.AppID, ClientSecret: secret, ProviderSubscriptionID: provSub,
		Observe: func(op string, status int, d time.Duration) {
			w.mu.Lock()
			w.calls = append(w.calls, call{op, status})
			w.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	w.adminCr, err = azidentity.NewUsernamePasswordCredential(custTenant, azureemu.AzureCLIClientID, custAdmin, password,
		&azidentity.UsernamePasswordCredentialOptions{ClientOptions: policy.ClientOptions{Cloud: cfg, Transport: srv.Client()}, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// takeCalls returns the calls reported since the last takeCalls.
func (w *world) takeCalls() []call {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.calls
	w.calls = nil
	return c
}

// consent does what `az ad sp create --id <app>` does, as the customer admin.
func (w *world) consent(t *testing.T) {
	t.Helper()
	tok, err := w.adminCr.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{w.srv.URL + "/graph//.default"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"appId": azureemu.DefaultProviderAppID})
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+"/graph/v1.0/servicePrincipals", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create service principal: %s", resp.Status)
	}
}

// grant creates (or updates) the custom role with actions and, the first
// time, assigns it to the app's service principal on the customer VNet.
func (w *world) grant(t *testing.T, actions []string, assign bool) {
	t.Helper()
	ctx := context.Background()
	opts := &arm.ClientOptions{ClientOptions: policy.ClientOptions{Cloud: w.cloud, Transport: w.srv.Client()}}
	rd, err := armauthorization.NewRoleDefinitionsClient(w.adminCr, opts)
	if err != nil {
		t.Fatal(err)
	}
	var acts []*string
	for _, a := range actions {
		acts = append(acts, to.Ptr(a))
	}
	if _, err := rd.CreateOrUpdate(ctx, "/subscriptions/"+custSub, roleID, armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
		RoleName: to.Ptr("Confluent Cloud Peering Creator"), RoleType: to.Ptr("CustomRole"),
		Permissions:      []*armauthorization.Permission{{Actions: acts}},
		AssignableScopes: []*string{to.Ptr("/subscriptions/" + custSub)},
	}}, nil); err != nil {
		t.Fatal(err)
	}
	if !assign {
		return
	}
	sp, ok := w.emu.FindServicePrincipal(custTenant, azureemu.DefaultProviderAppID)
	if !ok {
		t.Fatal("no service principal in the customer tenant")
	}
	ra, err := armauthorization.NewRoleAssignmentsClient(custSub, w.adminCr, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ra.Create(ctx, w.custVN, "dddddddd-0000-4000-8000-000000000001", armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr("/subscriptions/" + custSub + "/providers/Microsoft.Authorization/roleDefinitions/" + roleID),
		PrincipalID:      to.Ptr(sp.ID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
	}}, nil); err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := azure.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %s", err, got, code)
	}
}

// TestProviderClientThroughTheSeedFlow drives the provider's client (the
// real azidentity and armnetwork SDK) through each missing grant of the
// seed flow, with the errors the reconciler maps to error codes.
func TestProviderClientThroughTheSeedFlow(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := w.client

	prov, err := c.EnsureProviderVNet(ctx, "n-test", "eastus", "10.2.0.0/16", map[string]string{"peerplane-network": "n-test"})
	if err != nil {
		t.Fatal(err)
	}
	if prov.ID != c.ProviderVNetID("n-test") || prov.AddressPrefixes[0] != "10.2.0.0/16" {
		t.Fatalf("provider vnet = %+v", prov)
	}
	if _, err := c.EnsureProviderVNet(ctx, "n-test", "eastus", "10.2.0.0/16", nil); err != nil {
		t.Fatalf("second ensure: %v", err)
	}

	// No consent: no token in the customer tenant; no such tenant at all:
	// Entra ID's own code.
	wantCode(t, c.CheckTenantAccess(ctx, custTenant), azure.CodeAppNotInTenant)
	wantCode(t, c.CheckTenantAccess(ctx, "dddddddd-0000-4000-8000-000000000001"), azure.CodeTenantNotFound)
	w.consent(t)
	if err := c.CheckTenantAccess(ctx, custTenant); err != nil {
		t.Fatalf("after consent: %v", err)
	}
	// Consent alone grants nothing on the VNet; the error names the app's
	// service principal in the customer tenant.
	_, err = c.GetVNet(ctx, custTenant, w.custVN)
	wantCode(t, err, azure.CodeAuthorizationFailed)
	if sp, _ := w.emu.FindServicePrincipal(custTenant, azureemu.DefaultProviderAppID); azure.PrincipalID(err) != sp.ID {
		t.Fatalf("PrincipalID = %q, want the service principal %s (err: %v)", azure.PrincipalID(err), sp.ID, err)
	}
	// A VNet that does not exist, in a scope the app may not read: the
	// same AuthorizationFailed.
	_, err = c.GetVNet(ctx, custTenant, azure.VNetID(custSub, "rg", "no-such-vnet"))
	wantCode(t, err, azure.CodeAuthorizationFailed)

	// A role without peer/action: the VNet reads, the provider half is
	// refused as a linked authorization failure.
	w.grant(t, []string{
		"Microsoft.Network/virtualNetworks/read",
		"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read",
		"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write",
		"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete",
	}, true)
	v, err := c.GetVNet(ctx, custTenant, w.custVN)
	if err != nil || v.AddressPrefixes[0] != "10.1.0.0/16" {
		t.Fatalf("read vnet: %+v, %v", v, err)
	}
	_, err = c.PutPeering(ctx, provTenant, prov.ID, "peer-1", custTenant, w.custVN, false)
	wantCode(t, err, azure.CodeLinkedAuthorizationFailed)
	if h, err := c.GetPeering(ctx, provTenant, prov.ID, "peer-1"); err != nil || h != nil {
		t.Fatalf("a refused half exists: %+v, %v", h, err)
	}

	// With peer/action: both halves, Connected.
	w.grant(t, []string{
		"Microsoft.Network/virtualNetworks/read",
		"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read",
		"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write",
		"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete",
		"Microsoft.Network/virtualNetworks/peer/action",
	}, false)
	h, err := c.PutPeering(ctx, provTenant, prov.ID, "peer-1", custTenant, w.custVN, false)
	if err != nil || h.State != azure.PeeringInitiated {
		t.Fatalf("provider half: %+v, %v", h, err)
	}
	h, err = c.PutPeering(ctx, custTenant, w.custVN, "peer-1", provTenant, prov.ID, false)
	if err != nil || h.State != azure.PeeringConnected || !h.InSync() {
		t.Fatalf("customer half: %+v, %v", h, err)
	}
	halves, err := c.ListPeerings(ctx, provTenant, prov.ID)
	if err != nil || len(halves) != 1 || halves[0].State != "Connected" || !strings.EqualFold(halves[0].RemoteVNetID, w.custVN) || halves[0].RemoteAddressSpace[0] != "10.1.0.0/16" {
		t.Fatalf("provider halves: %+v, %v", halves, err)
	}

	// The customer half goes: the provider half is Disconnected.
	if err := c.DeletePeering(ctx, custTenant, w.custVN, "peer-1"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePeering(ctx, custTenant, w.custVN, "peer-1"); err != nil {
		t.Fatalf("deleting a missing half: %v", err)
	}
	h, err = c.GetPeering(ctx, provTenant, prov.ID, "peer-1")
	if err != nil || h == nil || h.State != azure.PeeringDisconnected {
		t.Fatalf("provider half after the customer's delete: %+v, %v", h, err)
	}
	if err := c.DeletePeering(ctx, provTenant, prov.ID, "peer-1"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteProviderVNet(ctx, "n-test"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteProviderVNet(ctx, "n-test"); err != nil {
		t.Fatalf("deleting a missing vnet: %v", err)
	}
}

// TestClientObservesEachRequest: Config.Observe hears of every request the
// SDK's pipelines send, token requests included, named by operation with
// the final status, and of nothing else.
func TestClientObservesEachRequest(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := w.client
	// want compares the calls since the last want with calls, leaving out
	// MSAL's reads of the tenant's metadata (when it reads them again is
	// MSAL's business); meta says whether one must be among them.
	want := func(what string, meta bool, calls ...call) {
		t.Helper()
		all := w.takeCalls()
		got := slices.DeleteFunc(slices.Clone(all), func(c call) bool { return c.op == "openidConfiguration" })
		if !slices.Equal(got, calls) || meta && !slices.Contains(all, call{"openidConfiguration", 200}) {
			t.Fatalf("%s: observed %v, want %v (and openidConfiguration: %v)", what, all, calls, meta)
		}
	}

	// MSAL reads the tenant's metadata, then gets a token; the provider
	// resource group is missing at first: the VNet PUT is refused, the
	// group is created, the VNet PUT retried, and the SDK's poller reads
	// the created VNet.
	if _, err := c.EnsureProviderVNet(ctx, "n-obs", "eastus", "10.3.0.0/16", nil); err != nil {
		t.Fatal(err)
	}
	want("first EnsureProviderVNet", true, call{"token", 200}, call{"virtualNetworks.createOrUpdate", 404},
		call{"resourceGroups.createOrUpdate", 201}, call{"virtualNetworks.createOrUpdate", 201}, call{"virtualNetworks.get", 200})

	// No consent: the token request in the customer tenant is refused.
	wantCode(t, c.CheckTenantAccess(ctx, custTenant), azure.CodeAppNotInTenant)
	want("CheckTenantAccess before consent", true, call{"token", 400})

	w.consent(t)
	_, err := c.GetVNet(ctx, custTenant, w.custVN)
	wantCode(t, err, "AuthorizationFailed")
	want("GetVNet without a role", false, call{"token", 200}, call{"virtualNetworks.get", 403})

	_, err = c.PutPeering(ctx, provTenant, c.ProviderVNetID("n-obs"), "peer-obs", custTenant, w.custVN, false)
	wantCode(t, err, "LinkedAuthorizationFailed")
	// The auxiliary token for the customer tenant is a token request of its own.
	want("PutPeering without peer/action", false, call{"token", 200}, call{"virtualNetworkPeerings.createOrUpdate", 403})

	if err := c.DeletePeering(ctx, provTenant, c.ProviderVNetID("n-obs"), "peer-obs"); err != nil {
		t.Fatal(err)
	}
	want("DeletePeering of a missing half", false, call{"virtualNetworkPeerings.delete", 204})
}

func TestVNetID(t *testing.T) {
	id := azure.VNetID("s", "rg", "v")
	r, err := azure.ParseVNetID(strings.ToLower(id))
	if err != nil || r.SubscriptionID != "s" || r.ResourceGroup != "rg" || r.Name != "v" {
		t.Fatalf("ParseVNetID(%q) = %+v, %v", id, r, err)
	}
	for _, bad := range []string{"", "/subscriptions/s", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/x"} {
		if _, err := azure.ParseVNetID(bad); err == nil {
			t.Errorf("ParseVNetID(%q) accepted", bad)
		}
	}
}
