package azureemu

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
)

// Fixtures for the ARM tests: two tenants, a VNet in each created by each
// admin through the SDK, and the provider's multi-tenant app with a
// service principal in both tenants.

const (
	peeringCreatorRoleID = "5b1a3f4e-0c5c-4b6e-9a52-6b2f2d0c0a11"
	provRG               = "peerplane-rg"
	provVNetName         = "provider-vnet"
	custRG               = "Customer-RG"
	custVNetName         = "customer-vnet"
)

var peeringCreatorActions = []string{
	"Microsoft.Network/virtualNetworks/read",
	"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read",
	"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write",
	"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete",
	"Microsoft.Network/virtualNetworks/peer/action",
}

type peeringWorld struct {
	te                   *testEmu
	provAdmin, custAdmin staticCred
	provSP, custSP       *ServicePrincipal
	// spProv acts as the provider app in the provider tenant, with an
	// auxiliary token for the customer tenant; spCust the other way round.
	spProv, spCust     staticCred
	provVNet, custVNet string
}

func newPeeringWorld(t *testing.T) *peeringWorld {
	t.Helper()
	return newPeeringWorldOn(t, nil)
}

// newPeeringWorldOn is newPeeringWorld on store (nil: in memory).
func newPeeringWorldOn(t *testing.T, store DocStore) *peeringWorld {
	t.Helper()
	ctx := context.Background()
	te := newTestEmu(t, store)
	te.seedTwoTenants(t)
	w := &peeringWorld{te: te,
		provAdmin: te.credFor(testProviderTenant, te.userID(t, testProviderAdmin), true),
		custAdmin: te.credFor(testCustomerTenant, te.userID(t, testCustomerAdmin), true),
	}
	app, _, err := te.CreateApplication(ctx, testProviderTenant, ApplicationSpec{AppID: DefaultProviderAppID, DisplayName: "Confluent Cloud"})
	if err != nil {
		t.Fatal(err)
	}
	w.provSP, _ = te.FindServicePrincipal(testProviderTenant, app.AppID)
	if err := te.update(ctx, func(tx *txn) error {
		_, err := te.ensureServicePrincipalTx(tx, testCustomerTenant, tx.s.apps[lower(app.AppID)])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	w.custSP, _ = te.FindServicePrincipal(testCustomerTenant, app.AppID)
	if _, err := te.AssignRole(ctx, "/subscriptions/"+testProviderSub, RoleNetworkContributor, w.provSP.ID); err != nil {
		t.Fatal(err)
	}
	provCaller := Caller{TenantID: testProviderTenant, ObjectID: w.provSP.ID, AppID: app.AppID, PrincipalType: "ServicePrincipal", Name: "Confluent Cloud"}
	custCaller := Caller{TenantID: testCustomerTenant, ObjectID: w.custSP.ID, AppID: app.AppID, PrincipalType: "ServicePrincipal", Name: "Confluent Cloud"}
	w.spProv = staticCred{e: te.Emulator, caller: map[string]Caller{"": provCaller, testProviderTenant: provCaller, testCustomerTenant: custCaller}}
	w.spCust = staticCred{e: te.Emulator, caller: map[string]Caller{"": custCaller, testCustomerTenant: custCaller, testProviderTenant: provCaller}}

	w.provVNet = sdkVNet(t, te, w.provAdmin, testProviderSub, provRG, provVNetName, "eastus", "10.1.0.0/16")
	w.custVNet = sdkVNet(t, te, w.custAdmin, testCustomerSub, custRG, custVNetName, "East US", "10.2.0.0/16")
	return w
}

// sdkVNet creates a resource group and a VNet in it through the SDK.
func sdkVNet(t *testing.T, te *testEmu, cred azcore.TokenCredential, sub, rg, name, loc string, prefixes ...string) string {
	t.Helper()
	ctx := context.Background()
	rgc, err := armresources.NewResourceGroupsClient(sub, cred, te.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rgc.CreateOrUpdate(ctx, rg, armresources.ResourceGroup{Location: to.Ptr(loc)}, nil); err != nil {
		t.Fatal(err)
	}
	return *sdkPutVNet(t, te, cred, sub, rg, name, loc, nil, prefixes...).ID
}

// sdkPutVNet creates or replaces a VNet (with a "default" subnet, the
// first /16 of prefixes as a /24) through the SDK and returns the answer.
func sdkPutVNet(t *testing.T, te *testEmu, cred azcore.TokenCredential, sub, rg, name, loc string, tags map[string]*string, prefixes ...string) armnetwork.VirtualNetwork {
	t.Helper()
	ctx := context.Background()
	vc, err := armnetwork.NewVirtualNetworksClient(sub, cred, te.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	poller, err := vc.BeginCreateOrUpdate(ctx, rg, name, armnetwork.VirtualNetwork{
		Location: to.Ptr(loc),
		Tags:     tags,
		Properties: &armnetwork.VirtualNetworkPropertiesFormat{
			AddressSpace: &armnetwork.AddressSpace{AddressPrefixes: to.SliceOfPtrs(prefixes...)},
			Subnets: []*armnetwork.Subnet{{Name: to.Ptr("default"), Properties: &armnetwork.SubnetPropertiesFormat{
				AddressPrefix: to.Ptr(strings.Replace(prefixes[0], "/16", "/24", 1))}}},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := poller.PollUntilDone(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.VirtualNetwork
}

// createPeeringRole creates a custom role with actions as the customer
// admin, assignable in the customer subscription.
func (w *peeringWorld) createRole(t *testing.T, id, name string, actions, notActions []string) {
	t.Helper()
	rc, err := armauthorization.NewRoleDefinitionsClient(w.custAdmin, w.te.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = rc.CreateOrUpdate(context.Background(), "/subscriptions/"+testCustomerSub, id, armauthorization.RoleDefinition{
		Properties: &armauthorization.RoleDefinitionProperties{
			RoleName:         to.Ptr(name),
			Description:      to.Ptr("Lets Confluent Cloud peer with this VNet."),
			RoleType:         to.Ptr("CustomRole"),
			Permissions:      []*armauthorization.Permission{{Actions: to.SliceOfPtrs(actions...), NotActions: to.SliceOfPtrs(notActions...)}},
			AssignableScopes: []*string{to.Ptr("/subscriptions/" + testCustomerSub)},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// assign grants role id to principal at scope as the customer admin.
func (w *peeringWorld) assign(t *testing.T, scope, roleID, principal, principalType string) error {
	t.Helper()
	ac, err := armauthorization.NewRoleAssignmentsClient(testCustomerSub, w.custAdmin, w.te.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = ac.Create(context.Background(), scope, newGUID(), armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr("/subscriptions/" + testCustomerSub + "/providers/Microsoft.Authorization/roleDefinitions/" + roleID),
			PrincipalID:      to.Ptr(principal),
			PrincipalType:    to.Ptr(armauthorization.PrincipalType(principalType)),
		},
	}, nil)
	return err
}

// peer creates the half named name on vnet (in sub/rg) towards remote.
func (w *peeringWorld) peer(cred azcore.TokenCredential, aux []string, sub, rg, vnet, name, remote string, sync bool) (*armnetwork.VirtualNetworkPeering, error) {
	ctx := context.Background()
	pc, err := armnetwork.NewVirtualNetworkPeeringsClient(sub, cred, w.te.armOptions(aux...))
	if err != nil {
		return nil, err
	}
	var opts *armnetwork.VirtualNetworkPeeringsClientBeginCreateOrUpdateOptions
	if sync {
		opts = &armnetwork.VirtualNetworkPeeringsClientBeginCreateOrUpdateOptions{SyncRemoteAddressSpace: to.Ptr(armnetwork.SyncRemoteAddressSpaceTrue)}
	}
	poller, err := pc.BeginCreateOrUpdate(ctx, rg, vnet, name, armnetwork.VirtualNetworkPeering{
		Properties: &armnetwork.VirtualNetworkPeeringPropertiesFormat{
			RemoteVirtualNetwork:      &armnetwork.SubResource{ID: to.Ptr(remote)},
			AllowVirtualNetworkAccess: to.Ptr(true),
			AllowForwardedTraffic:     to.Ptr(false),
		},
	}, opts)
	if err != nil {
		return nil, err
	}
	res, err := poller.PollUntilDone(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &res.VirtualNetworkPeering, nil
}

// grantAndPeer makes the customer's grant (the peering creator role,
// assigned to the app at the customer VNet), then both halves.
func (w *peeringWorld) grantAndPeer(t *testing.T) {
	t.Helper()
	w.createRole(t, peeringCreatorRoleID, "Confluent Cloud Peering Creator", peeringCreatorActions, nil)
	if err := w.assign(t, w.custVNet, peeringCreatorRoleID, w.custSP.ID, "ServicePrincipal"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.provHalf(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.custHalf(); err != nil {
		t.Fatal(err)
	}
}

// provHalf and custHalf create the two halves as the provider's app.
func (w *peeringWorld) provHalf() (*armnetwork.VirtualNetworkPeering, error) {
	return w.peer(w.spProv, []string{testCustomerTenant}, testProviderSub, provRG, provVNetName, "to-customer", w.custVNet, false)
}

func (w *peeringWorld) custHalf() (*armnetwork.VirtualNetworkPeering, error) {
	return w.peer(w.spCust, []string{testProviderTenant}, testCustomerSub, custRG, custVNetName, "to-provider", w.provVNet, false)
}

func (w *peeringWorld) getPeering(t *testing.T, cred azcore.TokenCredential, sub, rg, vnet, name string) *armnetwork.VirtualNetworkPeering {
	t.Helper()
	pc, err := armnetwork.NewVirtualNetworkPeeringsClient(sub, cred, w.te.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	res, err := pc.Get(context.Background(), rg, vnet, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &res.VirtualNetworkPeering
}

// wantARMError asserts err is an ARM error with status and code, and
// returns its message.
func wantARMError(t *testing.T, err error, status int, code string) string {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want %d %s, got %v", status, code, err)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("want %d %s, got %d %s: %v", status, code, re.StatusCode, re.ErrorCode, err)
	}
	return err.Error()
}

func newGUID() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(guidCounter.next())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0xf])
	}
	return string(out)
}

type counter struct{ n uint64 }

func (c *counter) next() uint64 {
	c.n = c.n*6364136223846793005 + 1442695040888963407
	return c.n >> 56
}

var guidCounter = &counter{n: 42}

var _ = http.StatusOK
