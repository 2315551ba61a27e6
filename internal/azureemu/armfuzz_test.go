package azureemu

import (
	"context"
	"testing"
)

// Fuzz targets for each ARM JSON decoder: whatever the body, the answer is
// never a 5xx (a panic would be one: ServeHTTP recovers it as a 500).

type armFuzzWorld struct {
	e      *Emulator
	admin  Caller
	vnet   string
	remote string
	nsg    string
	scope  string
}

func newARMFuzzWorld(f *testing.F) *armFuzzWorld {
	ctx := context.Background()
	te := newTestEmu(f, nil)
	te.seedTwoTenants(f)
	if _, err := te.PutResourceGroup(ctx, testCustomerSub, "rg", "eastus", nil); err != nil {
		f.Fatal(err)
	}
	v, err := te.PutVirtualNetwork(ctx, VNetSpec{SubscriptionID: testCustomerSub, ResourceGroup: "rg", Name: "vnet", Location: "eastus", AddressPrefixes: []string{"10.0.0.0/16"}})
	if err != nil {
		f.Fatal(err)
	}
	r, err := te.PutVirtualNetwork(ctx, VNetSpec{SubscriptionID: testCustomerSub, ResourceGroup: "rg", Name: "remote", Location: "eastus", AddressPrefixes: []string{"10.1.0.0/16"}})
	if err != nil {
		f.Fatal(err)
	}
	return &armFuzzWorld{e: te.Emulator, vnet: v.ID, remote: r.ID, scope: "/subscriptions/" + testCustomerSub,
		nsg:   "/subscriptions/" + testCustomerSub + "/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg",
		admin: Caller{TenantID: testCustomerTenant, ObjectID: te.userID(f, testCustomerAdmin), PrincipalType: "User", Name: testCustomerAdmin}}
}

func (w *armFuzzWorld) check(t *testing.T, method, path string, body []byte) {
	st, b := armCall(t, w.e, w.admin, method, path, body)
	if st >= 500 {
		t.Fatalf("%s %s with %q: %d %s", method, path, body, st, b)
	}
}

func FuzzVirtualNetworkPut(f *testing.F) {
	w := newARMFuzzWorld(f)
	for _, s := range []string{
		`{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"a","properties":{"addressPrefix":"10.0.1.0/24"}}]}}`,
		`{"location":"East US","tags":{"ConfluentEnvIDs":"env-1"},"properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16","10.9.0.0/16"]}}}`,
		`{"location":"eastus","properties":{"subnets":[{"name":null}]}}`, `{"properties":{"addressSpace":{"addressPrefixes":[null,"::/0"]}}}`,
		`{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"a","properties":{"addressPrefixes":["10.0.1.0/24","10.0.2.0/24"],"networkSecurityGroup":{"id":"x"}}}]}}`,
		`[]`, `null`, `{"location":1}`, `{}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w.check(t, "PUT", w.vnet, body)
		w.check(t, "PATCH", w.vnet, body)
		w.check(t, "PUT", w.vnet+"/subnets/s", body)
	})
}

func FuzzPeeringPut(f *testing.F) {
	w := newARMFuzzWorld(f)
	for _, s := range []string{
		`{"properties":{"remoteVirtualNetwork":{"id":"` + w.remote + `"},"allowVirtualNetworkAccess":true}}`,
		`{"properties":{"remoteVirtualNetwork":{"id":"` + w.vnet + `"}}}`,
		`{"properties":{"remoteVirtualNetwork":{"id":"/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/virtualNetworks/z"}}}`,
		`{"properties":{"remoteVirtualNetwork":null,"useRemoteGateways":"yes"}}`, `{"properties":[]}`, `{}`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w.check(t, "PUT", w.vnet+"/virtualNetworkPeerings/p", body)
		w.check(t, "PUT", w.remote+"/virtualNetworkPeerings/q?syncRemoteAddressSpace=true", body)
	})
}

func FuzzNSGPut(f *testing.F) {
	w := newARMFuzzWorld(f)
	for _, s := range []string{
		`{"location":"eastus","properties":{"securityRules":[{"name":"r","properties":{"priority":100,"direction":"Inbound","access":"Allow","protocol":"Tcp","sourceAddressPrefix":"*","sourcePortRange":"*","destinationAddressPrefix":"10.0.0.0/24","destinationPortRanges":["80","1000-2000"]}}]}}`,
		`{"location":"eastus","properties":{"securityRules":[{"name":"r","properties":{"priority":99999999999}}]}}`,
		`{"location":"eastus","properties":{"securityRules":[{"properties":{}}]}}`,
		`{"priority":100,"direction":"Outbound","access":"Deny","protocol":"*","sourceAddressPrefixes":["Internet"],"sourcePortRange":"65535-0","destinationAddressPrefix":"*","destinationPortRange":"-1"}`,
		`{"properties":{"priority":100,"direction":"Outbound","access":"Deny","protocol":"*","sourceAddressPrefixes":["Internet"],"sourcePortRange":"*","destinationAddressPrefix":"*","destinationPortRange":"22"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w.check(t, "PUT", w.nsg, body)
		w.check(t, "PUT", w.nsg+"/securityRules/r2", body)
	})
}

func FuzzRoleDefinitionPut(f *testing.F) {
	w := newARMFuzzWorld(f)
	for _, s := range []string{
		`{"properties":{"roleName":"Confluent Cloud Peering Creator","type":"CustomRole","permissions":[{"actions":["Microsoft.Network/virtualNetworks/read","Microsoft.Network/virtualNetworks/peer/action"]}],"assignableScopes":["` + w.scope + `"]}}`,
		`{"properties":{"roleName":"x","permissions":[{"actions":["*"],"notActions":["Microsoft.Authorization/*/Write"]}],"assignableScopes":["/"]}}`,
		`{"properties":{"roleName":"y","permissions":[{"actions":[""]}],"assignableScopes":["` + w.vnet + `"]}}`,
		`{"properties":{"roleName":"","permissions":null,"assignableScopes":[null]}}`, `{"properties":{"roleName":7}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w.check(t, "PUT", w.scope+"/providers/Microsoft.Authorization/roleDefinitions/"+peeringCreatorRoleID, body)
	})
}

func FuzzRoleAssignmentPut(f *testing.F) {
	w := newARMFuzzWorld(f)
	for _, s := range []string{
		`{"properties":{"roleDefinitionId":"` + w.scope + `/providers/Microsoft.Authorization/roleDefinitions/` + RoleReader + `","principalId":"` + w.admin.ObjectID + `","principalType":"User"}}`,
		`{"properties":{"roleDefinitionId":"` + RoleOwner + `","principalId":"` + testCustomerTenant + `"}}`,
		`{"properties":{"roleDefinitionId":"/x/roleDefinitions/","principalId":""}}`, `{"properties":{"principalType":"Group"}}`, `{"properties":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w.check(t, "PUT", w.vnet+"/providers/Microsoft.Authorization/roleAssignments/7d3c2b1a-0000-4000-8000-000000000001", body)
		w.check(t, "PUT", w.scope+"/providers/Microsoft.Authorization/roleAssignments/7d3c2b1a-0000-4000-8000-000000000002", body)
	})
}
