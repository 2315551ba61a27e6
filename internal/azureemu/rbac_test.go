package azureemu

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
)

// The reconciler's steps as the provider's service principal performs them.
func stepReadVNet(w *peeringWorld) error {
	vc, _ := armnetwork.NewVirtualNetworksClient(testCustomerSub, w.spCust, w.te.armOptions())
	_, err := vc.Get(context.Background(), custRG, custVNetName, nil)
	return err
}

func stepProvHalf(w *peeringWorld) error { _, err := w.provHalf(); return err }
func stepCustHalf(w *peeringWorld) error { _, err := w.custHalf(); return err }

func stepReadPeering(w *peeringWorld) error {
	pc, _ := armnetwork.NewVirtualNetworkPeeringsClient(testCustomerSub, w.spCust, w.te.armOptions())
	_, err := pc.Get(context.Background(), custRG, custVNetName, "to-provider", nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return nil // authorized; the half does not exist yet
	}
	return err
}

func stepDeletePeering(w *peeringWorld) error {
	pc, _ := armnetwork.NewVirtualNetworkPeeringsClient(testCustomerSub, w.spCust, w.te.armOptions())
	p, err := pc.BeginDelete(context.Background(), custRG, custVNetName, "to-provider", nil)
	if err != nil {
		return err
	}
	_, err = p.PollUntilDone(context.Background(), nil)
	return err
}

func without(list []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == drop })
}

// TestRBACPeeringCreatorActions: every action of the Peering Creator role
// is needed by one step, which fails with Azure's code without it.
func TestRBACPeeringCreatorActions(t *testing.T) {
	steps := []struct {
		name string
		fn   func(*peeringWorld) error
	}{
		{"read vnet", stepReadVNet}, {"provider half", stepProvHalf}, {"customer half", stepCustHalf},
		{"read peering", stepReadPeering}, {"delete peering", stepDeletePeering},
	}
	cases := []struct {
		missing    string
		failing    string // the step that fails
		status     int
		code       string
		msgContain string
	}{
		{"Microsoft.Network/virtualNetworks/read", "read vnet", 403, "AuthorizationFailed", "does not have authorization to perform action 'Microsoft.Network/virtualNetworks/read' over scope '/subscriptions/" + testCustomerSub + "/resourceGroups/" + custRG + "/providers/Microsoft.Network/virtualNetworks/" + custVNetName + "'"},
		{"Microsoft.Network/virtualNetworks/peer/action", "provider half", 403, "LinkedAuthorizationFailed", "does not have permission to perform action(s) 'Microsoft.Network/virtualNetworks/peer/action' on the linked scope(s)"},
		{"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write", "customer half", 403, "AuthorizationFailed", "'Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write'"},
		// The SDK's poller reads the half it created: without read, creating
		// the customer half fails at its final GET.
		{"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read", "customer half", 403, "AuthorizationFailed", "'Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read'"},
		{"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete", "delete peering", 403, "AuthorizationFailed", "'Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete'"},
	}
	for _, tc := range cases {
		t.Run(tc.missing[strings.LastIndex(tc.missing, "virtualNetworks/"):], func(t *testing.T) {
			w := newPeeringWorld(t)
			w.createRole(t, peeringCreatorRoleID, "Peering Creator minus one", without(peeringCreatorActions, tc.missing), nil)
			if err := w.assign(t, w.custVNet, peeringCreatorRoleID, w.custSP.ID, "ServicePrincipal"); err != nil {
				t.Fatal(err)
			}
			for _, s := range steps {
				if s.name == "delete peering" && tc.failing != "delete peering" {
					continue // would undo the customer half
				}
				err := s.fn(w)
				if s.name != tc.failing {
					if err != nil && !(tc.failing == "customer half" && s.name == "read peering") {
						t.Fatalf("step %s: %v", s.name, err)
					}
					continue
				}
				msg := wantARMError(t, err, tc.status, tc.code)
				if !strings.Contains(msg, tc.msgContain) {
					t.Fatalf("step %s message: %s", s.name, msg)
				}
				break
			}
		})
	}
}

// TestRBACRules covers wildcards, notActions, scope inheritance,
// AssignableScopes and the other checks of role assignments.
func TestRBACRules(t *testing.T) {
	full := peeringCreatorActions
	cases := []struct {
		name       string
		actions    []string
		notActions []string
		scope      func(t *testing.T, w *peeringWorld) string
		step       func(*peeringWorld) error
		code       string // "" = succeeds
	}{
		{"wildcard vnets/*", []string{"Microsoft.Network/virtualNetworks/*"}, nil, vnetScope, stepsAll, ""},
		{"wildcard Microsoft.Network/*", []string{"Microsoft.Network/*"}, nil, vnetScope, stepsAll, ""},
		{"wildcard */read reads", []string{"*/read"}, nil, vnetScope, stepReadVNet, ""},
		{"wildcard */read cannot peer", []string{"*/read"}, nil, vnetScope, stepProvHalf, "LinkedAuthorizationFailed"},
		{"case-insensitive actions", []string{"microsoft.network/VIRTUALNETWORKS/*"}, nil, vnetScope, stepsAll, ""},
		{"notActions removes peer", []string{"Microsoft.Network/*"}, []string{"Microsoft.Network/virtualNetworks/peer/action"}, vnetScope, stepProvHalf, "LinkedAuthorizationFailed"},
		{"notActions wildcard", []string{"*"}, []string{"Microsoft.Network/virtualNetworks/*/read"}, vnetScope, stepReadPeering, "AuthorizationFailed"},
		{"inherited from resource group", full, nil, func(t *testing.T, w *peeringWorld) string { return rgID(testCustomerSub, custRG) }, stepsAll, ""},
		{"inherited from subscription", full, nil, func(*testing.T, *peeringWorld) string { return "/subscriptions/" + testCustomerSub }, stepsAll, ""},
		{"sibling vnet with common prefix", full, nil, func(t *testing.T, w *peeringWorld) string {
			return sdkVNet(t, w.te, w.custAdmin, testCustomerSub, custRG, custVNetName+"2", "eastus", "10.5.0.0/16")
		}, stepReadVNet, "AuthorizationFailed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newPeeringWorld(t)
			w.createRole(t, peeringCreatorRoleID, "Test role", tc.actions, tc.notActions)
			scope := tc.scope(t, w)
			if err := w.assign(t, scope, peeringCreatorRoleID, w.custSP.ID, "ServicePrincipal"); err != nil {
				t.Fatal(err)
			}
			err := tc.step(w)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantARMError(t, err, 403, tc.code)
		})
	}
}

func vnetScope(t *testing.T, w *peeringWorld) string { return w.custVNet }

func stepsAll(w *peeringWorld) error {
	for _, f := range []func(*peeringWorld) error{stepReadVNet, stepProvHalf, stepCustHalf, stepReadPeering} {
		if err := f(w); err != nil {
			return err
		}
	}
	return nil
}

// TestRBACRoleManagement: AssignableScopes, duplicate assignments, name
// clashes, unknown principals, Contributor's notActions, wrong tenants and
// 403 before 404.
func TestRBACRoleManagement(t *testing.T) {
	w := newPeeringWorld(t)
	ctx := context.Background()
	rc, _ := armauthorization.NewRoleDefinitionsClient(w.custAdmin, w.te.armOptions())
	// A role assignable only in the resource group.
	_, err := rc.CreateOrUpdate(ctx, "/subscriptions/"+testCustomerSub, peeringCreatorRoleID, armauthorization.RoleDefinition{
		Properties: &armauthorization.RoleDefinitionProperties{
			RoleName: to.Ptr("RG only"), RoleType: to.Ptr("CustomRole"),
			Permissions:      []*armauthorization.Permission{{Actions: to.SliceOfPtrs(peeringCreatorActions...)}},
			AssignableScopes: []*string{to.Ptr(rgID(testCustomerSub, custRG))},
		}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = w.assign(t, "/subscriptions/"+testCustomerSub, peeringCreatorRoleID, w.custSP.ID, "ServicePrincipal")
	wantARMError(t, err, 400, "RoleDefinitionDoesNotExist")
	if err := w.assign(t, w.custVNet, peeringCreatorRoleID, w.custSP.ID, "ServicePrincipal"); err != nil {
		t.Fatalf("inside assignable scope: %v", err)
	}
	// Duplicate.
	err = w.assign(t, w.custVNet, peeringCreatorRoleID, w.custSP.ID, "ServicePrincipal")
	if msg := wantARMError(t, err, 409, "RoleAssignmentExists"); !strings.Contains(msg, "The role assignment already exists.") {
		t.Fatal(msg)
	}
	// Name clash in the tenant.
	_, err = rc.CreateOrUpdate(ctx, "/subscriptions/"+testCustomerSub, "0c7a2b1e-1111-4111-8111-111111111111", armauthorization.RoleDefinition{
		Properties: &armauthorization.RoleDefinitionProperties{
			RoleName: to.Ptr("rg ONLY"), RoleType: to.Ptr("CustomRole"),
			Permissions:      []*armauthorization.Permission{{Actions: to.SliceOfPtrs("*/read")}},
			AssignableScopes: []*string{to.Ptr("/subscriptions/" + testCustomerSub)},
		}}, nil)
	wantARMError(t, err, 409, "RoleDefinitionWithSameNameExists")
	// Assignable scopes outside the tenant.
	_, err = rc.CreateOrUpdate(ctx, "/subscriptions/"+testCustomerSub, "0c7a2b1e-2222-4222-8222-222222222222", armauthorization.RoleDefinition{
		Properties: &armauthorization.RoleDefinitionProperties{
			RoleName: to.Ptr("Elsewhere"), RoleType: to.Ptr("CustomRole"),
			Permissions:      []*armauthorization.Permission{{Actions: to.SliceOfPtrs("*/read")}},
			AssignableScopes: []*string{to.Ptr("/subscriptions/" + testProviderSub)},
		}}, nil)
	wantARMError(t, err, 400, "InvalidAssignableScope")
	// Bad action syntax.
	_, err = rc.CreateOrUpdate(ctx, "/subscriptions/"+testCustomerSub, "0c7a2b1e-3333-4333-8333-333333333333", armauthorization.RoleDefinition{
		Properties: &armauthorization.RoleDefinitionProperties{
			RoleName: to.Ptr("Bad"), RoleType: to.Ptr("CustomRole"),
			Permissions:      []*armauthorization.Permission{{Actions: to.SliceOfPtrs("Microsoft.Network/virtualNetworks/fly")}},
			AssignableScopes: []*string{to.Ptr("/subscriptions/" + testCustomerSub)},
		}}, nil)
	wantARMError(t, err, 400, "InvalidActionOrNotAction")
	// A principal of another tenant.
	err = w.assign(t, w.custVNet, RoleReader, w.provSP.ID, "ServicePrincipal")
	if msg := wantARMError(t, err, 400, "PrincipalNotFound"); !strings.Contains(msg, "does not exist in the directory "+testCustomerTenant) {
		t.Fatal(msg)
	}
	// Wrong principal type.
	err = w.assign(t, w.custVNet, RoleReader, w.custSP.ID, "User")
	wantARMError(t, err, 400, "UnmatchedPrincipalType")

	// A Contributor cannot assign roles (Microsoft.Authorization/*/Write).
	u, err := w.te.CreateUser(ctx, testCustomerTenant, UserSpec{UserPrincipalName: "dev@contoso.example", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.te.AssignRole(ctx, "/subscriptions/"+testCustomerSub, RoleContributor, u.ID); err != nil {
		t.Fatal(err)
	}
	dev := staticCred{e: w.te.Emulator, caller: map[string]Caller{"": {TenantID: testCustomerTenant, ObjectID: u.ID, PrincipalType: "User", Name: u.UserPrincipalName, AppID: AzureCLIClientID}}}
	ac, _ := armauthorization.NewRoleAssignmentsClient(testCustomerSub, dev, w.te.armOptions())
	_, err = ac.Create(ctx, w.custVNet, newGUID(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr("/subscriptions/" + testCustomerSub + "/providers/Microsoft.Authorization/roleDefinitions/" + RoleReader),
		PrincipalID:      to.Ptr(w.custSP.ID)}}, nil)
	if msg := wantARMError(t, err, 403, "AuthorizationFailed"); !strings.Contains(msg, "The client 'dev@contoso.example' with object id '"+u.ID+"' does not have authorization to perform action 'Microsoft.Authorization/roleAssignments/write'") {
		t.Fatal(msg)
	}
	// But a Contributor can create VNets.
	sdkVNet(t, w.te, dev, testCustomerSub, custRG, "dev-vnet", "eastus", "10.7.0.0/16")

	// Wrong tenant: the customer admin reading the provider's VNet.
	vc, _ := armnetwork.NewVirtualNetworksClient(testProviderSub, w.custAdmin, w.te.armOptions())
	_, err = vc.Get(ctx, provRG, provVNetName, nil)
	wantARMError(t, err, 401, "InvalidAuthenticationTokenTenant")

	// 403 before 404: no role, missing VNet.
	vc2, _ := armnetwork.NewVirtualNetworksClient(testProviderSub, w.spProv, w.te.armOptions())
	_, err = vc2.Get(ctx, provRG, "missing", nil)
	if _, err2 := vc2.Get(ctx, provRG, "missing", nil); err2 == nil {
		t.Fatal("want 404")
	}
	wantARMError(t, err, 404, "ResourceNotFound") // the provider SP is Network Contributor
	vc3, _ := armnetwork.NewVirtualNetworksClient(testCustomerSub, w.spCust, w.te.armOptions())
	_, err = vc3.Get(ctx, custRG, "missing", nil)
	wantARMError(t, err, 403, "AuthorizationFailed")

	// Listing assignments with filters. armauthorization appends $filter
	// to the query unencoded; this test server speaks HTTP/1.1, whose
	// request line the spaces would break (net/http answers 400), so the
	// filter is encoded here. Over HTTP/2, as peerplane serve negotiates,
	// the raw filter works: TestUnencodedFilterOverServeTLS.
	var n int
	for pager := ac.NewListForScopePager(w.custVNet, &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: to.Ptr("principalId%20eq%20'" + w.custSP.ID + "'")}); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("list (as contributor, who may read): %v", err)
		}
		n += len(page.Value)
	}
	if n != 1 {
		t.Fatalf("assignments of the sp at the vnet: %d", n)
	}
}
