package reconcile

import (
	"encoding/json"
	"fmt"
	"strings"
)

// PeeringCreatorRole is the custom role the customer creates and assigns
// to the provider app's service principal on their VNet.
const PeeringCreatorRole = "Confluent Cloud Peering Creator"

// PeeringCreatorActions are the role's actions, each needed by one step.
var PeeringCreatorActions = []string{
	"Microsoft.Network/virtualNetworks/read",
	"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read",
	"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write",
	"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete",
	"Microsoft.Network/virtualNetworks/peer/action",
}

// EnvTag is the VNet tag listing the environments allowed to peer with it.
const EnvTag = "ConfluentEnvIDs"

// Fixes are the commands and links that grant the provider app access to
// one customer VNet, pre-filled with the customer's ids.
type Fixes struct {
	ConsentURL           string `json:"consent_url"`
	CreateSPCommand      string `json:"create_service_principal_command"`
	RoleDefinitionCreate string `json:"role_definition_create_command"`
	RoleAssignmentCreate string `json:"role_assignment_create_command"`
	TagCommand           string `json:"tag_command"`
}

// fixesFor builds the fixes for peering the VNet vnetID (in subscription
// sub of tenant) with environment envID; currentTag is the VNet's current
// ConfluentEnvIDs value, extended rather than replaced.
func fixesFor(loginURL, appID, tenant, sub, vnetID, envID, currentTag string) Fixes {
	role, _ := json.Marshal(map[string]any{
		"Name":             PeeringCreatorRole,
		"Description":      "Perform cross-tenant network peering.",
		"Actions":          PeeringCreatorActions,
		"AssignableScopes": []string{"/subscriptions/" + sub},
	})
	return Fixes{
		ConsentURL:           fmt.Sprintf("%s/%s/oauth2/authorize?client_id=%s&response_type=code", strings.TrimRight(loginURL, "/"), tenant, appID),
		CreateSPCommand:      fmt.Sprintf("az ad sp create --id %s", appID),
		RoleDefinitionCreate: fmt.Sprintf("az role definition create --output none --role-definition '%s'", role),
		RoleAssignmentCreate: fmt.Sprintf(`az role assignment create --role %q --assignee "$(az ad sp list --filter "appId eq '%s'" --output tsv --query '[0].id')" --scope %q`, PeeringCreatorRole, appID, vnetID),
		TagCommand:           fmt.Sprintf("az resource tag --is-incremental --ids %q --tags %s=%s", vnetID, EnvTag, addToTag(currentTag, envID)),
	}
}

// tagHas reports whether the comma-separated tag value lists envID.
func tagHas(tag, envID string) bool {
	for _, v := range strings.Split(tag, ",") {
		if strings.EqualFold(strings.TrimSpace(v), envID) {
			return true
		}
	}
	return false
}

// addToTag returns the tag value with envID added.
func addToTag(tag, envID string) string {
	if tagHas(tag, envID) {
		return tag
	}
	if strings.TrimSpace(tag) == "" {
		return envID
	}
	return strings.TrimRight(tag, ", ") + "," + envID
}
