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
	// Run is what the connector runtime reports of the connector (its
	// counts and last error), nil when it has not run it.
	Run *control.ConnectorRun
}

// ConnectorRuns reads what the connector runtime reports
// (*control.Service implements it).
type ConnectorRuns interface {
	// FindConnectorRuns returns the runs of the caller's connectors of
	// cluster clusterID in envID.
	FindConnectorRuns(ctx context.Context, envID, clusterID string) ([]*control.ConnectorRun, error)
}

// HostStatus is one host of a connector and whether the cluster reaches it.
type HostStatus struct {
	Endpoint control.ConnectorEndpoint
	Result   *reach.Result
}

// ConnectorStatuses evaluates connectors of cluster (all in environment
// env) over one snapshot of the world. Without Runs (the data plane is
// off, so connectors are modelled): each is RUNNING when its cluster's
// network reaches every host its config names, FAILED with the
// explanation otherwise, PROVISIONING until the cluster is, PAUSED when
// paused; it reads Azure's state on every call, so a status follows
// peering and security rule changes at once. With Runs, see runStatus.
func (c *Checker) ConnectorStatuses(ctx context.Context, env string, cluster *control.Cluster, conns []*control.Connector) ([]ConnectorStatus, error) {
	out := make([]ConnectorStatus, len(conns))
	var runs map[string]*control.ConnectorRun
	if c.Runs != nil && len(conns) > 0 {
		rs, err := c.Runs.FindConnectorRuns(ctx, env, cluster.ID)
		if err != nil {
			return nil, err
		}
		runs = make(map[string]*control.ConnectorRun, len(rs))
		for _, r := range rs {
			runs[r.Name] = r
		}
	}
	var e *reach.Engine
	var engineErr error
	engine := func() (*reach.Engine, error) {
		if e == nil && engineErr == nil {
			e, engineErr = c.Engine(ctx, env)
		}
		return e, engineErr
	}
	for i, k := range conns {
		if runs != nil {
			out[i] = runStatus(engine, cluster, k, runs[k.Name])
			continue
		}
		if k.Paused || !clusterReady(cluster) {
			out[i] = connectorStatus(nil, cluster, k, netip.Addr{})
			continue
		}
		e, err := engine()
		if err != nil {
			return nil, err
		}
		out[i] = connectorStatus(e, cluster, k, netip.Addr{})
	}
	return out, nil
}

// runStatus is a connector's status when the runtime runs connectors: PAUSED
// and PROVISIONING as modelled; a class the runtime does not run FAILED,
// saying so; PROVISIONING until the runtime reports a run; then the run's
// state, a FAILED one's trace being its error followed by the model's
// explanation of each host the network cannot reach (a security rule,
// transitivity, …) from the connector's own address.
func runStatus(engine func() (*reach.Engine, error), cluster *control.Cluster, k *control.Connector, run *control.ConnectorRun) ConnectorStatus {
	if run != nil && !run.Generation.Equal(k.CreatedAt) {
		run = nil // a run of an earlier connector of that name
	}
	if k.Paused || !clusterReady(cluster) {
		st := connectorStatus(nil, cluster, k, netip.Addr{})
		st.Run = run
		return st
	}
	if class := k.Config["connector.class"]; !control.IsManagedClass(class) {
		return ConnectorStatus{State: StateFailed, Trace: fmt.Sprintf("Peerplane runs %s connectors; %q is not one of them, so this connector moves no records.",
			strings.Join(control.ManagedClasses, ", "), class)}
	}
	if run == nil {
		return ConnectorStatus{State: StateProvisioning, Trace: "The connector runtime has not started this connector yet."}
	}
	if run.State != control.ConnectorFailed {
		return ConnectorStatus{State: StateRunning, Run: run}
	}
	st := ConnectorStatus{State: StateFailed, Run: run, Trace: run.LastError}
	e, err := engine()
	if err != nil {
		st.Trace += "\nThe network model could not be asked why: " + control.ErrorMessage(err)
		return st
	}
	src, _ := netip.ParseAddr(run.Address)
	model := connectorStatus(e, cluster, k, src)
	st.Hosts = model.Hosts
	if model.State == StateFailed && model.Trace != "" {
		st.Trace += "\n" + model.Trace
	}
	return st
}

func clusterReady(c *control.Cluster) bool {
	return c.Status.Phase == control.ClusterPhaseProvisioned && c.Status.EndpointAddr() != ""
}

// connectorStatus is the model's status of k: src is where its traffic
// comes from, the cluster's endpoint address when not valid.
func connectorStatus(e *reach.Engine, cluster *control.Cluster, k *control.Connector, src netip.Addr) ConnectorStatus {
	if k.Paused {
		return ConnectorStatus{State: StatePaused}
	}
	if !clusterReady(cluster) {
		return ConnectorStatus{State: StateProvisioning,
			Trace: fmt.Sprintf("Kafka cluster %s is %s; the connector starts once it is PROVISIONED.", cluster.ID, cluster.Status.Phase)}
	}
	if !src.IsValid() {
		a, err := endpointAddr(cluster.Status.EndpointAddr())
		if err != nil {
			return ConnectorStatus{State: StateFailed, Trace: fmt.Sprintf("Kafka cluster %s has no usable endpoint: %v.", cluster.ID, err)}
		}
		src = a
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
