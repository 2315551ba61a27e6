package control

import (
	"context"
	"encoding/base64"
)

// Services act for the organization carried by ctx
// (NewContextWithOrganization) and return EUNAUTHORIZED without one. Objects
// of another organization are reported missing (ENOTFOUND), never forbidden.

// Page asks for one page of a list: Size items (0: DefaultPageSize) after the
// position encoded in Token ("" for the first page).
type Page struct {
	Size  int
	Token string
}

// Page sizes, Confluent's: every list pages 10 items by default; a list
// takes at most its maximum a page (the page_size maximum of Confluent's
// specs), and a larger Size is EINVALID on "page_size", as Confluent answers
// 400. Callers that want a whole list page through it (All).
const (
	DefaultPageSize = 10
	// MaxPageSize is the largest page of networks and peerings
	// (networking/v1).
	MaxPageSize = 1000
	// MaxEnvironmentPageSize is the largest page of environments and
	// organizations (org/v2).
	MaxEnvironmentPageSize = 100
	// MaxClusterPageSize is the largest page of clusters (cmk/v2).
	MaxClusterPageSize = 100
)

// All returns every item of a paged list: find (a Find method bound to its
// filter) is called with successive pages of size items until the last.
// Returns find's first error.
func All[T any](size int, find func(Page) ([]T, string, error)) ([]T, error) {
	var all []T
	p := Page{Size: size}
	for {
		items, next, err := find(p)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		p.Token = next
	}
}

// EnvironmentUpdate holds the changes PATCH may make; nil fields stay.
type EnvironmentUpdate struct {
	DisplayName             *string
	StreamGovernancePackage *string
}

// NetworkUpdate holds the changes PATCH may make; nil fields stay. Only
// the display name may change: the other fields, when given, must equal the
// network's (the CIDR, cloud, region and connection types are immutable).
type NetworkUpdate struct {
	DisplayName     *string
	Cloud           *string
	Region          *string
	CIDR            *string
	ConnectionTypes []string
}

// PeeringUpdate holds the changes PATCH may make; nil fields stay. Only the
// display name may change: the network and the cloud details are immutable.
type PeeringUpdate struct {
	DisplayName *string
	NetworkID   *string
	Cloud       *PeeringCloud
}

// PeeringCloud is the immutable Azure part of a peering.
type PeeringCloud struct {
	Tenant, VNet, CustomerRegion string
}

// ClusterUpdate holds the changes PATCH may make; nil fields stay.
type ClusterUpdate struct {
	DisplayName *string
	CKU         *int
}

// EnvironmentService manages the caller's environments.
type EnvironmentService interface {
	// FindEnvironmentByID returns ENOTFOUND if the environment does not
	// exist, is being deleted, or belongs to another organization.
	FindEnvironmentByID(ctx context.Context, id string) (*Environment, error)
	// FindEnvironments returns one page of the caller's environments (not
	// those being deleted) and the token of the next page ("" on the
	// last). Returns EINVALID for a bad page token or a size past
	// MaxEnvironmentPageSize.
	FindEnvironments(ctx context.Context, page Page) ([]*Environment, string, error)
	// CreateEnvironment assigns env an ID and timestamps and stores it.
	// Returns EINVALID for a missing or bad display name, EQUOTA past
	// environments_per_org (environments being deleted do not count).
	CreateEnvironment(ctx context.Context, env *Environment) error
	// UpdateEnvironment returns ENOTFOUND as FindEnvironmentByID does,
	// EINVALID for a bad display name or package.
	UpdateEnvironment(ctx context.Context, id string, upd EnvironmentUpdate) (*Environment, error)
	// DeleteEnvironment deletes the environment and everything in it,
	// whatever it holds: the environment and its objects are not found
	// from then on, and the reconciler removes their Azure resources,
	// then the rows. Returns ENOTFOUND as FindEnvironmentByID does.
	DeleteEnvironment(ctx context.Context, id string) error
}

// NetworkService manages the caller's networks.
type NetworkService interface {
	// FindNetworkByID returns ENOTFOUND if the network does not exist, is
	// not in environment envID, belongs to another organization, or its
	// environment is being deleted.
	FindNetworkByID(ctx context.Context, envID, id string) (*Network, error)
	// FindNetworks returns one page of the networks matching filter
	// (EnvironmentID required; OrgID, After and Limit are set by the
	// service) and the next page's token. Returns EINVALID (field
	// "environment") without an environment, EFORBIDDEN (field
	// "environment") if the environment does not exist, belongs to another
	// organization or is being deleted (Confluent's answer for an
	// environment the caller cannot see), EINVALID for a bad page token or
	// a size past MaxPageSize.
	FindNetworks(ctx context.Context, filter NetworkFilter, page Page) ([]*Network, string, error)
	// CreateNetwork validates n (Settings.ValidateNetwork), assigns an ID,
	// timestamps and phase PROVISIONING, and stores it. Returns EINVALID
	// naming the field for bad input or a CIDR overlapping another network
	// of the environment, ENOTFOUND (field /spec/environment/id) if the
	// environment does not exist or is being deleted, EQUOTA past
	// dedicated_networks_per_environment.
	CreateNetwork(ctx context.Context, n *Network) error
	// UpdateNetwork changes the display name only. Returns ENOTFOUND as
	// FindNetworkByID does, EINVALID for a bad name.
	UpdateNetwork(ctx context.Context, envID, id string, upd NetworkUpdate) (*Network, error)
	// DeleteNetwork moves the network to DEPROVISIONING; the reconciler
	// removes its VNet, then the row (PurgeNetwork). Returns ENOTFOUND as
	// FindNetworkByID does, ECONFLICT while peerings or clusters still use
	// it.
	DeleteNetwork(ctx context.Context, envID, id string) error
}

// PeeringService manages the caller's peerings.
type PeeringService interface {
	// FindPeeringByID returns ENOTFOUND if the peering does not exist, is
	// not in environment envID, belongs to another organization, or its
	// environment is being deleted.
	FindPeeringByID(ctx context.Context, envID, id string) (*Peering, error)
	// FindPeerings returns one page of the peerings matching filter
	// (EnvironmentID required) and the next page's token. Returns EINVALID
	// (field "environment") without an environment, EFORBIDDEN as
	// FindNetworks does, EINVALID for a bad page token or a size past
	// MaxPageSize.
	FindPeerings(ctx context.Context, filter PeeringFilter, page Page) ([]*Peering, string, error)
	// CreatePeering validates p (Settings.ValidatePeering), assigns an ID,
	// timestamps and phase PROVISIONING, and stores it. Returns EINVALID
	// naming the field for bad input, and on /spec/cloud/tenant or
	// /spec/cloud/vnet for the provider's own tenant or subscription
	// (ProviderAccount.CheckCustomerVNet), ENOTFOUND (field
	// /spec/environment/id or /spec/network/id) if the environment or
	// network does not exist or the environment is being deleted,
	// EINVALID if the network is being deleted,
	// ECONFLICT if the network already peers with the VNet, EQUOTA past
	// peerings_per_network.
	CreatePeering(ctx context.Context, p *Peering) error
	// UpdatePeering changes the display name only. Returns ENOTFOUND as
	// FindPeeringByID does, EINVALID for a bad name.
	UpdatePeering(ctx context.Context, envID, id string, upd PeeringUpdate) (*Peering, error)
	// DeletePeering moves the peering to DEPROVISIONING; the reconciler
	// removes both Azure halves, then the row (PurgePeering). Returns
	// ENOTFOUND as FindPeeringByID does.
	DeletePeering(ctx context.Context, envID, id string) error
	// RetryPeering sends a FAILED or DISCONNECTED peering back to
	// PROVISIONING so that it is reconciled now. Returns ENOTFOUND as
	// FindPeeringByID does, ECONFLICT if the peering is being deleted.
	RetryPeering(ctx context.Context, envID, id string) (*Peering, error)
}

// ClusterService manages the caller's Dedicated clusters.
type ClusterService interface {
	// FindClusterByID returns ENOTFOUND if the cluster does not exist, is
	// not in environment envID, or belongs to another organization.
	FindClusterByID(ctx context.Context, envID, id string) (*Cluster, error)
	// FindClusters returns one page of the clusters matching filter
	// (EnvironmentID required) and the next page's token. Returns EINVALID
	// (field "environment") without an environment, EFORBIDDEN as
	// FindNetworks does, EINVALID for a bad page token or a size past
	// MaxClusterPageSize.
	FindClusters(ctx context.Context, filter ClusterFilter, page Page) ([]*Cluster, string, error)
	// CreateCluster validates c against its network
	// (Settings.ValidateCluster), assigns an ID, timestamps and phase
	// PROVISIONING, and stores it. Returns EINVALID naming the field for
	// bad input, ENOTFOUND (field /spec/environment/id or /spec/network/id)
	// if the environment or network does not exist or the environment is
	// being deleted, EQUOTA past
	// kafka_clusters_per_environment or the network's cluster and CKU budget.
	CreateCluster(ctx context.Context, c *Cluster) error
	// UpdateCluster changes the display name and the CKUs. Returns
	// ENOTFOUND if the cluster does not exist, EINVALID for bad values,
	// EQUOTA when the new CKUs exceed the network's budget.
	UpdateCluster(ctx context.Context, envID, id string, upd ClusterUpdate) (*Cluster, error)
	// DeleteCluster removes the cluster. Returns ENOTFOUND if it does not
	// exist.
	DeleteCluster(ctx context.Context, envID, id string) error
}

// OrgService authenticates API keys and manages organizations and keys.
// Managing organizations needs an operator caller; an organization may
// manage its own keys.
type OrgService interface {
	// Authenticate returns the organization owning key when secret is its
	// secret. Returns EUNAUTHORIZED otherwise (missing key or wrong secret
	// alike).
	Authenticate(ctx context.Context, key, secret string) (*Organization, error)
	// CreateOrganization stores a new organization (an operator one when
	// org.Operator is set). Returns EFORBIDDEN unless the caller is an
	// operator, EINVALID for a bad name.
	CreateOrganization(ctx context.Context, org *Organization) error
	// FindOrganizationByID returns ENOTFOUND if the organization does not
	// exist or is neither the caller's nor visible to an operator caller.
	FindOrganizationByID(ctx context.Context, id string) (*Organization, error)
	// FindOrganizations returns one page of all organizations. Returns
	// EFORBIDDEN unless the caller is an operator, EINVALID for a bad page
	// token or a size past MaxEnvironmentPageSize.
	FindOrganizations(ctx context.Context, page Page) ([]*Organization, string, error)
	// CreateAPIKey creates a key for organization orgID and returns it with
	// its secret, which is not stored and cannot be read again. Returns
	// ENOTFOUND if the organization does not exist or is not the caller's
	// (operators may name any), EINVALID for a bad description.
	CreateAPIKey(ctx context.Context, orgID, description string) (*APIKey, string, error)
	// FindAPIKeys returns the organization's keys (without secrets).
	// Returns ENOTFOUND as CreateAPIKey does.
	FindAPIKeys(ctx context.Context, orgID string) ([]*APIKey, error)
	// DeleteAPIKey returns ENOTFOUND if the organization has no such key.
	DeleteAPIKey(ctx context.Context, orgID, key string) error
}

// encodePageToken and decodePageToken make the opaque page token: the
// last ID of the previous page.
func encodePageToken(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + lastID))
}

func decodePageToken(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < 4 || string(b[:3]) != "v1:" || len(token) > 255 {
		return "", FieldErrorf(EINVALID, "page_token", "Page token %q is not valid.", token)
	}
	return string(b[3:]), nil
}

// pageBounds checks page against a list's largest page, maxSize, and returns
// the cursor and the size. Errors are EINVALID on page_size or page_token.
func pageBounds(page Page, maxSize int) (after string, size int, err error) {
	size = page.Size
	if size == 0 {
		size = DefaultPageSize
	}
	if size < 0 {
		return "", 0, FieldErrorf(EINVALID, "page_size", "Page size must be positive.")
	}
	if size > maxSize {
		return "", 0, FieldErrorf(EINVALID, "page_size", "Page size %d is larger than the maximum of %d for this list.", size, maxSize)
	}
	after, err = decodePageToken(page.Token)
	return after, size, err
}

// paginate trims items fetched with limit size+1 and returns the next
// page's token.
func paginate[T any](items []T, size int, id func(T) string) ([]T, string) {
	if len(items) <= size {
		return items, ""
	}
	items = items[:size]
	return items, encodePageToken(id(items[len(items)-1]))
}
