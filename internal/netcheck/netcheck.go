// Package netcheck answers network questions for one organization's
// environment: can address A reach address B (or a cluster), and is a
// managed connector's every host reachable from its cluster.
//
// A Checker joins the control plane's state (networks, clusters, peerings,
// read through the control services with the caller's organization in the
// context) with Azure's network state (a Snapshot source reading VNets,
// peerings and NSGs over Azure's API) into a reach.World, trimmed to what
// the organization may see (reach.Visible), and asks the reach engine. The
// API's /peerplane/v1/reachability, connect/v1 connector status and the
// console's "Test connectivity" form all go through it.
package netcheck

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"sync"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/reach"
)

// Snapshotter returns Azure's current network state (VNets, peerings,
// NSGs), read through Azure's API or the embedded Azure's
// /_emulator/network-snapshot route, never from the emulator's memory.
// While the state is unchanged it may return the same *Snapshot, which
// callers only read; the Checker then reuses what it built from it. world
// is the environment's control-plane part (no Snapshot yet): a source that
// reads Azure's API uses it to read only the customer VNets peered with the
// environment's networks.
type Snapshotter func(ctx context.Context, world reach.World) (*reach.Snapshot, error)

// Checker answers reachability queries. Its fields are required.
type Checker struct {
	Environments control.EnvironmentService
	Networks     control.NetworkService
	Clusters     control.ClusterService
	Peerings     control.PeeringService
	Snapshot     Snapshotter
	// Runs, when set, says the connector runtime runs connectors here (the
	// data plane is on): a connector's status is then its run's, explained
	// by the model when it failed (ConnectorStatuses).
	Runs ConnectorRuns

	mu      sync.Mutex
	engines map[string]cachedEngine // by environment
}

// cachedEngine is the engine last built for an environment, from snap and
// a world whose control-plane part hashed to world.
type cachedEngine struct {
	snap   *reach.Snapshot
	world  [sha256.Size]byte
	engine *reach.Engine
}

// maxCachedEngines bounds the cache; past it, it starts over.
const maxCachedEngines = 256

// Engine returns a reach engine over environment env's world, as the
// caller (the organization in ctx) may see it. Returns EINVALID (field
// "environment") when the environment does not exist.
func (c *Checker) Engine(ctx context.Context, env string) (*reach.Engine, error) {
	if _, err := c.Environments.FindEnvironmentByID(ctx, env); err != nil {
		if control.ErrorCode(err) == control.ENOTFOUND {
			return nil, control.FieldErrorf(control.EINVALID, "environment", "Environment %q was not found.", env)
		}
		return nil, err
	}
	world, err := c.world(ctx, env)
	if err != nil {
		return nil, err
	}
	snap, err := c.Snapshot(ctx, world)
	if err != nil {
		return nil, control.Errorf(control.EINTERNAL, "Could not read Azure's network state: %v", err)
	}
	// The same snapshot and the same networks, clusters and peerings make
	// the same engine: reuse it rather than index the VNets again.
	sum, err := json.Marshal([]any{world.Networks, world.Clusters, world.ControlPeerings})
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256(sum)
	c.mu.Lock()
	ce, ok := c.engines[env]
	c.mu.Unlock()
	if ok && ce.snap == snap && ce.world == key {
		return ce.engine, nil
	}
	world.Snapshot = reach.Visible(*snap, world.Networks)
	e := reach.New(world)
	c.mu.Lock()
	if c.engines == nil || len(c.engines) >= maxCachedEngines {
		c.engines = map[string]cachedEngine{}
	}
	c.engines[env] = cachedEngine{snap: snap, world: key, engine: e}
	c.mu.Unlock()
	return e, nil
}

// Reach answers q over environment env. A query the engine cannot resolve
// (an unknown cluster, a bad port) is EINVALID naming the parameter.
func (c *Checker) Reach(ctx context.Context, env string, q reach.Query) (*reach.Result, error) {
	e, err := c.Engine(ctx, env)
	if err != nil {
		return nil, err
	}
	return reachOn(e, q)
}

func reachOn(e *reach.Engine, q reach.Query) (*reach.Result, error) {
	res, err := e.Reach(q)
	var ie *reach.InputError
	if errors.As(err, &ie) {
		return nil, control.FieldErrorf(control.EINVALID, ie.Param, "%s", ie.Message)
	}
	return res, err
}

// world collects the environment's networks, clusters and peerings.
func (c *Checker) world(ctx context.Context, env string) (reach.World, error) {
	var w reach.World
	nets, err := control.All(control.MaxPageSize, func(p control.Page) ([]*control.Network, string, error) {
		return c.Networks.FindNetworks(ctx, control.NetworkFilter{EnvironmentID: env}, p)
	})
	if err != nil {
		return w, err
	}
	for _, n := range nets {
		w.Networks = append(w.Networks, reach.Network{ID: n.ID, Name: n.DisplayName, CIDR: n.CIDR, VNetID: n.Status.AzureVNet, Phase: n.Status.Phase})
	}
	cs, err := control.All(control.MaxClusterPageSize, func(p control.Page) ([]*control.Cluster, string, error) {
		return c.Clusters.FindClusters(ctx, control.ClusterFilter{EnvironmentID: env}, p)
	})
	if err != nil {
		return w, err
	}
	for _, k := range cs {
		w.Clusters = append(w.Clusters, reach.Cluster{ID: k.ID, Name: k.DisplayName, NetworkID: k.NetworkID, Endpoint: k.Status.EndpointAddr(), Phase: k.Status.Phase})
	}
	ps, err := control.All(control.MaxPageSize, func(p control.Page) ([]*control.Peering, string, error) {
		return c.Peerings.FindPeerings(ctx, control.PeeringFilter{EnvironmentID: env}, p)
	})
	if err != nil {
		return w, err
	}
	for _, x := range ps {
		w.ControlPeerings = append(w.ControlPeerings, reach.ControlPeering{ID: x.ID, NetworkID: x.NetworkID, VNetID: x.VNet, Tenant: x.Tenant,
			Phase: x.Status.Phase, ErrorCode: x.Status.ErrorCode, ErrorMessage: x.Status.ErrorMessage})
	}
	return w, nil
}
