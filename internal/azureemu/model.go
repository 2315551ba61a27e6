package azureemu

import (
	"strings"
	"time"
)

// The emulator's state is a set of typed objects, each persisted as one
// document (kind + key + JSON body) in a DocStore. Keys are lower-cased so
// that lookups are case-insensitive, as Azure's are; the objects themselves
// keep the casing their creator used, which is what Azure echoes back.

// Document kinds, as stored.
const (
	KindTenant           = "tenant"
	KindUser             = "user"
	KindApplication      = "application"
	KindServicePrincipal = "servicePrincipal"
	KindSubscription     = "subscription"
	KindResourceGroup    = "resourceGroup"
	KindVirtualNetwork   = "virtualNetwork"
	KindPeering          = "virtualNetworkPeering"
	KindNSG              = "networkSecurityGroup"
	KindRoleDefinition   = "roleDefinition"
	KindRoleAssignment   = "roleAssignment"
	KindMeta             = "meta"
)

// Tenant is an Entra ID directory.
type Tenant struct {
	ID            string    `json:"id"`
	DisplayName   string    `json:"displayName"`
	DefaultDomain string    `json:"defaultDomain"`
	CreatedAt     time.Time `json:"createdAt"`
}

// User is a member of a tenant that can sign in with a password.
type User struct {
	ID                string `json:"id"` // object id
	TenantID          string `json:"tenantId"`
	UserPrincipalName string `json:"userPrincipalName"`
	DisplayName       string `json:"displayName"`
	PasswordHash      string `json:"passwordHash"`
	GlobalAdmin       bool   `json:"globalAdmin"`
}

// Application is an app registration, owned by one tenant.
type Application struct {
	ID             string   `json:"id"` // object id
	AppID          string   `json:"appId"`
	TenantID       string   `json:"tenantId"` // owner tenant
	DisplayName    string   `json:"displayName"`
	SignInAudience string   `json:"signInAudience"` // AzureADMyOrg | AzureADMultipleOrgs
	PublicClient   bool     `json:"publicClient"`
	Secrets        []Secret `json:"secrets,omitempty"`
	// RedirectURIs are the app's registered reply URLs: the only places
	// the consent pages send a browser back to (AddApplicationRedirectURI).
	RedirectURIs []string `json:"redirectUris,omitempty"`
}

// Multitenant reports whether other tenants may consent to the app.
func (a *Application) Multitenant() bool {
	return strings.EqualFold(a.SignInAudience, "AzureADMultipleOrgs") ||
		strings.EqualFold(a.SignInAudience, "AzureADandPersonalMicrosoftAccount")
}

// Secret is an application password credential; only its hash is kept.
type Secret struct {
	KeyID       string    `json:"keyId"`
	Hash        string    `json:"hash"`
	Hint        string    `json:"hint"`
	DisplayName string    `json:"displayName,omitempty"`
	EndDateTime time.Time `json:"endDateTime"`
}

// ServicePrincipal is an application's identity in one tenant.
type ServicePrincipal struct {
	ID                     string    `json:"id"` // object id
	AppID                  string    `json:"appId"`
	TenantID               string    `json:"tenantId"`
	AppOwnerOrganizationID string    `json:"appOwnerOrganizationId"`
	DisplayName            string    `json:"displayName"`
	ServicePrincipalNames  []string  `json:"servicePrincipalNames"`
	CreatedAt              time.Time `json:"createdAt"`
}

// Subscription is an ARM subscription, trusted by exactly one tenant.
type Subscription struct {
	ID          string `json:"id"` // the GUID
	TenantID    string `json:"tenantId"`
	DisplayName string `json:"displayName"`
	State       string `json:"state"`
}

// ResourceGroup is an ARM resource group.
type ResourceGroup struct {
	ID             string            `json:"id"` // full resource id
	SubscriptionID string            `json:"subscriptionId"`
	Name           string            `json:"name"`
	Location       string            `json:"location"`
	Tags           map[string]string `json:"tags,omitempty"`
}

// VirtualNetwork is a Microsoft.Network/virtualNetworks resource.
type VirtualNetwork struct {
	ID              string            `json:"id"`
	SubscriptionID  string            `json:"subscriptionId"`
	ResourceGroup   string            `json:"resourceGroup"`
	Name            string            `json:"name"`
	Location        string            `json:"location"`
	Tags            map[string]string `json:"tags,omitempty"`
	AddressPrefixes []string          `json:"addressPrefixes"`
	Subnets         []Subnet          `json:"subnets,omitempty"`
	ResourceGUID    string            `json:"resourceGuid"`
	Etag            string            `json:"etag"`
}

// Subnet is a subnet of a virtual network.
type Subnet struct {
	Name          string `json:"name"`
	AddressPrefix string `json:"addressPrefix"`
	// AddressPrefixes is set instead of AddressPrefix when the subnet has
	// more than one prefix.
	AddressPrefixes      []string `json:"addressPrefixes,omitempty"`
	NetworkSecurityGroup string   `json:"networkSecurityGroup,omitempty"` // NSG resource id
}

// Peering states and sync levels, as Azure spells them.
const (
	PeeringInitiated    = "Initiated"
	PeeringConnected    = "Connected"
	PeeringDisconnected = "Disconnected"

	SyncFullyInSync             = "FullyInSync"
	SyncRemoteNotInSync         = "RemoteNotInSync"
	SyncLocalNotInSync          = "LocalNotInSync"
	SyncLocalAndRemoteNotInSync = "LocalAndRemoteNotInSync"
)

// VirtualNetworkPeering is one half of a VNet peering: the link from VNetID
// to RemoteVNetID.
type VirtualNetworkPeering struct {
	ID                        string `json:"id"`
	VNetID                    string `json:"vnetId"`
	Name                      string `json:"name"`
	RemoteVNetID              string `json:"remoteVnetId"`
	AllowVirtualNetworkAccess bool   `json:"allowVirtualNetworkAccess"`
	AllowForwardedTraffic     bool   `json:"allowForwardedTraffic"`
	AllowGatewayTransit       bool   `json:"allowGatewayTransit"`
	UseRemoteGateways         bool   `json:"useRemoteGateways"`
	PeeringState              string `json:"peeringState"`
	PeeringSyncLevel          string `json:"peeringSyncLevel"`
	// RemoteAddressSpace is the remote VNet's address space as last synced.
	RemoteAddressSpace []string `json:"remoteAddressSpace"`
	ResourceGUID       string   `json:"resourceGuid"`
	Etag               string   `json:"etag"`
}

// NetworkSecurityGroup is a Microsoft.Network/networkSecurityGroups resource.
type NetworkSecurityGroup struct {
	ID             string            `json:"id"`
	SubscriptionID string            `json:"subscriptionId"`
	ResourceGroup  string            `json:"resourceGroup"`
	Name           string            `json:"name"`
	Location       string            `json:"location"`
	Tags           map[string]string `json:"tags,omitempty"`
	SecurityRules  []SecurityRule    `json:"securityRules,omitempty"`
	ResourceGUID   string            `json:"resourceGuid"`
	Etag           string            `json:"etag"`
}

// SecurityRule is one rule of a network security group.
type SecurityRule struct {
	Name                       string   `json:"name"`
	Description                string   `json:"description,omitempty"`
	Priority                   int      `json:"priority"`
	Direction                  string   `json:"direction"` // Inbound | Outbound
	Access                     string   `json:"access"`    // Allow | Deny
	Protocol                   string   `json:"protocol"`  // Tcp | Udp | Icmp | *
	SourceAddressPrefixes      []string `json:"sourceAddressPrefixes"`
	DestinationAddressPrefixes []string `json:"destinationAddressPrefixes"`
	SourcePortRanges           []string `json:"sourcePortRanges"`
	DestinationPortRanges      []string `json:"destinationPortRanges"`
}

// Permission is one block of a role definition.
type Permission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

// RoleDefinition is a built-in or custom Azure role.
type RoleDefinition struct {
	ID               string       `json:"id"` // the GUID (name)
	TenantID         string       `json:"tenantId,omitempty"`
	RoleName         string       `json:"roleName"`
	Description      string       `json:"description"`
	RoleType         string       `json:"roleType"` // BuiltInRole | CustomRole
	Permissions      []Permission `json:"permissions"`
	AssignableScopes []string     `json:"assignableScopes"`
	CreatedOn        time.Time    `json:"createdOn"`
	UpdatedOn        time.Time    `json:"updatedOn"`
}

// RoleAssignment grants a role to a principal at a scope.
type RoleAssignment struct {
	ID               string    `json:"id"` // the GUID (name)
	TenantID         string    `json:"tenantId"`
	Scope            string    `json:"scope"`
	RoleDefinitionID string    `json:"roleDefinitionId"` // the role GUID
	PrincipalID      string    `json:"principalId"`
	PrincipalType    string    `json:"principalType"` // User | ServicePrincipal
	Description      string    `json:"description,omitempty"`
	CreatedOn        time.Time `json:"createdOn"`
	CreatedBy        string    `json:"createdBy,omitempty"`
}

func lower(s string) string { return strings.ToLower(s) }
