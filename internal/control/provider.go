package control

import "strings"

// ProviderAccount is where the provider's own networks live in Azure: the
// provider tenant and the subscription of the provider VNets. A customer
// VNet is never a provider VNet, so no peering may name either. cmd/ sets it
// when wiring (from the embedded Azure's bootstrap or the configured ids of
// a real Azure); the operator cannot change it.
type ProviderAccount struct {
	TenantID       string
	SubscriptionID string
}

// CheckCustomerVNet returns EINVALID on /spec/cloud/tenant when tenant is
// the provider tenant, and EINVALID on /spec/cloud/vnet when vnet (a VNet
// resource id) lies in the provider subscription; nil otherwise, and for a
// vnet that does not parse (ValidatePeering reports that). The messages
// name only what the caller gave, never anything of the provider's VNets.
// An empty id in a checks nothing.
func (a ProviderAccount) CheckCustomerVNet(tenant, vnet string) error {
	if a.TenantID != "" && strings.EqualFold(tenant, a.TenantID) {
		return FieldErrorf(EINVALID, "/spec/cloud/tenant",
			"Tenant %s is the provider's own tenant. A peering connects a VNet in your Azure tenant: give the tenant id of the directory that holds your VNet.", tenant)
	}
	if a.SubscriptionID == "" {
		return nil
	}
	if v, err := ParseVNetID("/spec/cloud/vnet", vnet); err == nil && strings.EqualFold(v.SubscriptionID, a.SubscriptionID) {
		return FieldErrorf(EINVALID, "/spec/cloud/vnet",
			"VNet %s is in the provider's own subscription %s. A peering connects a VNet in your Azure subscription: give the resource id of your VNet.", vnet, v.SubscriptionID)
	}
	return nil
}
