// Package control is the provider control plane's domain: organizations and
// their Cloud API keys, environments, networks, peerings and Dedicated
// clusters; their phases; the rules and quotas they obey; and the services the
// API and the reconciler call. It imports only the standard library.
//
// Storage sits behind Store (implemented in internal/store for SQLite and
// PostgreSQL); Service implements every service interface on top of a Store
// and enforces the rules inside the Store's transactions, so that quotas and
// uniqueness hold under concurrent requests and across replicas.
package control

import (
	"context"
	"time"
)

// Clouds. Only Azure is offered here.
const (
	CloudAzure = "AZURE"
)

// Connection types of a network.
const (
	ConnectionTypePeering = "PEERING"
)

// Network and peering phases (networking/v1).
const (
	PhaseProvisioning   = "PROVISIONING"
	PhasePendingAccept  = "PENDING_ACCEPT" // peerings only; unused on Azure
	PhaseReady          = "READY"
	PhaseFailed         = "FAILED"
	PhaseDeprovisioning = "DEPROVISIONING"
	PhaseDisconnected   = "DISCONNECTED" // peerings only
)

// Cluster phases (cmk/v2).
const (
	ClusterPhaseProvisioning = "PROVISIONING"
	ClusterPhaseProvisioned  = "PROVISIONED"
	ClusterPhaseFailed       = "FAILED"
)

// Peering error codes, one per failing step of the reconciler (SPEC.md).
const (
	PeeringAppNotConsented                 = "APP_NOT_CONSENTED"
	PeeringVNetNotFound                    = "VNET_NOT_FOUND"
	PeeringPermissionDenied                = "PERMISSION_DENIED"
	PeeringVNetNotAuthorizedForEnvironment = "VNET_NOT_AUTHORIZED_FOR_ENVIRONMENT"
	PeeringInvalidAddressSpace             = "INVALID_ADDRESS_SPACE"
	PeeringAddressSpaceOverlap             = "ADDRESS_SPACE_OVERLAP"
	PeeringCrossRegionNotSupported         = "CROSS_REGION_NOT_SUPPORTED"
	PeeringTenantNotFound                  = "TENANT_NOT_FOUND"          // no such tenant in Entra ID
	PeeringDisconnected                    = "DISCONNECTED"              // the customer deleted their half (phase DISCONNECTED)
	PeeringProviderVNet                    = "PROVIDER_VNET_NOT_ALLOWED" // the peering names the provider's own tenant or subscription
)

// Cluster availabilities.
const (
	AvailabilitySingleZone = "SINGLE_ZONE"
	AvailabilityMultiZone  = "MULTI_ZONE"
)

// ClusterKindDedicated is the only cluster kind offered.
const ClusterKindDedicated = "Dedicated"

// AzureZones are the zones of every Azure network.
var AzureZones = []string{"1", "2", "3"}

// Organization is a customer of the provider. Nothing of one organization is
// visible to another. An operator organization may also manage organizations.
type Organization struct {
	ID          string // a UUID, as Confluent's
	DisplayName string
	Operator    bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// APIKey is a Cloud API key of an organization: Key is the HTTP Basic user,
// the secret its password. Only a hash of the secret is kept.
type APIKey struct {
	Key         string // 16 uppercase letters and digits
	OrgID       string
	Description string
	SecretHash  string // HashSecret(secret)
	CreatedAt   time.Time
}

// Environment is an isolated namespace of an organization.
//
// Deleting an environment deletes everything in it, as Confluent's does:
// its clusters (and their connectors) at once, and its networks and
// peerings through the reconciler, which removes their Azure resources.
// Until they are gone the environment is kept with Deleting set, and its
// networks and peerings are all DEPROVISIONING; to its organization it is
// gone already (not found, and not counted in environments_per_org).
type Environment struct {
	ID                      string // env-…
	OrgID                   string
	DisplayName             string
	StreamGovernancePackage string // "", ESSENTIALS or ADVANCED
	Deleting                bool   // deleted; the reconciler purges the row once the environment is empty
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// Network is a provider network (one provider VNet) in an environment.
type Network struct {
	ID              string // n-…
	OrgID           string
	EnvironmentID   string
	DisplayName     string
	Cloud           string // AZURE
	Region          string
	CIDR            string // a /16, canonical form
	ConnectionTypes []string
	Zones           []string
	Status          NetworkStatus
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// NetworkStatus is what the reconciler observed of a network.
type NetworkStatus struct {
	Phase        string
	ErrorCode    string
	ErrorMessage string
	// AzureVNet is the resource id of the provider VNet and
	// AzureSubscription its subscription, both set once the VNet exists.
	AzureVNet         string
	AzureSubscription string
}

// Peering is a VNet peering between a network and a customer VNet.
type Peering struct {
	ID             string // peer-…
	OrgID          string
	EnvironmentID  string
	NetworkID      string
	DisplayName    string
	Cloud          string // AZURE
	Tenant         string // the customer's Entra ID tenant, a GUID
	VNet           string // the customer VNet's resource id, canonical form
	CustomerRegion string
	Status         PeeringStatus
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// PeeringStatus is what the reconciler observed of a peering. Compare
// statuses with Equal.
type PeeringStatus struct {
	Phase        string
	ErrorCode    string // one of the Peering… codes when Phase is FAILED or DISCONNECTED
	ErrorMessage string // the failed check's evidence: at most two sentences, no commands
	// Checklist is the reconciler's last pass over the steps; zero until
	// the peering is first checked. It outlives a retry, which only resets
	// the phase.
	Checklist Checklist
}

// Cluster is a Dedicated Kafka cluster placed in a network.
type Cluster struct {
	ID            string // lkc-…
	OrgID         string
	EnvironmentID string
	NetworkID     string
	DisplayName   string
	Availability  string // SINGLE_ZONE or MULTI_ZONE
	Cloud         string // AZURE
	Region        string // the network's region
	CKU           int
	Status        ClusterStatus
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// ClusterStatus is what the reconciler observed of a cluster. Compare
// statuses with Equal.
type ClusterStatus struct {
	Phase string
	// BootstrapEndpoint ("name:9092", the cluster's private DNS name) and
	// HTTPEndpoint ("https://name:443") are set once the cluster is
	// PROVISIONED (endpoints.go); statuses written before clusters had
	// brokers hold "SASL_SSL://ip:9092" and "https://ip:443".
	BootstrapEndpoint string
	HTTPEndpoint      string
	// Brokers are the brokers' addresses ("ip:9092") inside the network's
	// CIDR, one per zone for MULTI_ZONE; set once PROVISIONED.
	Brokers []string
}

type contextKey int

const orgContextKey contextKey = iota

// NewContextWithOrganization returns a copy of ctx carrying the caller's
// organization. Services act on behalf of that organization.
func NewContextWithOrganization(ctx context.Context, org *Organization) context.Context {
	return context.WithValue(ctx, orgContextKey, org)
}

// OrganizationFromContext returns the caller's organization, or nil.
func OrganizationFromContext(ctx context.Context) *Organization {
	org, _ := ctx.Value(orgContextKey).(*Organization)
	return org
}

// callerOrg returns the caller's organization or EUNAUTHORIZED.
func callerOrg(ctx context.Context) (*Organization, error) {
	if org := OrganizationFromContext(ctx); org != nil {
		return org, nil
	}
	return nil, Errorf(EUNAUTHORIZED, "Valid authentication credentials must be provided.")
}
