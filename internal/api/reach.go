package api

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/reach"
)

// NetworkSnapshotter returns Azure's current network state (VNets,
// peerings, NSGs), read through Azure's API or the embedded Azure's
// /_emulator/network-snapshot route, never from the emulator's memory.
type NetworkSnapshotter func(ctx context.Context) (*reach.Snapshot, error)

// reachability: GET /peerplane/v1/reachability?environment=env-…&source=<IP>
// &destination=<IP or cluster id>&port=<n>[&protocol=tcp|udp|icmp]
//
// It answers whether source can reach destination, over the caller's
// environment: its networks' provider VNets, the VNets peered with them and
// the VNets peered with those, its clusters and its peerings. Bad input is a
// 400 naming the parameter; the answer is a reach.Result.
func (s *Server) reachability(w http.ResponseWriter, r *http.Request) error {
	env, err := environmentParam(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := s.opts.Environments.FindEnvironmentByID(ctx, env); err != nil {
		if control.ErrorCode(err) == control.ENOTFOUND {
			return control.FieldErrorf(control.EINVALID, "environment", "Environment %q was not found.", env)
		}
		return err
	}
	q, err := reachQuery(r)
	if err != nil {
		return err
	}
	if q.Cluster != "" {
		if _, err := s.opts.Clusters.FindClusterByID(ctx, env, q.Cluster); err != nil {
			if control.ErrorCode(err) == control.ENOTFOUND {
				return control.FieldErrorf(control.EINVALID, "destination", "Destination %q is neither an IP address nor a cluster of environment %s.", q.Cluster, env)
			}
			return err
		}
	}
	if s.opts.Reachability == nil {
		return control.Errorf(control.ENOTFOUND, "Reachability is not available on this server.")
	}
	world, err := s.reachWorld(ctx, env)
	if err != nil {
		return err
	}
	snap, err := s.opts.Reachability(ctx)
	if err != nil {
		return control.Errorf(control.EINTERNAL, "Could not read Azure's network state: %v", err)
	}
	world.Snapshot = reach.Visible(*snap, world.Networks)
	res, err := reach.New(world).Reach(q)
	var ie *reach.InputError
	if errors.As(err, &ie) {
		return control.FieldErrorf(control.EINVALID, ie.Param, "%s", ie.Message)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// reachQuery parses source, destination, port and protocol.
func reachQuery(r *http.Request) (reach.Query, error) {
	v := r.URL.Query()
	var q reach.Query
	src := strings.TrimSpace(v.Get("source"))
	if src == "" {
		return q, control.FieldErrorf(control.EINVALID, "source", "Query parameter source (an IP address) is required.")
	}
	a, err := netip.ParseAddr(src)
	if err != nil || a.Zone() != "" {
		return q, control.FieldErrorf(control.EINVALID, "source", "Source %q is not an IP address.", src)
	}
	q.Source = a.Unmap()
	dst := strings.TrimSpace(v.Get("destination"))
	switch {
	case dst == "":
		return q, control.FieldErrorf(control.EINVALID, "destination", "Query parameter destination (an IP address or a cluster id) is required.")
	default:
		if a, err := netip.ParseAddr(dst); err == nil && a.Zone() == "" {
			q.Destination = a.Unmap()
		} else {
			q.Cluster = dst
		}
	}
	q.Protocol = strings.ToLower(strings.TrimSpace(v.Get("protocol")))
	switch q.Protocol {
	case "", "tcp", "udp", "icmp":
	default:
		return q, control.FieldErrorf(control.EINVALID, "protocol", "Protocol %q is not one of tcp, udp, icmp.", v.Get("protocol"))
	}
	if p := strings.TrimSpace(v.Get("port")); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return q, control.FieldErrorf(control.EINVALID, "port", "Port %q is not a number from 1 to 65535.", p)
		}
		q.Port = n
	} else if q.Cluster == "" && q.Protocol != "icmp" {
		return q, control.FieldErrorf(control.EINVALID, "port", "Query parameter port is required unless the destination is a cluster (its endpoint's port) or the protocol is icmp.")
	}
	return q, nil
}

// reachWorld collects the environment's networks, clusters and peerings.
func (s *Server) reachWorld(ctx context.Context, env string) (reach.World, error) {
	var w reach.World
	all := control.Page{Size: control.MaxPageSize}
	for p := all; ; {
		nets, next, err := s.opts.Networks.FindNetworks(ctx, control.NetworkFilter{EnvironmentID: env}, p)
		if err != nil {
			return w, err
		}
		for _, n := range nets {
			w.Networks = append(w.Networks, reach.Network{ID: n.ID, Name: n.DisplayName, CIDR: n.CIDR, VNetID: n.Status.AzureVNet, Phase: n.Status.Phase})
		}
		if p.Token = next; next == "" {
			break
		}
	}
	for p := all; ; {
		cs, next, err := s.opts.Clusters.FindClusters(ctx, control.ClusterFilter{EnvironmentID: env}, p)
		if err != nil {
			return w, err
		}
		for _, c := range cs {
			w.Clusters = append(w.Clusters, reach.Cluster{ID: c.ID, Name: c.DisplayName, NetworkID: c.NetworkID, Endpoint: c.Status.BootstrapEndpoint, Phase: c.Status.Phase})
		}
		if p.Token = next; next == "" {
			break
		}
	}
	for p := all; ; {
		ps, next, err := s.opts.Peerings.FindPeerings(ctx, control.PeeringFilter{EnvironmentID: env}, p)
		if err != nil {
			return w, err
		}
		for _, x := range ps {
			w.ControlPeerings = append(w.ControlPeerings, reach.ControlPeering{ID: x.ID, NetworkID: x.NetworkID, VNetID: x.VNet,
				Phase: x.Status.Phase, ErrorCode: x.Status.ErrorCode, ErrorMessage: x.Status.ErrorMessage})
		}
		if p.Token = next; next == "" {
			break
		}
	}
	return w, nil
}
