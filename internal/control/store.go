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
	// read with FindOrganizationByID, the Find…ByID methods and
	// FindConnector inside Update stay locked until the transaction ends,
	// so that checks made under them (quotas, overlaps, uniqueness, the
	// status a write was computed from) hold at commit and no other
	// transaction writes the row between the read and the write: on
	// SQLite, Update transactions run one at a time (BEGIN IMMEDIATE); on
	// PostgreSQL those reads are SELECT … FOR UPDATE. The lists (Find…s)
	// lock nothing. Callers lock parents before children (organization,
	// environment, network, then a peering or a cluster, then a
	// connector). Update may run fn again after a serialization failure,
	// so fn must have no effect outside tx.
	Update(ctx context.Context, fn func(tx Tx) error) error
}

// Tx is a Store transaction. Methods that read or delete an organization's
// objects take a Scope: the caller's organization (OrgScope) for services,
// AllOrgs for the reconciler and the operator; the zero Scope is EINTERNAL.
// Writes are by ID and write only the columns they name, so that a write
// never carries back what another wrote since the row was read. After a
// write method returns an error the transaction is unusable (PostgreSQL
// aborts it): return the error from fn. A Find method returning ENOTFOUND
// leaves it usable.
type Tx interface {
	// CreateOrganization inserts org. Returns ECONFLICT if its ID exists.
	CreateOrganization(ctx context.Context, org *Organization) error
	// FindOrganizationByID returns ENOTFOUND if the organization does not exist.
	FindOrganizationByID(ctx context.Context, id string) (*Organization, error)
	// FindOrganizations returns every organization, ordered by ID.
	FindOrganizations(ctx context.Context, filter OrganizationFilter) ([]*Organization, error)

	// CreateAPIKey inserts key. Returns ECONFLICT if the key exists and
	// ENOTFOUND if its organization does not.
	CreateAPIKey(ctx context.Context, key *APIKey) error
	// FindAPIKey returns ENOTFOUND if the key does not exist.
	FindAPIKey(ctx context.Context, key string) (*APIKey, error)
	// FindAPIKeys returns organization orgID's keys ordered by creation
	// time; none for an organization that does not exist.
	FindAPIKeys(ctx context.Context, orgID string) ([]*APIKey, error)
	// DeleteAPIKey returns ENOTFOUND if organization orgID has no such key.
	DeleteAPIKey(ctx context.Context, orgID, key string) error

	// CreateEnvironment inserts env. Returns ECONFLICT if its ID exists and
	// ENOTFOUND if its organization does not.
	CreateEnvironment(ctx context.Context, env *Environment) error
	// FindEnvironmentByID returns the environment in scope, being deleted
	// or not. Returns ENOTFOUND if it does not exist or is out of scope.
	FindEnvironmentByID(ctx context.Context, scope Scope, id string) (*Environment, error)
	// FindEnvironments returns the environments in scope that match
	// filter, ordered by ID.
	FindEnvironments(ctx context.Context, scope Scope, filter EnvironmentFilter) ([]*Environment, error)
	// UpdateEnvironment writes env's display name, stream governance
	// package, Deleting and UpdatedAt. Returns ENOTFOUND if it does not
	// exist.
	UpdateEnvironment(ctx context.Context, env *Environment) error
	// DeleteEnvironment removes the environment's row. Returns ENOTFOUND if
	// it does not exist or is out of scope, ECONFLICT if networks,
	// peerings or clusters still refer to it.
	DeleteEnvironment(ctx context.Context, scope Scope, id string) error

	// CreateNetwork inserts n. Returns ECONFLICT if its ID exists and
	// ENOTFOUND if its environment does not.
	CreateNetwork(ctx context.Context, n *Network) error
	// FindNetworkByID returns the network in scope. Returns ENOTFOUND if it
	// does not exist or is out of scope.
	FindNetworkByID(ctx context.Context, scope Scope, id string) (*Network, error)
	// FindNetworks returns the networks in scope that match filter,
	// ordered by ID.
	FindNetworks(ctx context.Context, scope Scope, filter NetworkFilter) ([]*Network, error)
	// UpdateNetworkSpec writes n's display name and UpdatedAt, the only
	// fields of its spec that change. Returns ENOTFOUND if it does not
	// exist.
	UpdateNetworkSpec(ctx context.Context, n *Network) error
	// UpdateNetworkStatus writes n's status and UpdatedAt. Returns
	// ENOTFOUND if it does not exist.
	UpdateNetworkStatus(ctx context.Context, n *Network) error
	// DeleteNetwork removes the network's row. Returns ENOTFOUND if it does
	// not exist or is out of scope, ECONFLICT if peerings or clusters
	// still refer to it.
	DeleteNetwork(ctx context.Context, scope Scope, id string) error

	// CreatePeering inserts p. Returns ECONFLICT if its ID exists or the
	// network already has a peering with the same VNet (compared
	// case-insensitively), ENOTFOUND if its network does not exist.
	CreatePeering(ctx context.Context, p *Peering) error
	// FindPeeringByID returns the peering in scope. Returns ENOTFOUND if it
	// does not exist or is out of scope.
	FindPeeringByID(ctx context.Context, scope Scope, id string) (*Peering, error)
	// FindPeerings returns the peerings in scope that match filter,
	// ordered by ID.
	FindPeerings(ctx context.Context, scope Scope, filter PeeringFilter) ([]*Peering, error)
	// UpdatePeeringSpec writes p's display name and UpdatedAt, the only
	// fields of its spec that change. Returns ENOTFOUND if it does not
	// exist.
	UpdatePeeringSpec(ctx context.Context, p *Peering) error
	// UpdatePeeringStatus writes p's status (its checklist included) and
	// UpdatedAt. Returns ENOTFOUND if it does not exist.
	UpdatePeeringStatus(ctx context.Context, p *Peering) error
	// DeletePeering removes the peering's row. Returns ENOTFOUND if it does
	// not exist or is out of scope.
	DeletePeering(ctx context.Context, scope Scope, id string) error

	// CreateCluster inserts c. Returns ECONFLICT if its ID exists and
	// ENOTFOUND if its network does not.
	CreateCluster(ctx context.Context, c *Cluster) error
	// FindClusterByID returns the cluster in scope. Returns ENOTFOUND if it
	// does not exist or is out of scope.
	FindClusterByID(ctx context.Context, scope Scope, id string) (*Cluster, error)
	// FindClusters returns the clusters in scope that match filter,
	// ordered by ID.
	FindClusters(ctx context.Context, scope Scope, filter ClusterFilter) ([]*Cluster, error)
	// UpdateClusterSpec writes c's display name, CKU and UpdatedAt, the
	// fields of its spec that change. Returns ENOTFOUND if it does not
	// exist.
	UpdateClusterSpec(ctx context.Context, c *Cluster) error
	// UpdateClusterStatus writes c's status and UpdatedAt. Returns
	// ENOTFOUND if it does not exist.
	UpdateClusterStatus(ctx context.Context, c *Cluster) error
	// DeleteCluster removes the cluster's row and its connectors. Returns
	// ENOTFOUND if it does not exist or is out of scope.
	DeleteCluster(ctx context.Context, scope Scope, id string) error

	// CreateConnector inserts c. Returns ECONFLICT if its cluster has a
	// connector of that name, ENOTFOUND if the cluster does not exist.
	CreateConnector(ctx context.Context, c *Connector) error
	// FindConnector returns the connector in scope. Returns ENOTFOUND if
	// the cluster has no such connector or it is out of scope.
	FindConnector(ctx context.Context, scope Scope, clusterID, name string) (*Connector, error)
	// FindConnectors returns the connectors in scope that match filter,
	// ordered by cluster and name.
	FindConnectors(ctx context.Context, scope Scope, filter ConnectorFilter) ([]*Connector, error)
	// UpdateConnector writes c's config, paused flag and UpdatedAt.
	// Returns ENOTFOUND if it does not exist.
	UpdateConnector(ctx context.Context, c *Connector) error
	// DeleteConnector removes the connector. Returns ENOTFOUND if it does
	// not exist or is out of scope.
	DeleteConnector(ctx context.Context, scope Scope, clusterID, name string) error

	// CreateClusterAPIKey inserts k. Returns ECONFLICT if the key exists
	// and ENOTFOUND if its cluster does not.
	CreateClusterAPIKey(ctx context.Context, k *ClusterAPIKey) error
	// FindClusterAPIKey returns ENOTFOUND if the key does not exist or
	// belongs to another organization than orgID.
	FindClusterAPIKey(ctx context.Context, scope Scope, key string) (*ClusterAPIKey, error)
	// FindClusterAPIKeys returns keys ordered by Key.
	FindClusterAPIKeys(ctx context.Context, scope Scope, filter ClusterAPIKeyFilter) ([]*ClusterAPIKey, error)
	// UpdateClusterAPIKey writes k's display name, description and
	// UpdatedAt. Returns ENOTFOUND if it does not exist.
	UpdateClusterAPIKey(ctx context.Context, k *ClusterAPIKey) error
	// DeleteClusterAPIKey returns ENOTFOUND if the key does not exist or
	// belongs to another organization. Deleting a cluster deletes its keys.
	DeleteClusterAPIKey(ctx context.Context, scope Scope, key string) error

	// PutConnectorRun inserts or replaces the run of connector
	// (run.ClusterID, run.Name). Returns ENOTFOUND if the connector does
	// not exist.
	PutConnectorRun(ctx context.Context, run *ConnectorRun) error
	// FindConnectorRun returns ENOTFOUND if the connector has no run. It
	// reads any organization's: for the connector runtime.
	FindConnectorRun(ctx context.Context, clusterID, name string) (*ConnectorRun, error)
	// FindConnectorRuns returns the runs of the connectors filter selects,
	// ordered by cluster and name.
	FindConnectorRuns(ctx context.Context, scope Scope, filter ConnectorFilter) ([]*ConnectorRun, error)

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
// only the others (false). After and Limit page through the result as in
// OrganizationFilter; so do those of the filters below.
type EnvironmentFilter struct {
	Deleting *bool
	After    string
	Limit    int
}

// NetworkFilter selects networks. Empty fields match everything; a list
// matches any of its values exactly (ConnectionTypes: a network having any).
type NetworkFilter struct {
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
	EnvironmentID string
	NetworkIDs    []string
	DisplayNames  []string
	Phases        []string
	After         string
	Limit         int
	// WithoutChecklist leaves each peering's Status.Checklist zero, unread:
	// for lists that do not show it (the API's), since decoding it is most
	// of a page's cost. A peering read so is no base for a status write.
	WithoutChecklist bool
}

// ClusterFilter selects clusters. Empty fields match everything; a list
// matches any of its values exactly.
type ClusterFilter struct {
	EnvironmentID string
	NetworkIDs    []string
	Phases        []string
	After         string
	Limit         int
}
