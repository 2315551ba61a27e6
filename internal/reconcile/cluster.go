package reconcile

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/netip"

	"github.com/peerplane/peerplane/internal/control"
)

func (c *Controller) reconcileCluster(ctx context.Context, id string) (Result, error) {
	cl, err := c.cfg.Control.ReconcileCluster(ctx, id)
	if control.ErrorCode(err) == control.ENOTFOUND {
		return Result{}, nil
	} else if err != nil {
		return Result{}, err
	}
	if cl.Status.Phase == control.ClusterPhaseProvisioned {
		return Result{}, nil
	}
	n, err := c.cfg.Control.ReconcileNetwork(ctx, cl.NetworkID)
	if err != nil {
		return Result{}, err
	}
	if n.Status.Phase != control.PhaseReady {
		c.q.Add(networkKey(n.ID))
		return Result{}, nil // the network enqueues its clusters when READY
	}
	addr, err := endpointAddr(n.CIDR, cl.ID)
	if err != nil {
		return Result{}, err
	}
	st := control.ClusterStatus{
		Phase:             control.ClusterPhaseProvisioned,
		BootstrapEndpoint: fmt.Sprintf("SASL_SSL://%s:9092", addr),
		HTTPEndpoint:      fmt.Sprintf("https://%s:443", addr),
	}
	if _, err := c.cfg.Control.UpdateClusterStatus(ctx, id, st); err != nil {
		return Result{}, err
	}
	c.log.Info("cluster provisioned", "cluster", id, "bootstrap", st.BootstrapEndpoint)
	return Result{}, nil
}

// endpointAddr picks a stable host address for the cluster inside the
// network's CIDR: the network's first /24s are left to the platform, and
// the address avoids each subnet's network and broadcast addresses.
func endpointAddr(cidr, clusterID string) (netip.Addr, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || p.Bits() > 16 {
		return netip.Addr{}, fmt.Errorf("network cidr %q is not an IPv4 /16", cidr)
	}
	h := fnv.New32a()
	h.Write([]byte(clusterID))
	sum := h.Sum32()
	b := p.Masked().Addr().As4()
	b[2] = byte(16 + sum%224)     // 16..239
	b[3] = byte(4 + (sum>>8)%248) // 4..251
	return netip.AddrFrom4(b), nil
}
