package control_test

import (
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
)

// TestCheckCustomerVNet: the provider's tenant and any VNet in its
// subscription are refused, case-insensitively, naming the field; other
// ids pass, and an empty account checks nothing.
func TestCheckCustomerVNet(t *testing.T) {
	const (
		provTenant = "aaaaaaaa-1111-4111-8111-111111111111"
		provSub    = "bbbbbbbb-2222-4222-8222-222222222222"
		custTenant = "cccccccc-3333-4333-8333-333333333333"
		custSub    = "dddddddd-4444-4444-8444-444444444444"
	)
	vnet := func(sub string) string {
		return "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v1"
	}
	a := control.ProviderAccount{TenantID: provTenant, SubscriptionID: provSub}
	wantErr(t, a.CheckCustomerVNet(custTenant, vnet(custSub)), "", "")
	wantErr(t, a.CheckCustomerVNet(provTenant, vnet(custSub)), control.EINVALID, "/spec/cloud/tenant")
	wantErr(t, a.CheckCustomerVNet(strings.ToUpper(provTenant), vnet(custSub)), control.EINVALID, "/spec/cloud/tenant")
	wantErr(t, a.CheckCustomerVNet(custTenant, vnet(provSub)), control.EINVALID, "/spec/cloud/vnet")
	wantErr(t, a.CheckCustomerVNet(custTenant, strings.ToUpper(vnet(provSub))), control.EINVALID, "/spec/cloud/vnet")
	wantErr(t, control.ProviderAccount{}.CheckCustomerVNet(provTenant, vnet(provSub)), "", "")
}
