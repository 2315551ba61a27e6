package reach

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/peerplane/peerplane/internal/azureid"
)

// flow is a normalized query.
type flow struct {
	src, dst   netip.Addr
	srcC, dstC []*vnet // VNets holding src and dst
	proto      string  // tcp, udp, icmp
	port       int
	srcPort    int
}

// Reach answers q. It returns an *InputError for a query it cannot
// resolve (a bad protocol or port, an unknown cluster or one without an
// endpoint); everything else is a Result.
func (e *Engine) Reach(q Query) (*Result, error) {
	f := flow{src: q.Source.Unmap(), port: q.Port, srcPort: q.SourcePort}
	switch lower(q.Protocol) {
	case "", "tcp":
		f.proto = "tcp"
	case "udp":
		f.proto = "udp"
	case "icmp":
		f.proto = "icmp"
	default:
		return nil, inputErrorf("protocol", "Protocol %q is not one of tcp, udp, icmp.", q.Protocol)
	}
	if !f.src.IsValid() {
		return nil, inputErrorf("source", "The source must be an IP address.")
	}
	if q.SourcePort < 0 || q.SourcePort > 65535 {
		return nil, inputErrorf("source_port", "Source port %d is not in 1-65535.", q.SourcePort)
	}
	res := &Result{Source: Endpoint{Address: f.src.String()}, Protocol: strings.ToUpper(f.proto)}

	var pinned *vnet // the destination VNet when the query names a cluster
	var cluster *Cluster
	var cnet *network
	switch {
	case q.Cluster != "" && q.Destination.IsValid():
		return nil, inputErrorf("destination", "Give a destination address or a cluster, not both.")
	case q.Cluster != "":
		cluster = e.clusters[lower(q.Cluster)]
		if cluster == nil {
			return nil, inputErrorf("destination", "Cluster %q was not found.", q.Cluster)
		}
		host, port, err := parseEndpoint(cluster.Endpoint)
		if err != nil {
			return nil, inputErrorf("destination", "Cluster %s has no usable endpoint yet (phase %s): %v.", cluster.ID, orNone(cluster.Phase), err)
		}
		f.dst = host
		if f.port == 0 {
			f.port = port
		}
		res.Destination.Cluster = cluster.ID
		cnet = e.networks[lower(cluster.NetworkID)]
		if cnet != nil {
			res.Destination.Network = cnet.ID
			pinned = cnet.vnet
		}
	case q.Destination.IsValid():
		f.dst = q.Destination.Unmap()
	default:
		return nil, inputErrorf("destination", "The destination must be an IP address or a cluster id.")
	}
	if f.proto != "icmp" && (f.port < 1 || f.port > 65535) {
		return nil, inputErrorf("port", "Port %d is not in 1-65535.", f.port)
	}
	if f.proto == "icmp" {
		f.port = 0
	}
	res.Port = f.port
	res.Destination.Address = f.dst.String()

	var sbuf, dbuf [4]*vnet
	f.srcC = e.lookup(f.src, sbuf[:0])
	if pinned != nil {
		f.dstC = append(dbuf[:0], pinned)
	} else {
		f.dstC = e.lookup(f.dst, dbuf[:0])
	}

	// Resolve both ends.
	srcV, ok := e.resolveEnd(res, "source", f.src, f.srcC, nil)
	if !ok {
		return res, nil
	}
	var dstV *vnet
	if cluster != nil && pinned == nil {
		detail := fmt.Sprintf("Cluster %s's network %s has no VNet yet", cluster.ID, cluster.NetworkID)
		if cnet != nil {
			detail = fmt.Sprintf("Cluster %s's network %s (phase %s) has no provider VNet yet", cluster.ID, cnet.ID, orNone(cnet.Phase))
		}
		res.add(Check{Name: "destination_vnet", Component: cluster.NetworkID, Result: Fail, Detail: detail + "."})
		res.block(CodeDestinationNotInAnyVNet, cluster.NetworkID, detail+".", "Wait for the network to be READY (peerplane network describe "+cluster.NetworkID+").")
		return res.finish(), nil
	}
	if dstV, ok = e.resolveEnd(res, "destination", f.dst, f.dstC, cluster); !ok {
		return res, nil
	}
	fillEnd(&res.Source, srcV, f.src)
	fillEnd(&res.Destination, dstV, f.dst)
	if cluster != nil {
		if !containsAny(dstV.prefixes, f.dst) {
			res.add(Check{Name: "destination_vnet", Component: dstV.id, Result: Fail,
				Detail: fmt.Sprintf("Cluster %s's endpoint %s is outside its network's VNet %s (%s).", cluster.ID, f.dst, dstV.name, joinPrefixes(dstV.prefixes))})
		}
	}

	// The path.
	e.path(res, &f, srcV, dstV)

	// Security rules: outbound at the source subnet, inbound at the
	// destination subnet.
	e.nsgCheck(res, &f, srcV, false)
	e.nsgCheck(res, &f, dstV, true)
	return res.finish(), nil
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// parseEndpoint reads "SASL_SSL://10.200.17.34:9092" or "10.200.17.34:9092".
func parseEndpoint(ep string) (netip.Addr, int, error) {
	if ep == "" {
		return netip.Addr{}, 0, fmt.Errorf("no bootstrap endpoint")
	}
	if _, rest, ok := strings.Cut(ep, "://"); ok {
		ep = rest
	}
	ep, _, _ = strings.Cut(ep, ",") // the first of a list
	ap, err := netip.ParseAddrPort(ep)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("endpoint %q is not an address:port", ep)
	}
	return ap.Addr().Unmap(), int(ap.Port()), nil
}

func (r *Result) add(c Check) { r.Checks = append(r.Checks, c) }

// block records the first blocker; later ones are kept only as checks.
func (r *Result) block(code, component, detail, fix string) {
	if r.BlockedBy == nil {
		r.BlockedBy = &Blocker{Code: code, Component: component, Detail: detail, Fix: fix}
	}
}

func (r *Result) finish() *Result {
	switch {
	case r.Verdict == Ambiguous:
	case r.BlockedBy != nil:
		r.Verdict = Unreachable
	default:
		r.Verdict = Reachable
	}
	if r.Hops == nil {
		r.Hops = []Hop{}
	}
	return r
}

func fillEnd(ep *Endpoint, v *vnet, a netip.Addr) {
	ep.VNet, ep.VNetName = v.id, v.name
	if v.network != nil && ep.Network == "" {
		ep.Network = v.network.ID
	}
	if s := v.subnetOf(a); s != nil {
		ep.Subnet = s.name
		ep.NSG = s.nsgID
	}
}

// resolveEnd pins the VNet of one end, or finishes res (UNREACHABLE or
// AMBIGUOUS) and returns false.
func (e *Engine) resolveEnd(res *Result, which string, a netip.Addr, cands []*vnet, cluster *Cluster) (*vnet, bool) {
	name := which + "_vnet"
	switch len(cands) {
	case 1:
		v := cands[0]
		detail := fmt.Sprintf("%s is in VNet %s (%s)", a, v.name, joinPrefixes(v.prefixes))
		if cluster != nil {
			detail = fmt.Sprintf("Cluster %s's endpoint %s is in its network's VNet %s (%s)", cluster.ID, a, v.name, joinPrefixes(v.prefixes))
		}
		if v.network != nil {
			detail += fmt.Sprintf(", the VNet of network %s", v.network.ID)
		}
		if s := v.subnetOf(a); s != nil {
			detail += fmt.Sprintf(", subnet %s", s.name)
		} else {
			detail += ", in no subnet"
		}
		res.add(Check{Name: name, Component: v.id, Result: Pass, Detail: detail + "."})
		return v, true
	case 0:
		code := CodeSourceNotInAnyVNet
		if which == "destination" {
			code = CodeDestinationNotInAnyVNet
		}
		detail := fmt.Sprintf("%s is not in the address space of any VNet visible here.", a)
		res.add(Check{Name: name, Result: Fail, Detail: detail})
		res.block(code, which, detail, fmt.Sprintf("Check the %s address; visible are the environment's provider networks' VNets, the VNets peered with them and the VNets peered with those.", which))
		res.finish()
		return nil, false
	}
	names := make([]string, len(cands))
	for i, v := range cands {
		names[i] = v.name + " (" + v.id + ")"
	}
	res.add(Check{Name: name, Result: Info,
		Detail: fmt.Sprintf("%s is in the address spaces of %d VNets: %s; the address does not pin a path.", a, len(cands), strings.Join(names, ", "))})
	res.Verdict = Ambiguous
	res.finish()
	return nil, false
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func halfState(h *half) string {
	if h == nil {
		return "-"
	}
	return h.PeeringState
}

func connected(h *half) bool { return h != nil && h.PeeringState == PeeringConnected }

func peeringHop(a, b *vnet, ab, ba *half) Hop {
	h := Hop{Kind: HopPeering, State: halfState(ab) + "/" + halfState(ba)}
	switch {
	case ab != nil:
		h.ID, h.Name = ab.ID, ab.Name
	case ba != nil:
		h.ID, h.Name = ba.ID, ba.Name
	}
	if h.Name == "" {
		h.Name = a.name + " <-> " + b.name
	}
	return h
}

func vnetHop(v *vnet) Hop { return Hop{Kind: HopVNet, ID: v.id, Name: v.name} }

// path checks that traffic can go from srcV to dstV: the same VNet, or a
// direct peering with both halves Connected.
func (e *Engine) path(res *Result, f *flow, srcV, dstV *vnet) {
	if srcV == dstV {
		res.Hops = []Hop{vnetHop(srcV)}
		res.add(Check{Name: "path", Component: srcV.id, Result: Pass, Detail: fmt.Sprintf("Both ends are in VNet %s: no peering needed.", srcV.name)})
		return
	}
	ab, ba := e.pairs[pair{srcV, dstV}], e.pairs[pair{dstV, srcV}]
	res.Hops = []Hop{vnetHop(srcV), peeringHop(srcV, dstV, ab, ba), vnetHop(dstV)}
	cp := e.control[pair{srcV, dstV}]
	if connected(ab) && connected(ba) {
		res.add(Check{Name: "peering", Component: ab.ID, Result: Pass,
			Detail: fmt.Sprintf("VNets %s and %s are peered directly; both halves (%s, %s) are Connected.", srcV.name, dstV.name, ab.Name, ba.Name)})
		if cp != nil && cp.Phase != "" && cp.Phase != "READY" {
			res.add(Check{Name: "control_peering", Component: cp.ID, Result: Info,
				Detail: fmt.Sprintf("Peering %s is %s in the control plane, though both Azure halves are Connected.", cp.ID, cp.Phase)})
		}
		return
	}
	if cp != nil && cp.Phase != "READY" && cp.Phase != "DISCONNECTED" {
		detail := fmt.Sprintf("Peering %s between network %s and VNet %s is %s (Azure halves %s)", cp.ID, cp.NetworkID, cp.VNetID, cp.Phase, res.Hops[1].State)
		if cp.ErrorCode != "" {
			detail += fmt.Sprintf(": %s: %s", cp.ErrorCode, cp.ErrorMessage)
		}
		fix := fmt.Sprintf("Wait for peering %s to be READY; if it is FAILED, follow its diagnosis (peerplane network peering diagnose %s) and retry it (peerplane network peering retry %s).", cp.ID, cp.ID, cp.ID)
		res.add(Check{Name: "peering", Component: cp.ID, Result: Fail, Detail: detail + "."})
		res.block(CodePeeringNotReady, cp.ID, detail+".", fix)
		return
	}
	if ab != nil || ba != nil {
		var bad []string
		for _, x := range []struct {
			h        *half
			from, to *vnet
		}{{ab, srcV, dstV}, {ba, dstV, srcV}} {
			switch {
			case x.h == nil:
				bad = append(bad, fmt.Sprintf("the half from %s to %s does not exist", x.from.name, x.to.name))
			case x.h.PeeringState != PeeringConnected:
				bad = append(bad, fmt.Sprintf("half %s from %s to %s is %s", x.h.Name, x.from.name, x.to.name, x.h.PeeringState))
			}
		}
		detail := fmt.Sprintf("The peering between VNets %s and %s carries no traffic: %s; only a peering whose two halves are Connected does.", srcV.name, dstV.name, strings.Join(bad, ", "))
		fix := "Create the missing half (az network vnet peering create --vnet-name <vnet> --remote-vnet <other vnet id> --allow-vnet-access), or delete a Disconnected half and create both halves again."
		if cp != nil {
			fix = fmt.Sprintf("Retry peering %s (peerplane network peering retry %s): the reconciler recreates both halves.", cp.ID, cp.ID)
		}
		res.add(Check{Name: "peering", Component: res.Hops[1].ID, Result: Fail, Detail: detail})
		res.block(CodePeeringNotConnected, res.Hops[1].ID, detail, fix)
		return
	}
	// Not peered directly: is there a VNet in between?
	var mid *vnet
	var midConnected bool
	for _, m := range srcV.neighbors {
		if m == dstV {
			continue
		}
		md, dm := e.pairs[pair{m, dstV}], e.pairs[pair{dstV, m}]
		if md == nil && dm == nil {
			continue
		}
		c := connected(md) && connected(dm) && connected(e.pairs[pair{srcV, m}]) && connected(e.pairs[pair{m, srcV}])
		if mid == nil || c && !midConnected {
			mid, midConnected = m, c
		}
		if midConnected {
			break
		}
	}
	fix := e.peerFix(srcV, dstV)
	if mid != nil {
		sm, ms := e.pairs[pair{srcV, mid}], e.pairs[pair{mid, srcV}]
		md, dm := e.pairs[pair{mid, dstV}], e.pairs[pair{dstV, mid}]
		res.Hops = []Hop{vnetHop(srcV), peeringHop(srcV, mid, sm, ms), vnetHop(mid), peeringHop(mid, dstV, md, dm), vnetHop(dstV)}
		var flags []string
		for _, h := range []*half{sm, ms, md, dm} {
			if h == nil {
				continue
			}
			if h.AllowForwardedTraffic {
				flags = append(flags, h.Name+" allowForwardedTraffic")
			}
			if h.AllowGatewayTransit {
				flags = append(flags, h.Name+" allowGatewayTransit")
			}
			if h.UseRemoteGateways {
				flags = append(flags, h.Name+" useRemoteGateways")
			}
		}
		detail := fmt.Sprintf("VNet %s is not peered with VNet %s; it is peered with VNet %s, which is peered with %s, and VNet peering is not transitive.", srcV.name, dstV.name, mid.name, dstV.name)
		if len(flags) > 0 {
			detail += fmt.Sprintf(" Forwarded traffic and gateway transit do not make it so (set: %s).", strings.Join(flags, ", "))
		}
		res.add(Check{Name: "peering", Component: mid.id, Result: Fail, Detail: detail})
		res.block(CodeTransitivePeering, mid.id, detail, fix)
		return
	}
	detail := fmt.Sprintf("VNets %s and %s are not peered.", srcV.name, dstV.name)
	res.add(Check{Name: "peering", Component: dstV.id, Result: Fail, Detail: detail})
	res.block(CodeNotPeered, dstV.id, detail, fix)
}

// peerFix says how to peer a and b directly.
func (e *Engine) peerFix(a, b *vnet) string {
	if a.network != nil && b.network != nil {
		return fmt.Sprintf("Networks %s and %s are both provider networks; they cannot be peered with each other.", a.network.ID, b.network.ID)
	}
	n, c := a.network, b
	if n == nil {
		n, c = b.network, a
	}
	if n != nil {
		return fmt.Sprintf("Peer VNet %s directly with network %s: peerplane network peering create --network %s --cloud azure --cloud-account <tenant id> --virtual-network %s --customer-region <region>, then grant access as its diagnosis says.", c.name, n.ID, n.ID, c.id)
	}
	return fmt.Sprintf("Peer VNets %s and %s directly, both halves: az network vnet peering create --vnet-name %s --name %s-to-%s --remote-vnet %s --allow-vnet-access, and the same from %s to %s.", a.name, b.name, a.name, a.name, b.name, b.id, b.name, a.name)
}

// nsgCheck evaluates the NSG of v's subnet holding the end's address:
// outbound at the source, inbound at the destination.
func (e *Engine) nsgCheck(res *Result, f *flow, v *vnet, inbound bool) {
	a, name, dir := f.src, "nsg_outbound", "Outbound"
	if inbound {
		a, name, dir = f.dst, "nsg_inbound", "Inbound"
	}
	s := v.subnetOf(a)
	switch {
	case s == nil:
		res.add(Check{Name: name, Component: v.id, Result: Skip, Detail: fmt.Sprintf("%s is in no subnet of VNet %s: no subnet NSG applies.", a, v.name)})
		return
	case s.nsgID == "":
		res.add(Check{Name: name, Component: v.id, Result: Pass, Detail: fmt.Sprintf("Subnet %s of VNet %s has no NSG: %s traffic is not filtered.", s.name, v.name, strings.ToLower(dir))})
		return
	case s.nsg == nil:
		res.add(Check{Name: name, Component: s.nsgID, Result: Skip, Detail: fmt.Sprintf("Subnet %s of VNet %s names NSG %s, which is not visible; its rules were not evaluated.", s.name, v.name, s.nsgID)})
		return
	}
	n := s.nsg
	rules := n.outbound
	if inbound {
		rules = n.inbound
	}
	var r *rule
	var unmodelled []string
	for i := range rules {
		if e.matches(&rules[i], f, v) {
			r = &rules[i]
			break
		}
		if len(rules[i].unknown) > 0 {
			unmodelled = append(unmodelled, fmt.Sprintf("%s (%s)", rules[i].name, strings.Join(rules[i].unknown, ", ")))
		}
	}
	flowText := fmt.Sprintf("%s %s -> %s", strings.ToUpper(f.proto), f.src, f.dst)
	if f.proto != "icmp" {
		flowText += ":" + strconv.Itoa(f.port)
	}
	if r == nil { // cannot happen: DenyAll matches everything
		return
	}
	kind := "rule"
	if r.isDef {
		kind = "default rule"
	}
	access := "Deny"
	if r.allow {
		access = "Allow"
	}
	detail := fmt.Sprintf("NSG %s on subnet %s of VNet %s, %s: %s %s (priority %d, %s) is the first match for %s.", n.name, s.name, v.name, dir, kind, r.name, r.priority, access, flowText)
	if len(unmodelled) > 0 {
		detail += fmt.Sprintf(" Rules with service tags that are not modelled were treated as not matching: %s.", strings.Join(unmodelled, "; "))
	}
	if r.allow {
		res.add(Check{Name: name, Component: n.id, Result: Pass, Detail: detail})
		return
	}
	res.add(Check{Name: name, Component: n.id, Result: Fail, Detail: detail})
	res.block(CodeNSGDeny, n.id, detail, nsgFix(n, r, f, inbound))
}

func nsgFix(n *nsg, r *rule, f *flow, inbound bool) string {
	dir := "Outbound"
	if inbound {
		dir = "Inbound"
	}
	rg := azureid.ResourceGroupOf(n.id)
	if rg == "" {
		rg = "<resource group>"
	}
	proto := "*"
	switch f.proto {
	case "tcp":
		proto = "Tcp"
	case "udp":
		proto = "Udp"
	case "icmp":
		proto = "Icmp"
	}
	ports := "'*'"
	if f.proto != "icmp" {
		ports = strconv.Itoa(f.port)
	}
	prio := "<a free priority from 100 to 4096>"
	if !r.isDef {
		if r.priority <= 100 {
			prio = ""
		} else {
			prio = fmt.Sprintf("<a free priority below %d>", r.priority)
		}
	}
	create := fmt.Sprintf("az network nsg rule create -g %s --nsg-name %s -n Allow-%s-%s --priority %s --direction %s --access Allow --protocol %s --source-address-prefixes %s --destination-address-prefixes %s --destination-port-ranges %s",
		rg, n.name, strings.ReplaceAll(f.src.String(), ":", "-"), strings.ReplaceAll(f.dst.String(), ":", "-"), prio, dir, proto, f.src, f.dst, ports)
	switch {
	case r.isDef:
		return fmt.Sprintf("Add an %s Allow rule to NSG %s that matches this flow: %s.", strings.ToLower(dir), n.name, create)
	case prio == "":
		return fmt.Sprintf("Remove or narrow rule %s of NSG %s (az network nsg rule delete -g %s --nsg-name %s -n %s); its priority %d leaves no room for an Allow rule before it.", r.name, n.name, rg, n.name, r.name, r.priority)
	}
	return fmt.Sprintf("Remove or narrow rule %s of NSG %s (az network nsg rule delete -g %s --nsg-name %s -n %s), or add an Allow rule with a lower priority number: %s.", r.name, n.name, rg, n.name, r.name, create)
}

// matches reports whether r matches f, evaluated in the NSG's VNet v.
func (e *Engine) matches(r *rule, f *flow, v *vnet) bool {
	if r.proto != "*" && r.proto != f.proto {
		return false
	}
	if f.proto != "icmp" {
		if !portsMatch(r.dstPorts, f.port) {
			return false
		}
		if f.srcPort == 0 {
			if !coversAll(r.srcPorts) {
				return false
			}
		} else if !portsMatch(r.srcPorts, f.srcPort) {
			return false
		}
	}
	return e.addrMatches(r.src, f.src, f.srcC, v) && e.addrMatches(r.dst, f.dst, f.dstC, v)
}

func portsMatch(rs []portRange, p int) bool {
	for _, r := range rs {
		if r.lo <= p && p <= r.hi {
			return true
		}
	}
	return false
}

func coversAll(rs []portRange) bool {
	for _, r := range rs {
		if r.lo <= 1 && r.hi >= 65535 {
			return true
		}
	}
	return false
}

func (e *Engine) addrMatches(ms []addrMatch, a netip.Addr, cands []*vnet, v *vnet) bool {
	for i := range ms {
		m := &ms[i]
		switch m.kind {
		case matchAny:
			return true
		case matchPrefix:
			if m.prefix.Contains(a) {
				return true
			}
		case matchVirtualNetwork:
			if e.inVirtualNetwork(v, a, cands) {
				return true
			}
		case matchInternet:
			if isPublic(a) && !e.inVirtualNetwork(v, a, cands) {
				return true
			}
		case matchLoadBalancer:
			if a == azureLoadBalancer {
				return true
			}
		}
	}
	return false
}

// inVirtualNetwork reports whether a is in the VirtualNetwork tag of v:
// v's address space and the address spaces of VNets peered with v by a
// Connected half of v's that allows virtual network access. cands are the
// VNets holding a.
func (e *Engine) inVirtualNetwork(v *vnet, a netip.Addr, cands []*vnet) bool {
	if containsAny(v.prefixes, a) {
		return true
	}
	for _, c := range cands {
		if c == v {
			continue
		}
		h := e.pairs[pair{v, c}]
		if h == nil || h.PeeringState != PeeringConnected || !h.AllowVirtualNetworkAccess {
			continue
		}
		if len(h.remoteSpace) == 0 || containsAny(h.remoteSpace, a) {
			return true
		}
	}
	return false
}

// isPublic approximates the Internet tag's address space: IPv4 outside
// NotInternet4, and global unicast IPv6 outside the unique local range.
func isPublic(a netip.Addr) bool {
	if a.Is4() {
		return !containsAny(NotInternet4, a)
	}
	return a.IsGlobalUnicast() && !a.IsPrivate()
}
