package reconcile

import (
	"context"
	"net/netip"

	"github.com/peerplane/peerplane/internal/control"
)

// reconcileCluster provisions a cluster once its network is READY: it
// picks its broker addresses in the network's CIDR (one per zone for
// MULTI_ZONE), names its private endpoints, and sets PROVISIONED. A
// PROVISIONED cluster keeps its addresses; its status is rewritten only
// when it lacks brokers (written before clusters had them) or the names
// changed (another --private-dns-domain).
func (c *Controller) reconcileCluster(ctx context.Context, id string) (Result, error) {
	cl, err := c.cfg.Control.ReconcileCluster(ctx, id)
	if control.ErrorCode(err) == control.ENOTFOUND {
		return Result{}, nil
	} else if err != nil {
		return Result{}, err
	}
	n, err := c.cfg.Control.ReconcileNetwork(ctx, cl.NetworkID)
	if err != nil {
		return Result{}, err
	}
	if cl.Status.Phase != control.ClusterPhaseProvisioned && n.Status.Phase != control.PhaseReady {
		c.q.Add(networkKey(n.ID))
		return Result{}, nil // the network enqueues its clusters when READY
	}
	// One allocation at a time, so that two clusters of a network never
	// pick the same address.
	c.allocMu.Lock()
	defer c.allocMu.Unlock()
	brokers, err := c.brokers(ctx, cl, n)
	if err != nil {
		return Result{}, err
	}
	st := control.PrivateEndpoints(cl, n, c.cfg.PrivateDNSDomain, brokers)
	if cl.Status.Equal(st) {
		return Result{}, nil
	}
	if _, err := c.cfg.Control.UpdateClusterStatus(ctx, id, st); err != nil {
		return Result{}, err
	}
	c.log.Info("cluster provisioned", "cluster", id, "bootstrap", st.BootstrapEndpoint, "brokers", st.Brokers)
	if c.cfg.ClusterChanged != nil {
		c.cfg.ClusterChanged(id)
	}
	return Result{}, nil
}

// brokers returns the cluster's broker addresses: those it has when there
// are as many as it needs, else new ones from its endpoint address (kept
// from an earlier status) or its stable start, avoiding every address the
// network's other clusters hold.
func (c *Controller) brokers(ctx context.Context, cl *control.Cluster, n *control.Network) ([]netip.Addr, error) {
	want := control.BrokerCount(cl.Availability)
	if have := cl.Status.BrokerAddrs(); len(have) == want {
		return have, nil
	}
	start, err := control.EndpointStart(n.CIDR, cl.ID)
	if err != nil {
		return nil, err
	}
	if ap, err := netip.ParseAddrPort(cl.Status.EndpointAddr()); err == nil {
		start = ap.Addr()
	}
	others, err := c.cfg.Control.ClustersOfNetwork(ctx, n.ID)
	if err != nil {
		return nil, err
	}
	used := map[netip.Addr]bool{}
	for _, o := range others {
		if o.ID == cl.ID {
			continue
		}
		for _, a := range o.Status.BrokerAddrs() {
			used[a] = true
		}
		if ap, err := netip.ParseAddrPort(o.Status.EndpointAddr()); err == nil {
			used[ap.Addr()] = true
		}
	}
	return control.AllocateBrokers(n.CIDR, start, want, used)
}
