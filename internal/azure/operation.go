package azure

import (
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Operation names an Azure request by its method and the shape of its
// path, never by the names or ids in it, so that it can label a metric:
// "virtualNetworkPeerings.createOrUpdate", "virtualNetworks.get",
// "roleAssignments.list", "operations.get" (polling a long-running
// operation), "providers.register", "token", "openidConfiguration",
// "graph.servicePrincipals.list", "emulator.events".
//
// Resource types, Graph collections and actions outside a fixed
// vocabulary are named "other", so that a request made up by a client
// cannot add a label value; a path that is no Azure path at all is
// "other".
func Operation(method, path string) string {
	var segs []string
	for s := range strings.SplitSeq(path, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	if len(segs) == 0 {
		return "other"
	}
	switch strings.ToLower(segs[0]) {
	case "subscriptions", "tenants", "providers":
		return armOperation(method, segs)
	case "graph": // the embedded Azure serves Graph under /graph
		if len(segs) > 1 && (strings.EqualFold(segs[1], "v1.0") || strings.EqualFold(segs[1], "beta")) {
			return graphOperation(method, segs[2:])
		}
		return "graph.other"
	case "v1.0", "beta": // graph.microsoft.com
		return graphOperation(method, segs[1:])
	case "_emulator":
		if len(segs) > 1 {
			if n, ok := emulatorRoutes[strings.ToLower(segs[1])]; ok {
				return "emulator." + n
			}
		}
		return "emulator.other"
	}
	return entraOperation(segs)
}

// armTypes are the ARM resource types Operation names, by lower-cased
// spelling: those the control plane and the embedded Azure use.
var armTypes = canonical(
	"subscriptions", "tenants", "providers", "resourceGroups", "locations", "resources", "deployments",
	"operations", "operationResults", "operationStatuses",
	"virtualNetworks", "virtualNetworkPeerings", "subnets", "networkSecurityGroups", "securityRules",
	"defaultSecurityRules", "networkInterfaces", "publicIPAddresses", "routeTables", "routes",
	"roleDefinitions", "roleAssignments", "tags",
)

// armActions are the POST actions Operation names.
var armActions = canonical("register", "unregister", "listKeys", "checkIPAddressAvailability", "validate")

// graphCollections are the Graph collections Operation names.
var graphCollections = canonical("servicePrincipals", "applications", "users", "groups", "directoryObjects", "organization", "me", "oauth2PermissionGrants")

// emulatorRoutes are the embedded Azure's operator routes (/_emulator/…).
var emulatorRoutes = map[string]string{"events": "events", "network-snapshot": "networkSnapshot", "tenants": "tenants"}

func canonical(names ...string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[strings.ToLower(n)] = n
	}
	return m
}

func lookup(vocabulary map[string]string, s string) string {
	if n, ok := vocabulary[strings.ToLower(s)]; ok {
		return n
	}
	return "other"
}

// armOperation names an ARM path: a chain of type/name pairs
// (/subscriptions/{s}/resourceGroups/{rg}/providers/{namespace}/virtualNetworks/{v}/…),
// where providers/{namespace} counts as a pair and a scope may nest
// another provider (…/virtualNetworks/{v}/providers/Microsoft.Authorization/roleAssignments/{id}).
// The last type names the operation: an item (the path ends on a name) is
// read, written or deleted; a collection is listed, or, after an item and
// with POST, is that item's action.
func armOperation(method string, segs []string) string {
	typ, item := "", false // the last pair's type, and whether it had a name
	for i := 0; i < len(segs); i += 2 {
		if i+1 == len(segs) {
			last := segs[i]
			if method == http.MethodPost && typ != "" && item {
				if a := lookup(armActions, last); a != "other" {
					return typ + "." + a
				}
				return typ + ".action"
			}
			typ, item = lookup(armTypes, last), false
			break
		}
		typ, item = lookup(armTypes, segs[i]), true
	}
	verbs := collectionVerbs
	if item {
		verbs = itemVerbs
	}
	if v, ok := verbs[method]; ok {
		return typ + "." + v
	}
	return typ + ".other"
}

// itemVerbs and collectionVerbs name what a method does to an ARM
// resource and to a collection of them, in the SDK's words.
var (
	itemVerbs = map[string]string{
		http.MethodGet: "get", http.MethodHead: "checkExistence", http.MethodPut: "createOrUpdate",
		http.MethodPatch: "update", http.MethodDelete: "delete", http.MethodPost: "action",
	}
	collectionVerbs = map[string]string{http.MethodGet: "list", http.MethodPost: "action"}
)

// graphOperation names a Graph path after its version segment.
func graphOperation(method string, segs []string) string {
	if len(segs) == 0 {
		return "graph.other"
	}
	col := "graph." + lookup(graphCollections, segs[0])
	switch {
	case len(segs) == 1 && method == http.MethodGet:
		return col + ".list"
	case len(segs) == 1 && method == http.MethodPost:
		return col + ".create"
	case len(segs) == 1:
		return col + ".other"
	case method == http.MethodGet:
		return col + ".get"
	case method == http.MethodPatch:
		return col + ".update"
	case method == http.MethodDelete:
		return col + ".delete"
	case method == http.MethodPost:
		return col + ".action"
	}
	return col + ".other"
}

// entraPaths name Entra ID's endpoints by the path after the authority
// (/{tenant}, /common, /adfs), lower-cased.
var entraPaths = map[string]string{
	"oauth2/v2.0/token":                     "token",
	"oauth2/token":                          "token",
	"v2.0/.well-known/openid-configuration": "openidConfiguration",
	".well-known/openid-configuration":      "openidConfiguration",
	"discovery/instance":                    "instanceDiscovery",
	"discovery/v2.0/keys":                   "keys",
	"discovery/keys":                        "keys",
	"oauth2/v2.0/devicecode":                "deviceCode",
	"oauth2/devicecode":                     "deviceCode",
	"oauth2/v2.0/authorize":                 "authorize",
	"oauth2/authorize":                      "authorize",
	"v2.0/adminconsent":                     "adminConsent",
	"adminconsent":                          "adminConsent",
}

// entraOperation names an Entra ID path: /{authority}/{endpoint}.
func entraOperation(segs []string) string {
	if len(segs) < 2 {
		return "other"
	}
	if strings.EqualFold(segs[1], "userrealm") {
		return "userRealm"
	}
	if n, ok := entraPaths[strings.ToLower(strings.Join(segs[1:], "/"))]; ok {
		return n
	}
	return "other"
}

// observePolicy is a per-call policy of the SDK's pipelines that reports
// each request's operation, final status and duration (retries included).
type observePolicy struct {
	observe func(operation string, status int, d time.Duration)
}

func (p observePolicy) Do(req *policy.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := req.Next()
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	raw := req.Raw()
	p.observe(Operation(raw.Method, raw.URL.Path), status, time.Since(start))
	return resp, err
}
