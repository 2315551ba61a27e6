package azureemu

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Azure RBAC as ARM enforces it: each call needs one action at one scope;
// the caller may perform it iff one of its role assignments at that scope
// or an ancestor grants a role with a permission block whose actions match
// the action and whose notActions do not.

// Actions the emulator's ARM calls need.
const (
	actVNetRead       = "Microsoft.Network/virtualNetworks/read"
	actVNetWrite      = "Microsoft.Network/virtualNetworks/write"
	actVNetDelete     = "Microsoft.Network/virtualNetworks/delete"
	actVNetPeer       = "Microsoft.Network/virtualNetworks/peer/action"
	actPeeringRead    = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read"
	actPeeringWrite   = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write"
	actPeeringDelete  = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete"
	actSubnetRead     = "Microsoft.Network/virtualNetworks/subnets/read"
	actSubnetWrite    = "Microsoft.Network/virtualNetworks/subnets/write"
	actSubnetDelete   = "Microsoft.Network/virtualNetworks/subnets/delete"
	actNSGRead        = "Microsoft.Network/networkSecurityGroups/read"
	actNSGWrite       = "Microsoft.Network/networkSecurityGroups/write"
	actNSGDelete      = "Microsoft.Network/networkSecurityGroups/delete"
	actNSGJoin        = "Microsoft.Network/networkSecurityGroups/join/action"
	actRuleRead       = "Microsoft.Network/networkSecurityGroups/securityRules/read"
	actRuleWrite      = "Microsoft.Network/networkSecurityGroups/securityRules/write"
	actRuleDelete     = "Microsoft.Network/networkSecurityGroups/securityRules/delete"
	actRGRead         = "Microsoft.Resources/subscriptions/resourceGroups/read"
	actRGWrite        = "Microsoft.Resources/subscriptions/resourceGroups/write"
	actRGDelete       = "Microsoft.Resources/subscriptions/resourceGroups/delete"
	actSubRead        = "Microsoft.Resources/subscriptions/read"
	actRoleDefRead    = "Microsoft.Authorization/roleDefinitions/read"
	actRoleDefWrite   = "Microsoft.Authorization/roleDefinitions/write"
	actRoleDefDelete  = "Microsoft.Authorization/roleDefinitions/delete"
	actRoleAsgnRead   = "Microsoft.Authorization/roleAssignments/read"
	actRoleAsgnWrite  = "Microsoft.Authorization/roleAssignments/write"
	actRoleAsgnDelete = "Microsoft.Authorization/roleAssignments/delete"
)

var builtinCreated = time.Date(2015, 2, 2, 21, 55, 9, 880642300, time.UTC)

// builtinRoles are the built-in roles the emulator knows, with their real
// ids and permission sets. They exist in every tenant and are not stored.
var builtinRoles = map[string]*RoleDefinition{
	RoleOwner: {ID: RoleOwner, RoleName: "Owner", RoleType: "BuiltInRole",
		Description: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
		Permissions: []Permission{{Actions: []string{"*"}}}},
	RoleContributor: {ID: RoleContributor, RoleName: "Contributor", RoleType: "BuiltInRole",
		Description: "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
		Permissions: []Permission{{Actions: []string{"*"}, NotActions: []string{
			"Microsoft.Authorization/*/Delete",
			"Microsoft.Authorization/*/Write",
			"Microsoft.Authorization/elevateAccess/Action",
			"Microsoft.Blueprint/blueprintAssignments/write",
			"Microsoft.Blueprint/blueprintAssignments/delete",
			"Microsoft.Compute/galleries/share/action",
			"Microsoft.Purview/consents/write",
			"Microsoft.Purview/consents/delete",
			"Microsoft.Resources/deploymentStacks/manageDenySetting/action",
			"Microsoft.Subscription/cancel/action",
			"Microsoft.Subscription/enable/action",
		}}}},
	RoleReader: {ID: RoleReader, RoleName: "Reader", RoleType: "BuiltInRole",
		Description: "View all resources, but does not allow you to make any changes.",
		Permissions: []Permission{{Actions: []string{"*/read"}}}},
	RoleNetworkContributor: {ID: RoleNetworkContributor, RoleName: "Network Contributor", RoleType: "BuiltInRole",
		Description: "Lets you manage networks, but not access to them.",
		Permissions: []Permission{{Actions: []string{
			"Microsoft.Authorization/*/read",
			"Microsoft.Insights/alertRules/*",
			"Microsoft.Network/*",
			"Microsoft.ResourceHealth/availabilityStatuses/read",
			"Microsoft.Resources/deployments/*",
			"Microsoft.Resources/subscriptions/resourceGroups/read",
			"Microsoft.Support/*",
		}}}},
	RoleUserAccessAdministrator: {ID: RoleUserAccessAdministrator, RoleName: "User Access Administrator", RoleType: "BuiltInRole",
		Description: "Lets you manage user access to Azure resources.",
		Permissions: []Permission{{Actions: []string{"*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"}}}},
}

func init() {
	for _, r := range builtinRoles {
		r.AssignableScopes = []string{"/"}
		r.CreatedOn, r.UpdatedOn = builtinCreated, builtinCreated
		for i := range r.Permissions {
			p := &r.Permissions[i]
			if p.NotActions == nil {
				p.NotActions = []string{}
			}
			p.DataActions, p.NotDataActions = []string{}, []string{}
		}
	}
}

// roleDef returns the built-in or custom role with id (a GUID).
func (s *state) roleDef(id string) *RoleDefinition {
	if r := builtinRoles[lower(id)]; r != nil {
		return r
	}
	return s.roleDefs[lower(id)]
}

// actionMatches reports whether the action pattern (with '*' wildcards)
// matches action, case-insensitively.
func actionMatches(pattern, action string) bool {
	p, a := lower(pattern), lower(action)
	parts := strings.Split(p, "*")
	if len(parts) == 1 {
		return p == a
	}
	if !strings.HasPrefix(a, parts[0]) {
		return false
	}
	a = a[len(parts[0]):]
	for i := 1; i < len(parts)-1; i++ {
		j := strings.Index(a, parts[i])
		if j < 0 {
			return false
		}
		a = a[j+len(parts[i]):]
	}
	return strings.HasSuffix(a, parts[len(parts)-1])
}

// permits reports whether role grants action.
func (r *RoleDefinition) permits(action string) bool {
	for _, p := range r.Permissions {
		granted := false
		for _, a := range p.Actions {
			if actionMatches(a, action) {
				granted = true
				break
			}
		}
		if !granted {
			continue
		}
		denied := false
		for _, n := range p.NotActions {
			if actionMatches(n, action) {
				denied = true
				break
			}
		}
		if !denied {
			return true
		}
	}
	return false
}

// normScope returns scope lower-cased, without trailing slash; the root is "".
func normScope(scope string) string {
	return strings.TrimRight(lower(strings.TrimSpace(scope)), "/")
}

// scopeWithin reports whether scope equals ancestor or lies below it, on
// path-segment boundaries.
func scopeWithin(scope, ancestor string) bool {
	s, a := normScope(scope), normScope(ancestor)
	return a == "" || s == a || strings.HasPrefix(s, a+"/")
}

// allowed reports whether principal oid may perform action at scope. It
// looks only at the assignments at scope and its ancestors.
func (s *state) allowed(oid, action, scope string) bool {
	ok := false
	s.assignments.above(scope, func(ra *RoleAssignment) bool {
		if strings.EqualFold(ra.PrincipalID, oid) {
			if r := s.roleDef(ra.RoleDefinitionID); r != nil && r.permits(action) {
				ok = true
			}
		}
		return !ok
	})
	return ok
}

// hasAnyAssignmentIn reports whether oid has any role assignment at, above
// or below scope: what makes a subscription visible to it.
func (s *state) hasAnyAssignmentIn(oid, scope string) bool {
	found := false
	match := func(ra *RoleAssignment) bool {
		found = strings.EqualFold(ra.PrincipalID, oid)
		return !found
	}
	s.assignments.above(scope, match)
	if !found {
		s.assignments.below(scope, match)
	}
	return found
}

func clientName(c *Caller) string {
	if c.PrincipalType == "User" && c.Name != "" {
		return c.Name
	}
	return c.ObjectID
}

// authorize returns ARM's 403 AuthorizationFailed unless c may perform
// action at scope.
func authorize(s *state, c *Caller, action, scope string) error {
	if s.allowed(c.ObjectID, action, scope) {
		return nil
	}
	return errorf(http.StatusForbidden, "AuthorizationFailed",
		"The client '%s' with object id '%s' does not have authorization to perform action '%s' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.",
		clientName(c), c.ObjectID, action, scope)
}

// checkSubscription returns the subscription subID if it exists and the
// caller's token comes from the tenant that owns it.
func checkSubscription(s *state, c *Caller, subID string) (*Subscription, error) {
	sub := s.subs[lower(subID)]
	if sub == nil {
		return nil, errorf(http.StatusNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", subID)
	}
	if !strings.EqualFold(sub.TenantID, c.TenantID) {
		return nil, wrongTenant(c.TenantID, sub.TenantID)
	}
	return sub, nil
}

func wrongTenant(tokenTenant, ownerTenant string) error {
	return errorf(http.StatusUnauthorized, "InvalidAuthenticationTokenTenant",
		"The access token is from the wrong issuer '%s'. It must match the tenant '%s' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/%s' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.",
		issuer(tokenTenant), issuer(ownerTenant), ownerTenant)
}

// auxiliaryCallers parses x-ms-authorization-auxiliary: up to three
// "Bearer <token>" values separated by commas, each for another tenant.
func (e *Emulator) auxiliaryCallers(r *http.Request) ([]*Caller, error) {
	h := strings.TrimSpace(r.Header.Get("x-ms-authorization-auxiliary"))
	if h == "" {
		return nil, nil
	}
	var out []*Caller
	for _, part := range strings.Split(h, ",") {
		raw, ok := bearer(part)
		if !ok {
			return nil, errorf(http.StatusUnauthorized, "InvalidAuxiliaryAuthenticationHeader", "The 'x-ms-authorization-auxiliary' header is provided in an invalid format; it must be a comma separated list of 'Bearer <token>' values.")
		}
		c, err := e.parseToken(raw)
		if err == errTokenExpired {
			return nil, errorf(http.StatusUnauthorized, "ExpiredAuthenticationToken", "The access token in the 'x-ms-authorization-auxiliary' header expired: its expiry UTC time is earlier than current UTC time.")
		}
		if err != nil {
			return nil, errorf(http.StatusUnauthorized, "InvalidAuthenticationToken", "%s", invalidTokenMessage("The access token in the 'x-ms-authorization-auxiliary' header", err))
		}
		if !e.audienceOK("arm", c.Audience) {
			return nil, errorf(http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token in the 'x-ms-authorization-auxiliary' header is invalid.")
		}
		out = append(out, c)
	}
	if len(out) > 3 {
		return nil, errorf(http.StatusBadRequest, "TooManyAuxiliaryTokens", "The 'x-ms-authorization-auxiliary' header has more than 3 tokens.")
	}
	return out, nil
}

// sameIdentity reports whether aux, the caller of an auxiliary token, is
// the primary caller c in another tenant: ARM lets an auxiliary token stand
// only for the identity of the primary token, present in the other tenant.
// For an application that is the same application (appid), whose service
// principal in each tenant has its own object id. For a user it is the
// same person: in Entra a guest account in the other tenant, whose tokens
// name the user's home tenant and object; the emulator has no guest
// accounts, so a user's identity is its object in its own tenant and a
// user's auxiliary token never stands for it elsewhere.
func sameIdentity(c, aux *Caller) bool {
	if c.PrincipalType != aux.PrincipalType {
		return false
	}
	if c.PrincipalType == "User" {
		return strings.EqualFold(c.ObjectID, aux.ObjectID) && strings.EqualFold(c.TenantID, aux.TenantID)
	}
	return c.AppID != "" && strings.EqualFold(c.AppID, aux.AppID)
}

// authorizeLinked checks that the caller, which may perform primaryAction
// on primaryScope, may also perform linkedAction on linkedScope (in
// subscription linkedSub), using an auxiliary token when that subscription
// belongs to another tenant; only a token for the caller's own identity
// counts (sameIdentity). Failures are ARM's LinkedAuthorizationFailed.
func authorizeLinked(s *state, c *Caller, aux []*Caller, primaryAction, primaryScope, linkedAction, linkedSub, linkedScope string) error {
	sub := s.subs[lower(linkedSub)]
	if sub == nil {
		return errorf(http.StatusForbidden, "LinkedAuthorizationFailed",
			"The client has permission to perform action '%s' on scope '%s', however the linked subscription '%s' was not found.",
			primaryAction, primaryScope, linkedSub)
	}
	who := c
	if !strings.EqualFold(sub.TenantID, c.TenantID) {
		who = nil
		for _, a := range aux {
			if strings.EqualFold(a.TenantID, sub.TenantID) && sameIdentity(c, a) {
				who = a
				break
			}
		}
		if who == nil {
			return errorf(http.StatusForbidden, "LinkedAuthorizationFailed",
				"The client has permission to perform action '%s' on scope '%s', however the current tenant '%s' is not authorized to access linked subscription '%s'.",
				primaryAction, primaryScope, c.TenantID, linkedSub)
		}
	}
	if s.allowed(who.ObjectID, linkedAction, linkedScope) {
		return nil
	}
	return errorf(http.StatusForbidden, "LinkedAuthorizationFailed",
		"The client '%s' with object id '%s' has permission to perform action '%s' on scope '%s'; however, it does not have permission to perform action(s) '%s' on the linked scope(s) '%s' (respectively) or the linked scope(s) are invalid.",
		clientName(c), c.ObjectID, primaryAction, primaryScope, linkedAction, linkedScope)
}

// principalInTenant returns the type ("User" or "ServicePrincipal") of the
// object id in tenant, or "".
func (s *state) principalInTenant(oid, tenantID string) string {
	if u := s.users[lower(oid)]; u != nil && strings.EqualFold(u.TenantID, tenantID) {
		return "User"
	}
	if sp := s.sps[lower(oid)]; sp != nil && strings.EqualFold(sp.TenantID, tenantID) {
		return "ServicePrincipal"
	}
	return ""
}

var _ = fmt.Sprintf
