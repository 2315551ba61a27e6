package control

import "context"

// The methods below are for the reconciler: they act on any organization's
// objects, take no caller, and write only when something changed (so a
// level-based reconciler may call them on every pass).

// UpdateNetworkStatus sets the network's status and returns the network.
// Returns ENOTFOUND if it does not exist. A network being deleted stays
// DEPROVISIONING whatever status is given.
func (s *Service) UpdateNetworkStatus(ctx context.Context, id string, status NetworkStatus) (*Network, error) {
	var n *Network
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		if n, err = tx.FindNetworkByID(ctx, "", id); err != nil {
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
		return tx.UpdateNetwork(ctx, n)
	})
	return n, err
}

// UpdatePeeringStatus sets the peering's status and returns the peering.
// Returns ENOTFOUND if it does not exist. A peering being deleted stays
// DEPROVISIONING whatever status is given.
func (s *Service) UpdatePeeringStatus(ctx context.Context, id string, status PeeringStatus) (*Peering, error) {
	var p *Peering
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		if p, err = tx.FindPeeringByID(ctx, "", id); err != nil {
			return err
		}
		if p.Status.Phase == PhaseDeprovisioning && status.Phase != PhaseDeprovisioning {
			status = PeeringStatus{Phase: PhaseDeprovisioning, ErrorCode: status.ErrorCode, ErrorMessage: status.ErrorMessage}
		}
		if p.Status == status {
			return nil
		}
		p.Status = status
		p.UpdatedAt = s.now()
		return tx.UpdatePeering(ctx, p)
	})
	return p, err
}

// UpdateClusterStatus sets the cluster's status and returns the cluster.
// Returns ENOTFOUND if it does not exist.
func (s *Service) UpdateClusterStatus(ctx context.Context, id string, status ClusterStatus) (*Cluster, error) {
	var c *Cluster
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		if c, err = tx.FindClusterByID(ctx, "", id); err != nil {
			return err
		}
		if c.Status == status {
			return nil
		}
		c.Status = status
		c.UpdatedAt = s.now()
		return tx.UpdateCluster(ctx, c)
	})
	return c, err
}

// PurgeNetwork removes a DEPROVISIONING network's row once its VNet is
// gone. Returns ENOTFOUND if it does not exist (so a repeated purge is
// harmless to ignore), ECONFLICT unless it is DEPROVISIONING.
func (s *Service) PurgeNetwork(ctx context.Context, id string) error {
	return s.store.Update(ctx, func(tx Tx) error {
		n, err := tx.FindNetworkByID(ctx, "", id)
		if err != nil {
			return err
		}
		if n.Status.Phase != PhaseDeprovisioning {
			return Errorf(ECONFLICT, "Network %s is %s, not DEPROVISIONING.", id, n.Status.Phase)
		}
		return tx.DeleteNetwork(ctx, "", id)
	})
}

// PurgePeering removes a DEPROVISIONING peering's row once both Azure
// halves are gone. Returns ENOTFOUND if it does not exist, ECONFLICT unless
// it is DEPROVISIONING.
func (s *Service) PurgePeering(ctx context.Context, id string) error {
	return s.store.Update(ctx, func(tx Tx) error {
		p, err := tx.FindPeeringByID(ctx, "", id)
		if err != nil {
			return err
		}
		if p.Status.Phase != PhaseDeprovisioning {
			return Errorf(ECONFLICT, "Peering %s is %s, not DEPROVISIONING.", id, p.Status.Phase)
		}
		return tx.DeletePeering(ctx, "", id)
	})
}
