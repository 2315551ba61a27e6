package api

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/reach"
)

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
	q, err := reachQuery(r)
	if err != nil {
		return err
	}
	if s.opts.Reachability == nil {
		return control.Errorf(control.ENOTFOUND, "Reachability is not available on this server.")
	}
	probe, err := probeParam(r)
	if err != nil {
		return err
	}
	res, err := s.opts.Reachability.Reach(r.Context(), env, q)
	if err != nil {
		return err
	}
	if probe {
		res = s.probe(r.Context(), q, res)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// probeParam reads probe=true|false.
func probeParam(r *http.Request) (bool, error) {
	v := strings.TrimSpace(r.URL.Query().Get("probe"))
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, control.FieldErrorf(control.EINVALID, "probe", "Probe %q is not true or false.", v)
	}
	return b, nil
}

// probe returns a copy of res (the checker may share it) with a real
// connection attempt next to the verdict.
func (s *Server) probe(ctx context.Context, q reach.Query, res *reach.Result) *reach.Result {
	out := *res
	if s.opts.Probe == nil {
		out.Probe = &reach.Probe{Outcome: reach.ProbeSkipped, Detail: "The data plane is off on this server (peerplane serve --dataplane=netns runs it), so only the model answers."}
		return &out
	}
	p := s.opts.Probe(ctx, q, res)
	switch p.Outcome {
	case reach.ProbeConnected, reach.ProbeRefused, reach.ProbeTimedOut, reach.ProbeNoRoute:
		agrees := p.Reached == (res.Verdict == reach.Reachable)
		p.Agrees = &agrees
	}
	out.Probe = p
	return &out
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
