package azureemu

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armsubscriptions"
)

// TestARMPeeringFlowSDK drives the seed flow with the real Azure SDK: a
// cross-tenant peering refused with LinkedAuthorizationFailed until the
// Peering Creator role is assigned and the auxiliary token sent, then both
// halves Connected; deleting one half leaves the other Disconnected.
func TestARMPeeringFlowSDK(t *testing.T) {
	w := newPeeringWorld(t)
	ctx := context.Background()

	// Without an auxiliary token for the customer tenant.
	_, err := w.peer(w.spProv, nil, testProviderSub, provRG, provVNetName, "to-customer", w.custVNet, false)
	msg := wantARMError(t, err, http.StatusForbidden, "LinkedAuthorizationFailed")
	if !strings.Contains(msg, "however the current tenant '"+testProviderTenant+"' is not authorized to access linked subscription '"+testCustomerSub+"'") {
		t.Fatalf("message: %s", msg)
	}
	// With the auxiliary token but no role in the customer tenant.
	_, err = w.provHalf()
	msg = wantARMError(t, err, http.StatusForbidden, "LinkedAuthorizationFailed")
	if !strings.Contains(msg, "does not have permission to perform action(s) 'Microsoft.Network/virtualNetworks/peer/action' on the linked scope(s) '"+w.custVNet+"'") {
		t.Fatalf("message: %s", msg)
	}

	// The customer creates the role and assigns it at the VNet.
	w.createRole(t, peeringCreatorRoleID, "Confluent Cloud Peering Creator", peeringCreatorActions, nil)
	if err := w.assign(t, w.custVNet, peeringCreatorRoleID, w.custSP.ID, "ServicePrincipal"); err != nil {
		t.Fatal(err)
	}

	p, err := w.provHalf()
	if err != nil {
		t.Fatal(err)
	}
	if *p.Properties.PeeringState != armnetwork.VirtualNetworkPeeringStateInitiated {
		t.Fatalf("provider half alone: %s", *p.Properties.PeeringState)
	}
	c, err := w.custHalf()
	if err != nil {
		t.Fatal(err)
	}
	if *c.Properties.PeeringState != armnetwork.VirtualNetworkPeeringStateConnected {
		t.Fatalf("customer half: %s", *c.Properties.PeeringState)
	}
	p = w.getPeering(t, w.spProv, testProviderSub, provRG, provVNetName, "to-customer")
	if *p.Properties.PeeringState != armnetwork.VirtualNetworkPeeringStateConnected || *p.Properties.RemoteAddressSpace.AddressPrefixes[0] != "10.2.0.0/16" ||
		*p.Properties.RemoteVirtualNetworkAddressSpace.AddressPrefixes[0] != "10.2.0.0/16" || *p.Properties.PeeringSyncLevel != armnetwork.VirtualNetworkPeeringLevelFullyInSync {
		t.Fatalf("provider half: %+v", p.Properties)
	}

	// The VNet GET shows the peering inline.
	vc, _ := armnetwork.NewVirtualNetworksClient(testCustomerSub, w.spCust, w.te.armOptions())
	v, err := vc.Get(ctx, strings.ToLower(custRG), strings.ToUpper(custVNetName), nil)
	if err != nil {
		t.Fatal(err)
	}
	if *v.Name != custVNetName || len(v.Properties.VirtualNetworkPeerings) != 1 || *v.Location != "eastus" {
		t.Fatalf("vnet: name %s, %d peerings, location %s", *v.Name, len(v.Properties.VirtualNetworkPeerings), *v.Location)
	}

	// The customer deletes their half: the provider half is Disconnected.
	pc, _ := armnetwork.NewVirtualNetworkPeeringsClient(testCustomerSub, w.custAdmin, w.te.armOptions())
	dp, err := pc.BeginDelete(ctx, custRG, custVNetName, "to-provider", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dp.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	p = w.getPeering(t, w.spProv, testProviderSub, provRG, provVNetName, "to-customer")
	if *p.Properties.PeeringState != armnetwork.VirtualNetworkPeeringStateDisconnected {
		t.Fatalf("after delete: %s", *p.Properties.PeeringState)
	}
	// Re-creating the deleted half while the other is Disconnected fails.
	_, err = w.custHalf()
	msg = wantARMError(t, err, http.StatusBadRequest, "RemotePeeringIsDisconnected")
	if !strings.Contains(msg, "is in Disconnected state. Update or re-create the remote peering to get it back to Initiated state.") {
		t.Fatalf("message: %s", msg)
	}
	// Updating the Disconnected half brings it back to Initiated, then
	// the other half connects both.
	if p, err = w.provHalf(); err != nil || *p.Properties.PeeringState != armnetwork.VirtualNetworkPeeringStateInitiated {
		t.Fatalf("re-initiate: %v %v", err, p)
	}
	if c, err = w.custHalf(); err != nil || *c.Properties.PeeringState != armnetwork.VirtualNetworkPeeringStateConnected {
		t.Fatalf("reconnect: %v", err)
	}
}

// TestARMPeeringSyncSDK: an address-space change on a peered VNet marks the
// peering out of sync until a PUT with syncRemoteAddressSpace=true; an
// overlapping change is refused.
func TestARMPeeringSyncSDK(t *testing.T) {
	w := newPeeringWorld(t)
	ctx := context.Background()
	w.grantAndPeer(t)
	vc, _ := armnetwork.NewVirtualNetworksClient(testCustomerSub, w.custAdmin, w.te.armOptions())
	update := func(prefixes ...string) error {
		cur, err := vc.Get(ctx, custRG, custVNetName, nil)
		if err != nil {
			t.Fatal(err)
		}
		cur.Properties.AddressSpace.AddressPrefixes = to.SliceOfPtrs(prefixes...)
		poller, err := vc.BeginCreateOrUpdate(ctx, custRG, custVNetName, cur.VirtualNetwork, nil)
		if err != nil {
			return err
		}
		_, err = poller.PollUntilDone(ctx, nil)
		return err
	}
	err := update("10.2.0.0/16", "10.1.128.0/24")
	wantARMError(t, err, http.StatusBadRequest, "VnetAddressSpacesOverlap")
	if err := update("10.2.0.0/16", "10.3.0.0/24"); err != nil {
		t.Fatal(err)
	}
	p := w.getPeering(t, w.spProv, testProviderSub, provRG, provVNetName, "to-customer")
	c := w.getPeering(t, w.spCust, testCustomerSub, custRG, custVNetName, "to-provider")
	if *p.Properties.PeeringSyncLevel != armnetwork.VirtualNetworkPeeringLevelRemoteNotInSync || *c.Properties.PeeringSyncLevel != armnetwork.VirtualNetworkPeeringLevelLocalNotInSync {
		t.Fatalf("sync levels: provider %s customer %s", *p.Properties.PeeringSyncLevel, *c.Properties.PeeringSyncLevel)
	}
	if len(p.Properties.RemoteAddressSpace.AddressPrefixes) != 1 || len(p.Properties.RemoteVirtualNetworkAddressSpace.AddressPrefixes) != 2 {
		t.Fatalf("remote spaces before sync: %v", p.Properties)
	}
	synced, err := w.peer(w.spProv, []string{testCustomerTenant}, testProviderSub, provRG, provVNetName, "to-customer", w.custVNet, true)
	if err != nil {
		t.Fatal(err)
	}
	if *synced.Properties.PeeringSyncLevel != armnetwork.VirtualNetworkPeeringLevelFullyInSync || len(synced.Properties.RemoteAddressSpace.AddressPrefixes) != 2 {
		t.Fatalf("after sync: %s %v", *synced.Properties.PeeringSyncLevel, synced.Properties.RemoteAddressSpace.AddressPrefixes)
	}
	// Deleting the customer VNet disconnects the provider half.
	dp, err := vc.BeginDelete(ctx, custRG, custVNetName, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dp.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if p := w.getPeering(t, w.spProv, testProviderSub, provRG, provVNetName, "to-customer"); *p.Properties.PeeringState != armnetwork.VirtualNetworkPeeringStateDisconnected {
		t.Fatalf("after vnet delete: %s", *p.Properties.PeeringState)
	}
}

// TestARMLongRunningFast: a VNet create and delete through the SDK's
// pollers with default options finish far under a second.
func TestARMLongRunningFast(t *testing.T) {
	w := newPeeringWorld(t)
	ctx := context.Background()
	start := time.Now()
	id := sdkVNet(t, w.te, w.provAdmin, testProviderSub, provRG, "quick", "eastus", "10.9.0.0/16")
	vc, _ := armnetwork.NewVirtualNetworksClient(testProviderSub, w.provAdmin, w.te.armOptions())
	dp, err := vc.BeginDelete(ctx, provRG, "quick", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dp.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("create+delete of %s took %s", id, d)
	}
	_, err = vc.Get(ctx, provRG, "quick", nil)
	msg := wantARMError(t, err, http.StatusNotFound, "ResourceNotFound")
	if msg == "" || !strings.Contains(msg, "The Resource 'Microsoft.Network/virtualNetworks/quick' under resource group '"+provRG+"' was not found.") {
		t.Fatalf("message: %s", msg)
	}
}

// TestARMSubscriptionsAndTenantsSDK lists subscriptions and tenants.
func TestARMSubscriptionsAndTenantsSDK(t *testing.T) {
	w := newPeeringWorld(t)
	ctx := context.Background()
	sc, err := armsubscriptions.NewClient(w.custAdmin, w.te.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	var subs []string
	for pager := sc.NewListPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Value {
			subs = append(subs, *s.SubscriptionID+"/"+*s.TenantID)
		}
	}
	if len(subs) != 1 || subs[0] != testCustomerSub+"/"+testCustomerTenant {
		t.Fatalf("subscriptions: %v", subs)
	}
	// The provider's service principal has no role in the customer
	// subscription yet: it sees none.
	sc2, _ := armsubscriptions.NewClient(w.spCust, w.te.armOptions())
	page, err := sc2.NewListPager(nil).NextPage(ctx)
	if err != nil || len(page.Value) != 0 {
		t.Fatalf("sp subscriptions: %v %d", err, len(page.Value))
	}
	tc, _ := armsubscriptions.NewTenantsClient(w.custAdmin, w.te.armOptions())
	tp, err := tc.NewListPager(nil).NextPage(ctx)
	if err != nil || len(tp.Value) != 1 || *tp.Value[0].TenantID != testCustomerTenant {
		t.Fatalf("tenants: %v %v", err, tp.Value)
	}
	// Getting the other tenant's subscription is the wrong tenant.
	_, err = sc.Get(ctx, testProviderSub, nil)
	msg := wantARMError(t, err, http.StatusUnauthorized, "InvalidAuthenticationTokenTenant")
	if !strings.Contains(msg, "The access token is from the wrong issuer 'https://sts.windows.net/"+testCustomerTenant+"/'. It must match the tenant 'https://sts.windows.net/"+testProviderTenant+"/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/"+testProviderTenant+"' to get the token.") {
		t.Fatalf("message: %s", msg)
	}
}

// TestARMRoleDefinitionLookupSDK: az looks the role up by name at the VNet
// scope; custom roles show only where assignable.
func TestARMRoleDefinitionLookupSDK(t *testing.T) {
	w := newPeeringWorld(t)
	ctx := context.Background()
	w.createRole(t, peeringCreatorRoleID, "Confluent Cloud Peering Creator", peeringCreatorActions, nil)
	rc, _ := armauthorization.NewRoleDefinitionsClient(w.custAdmin, w.te.armOptions())
	find := func(scope, filter string) []string {
		var names []string
		for pager := rc.NewListPager(scope, &armauthorization.RoleDefinitionsClientListOptions{Filter: to.Ptr(filter)}); pager.More(); {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.Value {
				names = append(names, *r.Properties.RoleName)
			}
		}
		return names
	}
	if got := find(w.custVNet, "roleName eq 'Confluent Cloud Peering Creator'"); len(got) != 1 {
		t.Fatalf("at vnet: %v", got)
	}
	if got := find("/subscriptions/"+testCustomerSub, "type eq 'CustomRole'"); len(got) != 1 {
		t.Fatalf("custom roles: %v", got)
	}
	if got := find("/subscriptions/"+testCustomerSub, "roleName eq 'Network Contributor'"); len(got) != 1 {
		t.Fatalf("built-in: %v", got)
	}
	// The provider admin, in another tenant, does not see it.
	rc2, _ := armauthorization.NewRoleDefinitionsClient(w.provAdmin, w.te.armOptions())
	page, err := rc2.NewListPager("/subscriptions/"+testProviderSub, &armauthorization.RoleDefinitionsClientListOptions{Filter: to.Ptr("type eq 'CustomRole'")}).NextPage(ctx)
	if err != nil || len(page.Value) != 0 {
		t.Fatalf("other tenant: %v %d", err, len(page.Value))
	}
}
