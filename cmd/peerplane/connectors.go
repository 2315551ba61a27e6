package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/peerplane/peerplane/internal/connect"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/dataplane"
)

// Managed connectors run, with the data plane on, in the replica that
// holds the reconciler lease (the one that reconciles clusters, and so
// the one whose data plane serves their Kafka endpoints): the runtime
// starts when the replica starts leading and is stopped — every worker
// stored its counts and released its host — before the lease is given up
// or lost, so no two replicas deliver a connector's records at once.

// connectorHosts claims connector hosts in the data plane.
type connectorHosts struct{ plane *dataplane.Plane }

func (p connectorHosts) Claim(ctx context.Context, vnetID, owner string) (connect.Host, error) {
	h, err := p.plane.Claim(ctx, dataplane.ClaimSpec{VNetID: vnetID, Owner: owner})
	if err != nil {
		return nil, err
	}
	return planeHost{h}, nil
}

// planeHost is a data plane host as the runtime uses it.
type planeHost struct{ *dataplane.Host }

func (h planeHost) Addr() string { return h.Host.Addr.String() }

func (h planeHost) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return h.Host.DialContext(ctx, nil, network, address)
}

// noEndpoints is the ClusterEndpoints of a server that runs no Kafka
// endpoint for its clusters.
type noEndpoints struct{}

func (noEndpoints) Bootstrap(ctx context.Context, clusterID string) ([]string, error) {
	return nil, fmt.Errorf("this server runs no Kafka endpoint for cluster %s", clusterID)
}

// connectorRuntime runs the connector runtime while this replica leads.
type connectorRuntime struct {
	rt  *connect.Runtime
	ctx context.Context

	mu   sync.Mutex
	stop func() // stops the running runtime and waits; nil when not running
}

// newConnectorRuntime returns the runtime of a server whose data plane is
// plane (nil: no connectors run, and nil is returned).
func newConnectorRuntime(ctx context.Context, plane *dataplane.Plane, svc *control.Service, endpoints connect.ClusterEndpoints, worker string, log *slog.Logger) *connectorRuntime {
	if plane == nil {
		return nil
	}
	if endpoints == nil {
		endpoints = noEndpoints{}
	}
	return &connectorRuntime{ctx: ctx, rt: connect.New(connect.Config{Control: svc, Endpoints: endpoints, Hosts: connectorHosts{plane},
		Worker: worker, Logger: log})}
}

// leading starts (true) or stops (false) the runtime; it returns once a
// stopped runtime's workers are all gone. Safe on a nil runtime.
func (c *connectorRuntime) leading(on bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case on && c.stop == nil:
		ctx, cancel := context.WithCancel(c.ctx)
		done := make(chan struct{})
		go func() { defer close(done); c.rt.Run(ctx) }()
		c.stop = func() { cancel(); <-done }
	case !on && c.stop != nil:
		c.stop()
		c.stop = nil
	}
}

// kick tells the runtime a connector or cluster changed.
func (c *connectorRuntime) kick() {
	if c != nil {
		c.rt.Kick()
	}
}
