package control

import (
	"context"
	"time"
)

// Connector run states, as connect/v1 spells them.
const (
	ConnectorRunning = "RUNNING"
	ConnectorFailed  = "FAILED"
)

// ConnectorRun is what the connector runtime reports of a connector it
// runs: its state, the records it moved and its last error. It is stored
// (so every replica's API shows it, and its counts and a source's position
// survive a restart) and deleted with its connector.
type ConnectorRun struct {
	ClusterID string
	Name      string
	// Generation is the CreatedAt of the connector the run belongs to: a
	// run left by a connector deleted and created again under the same
	// name is not the new one's.
	Generation time.Time
	// ConfigAt is the UpdatedAt of the connector whose config the run
	// runs.
	ConfigAt time.Time
	// State is ConnectorRunning or ConnectorFailed.
	State string
	// Since is when State began.
	Since time.Time
	// Worker names the replica running the connector.
	Worker string
	// Address is where the connector's traffic comes from: its host in the
	// cluster's network's provider VNet.
	Address string
	// RecordsIn counts the records the connector read (a sink from Kafka,
	// a source from what it generates); RecordsOut those it delivered (a
	// sink to its destination, a source to Kafka); RecordsDLQ those a sink
	// sent to its dead-letter topic.
	RecordsIn, RecordsOut, RecordsDLQ int64
	// LastError is the last failure, while FAILED the current one;
	// LastErrorAt is when it happened.
	LastError   string
	LastErrorAt time.Time
	// Offset is a source's position, opaque to the control plane.
	Offset    string
	UpdatedAt time.Time
}

// ConnectorPlacement is a connector with its cluster and the cluster's
// network: what the runtime needs to run it.
type ConnectorPlacement struct {
	Connector *Connector
	Cluster   *Cluster
	Network   *Network
}

// FindConnectorRuns returns the runs of the caller's connectors in cluster
// clusterID of envID, ordered by name; a connector never run has none.
// Returns ENOTFOUND (field "kafka_cluster_id") when the cluster does not
// exist in envID.
func (s *Service) FindConnectorRuns(ctx context.Context, envID, clusterID string) (runs []*ConnectorRun, err error) {
	err = s.inCluster(ctx, envID, clusterID, false, func(tx Tx, orgID string) error {
		runs, err = tx.FindConnectorRuns(ctx, OrgScope(orgID), ConnectorFilter{ClusterID: clusterID})
		return err
	})
	return runs, err
}

// The methods below are for the connector runtime: like the reconciler's,
// they act on any organization's connectors and take no caller.

// AllConnectorPlacements returns every connector of every organization
// with its cluster and network, ordered by cluster and name.
func (s *Service) AllConnectorPlacements(ctx context.Context) ([]ConnectorPlacement, error) {
	var out []ConnectorPlacement
	err := s.store.View(ctx, func(tx Tx) error {
		conns, err := tx.FindConnectors(ctx, AllOrgs(), ConnectorFilter{})
		if err != nil || len(conns) == 0 {
			return err
		}
		clusters, err := tx.FindClusters(ctx, AllOrgs(), ClusterFilter{})
		if err != nil {
			return err
		}
		networks, err := tx.FindNetworks(ctx, AllOrgs(), NetworkFilter{})
		if err != nil {
			return err
		}
		byCluster := make(map[string]*Cluster, len(clusters))
		for _, c := range clusters {
			byCluster[c.ID] = c
		}
		byNetwork := make(map[string]*Network, len(networks))
		for _, n := range networks {
			byNetwork[n.ID] = n
		}
		out = out[:0]
		for _, k := range conns {
			cl := byCluster[k.ClusterID]
			if cl == nil {
				continue // deleted between the reads: its connectors went with it
			}
			out = append(out, ConnectorPlacement{Connector: k, Cluster: cl, Network: byNetwork[cl.NetworkID]})
		}
		return nil
	})
	return out, err
}

// FindConnectorRun returns the run of connector name of cluster clusterID,
// of any organization. Returns ENOTFOUND if it has none.
func (s *Service) FindConnectorRun(ctx context.Context, clusterID, name string) (run *ConnectorRun, err error) {
	err = s.store.View(ctx, func(tx Tx) error {
		run, err = tx.FindConnectorRun(ctx, clusterID, name)
		return err
	})
	return run, err
}

// PutConnectorRun stores run, stamped with the time. Returns ENOTFOUND if
// its connector no longer exists, and ECONFLICT if the connector of that
// name is not the one of run.Generation (deleted and created again).
func (s *Service) PutConnectorRun(ctx context.Context, run *ConnectorRun) error {
	run.UpdatedAt = s.now()
	return s.store.Update(ctx, func(tx Tx) error {
		k, err := tx.FindConnector(ctx, AllOrgs(), run.ClusterID, run.Name)
		if err != nil {
			return err
		}
		if !k.CreatedAt.Equal(run.Generation) {
			return Errorf(ECONFLICT, "Connector %s of cluster %s was created again since this run began.", run.Name, run.ClusterID)
		}
		return tx.PutConnectorRun(ctx, run)
	})
}
