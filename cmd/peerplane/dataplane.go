package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"

	"github.com/spf13/pflag"

	"github.com/peerplane/peerplane/internal/api"
	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/azureid"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/dataplane"
	"github.com/peerplane/peerplane/internal/netcheck"
	"github.com/peerplane/peerplane/internal/privatedns"
	"github.com/peerplane/peerplane/internal/reach"
)

// Data plane modes (--dataplane).
const (
	dataplaneAuto  = "auto"
	dataplaneNetns = "netns"
	dataplaneOff   = "off"
)

// bindDataplaneFlag registers --dataplane.
func bindDataplaneFlag(fs *pflag.FlagSet, c *ServeConfig, getenv func(string) string) {
	def := getenv("PEERPLANE_DATAPLANE")
	if def == "" {
		def = dataplaneAuto
	}
	fs.StringVar(&c.Dataplane, "dataplane", def, "auto, netns or off: run the embedded Azure's VNets as Linux network namespaces (auto: when this process may create them) ($PEERPLANE_DATAPLANE)")
}

// validateDataplane checks --dataplane.
func (c *ServeConfig) validateDataplane() error {
	switch c.Dataplane {
	case "", dataplaneAuto, dataplaneOff:
		return nil
	case dataplaneNetns:
		if c.ExternalAzure {
			return errors.New("--dataplane=netns runs the embedded Azure's VNets; it does not go with --external-azure")
		}
		return nil
	}
	return fmt.Errorf("--dataplane %q: want auto, netns or off (check $PEERPLANE_DATAPLANE)", c.Dataplane)
}

// startDataplane opens the data plane when the configuration asks for it
// and the machine allows it, and follows the embedded Azure's state. It
// returns nil (and logs why) when the data plane is off.
func startDataplane(ctx context.Context, cfg ServeConfig, az *embeddedAzure, log *slog.Logger) (*dataplane.Plane, error) {
	switch {
	case cfg.Dataplane == "" || cfg.Dataplane == dataplaneOff:
		return nil, nil
	case az == nil:
		log.Info("data plane off: against a real Azure, Azure carries the packets")
		return nil, nil
	}
	if err := dataplane.Available(); err != nil {
		if cfg.Dataplane == dataplaneNetns {
			return nil, fmt.Errorf("--dataplane=netns: %w", err)
		}
		log.Info("data plane off: this process cannot make network namespaces; the model answers alone", "reason", err)
		return nil, nil
	}
	p, err := dataplane.Open(ctx, dataplane.Options{DataDir: cfg.DataDir, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("data plane: %w", err)
	}
	snap := func() reach.Snapshot { return reachSnapshot(az.emu.Snapshot()) }
	p.Apply(snap())
	if err := p.Sync(ctx); err != nil {
		log.Warn("data plane: first pass", "err", err)
	}
	log.Info("data plane on: every VNet with a host or a live peering is a network namespace", "prefix", p.Prefix())
	return p, nil
}

// reachSnapshot is the emulator's network state in reach's types.
func reachSnapshot(s azureemu.NetworkSnapshot) reach.Snapshot {
	var out reach.Snapshot
	for _, v := range s.VirtualNetworks {
		rv := reach.VNet{ID: v.ID, SubscriptionID: v.SubscriptionID, Name: v.Name, AddressPrefixes: v.AddressPrefixes, Tags: v.Tags}
		for _, sn := range v.Subnets {
			rv.Subnets = append(rv.Subnets, reach.Subnet{Name: sn.Name, AddressPrefix: sn.AddressPrefix, AddressPrefixes: sn.AddressPrefixes, NetworkSecurityGroup: sn.NetworkSecurityGroup})
		}
		out.VirtualNetworks = append(out.VirtualNetworks, rv)
	}
	for _, p := range s.Peerings {
		out.Peerings = append(out.Peerings, reach.Peering{ID: p.ID, VNetID: p.VNetID, Name: p.Name, RemoteVNetID: p.RemoteVNetID,
			AllowVirtualNetworkAccess: p.AllowVirtualNetworkAccess, AllowForwardedTraffic: p.AllowForwardedTraffic,
			AllowGatewayTransit: p.AllowGatewayTransit, UseRemoteGateways: p.UseRemoteGateways, PeeringState: p.PeeringState,
			RemoteAddressSpace: p.RemoteAddressSpace})
	}
	for _, n := range s.NSGs {
		rn := reach.NSG{ID: n.ID, Name: n.Name}
		for _, r := range n.SecurityRules {
			rn.SecurityRules = append(rn.SecurityRules, reach.SecurityRule{Name: r.Name, Priority: r.Priority, Direction: r.Direction, Access: r.Access,
				Protocol: r.Protocol, SourceAddressPrefixes: r.SourceAddressPrefixes, DestinationAddressPrefixes: r.DestinationAddressPrefixes,
				SourcePortRanges: r.SourcePortRanges, DestinationPortRanges: r.DestinationPortRanges})
		}
		out.NSGs = append(out.NSGs, rn)
	}
	return out
}

// maxHostsPerOrg is how many hosts one organization may hold at once.
const maxHostsPerOrg = 64

// vnetHosts claims hosts in VNets for organizations (api.VNetHosts).
//
// Who may place a host where: an organization may place hosts in the
// provider VNet of each of its networks, and in any VNet of the embedded
// Azure whose ConfluentEnvIDs tag lists one of its environments — the
// same grant by the VNet's owner that lets the environment peer with it,
// so that one organization cannot put an address into a VNet that
// another's customer owns (and receive traffic meant for it). The
// operator's organization may place hosts anywhere. Each organization
// holds at most maxHostsPerOrg at once, and a host lives only while its
// request is open.
type vnetHosts struct {
	plane    *dataplane.Plane
	svc      *control.Service
	snapshot netcheck.Snapshotter
	// zone answers the clusters' private names at each host's resolver;
	// nil: hosts get no resolver.
	zone privatedns.Zone
	log  *slog.Logger

	mu   sync.Mutex
	held map[string]int // organization → hosts held
}

// ClaimHost implements api.VNetHosts.
func (v *vnetHosts) ClaimHost(ctx context.Context, req api.HostRequest) (*api.HostClaim, error) {
	org := control.OrganizationFromContext(ctx)
	if org == nil {
		return nil, control.Errorf(control.EUNAUTHORIZED, "Valid authentication credentials must be provided.")
	}
	var addr netip.Addr
	if req.IP != "" {
		a, err := netip.ParseAddr(req.IP)
		if err != nil || !a.Is4() {
			return nil, control.FieldErrorf(control.EINVALID, "/ip", "IP %q is not an IPv4 address.", req.IP)
		}
		addr = a
	}
	vnetID, err := v.resolve(ctx, org, req.VNet)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	if v.held[org.ID] >= maxHostsPerOrg {
		v.mu.Unlock()
		return nil, control.Errorf(control.EQUOTA, "Organization %s already holds %d hosts in VNets, the most it may hold at once; end one (its vnet exec command) first.", org.ID, maxHostsPerOrg)
	}
	v.held[org.ID]++
	v.mu.Unlock()
	release := func() {
		v.mu.Lock()
		v.held[org.ID]--
		v.mu.Unlock()
	}
	h, err := v.plane.Claim(ctx, dataplane.ClaimSpec{VNetID: vnetID, Addr: addr, Subnet: req.Subnet, Owner: "organization " + org.ID})
	if err != nil {
		release()
		var ce *dataplane.ClaimError
		if errors.As(err, &ce) {
			code := map[string]string{dataplane.ClaimNotFound: control.ENOTFOUND, dataplane.ClaimInvalid: control.EINVALID, dataplane.ClaimConflict: control.ECONFLICT}[ce.Code]
			return nil, control.FieldErrorf(code, "/"+ce.Field, "%s", ce.Message)
		}
		return nil, err
	}
	var once sync.Once
	dns := attachResolver(h, v.zone, v.log)
	return &api.HostClaim{IP: h.Addr.String(), VNet: h.VNetID, VNetName: h.VName, Subnet: h.Subnet(), NetNS: h.NetNS(), DNS: dns,
		Done: h.Done(), Err: h.Err, Release: func() { once.Do(func() { h.Release(); release() }) }}, nil
}

// resolve finds the VNet ref names among those org may place hosts in:
// a resource id, "resource-group/name", or a network id (its provider
// VNet). Anything else is ENOTFOUND, saying what is allowed.
func (v *vnetHosts) resolve(ctx context.Context, org *control.Organization, ref string) (string, error) {
	snap, err := v.snapshot(ctx, reach.World{})
	if err != nil {
		return "", fmt.Errorf("read azure's networks: %w", err)
	}
	envs, providers, err := v.owned(ctx)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(ref, "n-") {
		id, ok := providers[ref]
		if !ok || id == "" {
			return "", control.FieldErrorf(control.ENOTFOUND, "/vnet", "Network %s was not found, or has no provider VNet yet.", ref)
		}
		return id, nil
	}
	rg, name, isRGName := strings.Cut(ref, "/")
	var matches []reach.VNet
	for _, vn := range snap.VirtualNetworks {
		switch {
		case strings.HasPrefix(ref, "/"):
			if strings.EqualFold(vn.ID, ref) {
				matches = append(matches, vn)
			}
		case isRGName && !strings.Contains(name, "/"):
			if strings.EqualFold(vn.Name, name) && strings.EqualFold(azureid.ResourceGroupOf(vn.ID), rg) {
				matches = append(matches, vn)
			}
		}
	}
	var allowed []reach.VNet
	for _, vn := range matches {
		if org.Operator || v.mayUse(vn, envs, providers) {
			allowed = append(allowed, vn)
		}
	}
	switch len(allowed) {
	case 1:
		return allowed[0].ID, nil
	case 0:
		if !strings.HasPrefix(ref, "/") && !isRGName {
			return "", control.FieldErrorf(control.EINVALID, "/vnet", "VNet %q is not a resource id (/subscriptions/…/virtualNetworks/NAME), resource-group/name or a network id (n-…).", ref)
		}
		return "", control.FieldErrorf(control.ENOTFOUND, "/vnet", "VNet %s was not found among the VNets this organization may place hosts in: the provider VNets of its networks, and the VNets whose ConfluentEnvIDs tag lists one of its environments.", ref)
	}
	return "", control.FieldErrorf(control.EINVALID, "/vnet", "%q names %d VNets in different subscriptions; give the VNet's resource id.", ref, len(allowed))
}

func (v *vnetHosts) mayUse(vn reach.VNet, envs map[string]bool, providers map[string]string) bool {
	for _, id := range providers {
		if strings.EqualFold(id, vn.ID) {
			return true
		}
	}
	for k, val := range vn.Tags {
		if !strings.EqualFold(k, control.EnvTag) {
			continue
		}
		for env := range envs {
			if control.TagHas(val, env) {
				return true
			}
		}
	}
	return false
}

// owned returns the caller's environment ids and its networks' provider
// VNets (network id → VNet id).
func (v *vnetHosts) owned(ctx context.Context) (map[string]bool, map[string]string, error) {
	envs, providers := map[string]bool{}, map[string]string{}
	es, err := control.All(control.MaxEnvironmentPageSize, func(p control.Page) ([]*control.Environment, string, error) {
		return v.svc.FindEnvironments(ctx, p)
	})
	if err != nil {
		return nil, nil, err
	}
	for _, e := range es {
		envs[e.ID] = true
		ns, err := control.All(control.MaxPageSize, func(p control.Page) ([]*control.Network, string, error) {
			return v.svc.FindNetworks(ctx, control.NetworkFilter{EnvironmentID: e.ID}, p)
		})
		if err != nil {
			return nil, nil, err
		}
		for _, n := range ns {
			providers[n.ID] = n.Status.AzureVNet
		}
	}
	return envs, providers, nil
}

// dataplaneProber probes through the plane the path the model resolved.
func dataplaneProber(p *dataplane.Plane) api.Prober {
	return func(ctx context.Context, q reach.Query, res *reach.Result) *reach.Probe {
		proto := strings.ToLower(res.Protocol)
		if proto != "tcp" {
			return &reach.Probe{Outcome: reach.ProbeSkipped, Detail: fmt.Sprintf("Probes are TCP connections; this query is %s.", res.Protocol)}
		}
		if res.Source.VNet == "" || res.Destination.VNet == "" {
			return &reach.Probe{Outcome: reach.ProbeSkipped, Detail: "The model did not place both ends in a VNet (see the checks), so there is nowhere to probe from or to."}
		}
		src, err1 := netip.ParseAddr(res.Source.Address)
		dst, err2 := netip.ParseAddr(res.Destination.Address)
		if err1 != nil || err2 != nil {
			return &reach.Probe{Outcome: reach.ProbeSkipped, Detail: "The answer has no source or destination address to probe."}
		}
		pr := p.Probe(ctx, dataplane.ProbeSpec{SourceVNet: res.Source.VNet, DestinationVNet: res.Destination.VNet, Source: src, Destination: dst,
			Port: res.Port, SourcePort: q.SourcePort})
		return &pr
	}
}
