package control

import "context"

// Store keeps the control plane's state. It is implemented in internal/store
// for SQLite and PostgreSQL and checked by the contract suite in
// internal/store/storetest.
type Store interface {
	// View runs fn in a read-only transaction. fn's error is returned as is.
	View(ctx context.Context, fn func(tx Tx) error) error
	// Update runs fn in a read-write transaction, committed when fn returns
	// nil and rolled back otherwise (fn's error is returned as is). Rows
	// read with the Find…ByID methods of Organization, Environment and
	// Network inside Update stay locked until the transaction ends, so
	// that checks made under them (quotas, overlaps, uniqueness) hold at
	// commit: on SQLite, Update transactions run one at a time (BEGIN
	// IMMEDIATE); on PostgreSQL those reads are SELECT … FOR UPDATE.
	// Callers lock parents before children (organization, environment,
	// network). Update may run fn again after a serialization failure, so
	// fn must have no effect outside tx.
	Update(ctx context.Context, fn func(tx Tx) error) error
}

// Tx is a Store transaction. An empty orgID argument means "any
// organization" (for the operator and the reconciler); services always pass
// the caller's. After a write method returns an error the transaction is
// unusable (PostgreSQL aborts it): return the error from fn. A Find method
// returning ENOTFOUND leaves it usable.
type Tx interface {
	// CreateOrganization inserts org. Returns ECONFLICT if its ID exists.
	CreateOrganization(ctx context.Context, org *Organization) error
	// FindOrganizationByID returns ENOTFOUND if the organization does not exist.
	FindOrganizationByID(ctx context.Context, id string) (*Organization, error)
	// FindOrganizations returns organizations ordered by ID.
	FindOrganizations(ctx context.Context, filter OrganizationFilter) ([]*Organization, error)

	// CreateAPIKey inserts key. Returns ECONFLICT if the key exists and
	// ENOTFOUND if its organization does not.
	CreateAPIKey(ctx context.Context, key *APIKey) error
	// FindAPIKey returns ENOTFOUND if the key does not exist.
	FindAPIKey(ctx context.Context, key string) (*APIKey, error)
	// FindAPIKeys returns the organization's keys ordered by creation time.
	FindAPIKeys(ctx context.Context, orgID string) ([]*APIKey, error)
	// DeleteAPIKey returns ENOTFOUND if the organization has no such key.
	DeleteAPIKey(ctx context.Context, orgID, key string) error

	// CreateEnvironment inserts env. Returns ECONFLICT if its ID exists and
	// ENOTFOUND if its organization does not.
	CreateEnvironment(ctx context.Context, env *Environment) error
	// FindEnvironmentByID returns the environment, being deleted or not.
	// Returns ENOTFOUND if it does not exist or belongs to another
	// organization than orgID.
	FindEnvironmentByID(ctx context.Context, orgID, id string) (*Environment, error)
	// FindEnvironments returns environments ordered by ID.
	FindEnvironments(ctx context.Context, filter EnvironmentFilter) ([]*Environment, error)
	// UpdateEnvironment writes env's display name, stream governance
	// package, Deleting and UpdatedAt. Returns ENOTFOUND if it does not
	// exist.
	UpdateEnvironment(ctx context.Context, env *Environment) error
	// DeleteEnvironment removes the environment's row. Returns ENOTFOUND if
	// it does not exist or belongs to another organization, ECONFLICT if
	// networks, peerings or clusters still refer to it.
	DeleteEnvironment(ctx context.Context, orgID, id string) error

	// CreateNetwork inserts n. Returns ECONFLICT if its ID exists and
	// ENOTFOUND if its environment does not.
	CreateNetwork(ctx context.Context, n *Network) error
	// FindNetworkByID returns ENOTFOUND if the network does not exist or
	// belongs to another organization than orgID.
	FindNetworkByID(ctx context.Context, orgID, id string) (*Network, error)
	// FindNetworks returns networks ordered by ID.
	FindNetworks(ctx context.Context, filter NetworkFilter) ([]*Network, error)
	// UpdateNetwork writes n's display name, status and UpdatedAt (the
	// rest is immutable). Returns ENOTFOUND if it does not exist.
	UpdateNetwork(ctx context.Context, n *Network) error
	// DeleteNetwork removes the network's row. Returns ENOTFOUND if it does
	// not exist or belongs to another organization, ECONFLICT if peerings
	// or clusters still refer to it.
	DeleteNetwork(ctx context.Context, orgID, id string) error

	// CreatePeering inserts p. Returns ECONFLICT if its ID exists or the
	// network already has a peering with the same VNet (compared
	// case-insensitively), ENOTFOUND if its network does not exist.
	CreatePeering(ctx context.Context, p *Peering) error
	// FindPeeringByID returns ENOTFOUND if the peering does not exist or
	// belongs to another organization than orgID.
	FindPeeringByID(ctx context.Context, orgID, id string) (*Peering, error)
	// FindPeerings returns peerings ordered by ID.
	FindPeerings(ctx context.Context, filter PeeringFilter) ([]*Peering, error)
	// UpdatePeering writes p's display name, status and UpdatedAt. Returns
	// ENOTFOUND if it does not exist.
	UpdatePeering(ctx context.Context, p *Peering) error
	// DeletePeering removes the peering's row. Returns ENOTFOUND if it does
	// not exist or belongs to another organization.
	DeletePeering(ctx context.Context, orgID, id string) error

	// CreateCluster inserts c. Returns ECONFLICT if its ID exists and
	// ENOTFOUND if its network does not.
	CreateCluster(ctx context.Context, c *Cluster) error
	// FindClusterByID returns ENOTFOUND if the cluster does not exist or
	// belongs to another organization than orgID.
	FindClusterByID(ctx context.Context, orgID, id string) (*Cluster, error)
	// FindClusters returns clusters ordered by ID.
	FindClusters(ctx context.Context, filter ClusterFilter) ([]*Cluster, error)
	// UpdateCluster writes c's display name, CKU, status and UpdatedAt.
	// Returns ENOTFOUND if it does not exist.
	UpdateCluster(ctx context.Context, c *Cluster) error
	// DeleteCluster removes the cluster's row. Returns ENOTFOUND if it does
	// not exist or belongs to another organization.
	DeleteCluster(ctx context.Context, orgID, id string) error

	// CreateConnector inserts c. Returns ECONFLICT if its cluster has a
	// connector of that name, ENOTFOUND if the cluster does not exist.
	CreateConnector(ctx context.Context, c *Connector) error
	// FindConnector returns ENOTFOUND if the cluster has no such connector
	// or it belongs to another organization than orgID.
	FindConnector(ctx context.Context, orgID, clusterID, name string) (*Connector, error)
	// FindConnectors returns connectors ordered by cluster and name.
	FindConnectors(ctx context.Context, filter ConnectorFilter) ([]*Connector, error)
	// UpdateConnector writes c's config, paused flag and UpdatedAt.
	// Returns ENOTFOUND if it does not exist.
	UpdateConnector(ctx context.Context, c *Connector) error
	// DeleteConnector removes the connector. Returns ENOTFOUND if it does
	// not exist or belongs to another organization. Deleting a cluster
	// deletes its connectors.
	DeleteConnector(ctx context.Context, orgID, clusterID, name string) error

	// PutConnectorRun inserts or replaces the run of connector
	// (run.ClusterID, run.Name). Returns ENOTFOUND if the connector does
	// not exist.
	PutConnectorRun(ctx context.Context, run *ConnectorRun) error
	// FindConnectorRun returns ENOTFOUND if the connector has no run.
	FindConnectorRun(ctx context.Context, clusterID, name string) (*ConnectorRun, error)
	// FindConnectorRuns returns the runs of the connectors filter selects,
	// ordered by cluster and name.
	FindConnectorRuns(ctx context.Context, filter ConnectorFilter) ([]*ConnectorRun, error)

	// LoadSettings returns the stored operator settings document, or nil
	// when none was saved.
	LoadSettings(ctx context.Context) ([]byte, error)
	// SaveSettings stores the operator settings document.
	SaveSettings(ctx context.Context, body []byte) error
}

// OrganizationFilter selects organizations. After and Limit page through
// the result: only IDs greater than After, at most Limit (0: no limit).
type OrganizationFilter struct {
	After string
	Limit int
}

// EnvironmentFilter selects environments; empty fields match everything.
// Deleting, when set, matches only environments being deleted (true) or
// only the others (false).
type EnvironmentFilter struct {
	OrgID    string
	Deleting *bool
	After    string
	Limit    int
}

// NetworkFilter selects networks. Empty fields match everything; a list
// matches any of its values exactly (ConnectionTypes: a network having any).
type NetworkFilter struct {
	OrgID           string
	EnvironmentID   string
	DisplayNames    []string
	Clouds          []string
	Regions         []string
	ConnectionTypes []string
	CIDRs           []string
	Phases          []string
	After           string
	Limit           int
}

// PeeringFilter selects peerings. Empty fields match everything; a list
// matches any of its values exactly.
type PeeringFilter struct {
	OrgID         string
	EnvironmentID string
	NetworkIDs    []string
	DisplayNames  []string
	Phases        []string
	After         string
	Limit         int
}

// ClusterFilter selects clusters. Empty fields match everything; a list
// matches any of its values exactly.
type ClusterFilter struct {
	OrgID         string
	EnvironmentID string
	NetworkIDs    []string
	Phases        []string
	After         string
	Limit         int
}
