package api

import (
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
	res, err := s.opts.Reachability.Reach(r.Context(), env, q)
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
