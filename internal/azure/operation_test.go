package azure_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/azure"
)

func TestOperationNamesByShapeNotByName(t *testing.T) {
	const (
		sub    = "/subscriptions/6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02"
		vnet   = sub + "/resourceGroups/contoso-network/providers/Microsoft.Network/virtualNetworks/contoso-vnet"
		tenant = "/5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01"
	)
	tests := []struct{ method, path, want string }{
		// ARM, as the Azure SDK for Go sends it.
		{"PUT", vnet + "/virtualNetworkPeerings/peer-abc123", "virtualNetworkPeerings.createOrUpdate"},
		{"GET", vnet + "/virtualNetworkPeerings/peer-abc123", "virtualNetworkPeerings.get"},
		{"DELETE", vnet + "/virtualNetworkPeerings/peer-abc123", "virtualNetworkPeerings.delete"},
		{"GET", vnet + "/virtualNetworkPeerings", "virtualNetworkPeerings.list"},
		{"GET", vnet, "virtualNetworks.get"},
		{"PUT", vnet, "virtualNetworks.createOrUpdate"},
		{"PATCH", vnet, "virtualNetworks.update"},
		{"HEAD", vnet, "virtualNetworks.checkExistence"},
		{"GET", sub + "/providers/Microsoft.Network/virtualNetworks", "virtualNetworks.list"},
		{"GET", vnet + "/subnets/default", "subnets.get"},
		// armresources writes "resourcegroups"; names are case-insensitive.
		{"PUT", sub + "/resourcegroups/peerplane-networks", "resourceGroups.createOrUpdate"},
		{"GET", sub + "/resourceGroups", "resourceGroups.list"},
		{"GET", "/subscriptions", "subscriptions.list"},
		{"GET", sub, "subscriptions.get"},
		{"GET", "/tenants", "tenants.list"},
		{"GET", sub + "/locations", "locations.list"},
		// Long-running operations, polled at the URLs ARM hands out.
		{"GET", sub + "/providers/Microsoft.Network/locations/eastus/operations/0b8e5c6e-1d0a-4e43-9c8e-2a1b7f3c9d11", "operations.get"},
		{"GET", sub + "/providers/Microsoft.Network/locations/eastus/operationResults/0b8e5c6e-1d0a-4e43-9c8e-2a1b7f3c9d11", "operationResults.get"},
		// Providers, actions, scopes nested in resources.
		{"GET", "/providers", "providers.list"},
		{"GET", sub + "/providers/Microsoft.Network", "providers.get"},
		{"POST", sub + "/providers/Microsoft.Network/register", "providers.register"},
		{"POST", vnet + "/doSomethingNew", "virtualNetworks.action"},
		{"GET", vnet + "/providers/Microsoft.Authorization/roleAssignments", "roleAssignments.list"},
		{"PUT", vnet + "/providers/Microsoft.Authorization/roleAssignments/3c1f8b2a-7d4e-4f6a-9b0c-1e2d3f4a5b6c", "roleAssignments.createOrUpdate"},
		{"GET", sub + "/providers/Microsoft.Authorization/roleDefinitions", "roleDefinitions.list"},
		{"PUT", sub + "/providers/Microsoft.Authorization/roleDefinitions/cccccccc-0000-4000-8000-000000000001", "roleDefinitions.createOrUpdate"},
		{"PATCH", vnet + "/providers/Microsoft.Resources/tags/default", "tags.update"},
		{"GET", sub + "/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg/securityRules/allow-kafka", "securityRules.get"},
		// A type outside the vocabulary does not become a label value.
		{"GET", sub + "/resourceGroups/rg/providers/Contoso.Custom/widgets-8f2e1c/w1", "other.get"},
		{"PUT", sub + "/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/peerings-" + "x9/p", "other.createOrUpdate"},
		{"BREW", vnet, "virtualNetworks.other"},
		// Entra ID.
		{"POST", tenant + "/oauth2/v2.0/token", "token"},
		{"POST", "/adfs/oauth2/token", "token"},
		{"GET", tenant + "/v2.0/.well-known/openid-configuration", "openidConfiguration"},
		{"GET", "/common/discovery/instance", "instanceDiscovery"},
		{"GET", tenant + "/discovery/v2.0/keys", "keys"},
		{"POST", "/organizations/oauth2/v2.0/devicecode", "deviceCode"},
		{"GET", tenant + "/oauth2/authorize", "authorize"},
		{"GET", tenant + "/v2.0/adminconsent", "adminConsent"},
		{"GET", "/common/userrealm/admin@contoso.example", "userRealm"},
		{"GET", tenant + "/oauth2/v2.0/whatever", "other"},
		// Graph, embedded (/graph/v1.0) and real (graph.microsoft.com/v1.0).
		{"GET", "/graph/v1.0/servicePrincipals", "graph.servicePrincipals.list"},
		{"POST", "/graph/v1.0/servicePrincipals", "graph.servicePrincipals.create"},
		{"GET", "/v1.0/servicePrincipals/2b8d0c1e-5f4a-4e3b-8c7d-6a5b4c3d2e1f", "graph.servicePrincipals.get"},
		{"POST", "/graph/v1.0/directoryObjects/getByIds", "graph.directoryObjects.action"},
		{"GET", "/graph/v1.0/secretThings", "graph.other.list"},
		{"GET", "/graph/nope", "graph.other"},
		// The embedded Azure's operator routes.
		{"GET", "/_emulator/events", "emulator.events"},
		{"GET", "/_emulator/network-snapshot", "emulator.networkSnapshot"},
		{"POST", "/_emulator/tenants/t1/users", "emulator.tenants"},
		{"GET", "/_emulator/x", "emulator.other"},
		{"GET", "/", "other"},
		{"GET", "", "other"},
	}
	for _, tt := range tests {
		if got := azure.Operation(tt.method, tt.path); got != tt.want {
			t.Errorf("Operation(%s, %s) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}

// TestOperationIsBounded feeds Operation random paths mixing Azure's words
// with made-up names (each with a digit): every answer must be made of
// vocabulary words, never of a piece of the path.
func TestOperationIsBounded(t *testing.T) {
	word := regexp.MustCompile(`^[a-zA-Z]+(\.[a-zA-Z]+){0,2}$`)
	words := []string{"subscriptions", "tenants", "providers", "resourceGroups", "Microsoft.Network", "virtualNetworks",
		"virtualNetworkPeerings", "graph", "v1.0", "_emulator", "oauth2", "token", "locations", "operations"}
	methods := []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, "PURGE"}
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	for i := range 20000 {
		var b strings.Builder
		for range 1 + r.IntN(10) {
			b.WriteString("/")
			if r.IntN(2) == 0 {
				b.WriteString(words[r.IntN(len(words))])
			} else {
				fmt.Fprintf(&b, "name%d", r.IntN(1000))
			}
		}
		m := methods[i%len(methods)]
		op := azure.Operation(m, b.String())
		if !word.MatchString(op) {
			t.Fatalf("Operation(%s, %s) = %q: not made of vocabulary words", m, b.String(), op)
		}
		seen[op] = true
	}
	t.Logf("%d distinct operations", len(seen))
}
