package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/console"
	"github.com/peerplane/peerplane/internal/control"
)

// TestPeeringFormRefusesProviderVNet: the console's "+ VNet Peering" form
// shares control's validation: the provider's tenant is refused next to
// the tenant field, a VNet in the provider's subscription next to the VNet
// field, and nothing is created.
func TestPeeringFormRefusesProviderVNet(t *testing.T) {
	const (
		provTenant = "9a8b7c6d-3333-4e5f-8a9b-abcdefabcdef"
		provSub    = "1b2c3d4e-4444-4e5f-8a9b-abcdefabcdef"
		custTenant = "5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01"
		custSub    = "6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02"
	)
	f := newFixture(t, func(_ *console.Options, svc *control.Service, _ *control.Organization) {
		svc.Provider = control.ProviderAccount{TenantID: provTenant, SubscriptionID: provSub}
	})
	f.signIn(f.secret)
	tok := f.csrf("/console/environments")
	_, _, envURL := f.post("/console/environments", url.Values{"csrf": {tok}, "name": {"prod"}})
	_, _, netURL := f.post(envURL+"/networks", url.Values{"csrf": {tok}, "name": {"net"}, "region": {"eastus"}, "cidr": {"10.10.0.0/16"}})
	form := func(tenant, sub string) url.Values {
		return url.Values{"csrf": {tok}, "name": {"p"}, "tenant": {tenant}, "subscription": {sub},
			"resource_group": {"peerplane-rg"}, "vnet": {"n-abc123"}, "region": {"eastus"}}
	}
	st, body, _ := f.post(netURL+"/peerings", form(provTenant, custSub))
	if st != http.StatusBadRequest || !strings.Contains(body, `data-error-for="tenant">Tenant `+provTenant+` is the provider&#39;s own tenant`) {
		t.Fatalf("provider tenant: %d\n%s", st, body)
	}
	st, body, _ = f.post(netURL+"/peerings", form(custTenant, provSub))
	if st != http.StatusBadRequest || !strings.Contains(body, `data-error-for="vnet">VNet /subscriptions/`+provSub) || !strings.Contains(body, "provider&#39;s own subscription") {
		t.Fatalf("provider subscription: %d\n%s", st, body)
	}
	envID := envURL[strings.LastIndex(envURL, "/")+1:]
	ctx := control.NewContextWithOrganization(context.Background(), mustOrg(t, f))
	if ps, _, _ := f.svc.FindPeerings(ctx, control.PeeringFilter{EnvironmentID: envID}, control.Page{}); len(ps) != 0 {
		t.Fatalf("refused forms created %d peerings", len(ps))
	}
}
