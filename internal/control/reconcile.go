package control

import (
	"context"
	"strings"
)

// The methods below are for the reconciler: they act on any organization's
// objects (AllOrgs), take no caller, and write only when something changed
// (so a level-based reconciler may call them on every pass). Each status
// write reads the object inside its transaction, which locks it until the
// write commits: what it checks there (DEPROVISIONING, the status it was
// computed from) still holds when it writes, so a delete, a retry or a
// rename committed meanwhile is never undone, and it writes the status
// alone, never the name or the spec.

// UpdateNetworkStatus sets the network's status and returns the network.
// Returns ENOTFOUND if it does not exist. A network being deleted stays
// DEPROVISIONING whatever status is given.
func (s *Service) UpdateNetworkStatus(ctx context.Context, id string, status NetworkStatus) (*Network, error) {
	var n *Network
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		if n, err = tx.FindNetworkByID(ctx, AllOrgs(), id); err != nil {
			return err
		}
		if n.Status.Phase == PhaseDeprovisioning {
			status.Phase = PhaseDeprovisioning
		}
		if n.Status == status {
			return nil
		}
		n.Status = status
		n.UpdatedAt = s.now()
		return tx.UpdateNetworkStatus(ctx, n)
	})
	return n, err
}

// UpdatePeeringStatus sets the peering's status and returns the peering.
// Returns ENOTFOUND if it does not exist. A peering being deleted stays
// DEPROVISIONING whatever status is given. A status Equal to the stored
// one is not written (a checklist whose CheckedAt alone moved included).
func (s *Service) UpdatePeeringStatus(ctx context.Context, id string, status PeeringStatus) (*Peering, error) {
	return s.updatePeeringStatus(ctx, id, nil, status)
}

// UpdatePeeringStatusFrom is UpdatePeeringStatus for a reconciler that
// worked out status from the peering as it was with status from: if the
// status has changed since (a retry reset it to PROVISIONING), it writes
// nothing and returns ECONFLICT, so that a reconcile begun before a retry
// cannot undo the retry.
func (s *Service) UpdatePeeringStatusFrom(ctx context.Context, id string, from, status PeeringStatus) (*Peering, error) {
	return s.updatePeeringStatus(ctx, id, &from, status)
}

func (s *Service) updatePeeringStatus(ctx context.Context, id string, from *PeeringStatus, status PeeringStatus) (*Peering, error) {
	var p *Peering
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		if p, err = tx.FindPeeringByID(ctx, AllOrgs(), id); err != nil {
			return err
		}
		if from != nil && !p.Status.Equal(*from) && p.Status.Phase != PhaseDeprovisioning {
			return Errorf(ECONFLICT, "Peering %s went from %s to %s while it was reconciled.", id, from.Phase, p.Status.Phase)
		}
		if p.Status.Phase == PhaseDeprovisioning && status.Phase != PhaseDeprovisioning {
			status.Phase = PhaseDeprovisioning
		}
		if p.Status.Equal(status) {
			return nil
		}
		p.Status = status
		p.UpdatedAt = s.now()
		return tx.UpdatePeeringStatus(ctx, p)
	})
	return p, err
}

// UpdateClusterStatus sets the cluster's status and returns the cluster.
// Returns ENOTFOUND if it does not exist.
func (s *Service) UpdateClusterStatus(ctx context.Context, id string, status ClusterStatus) (*Cluster, error) {
	var c *Cluster
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		if c, err = tx.FindClusterByID(ctx, AllOrgs(), id); err != nil {
			return err
		}
		if c.Status.Equal(status) {
			return nil
		}
		c.Status = status
		c.UpdatedAt = s.now()
		return tx.UpdateClusterStatus(ctx, c)
	})
	return c, err
}

// PurgeNetwork removes a DEPROVISIONING network's row once its VNet is
// gone. Returns ENOTFOUND if it does not exist (so a repeated purge is
// harmless to ignore), ECONFLICT unless it is DEPROVISIONING.
func (s *Service) PurgeNetwork(ctx context.Context, id string) error {
	return s.store.Update(ctx, func(tx Tx) error {
		n, err := tx.FindNetworkByID(ctx, AllOrgs(), id)
		if err != nil {
			return err
		}
		if n.Status.Phase != PhaseDeprovisioning {
			return Errorf(ECONFLICT, "Network %s is %s, not DEPROVISIONING.", id, n.Status.Phase)
		}
		return tx.DeleteNetwork(ctx, AllOrgs(), id)
	})
}

// PurgePeering removes a DEPROVISIONING peering's row once both Azure
// halves are gone. Returns ENOTFOUND if it does not exist, ECONFLICT unless
// it is DEPROVISIONING.
func (s *Service) PurgePeering(ctx context.Context, id string) error {
	return s.store.Update(ctx, func(tx Tx) error {
		p, err := tx.FindPeeringByID(ctx, AllOrgs(), id)
		if err != nil {
			return err
		}
		if p.Status.Phase != PhaseDeprovisioning {
			return Errorf(ECONFLICT, "Peering %s is %s, not DEPROVISIONING.", id, p.Status.Phase)
		}
		return tx.DeletePeering(ctx, AllOrgs(), id)
	})
}

// PurgeEnvironment removes the row of an environment being deleted once
// nothing is left in it. Returns ENOTFOUND if it does not exist (so a
// repeated purge is harmless to ignore), ECONFLICT unless it is being
// deleted, or while networks, peerings or clusters still refer to it.
func (s *Service) PurgeEnvironment(ctx context.Context, id string) error {
	return s.store.Update(ctx, func(tx Tx) error {
		env, err := tx.FindEnvironmentByID(ctx, AllOrgs(), id)
		if err != nil {
			return err
		}
		if !env.Deleting {
			return Errorf(ECONFLICT, "Environment %s is not being deleted.", id)
		}
		return tx.DeleteEnvironment(ctx, AllOrgs(), id)
	})
}

// ReconcileEnvironment returns the environment id of any organization,
// being deleted or not. Returns ENOTFOUND if it does not exist.
func (s *Service) ReconcileEnvironment(ctx context.Context, id string) (*Environment, error) {
	var env *Environment
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		env, err = tx.FindEnvironmentByID(ctx, AllOrgs(), id)
		return err
	})
	return env, err
}

// ReconcileNetwork returns the network id of any organization. Returns
// ENOTFOUND if it does not exist.
func (s *Service) ReconcileNetwork(ctx context.Context, id string) (*Network, error) {
	var n *Network
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		n, err = tx.FindNetworkByID(ctx, AllOrgs(), id)
		return err
	})
	return n, err
}

// ReconcilePeering returns the peering id of any organization. Returns
// ENOTFOUND if it does not exist.
func (s *Service) ReconcilePeering(ctx context.Context, id string) (*Peering, error) {
	var p *Peering
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		p, err = tx.FindPeeringByID(ctx, AllOrgs(), id)
		return err
	})
	return p, err
}

// ReconcileCluster returns the cluster id of any organization. Returns
// ENOTFOUND if it does not exist.
func (s *Service) ReconcileCluster(ctx context.Context, id string) (*Cluster, error) {
	var c *Cluster
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		c, err = tx.FindClusterByID(ctx, AllOrgs(), id)
		return err
	})
	return c, err
}

// PeeringsOfNetwork returns the peerings of network networkID.
func (s *Service) PeeringsOfNetwork(ctx context.Context, networkID string) ([]*Peering, error) {
	var ps []*Peering
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		ps, err = tx.FindPeerings(ctx, AllOrgs(), PeeringFilter{NetworkIDs: []string{networkID}})
		return err
	})
	return ps, err
}

// ClustersOfNetwork returns the clusters of network networkID.
func (s *Service) ClustersOfNetwork(ctx context.Context, networkID string) ([]*Cluster, error) {
	var cs []*Cluster
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		cs, err = tx.FindClusters(ctx, AllOrgs(), ClusterFilter{NetworkIDs: []string{networkID}})
		return err
	})
	return cs, err
}

// AllObjectKeys returns the key of every network, peering and cluster of
// every organization, and of every environment being deleted, so that a
// reconciler can resume all of them after a restart or a failover.
func (s *Service) AllObjectKeys(ctx context.Context) ([]ObjectKey, error) {
	return s.objectKeys(ctx, false)
}

// UnsettledObjectKeys returns the keys of the objects a reconciler has
// work to do on whatever it last saw: every environment being deleted, and
// every network, peering and cluster being created or deleted (and every
// FAILED network). A wake-up lost on its way (a create, a delete, a
// retry) leaves its object among them, so a reconciler that already
// tracks every object finds what it missed here without re-checking the
// settled ones (READY, DISCONNECTED, FAILED peerings have their own
// resync or backoff).
func (s *Service) UnsettledObjectKeys(ctx context.Context) ([]ObjectKey, error) {
	return s.objectKeys(ctx, true)
}

func (s *Service) objectKeys(ctx context.Context, unsettled bool) ([]ObjectKey, error) {
	var keys []ObjectKey
	err := s.store.View(ctx, func(tx Tx) error {
		deleting := true
		envs, err := tx.FindEnvironments(ctx, AllOrgs(), EnvironmentFilter{Deleting: &deleting})
		if err != nil {
			return err
		}
		for _, e := range envs {
			keys = append(keys, EnvironmentKey(e.ID))
		}
		keys, err = appendObjectKeys(ctx, tx, keys, "", unsettled)
		return err
	})
	return keys, err
}

// ObjectKeysOfEnvironment returns the keys of the networks, peerings and
// clusters left in environment envID, of whichever organization. Returns
// EINVALID for an empty envID.
func (s *Service) ObjectKeysOfEnvironment(ctx context.Context, envID string) ([]ObjectKey, error) {
	if envID == "" {
		return nil, Errorf(EINVALID, "An environment is required.")
	}
	var keys []ObjectKey
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		keys, err = appendObjectKeys(ctx, tx, nil, envID, false)
		return err
	})
	return keys, err
}

// appendObjectKeys appends the keys of the networks, peerings and
// clusters of environment envID ("": of every environment) to keys; with
// unsettled, only of those being created or deleted (and FAILED networks).
func appendObjectKeys(ctx context.Context, tx Tx, keys []ObjectKey, envID string, unsettled bool) ([]ObjectKey, error) {
	var nf NetworkFilter
	var pf PeeringFilter
	var cf ClusterFilter
	nf.EnvironmentID, pf.EnvironmentID, cf.EnvironmentID = envID, envID, envID
	if unsettled {
		nf.Phases = []string{PhaseProvisioning, PhaseDeprovisioning, PhaseFailed}
		pf.Phases = []string{PhaseProvisioning, PhaseDeprovisioning}
		cf.Phases = []string{ClusterPhaseProvisioning}
	}
	ns, err := tx.FindNetworks(ctx, AllOrgs(), nf)
	if err != nil {
		return nil, err
	}
	for _, n := range ns {
		keys = append(keys, NetworkKey(n.ID))
	}
	ps, err := tx.FindPeerings(ctx, AllOrgs(), pf)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		keys = append(keys, PeeringKey(p.ID))
	}
	cs, err := tx.FindClusters(ctx, AllOrgs(), cf)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		keys = append(keys, ClusterKey(c.ID))
	}
	return keys, nil
}

// RetryPeering asks for the peering to be tried again now: a FAILED or
// DISCONNECTED peering goes back to PROVISIONING (the console's "Create
// connection"), which also lets the reconciler re-create a half the
// customer deleted. Returns ENOTFOUND if the peering is not in envID of
// the caller's organization or envID is being deleted, ECONFLICT if the
// peering is being deleted.
func (s *Service) RetryPeering(ctx context.Context, envID, id string) (*Peering, error) {
	org, err := callerOrg(ctx)
	if err != nil {
		return nil, err
	}
	var p *Peering
	err = s.store.Update(ctx, func(tx Tx) error {
		if p, err = findInLiveEnv(ctx, tx, org.ID, envID, id, Tx.FindPeeringByID); err != nil {
			return err
		}
		switch p.Status.Phase {
		case PhaseDeprovisioning:
			return Errorf(ECONFLICT, "Peering %s is being deleted.", id)
		case PhaseFailed, PhaseDisconnected:
			p.Status = PeeringStatus{Phase: PhaseProvisioning, Checklist: p.Status.Checklist}
			p.UpdatedAt = s.now()
			return tx.UpdatePeeringStatus(ctx, p)
		}
		return nil
	})
	if err == nil {
		s.changed(PeeringKey(id))
	}
	return p, err
}

// AzureScope is a place in Azure: a tenant (any when empty) and an ARM
// scope in it (a subscription, resource group or resource id; any when
// empty).
type AzureScope struct {
	Tenant string
	Scope  string
}

// PeeringKeysForScopes returns the key of every peering whose VNet is in
// one of scopes: in its tenant and at or under its ARM scope. These are the
// peerings Azure changes at those scopes may affect. It reads the
// peerings once, however many scopes there are.
func (s *Service) PeeringKeysForScopes(ctx context.Context, scopes []AzureScope) ([]ObjectKey, error) {
	if len(scopes) == 0 {
		return nil, nil
	}
	for i, sc := range scopes {
		scopes[i].Scope = strings.TrimRight(strings.ToLower(sc.Scope), "/")
	}
	var keys []ObjectKey
	err := s.store.View(ctx, func(tx Tx) error {
		ps, err := tx.FindPeerings(ctx, AllOrgs(), PeeringFilter{})
		for _, p := range ps {
			vnet := strings.ToLower(p.VNet)
			for _, sc := range scopes {
				if sc.Tenant != "" && !strings.EqualFold(p.Tenant, sc.Tenant) {
					continue
				}
				if sc.Scope != "" && vnet != sc.Scope && !strings.HasPrefix(vnet, sc.Scope+"/") {
					continue
				}
				keys = append(keys, PeeringKey(p.ID))
				break
			}
		}
		return err
	})
	return keys, err
}
