package netcheck

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/reach"
)

// Connector states, as connect/v1 spells them.
const (
	StateProvisioning = "PROVISIONING"
	StateRunning      = "RUNNING"
	StateFailed       = "FAILED"
	StatePaused       = "PAUSED"
)

// ConnectorStatus is a connector's state and why.
type ConnectorStatus struct {
	State string
	// Trace explains a FAILED or PROVISIONING state: for each host the
	// cluster cannot reach, the reachability verdict's code, detail and fix.
	Trace string
	// Hosts are the reachability answers for each host the config names
	// (none while PAUSED or PROVISIONING).
	Hosts []HostStatus
}

// HostStatus is one host of a connector and whether the cluster reaches it.
type HostStatus struct {
	Endpoint control.ConnectorEndpoint
	Result   *reach.Result
}

// ConnectorStatuses evaluates connectors of cluster (all in environment
// env) over one snapshot of the world: each is RUNNING when its cluster's
// network reaches every host its config names, FAILED with the explanation
// otherwise, PROVISIONING until the cluster is, PAUSED when paused. It
// reads Azure's state on every call, so a status follows peering and
// security rule changes at once.
func (c *Checker) ConnectorStatuses(ctx context.Context, env string, cluster *control.Cluster, conns []*control.Connector) ([]ConnectorStatus, error) {
	out := make([]ConnectorStatus, len(conns))
	var e *reach.Engine
	for i, k := range conns {
		if k.Paused || !clusterReady(cluster) {
			out[i] = connectorStatus(nil, cluster, k)
			continue
		}
		if e == nil {
			var err error
			if e, err = c.Engine(ctx, env); err != nil {
				return nil, err
			}
		}
		out[i] = connectorStatus(e, cluster, k)
	}
	return out, nil
}

func clusterReady(c *control.Cluster) bool {
	return c.Status.Phase == control.ClusterPhaseProvisioned && c.Status.EndpointAddr() != ""
}

func connectorStatus(e *reach.Engine, cluster *control.Cluster, k *control.Connector) ConnectorStatus {
	if k.Paused {
		return ConnectorStatus{State: StatePaused}
	}
	if !clusterReady(cluster) {
		return ConnectorStatus{State: StateProvisioning,
			Trace: fmt.Sprintf("Kafka cluster %s is %s; the connector starts once it is PROVISIONED.", cluster.ID, cluster.Status.Phase)}
	}
	src, err := endpointAddr(cluster.Status.EndpointAddr())
	if err != nil {
		return ConnectorStatus{State: StateFailed, Trace: fmt.Sprintf("Kafka cluster %s has no usable endpoint: %v.", cluster.ID, err)}
	}
	eps, err := control.ConnectorEndpoints(k.Config)
	if err != nil {
		return ConnectorStatus{State: StateFailed, Trace: control.ErrorMessage(err)}
	}
	st := ConnectorStatus{State: StateRunning}
	var why []string
	for _, ep := range eps {
		res, err := reachOn(e, reach.Query{Source: src, Destination: ep.Addr, Port: ep.Port, Protocol: "tcp"})
		if err != nil {
			st.State = StateFailed
			why = append(why, fmt.Sprintf("%s (%s): %s", ep, ep.Key, control.ErrorMessage(err)))
			continue
		}
		st.Hosts = append(st.Hosts, HostStatus{Endpoint: ep, Result: res})
		if res.Verdict == reach.Reachable {
			continue
		}
		st.State = StateFailed
		why = append(why, fmt.Sprintf("Cannot reach %s (%s) from Kafka cluster %s in network %s: %s", ep, ep.Key, cluster.ID, cluster.NetworkID, explain(res)))
	}
	st.Trace = strings.Join(why, "\n")
	return st
}

// explain is a verdict's reason in one line: the blocker's code, detail and
// fix, or the first failed check when nothing single blocks.
func explain(res *reach.Result) string {
	if b := res.BlockedBy; b != nil {
		return fmt.Sprintf("%s: %s Fix: %s", b.Code, b.Detail, b.Fix)
	}
	for _, ch := range res.Checks {
		if ch.Result == reach.Fail {
			return fmt.Sprintf("%s: %s", res.Verdict, ch.Detail)
		}
	}
	return res.Verdict + "."
}

// endpointAddr reads the address of "SASL_SSL://10.200.17.34:9092" or
// "10.200.17.34:9092".
func endpointAddr(ep string) (netip.Addr, error) {
	if _, rest, ok := strings.Cut(ep, "://"); ok {
		ep = rest
	}
	ap, err := netip.ParseAddrPort(ep)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("endpoint %q is not address:port", ep)
	}
	return ap.Addr().Unmap(), nil
}
