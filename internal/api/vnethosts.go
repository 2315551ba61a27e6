package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/reach"
)

// VNetHosts places hosts in VNets, for `peerplane vnet exec`: an address
// claimed in a VNet of the embedded Azure, backed by the data plane's
// network namespace, for as long as the claiming request stays open.
type VNetHosts interface {
	// ClaimHost claims an address for the caller's organization. It
	// returns EINVALID naming the field for a malformed request, a
	// reserved address or one outside the VNet's subnets, ENOTFOUND for a
	// VNet the caller may not place hosts in (or when the data plane is
	// off), ECONFLICT for an address in use, EQUOTA past the caller's
	// number of hosts.
	ClaimHost(ctx context.Context, req HostRequest) (*HostClaim, error)
}

// HostRequest is the body of POST /peerplane/v1/vnet-hosts.
type HostRequest struct {
	// VNet is a VNet's resource id, "resource-group/name", or a network
	// id (its provider VNet).
	VNet string `json:"vnet"`
	// IP is the address to claim; empty picks a free one.
	IP string `json:"ip,omitempty"`
	// Subnet is where to pick a free address; empty means any subnet.
	Subnet string `json:"subnet,omitempty"`
}

// HostClaim is a claimed host. The fields are its JSON; Done is closed
// when the data plane removes it (Err says why), Release gives it back.
type HostClaim struct {
	IP       string `json:"ip"`
	VNet     string `json:"vnet"`
	VNetName string `json:"vnet_name"`
	Subnet   string `json:"subnet,omitempty"`
	// NetNS is the path of the host's network namespace on the machine
	// that runs the server.
	NetNS string `json:"netns"`
	// DNS is the address of the VNet's resolver, reachable from the host
	// (it answers the clusters' private names); empty when the host has
	// none.
	DNS string `json:"dns,omitempty"`

	Done    <-chan struct{} `json:"-"`
	Err     func() error    `json:"-"`
	Release func()          `json:"-"`
}

// Prober makes a real connection attempt for a reachability answer (the
// data plane's probe); it never fails: a probe that cannot be made says
// why in its outcome.
type Prober func(ctx context.Context, q reach.Query, res *reach.Result) *reach.Probe

func (s *Server) vnetHostRoutes() {
	s.handle("POST /peerplane/v1/vnet-hosts", s.claimHost)
}

// claimHost: POST /peerplane/v1/vnet-hosts {"vnet","ip","subnet"} claims
// an address and holds it while the request lasts: the answer is 200 with
// a stream of JSON lines (application/x-ndjson), the host first; the
// claim ends when the client closes the connection, and when the server
// removes the host (its VNet deleted, the server stopping) a last line
// {"released": reason} ends the stream.
func (s *Server) claimHost(w http.ResponseWriter, r *http.Request) error {
	if s.opts.VNetHosts == nil {
		return control.Errorf(control.ENOTFOUND, "Hosts in VNets are not available on this server: the data plane is off.")
	}
	var req HostRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	req.VNet, req.IP, req.Subnet = strings.TrimSpace(req.VNet), strings.TrimSpace(req.IP), strings.TrimSpace(req.Subnet)
	if req.VNet == "" {
		return control.FieldErrorf(control.EINVALID, "/vnet", "Field vnet (a VNet resource id, resource-group/name, or a network id) is required.")
	}
	claim, err := s.opts.VNetHosts.ClaimHost(r.Context(), req)
	if err != nil {
		return err
	}
	defer claim.Release()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	_ = enc.Encode(claim)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	select {
	case <-r.Context().Done():
	case <-claim.Done:
		reason := "released"
		if err := claim.Err(); err != nil {
			reason = err.Error()
		}
		_ = enc.Encode(map[string]string{"released": reason})
		_ = rc.Flush()
	}
	return nil
}
