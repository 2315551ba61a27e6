package azureemu

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"runtime"
	"strings"
	"testing"
	"time"
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

	// Every input runs on the state newARMFuzzWorld made (restored from
	// snap), so its coverage depends on it alone: coverage that grows with
	// what earlier inputs left behind makes nearly every input "new",
	// and the fuzzer then spends its whole time minimizing them.
	store *MemoryDocStore
	snap  map[[2]string][]byte
	// The admin's token, issued once: an RSA signature per call costs
	// more than the call.
	tok    string
	tokExp time.Time
}

// armFuzzExecLimit is how long one input may take before the fuzz target
// dumps every goroutine and crashes the worker, so that a hang shows up as a
// failing input with its stacks (go test -run=FuzzX/<id> prints them)
// instead of as a fuzzer stuck at 0 execs/sec.
const armFuzzExecLimit = 5 * time.Second

func newARMFuzzWorld(f testing.TB) *armFuzzWorld {
	ctx := context.Background()
	store := &MemoryDocStore{}
	te := newTestEmu(f, store)
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
	store.mu.Lock()
	snap := maps.Clone(store.docs)
	store.mu.Unlock()
	return &armFuzzWorld{e: te.Emulator, vnet: v.ID, remote: r.ID, scope: "/subscriptions/" + testCustomerSub,
		nsg:   "/subscriptions/" + testCustomerSub + "/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg",
		admin: Caller{TenantID: testCustomerTenant, ObjectID: te.userID(f, testCustomerAdmin), PrincipalType: "User", Name: testCustomerAdmin},
		store: store, snap: snap}
}

// run resets the emulator to the world's initial state and runs fn on it,
// failing with every goroutine's stack if fn takes longer than
// armFuzzExecLimit.
func (w *armFuzzWorld) run(t *testing.T, fn func()) {
	t.Helper()
	// Stored bodies are never written in place, so a shallow copy will do.
	w.store.mu.Lock()
	w.store.docs = maps.Clone(w.snap)
	w.store.mu.Unlock()
	w.e.mu.Lock()
	err := w.e.reload(context.Background())
	w.e.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	w.e.events = newEventLog(w.e.events.max)
	if w.tok == "" || time.Until(w.tokExp) < 5*time.Minute {
		if w.tok, w.tokExp, err = w.e.issueToken(w.admin, "https://management.core.windows.net/", ""); err != nil {
			t.Fatal(err)
		}
	}
	watchdog := time.AfterFunc(armFuzzExecLimit, func() {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		panic(fmt.Sprintf("%s: one input took over %s; goroutines:\n%s", t.Name(), armFuzzExecLimit, buf))
	})
	defer watchdog.Stop()
	fn()
}

func (w *armFuzzWorld) check(t *testing.T, method, path string, body []byte) {
	t.Helper()
	if strings.Contains(path, "?") {
		path += "&api-version=2024-05-01"
	} else {
		path += "?api-version=2024-05-01"
	}
	st, b := armCallToken(w.e, w.tok, method, path, bytes.NewReader(body))
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
		w.run(t, func() {
			w.check(t, "PUT", w.vnet, body)
			w.check(t, "PATCH", w.vnet, body)
			w.check(t, "PUT", w.vnet+"/subnets/s", body)
		})
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
		w.run(t, func() {
			w.check(t, "PUT", w.vnet+"/virtualNetworkPeerings/p", body)
			w.check(t, "PUT", w.remote+"/virtualNetworkPeerings/q?syncRemoteAddressSpace=true", body)
		})
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
		w.run(t, func() {
			w.check(t, "PUT", w.nsg, body)
			w.check(t, "PUT", w.nsg+"/securityRules/r2", body)
		})
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
		w.run(t, func() {
			w.check(t, "PUT", w.scope+"/providers/Microsoft.Authorization/roleDefinitions/"+peeringCreatorRoleID, body)
		})
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
		w.run(t, func() {
			w.check(t, "PUT", w.vnet+"/providers/Microsoft.Authorization/roleAssignments/7d3c2b1a-0000-4000-8000-000000000001", body)
			w.check(t, "PUT", w.scope+"/providers/Microsoft.Authorization/roleAssignments/7d3c2b1a-0000-4000-8000-000000000002", body)
		})
	})
}
