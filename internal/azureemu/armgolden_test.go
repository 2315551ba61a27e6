package azureemu

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// Wire shapes pinned with golden files under testdata/arm (regenerate with
// go test -run ARMGolden -update). Status codes are asserted separately;
// volatile values (generated ids, etags, times, the server address) are
// normalized.

var armUpdateFlag = func() *bool {
	if f := flag.Lookup("update"); f != nil {
		v := f.Value.String() == "true"
		return &v
	}
	return flag.Bool("update", false, "rewrite golden files")
}()

func armUpdate() bool {
	if f := flag.Lookup("update"); f != nil {
		return f.Value.String() == "true"
	}
	return *armUpdateFlag
}

var (
	armGUIDRE = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	armTimeRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	armOIDRE  = regexp.MustCompile(`\b[0-9a-f]{32}\b`)
)

// armNormalize rewrites volatile values in body to stable placeholders;
// the fixtures' fixed ids and built-in role ids are kept.
func armNormalize(base string, body []byte) []byte {
	keep := map[string]bool{}
	for _, id := range []string{testProviderTenant, testProviderSub, testCustomerTenant, testCustomerSub, peeringCreatorRoleID,
		RoleOwner, RoleContributor, RoleReader, RoleNetworkContributor, RoleUserAccessAdministrator, DefaultProviderAppID} {
		keep[lower(id)] = true
	}
	s := strings.ReplaceAll(string(body), base, "https://emulator")
	seen := map[string]string{}
	s = armGUIDRE.ReplaceAllStringFunc(s, func(g string) string {
		if keep[lower(g)] {
			return g
		}
		if r, ok := seen[lower(g)]; ok {
			return r
		}
		r := fmt.Sprintf("00000000-0000-0000-0000-%012d", len(seen)+1)
		seen[lower(g)] = r
		return r
	})
	s = armOIDRE.ReplaceAllString(s, "<objectid-without-dashes>")
	s = armTimeRE.ReplaceAllString(s, "2000-01-01T00:00:00Z")
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return []byte(s)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return append(out, '\n')
}

func armGolden(t *testing.T, base, name string, body []byte) {
	t.Helper()
	got := armNormalize(base, body)
	path := filepath.Join("testdata", "arm", name+".json")
	if armUpdate() {
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
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// armCall sends one request as caller straight to the emulator's handler.
func armCall(t testing.TB, e *Emulator, who Caller, method, path string, body any, hdr ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	if !strings.Contains(path, "api-version=") {
		if strings.Contains(path, "?") {
			path += "&api-version=2024-05-01"
		} else {
			path += "?api-version=2024-05-01"
		}
	}
	tok, _, err := e.issueToken(who, "https://management.core.windows.net/", "")
	if err != nil {
		t.Fatal(err)
	}
	return armCallToken(e, tok, method, path, rd, hdr...)
}

// armCallToken sends one request with the bearer token tok straight to the
// emulator's handler. path must carry its api-version.
func armCallToken(e *Emulator, tok, method, path string, rd io.Reader, hdr ...string) (int, []byte) {
	req := httptest.NewRequest(method, e.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

func (w *peeringWorld) adminCaller(t *testing.T, tenant, upn string) Caller {
	return Caller{TenantID: tenant, ObjectID: w.te.userID(t, upn), PrincipalType: "User", Name: upn, AppID: AzureCLIClientID}
}

func TestARMGolden(t *testing.T) {
	w := newPeeringWorld(t)
	e := w.te.Emulator
	base := e.base
	cust := w.adminCaller(t, testCustomerTenant, testCustomerAdmin)
	prov := w.adminCaller(t, testProviderTenant, testProviderAdmin)
	spCust := w.spCust.caller[""]
	spProv := w.spProv.caller[""]
	want := func(name string, wantStatus, status int, body []byte) {
		t.Helper()
		if status != wantStatus {
			t.Fatalf("%s: status %d, want %d: %s", name, status, wantStatus, body)
		}
		armGolden(t, base, name, body)
	}

	// Errors before any access is granted.
	st, b := armCall(t, e, spProv, "PUT", w.provVNet+"/virtualNetworkPeerings/to-customer",
		map[string]any{"properties": map[string]any{"remoteVirtualNetwork": map[string]string{"id": w.custVNet}}})
	want("error-linkedauthorizationfailed-tenant", 403, st, b)
	aux, _, _ := e.issueToken(spCust, "https://management.core.windows.net/", "")
	st, b = armCall(t, e, spProv, "PUT", w.provVNet+"/virtualNetworkPeerings/to-customer",
		map[string]any{"properties": map[string]any{"remoteVirtualNetwork": map[string]string{"id": w.custVNet}}},
		"x-ms-authorization-auxiliary", "Bearer "+aux)
	want("error-linkedauthorizationfailed-permission", 403, st, b)
	st, b = armCall(t, e, spCust, "GET", w.custVNet, nil)
	want("error-authorizationfailed", 403, st, b)
	st, b = armCall(t, e, cust, "GET", w.provVNet, nil)
	want("error-invalidauthenticationtokentenant", 401, st, b)
	st, b = armCall(t, e, cust, "GET", "/subscriptions/"+testCustomerSub+"/resourceGroups/"+custRG+"/providers/Microsoft.Network/virtualNetworks/nope", nil)
	want("error-resourcenotfound", 404, st, b)
	st, b = armCall(t, e, cust, "GET", "/subscriptions/"+testCustomerSub+"/resourceGroups/nope", nil)
	want("error-resourcegroupnotfound", 404, st, b)
	st, b = armCall(t, e, cust, "GET", "/subscriptions/"+testCustomerSub+"/resourceGroups/nope?api-version=", nil)
	want("error-missingapiversionparameter", 400, st, b)
	st, b = armCall(t, e, cust, "PUT", "/subscriptions/"+testCustomerSub+"/resourceGroups/"+custRG+"/providers/Microsoft.Network/virtualNetworks/overlap",
		map[string]any{"location": "eastus", "properties": map[string]any{"addressSpace": map[string]any{"addressPrefixes": []string{"10.1.0.0/24"}}}})
	if st != 201 {
		t.Fatalf("overlap vnet: %d %s", st, b)
	}

	// The role, its assignment, both halves.
	st, b = armCall(t, e, cust, "PUT", "/subscriptions/"+testCustomerSub+"/providers/Microsoft.Authorization/roleDefinitions/"+peeringCreatorRoleID,
		map[string]any{"properties": map[string]any{"roleName": "Confluent Cloud Peering Creator", "description": "Lets Confluent Cloud peer with this VNet.",
			"type": "CustomRole", "permissions": []any{map[string]any{"actions": peeringCreatorActions}}, "assignableScopes": []string{"/subscriptions/" + testCustomerSub}}})
	want("roledefinition-put", 201, st, b)
	st, b = armCall(t, e, cust, "PUT", "/subscriptions/"+testCustomerSub+"/providers/Microsoft.Authorization/roleDefinitions/"+newGUID(),
		map[string]any{"properties": map[string]any{"roleName": "confluent cloud peering creator", "permissions": []any{map[string]any{"actions": []string{"*/read"}}}, "assignableScopes": []string{"/subscriptions/" + testCustomerSub}}})
	want("error-roledefinitionwithsamenameexists", 409, st, b)
	raID := "6f1b3a0e-7d1c-4a7e-9d3e-1a2b3c4d5e6f"
	raBody := map[string]any{"properties": map[string]any{"roleDefinitionId": "/subscriptions/" + testCustomerSub + "/providers/Microsoft.Authorization/roleDefinitions/" + peeringCreatorRoleID,
		"principalId": spCust.ObjectID, "principalType": "ServicePrincipal"}}
	st, b = armCall(t, e, cust, "PUT", w.custVNet+"/providers/Microsoft.Authorization/roleAssignments/"+raID, raBody)
	want("roleassignment-put", 201, st, b)
	st, b = armCall(t, e, cust, "PUT", w.custVNet+"/providers/Microsoft.Authorization/roleAssignments/"+newGUID(), raBody)
	want("error-roleassignmentexists", 409, st, b)
	raBody["properties"].(map[string]any)["principalId"] = spProv.ObjectID
	st, b = armCall(t, e, cust, "PUT", w.custVNet+"/providers/Microsoft.Authorization/roleAssignments/"+newGUID(), raBody)
	want("error-principalnotfound", 400, st, b)

	st, b = armCall(t, e, spProv, "PUT", w.provVNet+"/virtualNetworkPeerings/to-customer",
		map[string]any{"properties": map[string]any{"remoteVirtualNetwork": map[string]string{"id": w.custVNet}, "allowVirtualNetworkAccess": true}},
		"x-ms-authorization-auxiliary", "Bearer "+aux)
	want("peering-put-initiated", 201, st, b)
	if _, err := w.custHalf(); err != nil {
		t.Fatal(err)
	}
	overlapID := "/subscriptions/" + testCustomerSub + "/resourceGroups/" + custRG + "/providers/Microsoft.Network/virtualNetworks/overlap"
	st, b = armCall(t, e, prov, "PUT", w.provVNet+"/virtualNetworkPeerings/to-overlap",
		map[string]any{"properties": map[string]any{"remoteVirtualNetwork": map[string]string{"id": overlapID}}})
	want("error-linkedauthorizationfailed-tenant-admin", 403, st, b)
	st, b = armCall(t, e, cust, "PUT", overlapID+"/virtualNetworkPeerings/to-customer",
		map[string]any{"properties": map[string]any{"remoteVirtualNetwork": map[string]string{"id": w.custVNet}}})
	want("error-vnetaddressspaceoverlapswithalreadypeeredvnet", 400, st, b)
	dupID := "/subscriptions/" + testCustomerSub + "/resourceGroups/" + custRG + "/providers/Microsoft.Network/virtualNetworks/dup"
	st, b = armCall(t, e, cust, "PUT", dupID, map[string]any{"location": "eastus", "properties": map[string]any{"addressSpace": map[string]any{"addressPrefixes": []string{"10.2.0.0/24"}}}})
	if st != 201 {
		t.Fatalf("dup vnet: %d %s", st, b)
	}
	st, b = armCall(t, e, cust, "PUT", w.custVNet+"/virtualNetworkPeerings/to-dup",
		map[string]any{"properties": map[string]any{"remoteVirtualNetwork": map[string]string{"id": dupID}}})
	want("error-vnetaddressspacesoverlap", 400, st, b)

	// Reads.
	st, b = armCall(t, e, spProv, "GET", w.provVNet+"/virtualNetworkPeerings/to-customer", nil)
	want("peering-connected", 200, st, b)
	st, b = armCall(t, e, cust, "GET", w.custVNet, nil)
	want("vnet", 200, st, b)
	st, b = armCall(t, e, cust, "GET", "/subscriptions/"+testCustomerSub+"/providers/Microsoft.Authorization/roleDefinitions/"+peeringCreatorRoleID, nil)
	want("roledefinition", 200, st, b)
	st, b = armCall(t, e, cust, "GET", "/subscriptions/"+testCustomerSub+"/providers/Microsoft.Authorization/roleDefinitions/"+RoleNetworkContributor, nil)
	want("roledefinition-builtin", 200, st, b)
	st, b = armCall(t, e, cust, "GET", w.custVNet+"/providers/Microsoft.Authorization/roleAssignments/"+raID, nil)
	want("roleassignment", 200, st, b)
	st, b = armCall(t, e, cust, "GET", "/subscriptions/"+testCustomerSub+"/resourceGroups/"+custRG, nil)
	want("resourcegroup", 200, st, b)

	// An NSG with rules, attached to a subnet.
	nsg := "/subscriptions/" + testCustomerSub + "/resourceGroups/" + custRG + "/providers/Microsoft.Network/networkSecurityGroups/app-nsg"
	st, b = armCall(t, e, cust, "PUT", nsg, map[string]any{"location": "eastus", "tags": map[string]string{"team": "data"}, "properties": map[string]any{
		"securityRules": []any{
			map[string]any{"name": "allow-kafka", "properties": map[string]any{"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
				"sourceAddressPrefix": "10.1.0.0/16", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRanges": []string{"9092", "9093-9094"}}},
			map[string]any{"name": "deny-rest", "properties": map[string]any{"priority": 4096, "direction": "inbound", "access": "deny", "protocol": "*",
				"sourceAddressPrefixes": []string{"Internet", "192.168.0.0/16"}, "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "*"}},
		}}})
	if st != 201 {
		t.Fatalf("nsg: %d %s", st, b)
	}
	st, b = armCall(t, e, cust, "PUT", w.custVNet+"/subnets/apps", map[string]any{"properties": map[string]any{"addressPrefix": "10.2.1.0/24", "networkSecurityGroup": map[string]string{"id": nsg}}})
	if st != 201 {
		t.Fatalf("subnet: %d %s", st, b)
	}
	st, b = armCall(t, e, cust, "GET", nsg, nil)
	want("nsg", 200, st, b)
	st, b = armCall(t, e, cust, "PUT", nsg+"/securityRules/dup", map[string]any{"properties": map[string]any{"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Udp",
		"sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "53"}})
	want("error-securityruleconflict", 400, st, b)
	st, b = armCall(t, e, cust, "DELETE", nsg, nil)
	want("error-inusenetworksecuritygroupcannotbedeleted", 400, st, b)

	// The customer deletes its half; re-creating it is refused.
	st, b = armCall(t, e, cust, "DELETE", w.custVNet+"/virtualNetworkPeerings/to-provider", nil)
	if st != 202 {
		t.Fatalf("delete half: %d %s", st, b)
	}
	st, b = armCall(t, e, spProv, "GET", w.provVNet+"/virtualNetworkPeerings/to-customer", nil)
	want("peering-disconnected", 200, st, b)
	provAux, _, _ := e.issueToken(spProv, "https://management.core.windows.net/", "")
	st, b = armCall(t, e, spCust, "PUT", w.custVNet+"/virtualNetworkPeerings/to-provider",
		map[string]any{"properties": map[string]any{"remoteVirtualNetwork": map[string]string{"id": w.provVNet}}}, "x-ms-authorization-auxiliary", "Bearer "+provAux)
	want("error-remotepeeringisdisconnected", 400, st, b)
}

// TestARMBadInputChangesNothing: every bad input is a 4xx naming the
// field, never a 5xx, and leaves the state as it was.
func TestARMBadInputChangesNothing(t *testing.T) {
	w := newPeeringWorld(t)
	e := w.te.Emulator
	cust := w.adminCaller(t, testCustomerTenant, testCustomerAdmin)
	rg := "/subscriptions/" + testCustomerSub + "/resourceGroups/" + custRG
	vnet := func(props any, loc string) map[string]any {
		return map[string]any{"location": loc, "properties": props}
	}
	space := func(p ...string) map[string]any {
		return map[string]any{"addressSpace": map[string]any{"addressPrefixes": p}}
	}
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code, field        string
	}{
		{"rg name ends with dot", "PUT", "/subscriptions/" + testCustomerSub + "/resourceGroups/bad.", map[string]string{"location": "eastus"}, 400, "InvalidResourceGroupName", "resourceGroupName"},
		{"rg name too long", "PUT", "/subscriptions/" + testCustomerSub + "/resourceGroups/" + strings.Repeat("a", 91), map[string]string{"location": "eastus"}, 400, "InvalidResourceGroupName", "resourceGroupName"},
		{"rg bad location", "PUT", "/subscriptions/" + testCustomerSub + "/resourceGroups/ok", map[string]string{"location": "moon"}, 400, "LocationNotAvailableForResourceGroup", "moon"},
		{"rg no location", "PUT", "/subscriptions/" + testCustomerSub + "/resourceGroups/ok", map[string]string{}, 400, "LocationRequired", "location"},
		{"vnet name one char", "PUT", rg + "/providers/Microsoft.Network/virtualNetworks/a", vnet(space("10.8.0.0/16"), "eastus"), 400, "InvalidResourceName", "virtualNetworkName"},
		{"vnet name ends with dash", "PUT", rg + "/providers/Microsoft.Network/virtualNetworks/ab-", vnet(space("10.8.0.0/16"), "eastus"), 400, "InvalidResourceName", "virtualNetworkName"},
		{"vnet bad cidr", "PUT", rg + "/providers/Microsoft.Network/virtualNetworks/ok", vnet(space("10.8.0.0/33"), "eastus"), 400, "InvalidAddressPrefixFormat", "addressPrefixes[0]"},
		{"vnet host bits", "PUT", rg + "/providers/Microsoft.Network/virtualNetworks/ok", vnet(space("10.8.0.1/16"), "eastus"), 400, "InvalidAddressPrefix", "addressPrefixes[0]"},
		{"vnet no space", "PUT", rg + "/providers/Microsoft.Network/virtualNetworks/ok", vnet(map[string]any{}, "eastus"), 400, "InvalidAddressSpace", "addressPrefixes"},
		{"vnet bad location", "PUT", rg + "/providers/Microsoft.Network/virtualNetworks/ok", vnet(space("10.8.0.0/16"), "Atlantis"), 400, "LocationNotAvailableForResourceType", "Atlantis"},
		{"vnet subnet outside", "PUT", rg + "/providers/Microsoft.Network/virtualNetworks/ok", vnet(map[string]any{"addressSpace": map[string]any{"addressPrefixes": []string{"10.8.0.0/16"}},
			"subnets": []any{map[string]any{"name": "s", "properties": map[string]string{"addressPrefix": "10.9.0.0/24"}}}}, "eastus"), 400, "NetcfgSubnetRangeOutsideVnet", "subnets[0]"},
		{"vnet subnets overlap", "PUT", rg + "/providers/Microsoft.Network/virtualNetworks/ok", vnet(map[string]any{"addressSpace": map[string]any{"addressPrefixes": []string{"10.8.0.0/16"}},
			"subnets": []any{map[string]any{"name": "s", "properties": map[string]string{"addressPrefix": "10.8.0.0/24"}}, map[string]any{"name": "t", "properties": map[string]string{"addressPrefix": "10.8.0.128/25"}}}}, "eastus"), 400, "NetcfgSubnetRangesOverlap", "subnets[1]"},
		{"vnet wrong json type", "PUT", rg + "/providers/Microsoft.Network/virtualNetworks/ok", `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":"10.8.0.0/16"}}}`, 400, "InvalidRequestContent", "addressSpace.addressPrefixes"},
		{"vnet not json", "PUT", rg + "/providers/Microsoft.Network/virtualNetworks/ok", `{"location":`, 400, "InvalidRequestContent", ""},
		{"vnet in missing rg", "PUT", "/subscriptions/" + testCustomerSub + "/resourceGroups/nope/providers/Microsoft.Network/virtualNetworks/ok", vnet(space("10.8.0.0/16"), "eastus"), 404, "ResourceGroupNotFound", "nope"},
		{"vnet bad tag", "PUT", rg + "/providers/Microsoft.Network/virtualNetworks/ok", map[string]any{"location": "eastus", "tags": map[string]string{"a/b": "x"}, "properties": space("10.8.0.0/16")}, 400, "InvalidTagNameCharacters", "tags"},
		{"subscription not guid", "GET", "/subscriptions/not-a-guid/resourceGroups", nil, 400, "InvalidSubscriptionId", "not-a-guid"},
		{"peering no remote", "PUT", w.custVNet + "/virtualNetworkPeerings/p", map[string]any{"properties": map[string]any{}}, 400, "InvalidRequestFormat", "remoteVirtualNetwork.id"},
		{"peering bad remote", "PUT", w.custVNet + "/virtualNetworkPeerings/p", map[string]any{"properties": map[string]any{"remoteVirtualNetwork": map[string]string{"id": "vnet2"}}}, 400, "LinkedInvalidPropertyId", "remoteVirtualNetwork.id"},
		{"peering to itself", "PUT", w.custVNet + "/virtualNetworkPeerings/p", map[string]any{"properties": map[string]any{"remoteVirtualNetwork": map[string]string{"id": w.custVNet}}}, 400, "CannotPeerVirtualNetworkWithItself", "remoteVirtualNetwork.id"},
		{"peering missing remote", "PUT", w.custVNet + "/virtualNetworkPeerings/p", map[string]any{"properties": map[string]any{"remoteVirtualNetwork": map[string]string{"id": rg + "/providers/Microsoft.Network/virtualNetworks/ghost"}}}, 400, "InvalidResourceReference", "remoteVirtualNetwork.id"},
		{"nsg bad priority", "PUT", rg + "/providers/Microsoft.Network/networkSecurityGroups/n", map[string]any{"location": "eastus", "properties": map[string]any{"securityRules": []any{
			map[string]any{"name": "r", "properties": map[string]any{"priority": 99, "direction": "Inbound", "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "*"}}}}}, 400, "SecurityRuleInvalidPriority", "priority"},
		{"nsg bad port", "PUT", rg + "/providers/Microsoft.Network/networkSecurityGroups/n", map[string]any{"location": "eastus", "properties": map[string]any{"securityRules": []any{
			map[string]any{"name": "r", "properties": map[string]any{"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "70000"}}}}}, 400, "SecurityRuleInvalidPortRange", "destinationPortRange"},
		{"nsg bad direction", "PUT", rg + "/providers/Microsoft.Network/networkSecurityGroups/n", map[string]any{"location": "eastus", "properties": map[string]any{"securityRules": []any{
			map[string]any{"name": "r", "properties": map[string]any{"priority": 100, "direction": "Sideways", "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "*"}}}}}, 400, "SecurityRuleInvalidDirection", "direction"},
		{"role no scopes", "PUT", "/subscriptions/" + testCustomerSub + "/providers/Microsoft.Authorization/roleDefinitions/" + newGUID(), map[string]any{"properties": map[string]any{"roleName": "x", "permissions": []any{map[string]any{"actions": []string{"*/read"}}}}}, 400, "InvalidAssignableScopes", "assignableScopes"},
		{"role no name", "PUT", "/subscriptions/" + testCustomerSub + "/providers/Microsoft.Authorization/roleDefinitions/" + newGUID(), map[string]any{"properties": map[string]any{"permissions": []any{}}}, 400, "RoleDefinitionNameNullOrEmpty", "roleName"},
		{"role id not guid", "PUT", "/subscriptions/" + testCustomerSub + "/providers/Microsoft.Authorization/roleDefinitions/abc", map[string]any{}, 400, "InvalidRoleDefinitionId", "abc"},
		{"assignment bad principal", "PUT", w.custVNet + "/providers/Microsoft.Authorization/roleAssignments/" + newGUID(), map[string]any{"properties": map[string]any{"roleDefinitionId": RoleReader, "principalId": "me"}}, 400, "InvalidPrincipalId", "principalId"},
		{"assignment unknown role", "PUT", w.custVNet + "/providers/Microsoft.Authorization/roleAssignments/" + newGUID(), map[string]any{"properties": map[string]any{"roleDefinitionId": newGUID(), "principalId": w.custSP.ID}}, 400, "RoleDefinitionDoesNotExist", ""},
		{"assignment bad filter", "GET", w.custVNet + "/providers/Microsoft.Authorization/roleAssignments?$filter=foo", nil, 400, "UnsupportedQuery", "$filter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Snapshot()
			var defs, asgs int
			e.view(func(s *state) { defs, asgs = len(s.roleDefs), len(s.roleAssigns) })
			st, b := armCall(t, e, cust, tc.method, tc.path, tc.body)
			var out struct {
				Error struct{ Code, Message string }
			}
			_ = json.Unmarshal(b, &out)
			if st != tc.status || out.Error.Code != tc.code || !strings.Contains(out.Error.Message, tc.field) {
				t.Fatalf("got %d %s", st, b)
			}
			after := e.Snapshot()
			var defs2, asgs2 int
			e.view(func(s *state) { defs2, asgs2 = len(s.roleDefs), len(s.roleAssigns) })
			if !reflect.DeepEqual(before, after) || defs != defs2 || asgs != asgs2 {
				t.Fatal("state changed")
			}
		})
	}
}

// TestARMDurable: a new emulator on the same store has everything.
func TestARMDurable(t *testing.T) {
	w := newPeeringWorld(t)
	ctx := context.Background()
	w.grantAndPeer(t)
	if _, err := w.te.PutVirtualNetwork(ctx, VNetSpec{SubscriptionID: testProviderSub, ResourceGroup: provRG, Name: "world-vnet", Location: "West Europe",
		AddressPrefixes: []string{"10.40.0.0/16"}, Subnets: []Subnet{{Name: "a", AddressPrefix: "10.40.1.0/24"}}, Tags: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	e2, err := New(ctx, Options{BaseURL: w.te.srv.URL, Store: w.te.store})
	if err != nil {
		t.Fatal(err)
	}
	a, b2 := w.te.Snapshot(), e2.Snapshot()
	if a.Version == b2.Version {
		t.Fatalf("two processes' snapshots share the version %s", a.Version)
	}
	a.Version, b2.Version = "", ""
	if !reflect.DeepEqual(a, b2) || len(a.Peerings) != 2 || len(a.VirtualNetworks) != 3 {
		t.Fatalf("snapshot after restart:\n%+v\n%+v", a, b2)
	}
	e2.view(func(s *state) {
		if s.roleDefs[peeringCreatorRoleID] == nil || !s.allowed(w.custSP.ID, actVNetPeer, w.custVNet) {
			t.Fatal("role definition or assignment lost")
		}
	})
	// An operation URL of the old process still answers Succeeded.
	st, b := armCall(t, e2, w.adminCaller(t, testProviderTenant, testProviderAdmin), "GET",
		"/subscriptions/"+testProviderSub+"/providers/Microsoft.Network/locations/eastus/operations/"+newGUID(), nil)
	if st != 200 || !strings.Contains(string(b), `"Succeeded"`) {
		t.Fatalf("operation: %d %s", st, b)
	}
}
