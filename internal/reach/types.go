// Package reach answers "can address A reach address B on port P, and if
// not, why" over a snapshot of Azure's network state (VNets, subnets,
// peerings, network security groups) and the control plane's provider
// networks, clusters and peerings.
//
// It is pure: it reads only the World it is given, never the embedded
// Azure's memory. The control plane obtains the snapshot through Azure's
// API (or the embedded Azure's /_emulator/network-snapshot route) and
// builds an Engine from it; a query then costs O(rules on the path), not
// O(world): addresses resolve through a hash table per prefix length,
// peerings by (VNet, VNet) pair, and each NSG's rules are pre-sorted by
// priority.
//
// Azure's semantics modelled here:
//   - Traffic between two VNets flows only over a peering whose two halves
//     are both Connected, and only between the two VNets it joins. Peering
//     is not transitive: allowForwardedTraffic, allowGatewayTransit and
//     useRemoteGateways do not change that (forwarding needs a network
//     virtual appliance and user-defined routes, gateway transit concerns
//     VPN/ExpressRoute gateways; neither is modelled, so neither carries
//     VNet-to-VNet traffic here).
//   - NSGs on subnets filter: outbound at the source subnet, inbound at the
//     destination subnet; rules in priority order, first match wins, then
//     the default rules (AllowVnetInBound, AllowAzureLoadBalancerInBound,
//     DenyAllInBound and the outbound twins AllowVnetOutBound,
//     AllowInternetOutBound, DenyAllOutBound).
//   - Service tags: VirtualNetwork (the VNet's address space and the
//     address spaces of VNets peered with it by a Connected half that
//     allows virtual network access), Internet (public addresses outside
//     VirtualNetwork), AzureLoadBalancer (168.63.129.16), and * / Any.
//     Other tags are not modelled: they never match, and the check says so.
package reach

import (
	"fmt"
	"net/netip"
)

// Snapshot is Azure's network state. Its JSON is what the embedded Azure's
// /_emulator/network-snapshot route returns; field names follow the
// emulator's model (and ARM's property names).
type Snapshot struct {
	VirtualNetworks []VNet    `json:"virtualNetworks"`
	Peerings        []Peering `json:"peerings"`
	NSGs            []NSG     `json:"networkSecurityGroups"`
}

// VNet is a virtual network.
type VNet struct {
	ID              string   `json:"id"`
	SubscriptionID  string   `json:"subscriptionId,omitempty"`
	Name            string   `json:"name"`
	AddressPrefixes []string `json:"addressPrefixes"`
	Subnets         []Subnet `json:"subnets,omitempty"`
	// Tags are the VNet's tags (ConfluentEnvIDs lists the environments its
	// owner lets peer with it); the engine does not read them.
	Tags map[string]string `json:"tags,omitempty"`
}

// Subnet is a subnet of a VNet.
type Subnet struct {
	Name            string   `json:"name"`
	AddressPrefix   string   `json:"addressPrefix,omitempty"`
	AddressPrefixes []string `json:"addressPrefixes,omitempty"`
	// NetworkSecurityGroup is the resource id of the subnet's NSG, if any.
	NetworkSecurityGroup string `json:"networkSecurityGroup,omitempty"`
}

// Peering states, as Azure spells them.
const (
	PeeringInitiated    = "Initiated"
	PeeringConnected    = "Connected"
	PeeringDisconnected = "Disconnected"
)

// Peering is one half of a VNet peering: the link from VNetID to
// RemoteVNetID.
type Peering struct {
	ID                        string   `json:"id"`
	VNetID                    string   `json:"vnetId"`
	Name                      string   `json:"name"`
	RemoteVNetID              string   `json:"remoteVnetId"`
	AllowVirtualNetworkAccess bool     `json:"allowVirtualNetworkAccess"`
	AllowForwardedTraffic     bool     `json:"allowForwardedTraffic"`
	AllowGatewayTransit       bool     `json:"allowGatewayTransit"`
	UseRemoteGateways         bool     `json:"useRemoteGateways"`
	PeeringState              string   `json:"peeringState"`
	RemoteAddressSpace        []string `json:"remoteAddressSpace,omitempty"`
}

// NSG is a network security group.
type NSG struct {
	ID            string         `json:"id"`
	Name          string         `json:"name"`
	SecurityRules []SecurityRule `json:"securityRules,omitempty"`
}

// SecurityRule is a rule of an NSG. Address prefixes are CIDRs, addresses or
// service tags; port ranges are "*", "n" or "n-m".
type SecurityRule struct {
	Name                       string   `json:"name"`
	Priority                   int      `json:"priority"`
	Direction                  string   `json:"direction"` // Inbound | Outbound
	Access                     string   `json:"access"`    // Allow | Deny
	Protocol                   string   `json:"protocol"`  // Tcp | Udp | Icmp | Esp | Ah | *
	SourceAddressPrefixes      []string `json:"sourceAddressPrefixes"`
	DestinationAddressPrefixes []string `json:"destinationAddressPrefixes"`
	SourcePortRanges           []string `json:"sourcePortRanges"`
	DestinationPortRanges      []string `json:"destinationPortRanges"`
}

// Network is a provider network: its CIDR is the address space of its
// provider VNet, VNetID (empty until the VNet exists).
type Network struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	CIDR   string `json:"cidr"`
	VNetID string `json:"vnet_id,omitempty"`
	Phase  string `json:"phase,omitempty"`
}

// Cluster is a Dedicated cluster whose endpoint lies in its network, e.g.
// "SASL_SSL://10.200.17.34:9092" (empty until provisioned).
type Cluster struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	NetworkID string `json:"network_id"`
	Endpoint  string `json:"endpoint,omitempty"`
	Phase     string `json:"phase,omitempty"`
}

// ControlPeering is the control plane's peering between a network and a
// customer VNet, with its phase (READY when both Azure halves are
// Connected).
type ControlPeering struct {
	ID           string `json:"id"`
	NetworkID    string `json:"network_id"`
	VNetID       string `json:"vnet_id"`
	Tenant       string `json:"tenant,omitempty"` // the customer VNet's Entra ID tenant
	Phase        string `json:"phase"`
	ErrorCode    string `json:"error_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
}

// World is everything a query reads.
type World struct {
	Snapshot
	Networks        []Network
	Clusters        []Cluster
	ControlPeerings []ControlPeering
}

// Verdicts.
const (
	Reachable   = "REACHABLE"
	Unreachable = "UNREACHABLE"
	// Ambiguous: the input does not pin a path, e.g. an address inside the
	// address spaces of two VNets.
	Ambiguous = "AMBIGUOUS"
)

// Codes of BlockedBy.
const (
	CodeSourceNotInAnyVNet      = "SOURCE_NOT_IN_ANY_VNET"
	CodeDestinationNotInAnyVNet = "DESTINATION_NOT_IN_ANY_VNET"
	CodeNotPeered               = "NOT_PEERED"
	CodeTransitivePeering       = "TRANSITIVE_PEERING_NOT_SUPPORTED"
	CodePeeringNotConnected     = "PEERING_NOT_CONNECTED"
	CodePeeringNotReady         = "PEERING_NOT_READY"
	CodeNSGDeny                 = "NSG_DENY"
)

// Check results.
const (
	Pass = "PASS"
	Fail = "FAIL"
	Info = "INFO"
	Skip = "SKIP"
)

// Query asks whether Source can open a flow to Destination (or to Cluster's
// bootstrap endpoint) on Port with Protocol.
type Query struct {
	Source      netip.Addr
	Destination netip.Addr // or Cluster
	Cluster     string
	// Port is the destination port, 1-65535; 0 with a Cluster means the
	// endpoint's port, and with Icmp it is ignored.
	Port int
	// SourcePort is the source port; 0 means an unknown ephemeral port,
	// which matches a rule only when the rule's source ports are all ports.
	SourcePort int
	// Protocol is Tcp (default), Udp or Icmp, case-insensitive.
	Protocol string
}

// Result is a query's answer.
type Result struct {
	Verdict     string   `json:"verdict"`
	Source      Endpoint `json:"source"`
	Destination Endpoint `json:"destination"`
	Protocol    string   `json:"protocol"`
	Port        int      `json:"port,omitempty"`
	// Hops is the path considered: VNET, PEERING, VNET, … .
	Hops []Hop `json:"hops"`
	// Checks is every check made, in path order.
	Checks []Check `json:"checks"`
	// BlockedBy is the first blocking check when Verdict is UNREACHABLE.
	BlockedBy *Blocker `json:"blocked_by,omitempty"`
	// Probe is a real connection attempt through the data plane, when
	// asked for (probe=true).
	Probe *Probe `json:"probe,omitempty"`
}

// Probe outcomes.
const (
	ProbeConnected = "CONNECTED"  // the TCP handshake completed
	ProbeRefused   = "REFUSED"    // the destination answered with a reset: reached, nothing listens
	ProbeTimedOut  = "TIMED_OUT"  // no answer within the timeout: dropped on the way
	ProbeNoRoute   = "NO_ROUTE"   // the network answered that the destination cannot be reached
	ProbeSkipped   = "NOT_PROBED" // no attempt was made; Detail says why
	ProbeError     = "ERROR"      // the attempt could not be made; Detail says why
)

// Probe is a real TCP connection attempt from the source to the
// destination through the data plane's namespaces, next to the model's
// verdict: the two must agree.
type Probe struct {
	Outcome string `json:"outcome"`
	// Reached is true when the packets got to the destination host
	// (CONNECTED or REFUSED).
	Reached bool `json:"reached"`
	// Agrees says whether Reached matches the verdict (REACHABLE); it is
	// absent when no attempt was made.
	Agrees     *bool   `json:"agrees,omitempty"`
	SourcePort int     `json:"source_port,omitempty"`
	ElapsedMS  float64 `json:"elapsed_ms,omitempty"`
	Detail     string  `json:"detail"`
}

// Endpoint is a resolved source or destination.
type Endpoint struct {
	Address  string `json:"address"`
	Cluster  string `json:"cluster,omitempty"`
	Network  string `json:"network,omitempty"`
	VNet     string `json:"vnet,omitempty"`
	VNetName string `json:"vnet_name,omitempty"`
	Subnet   string `json:"subnet,omitempty"`
	NSG      string `json:"nsg,omitempty"`
}

// Hop kinds.
const (
	HopVNet    = "VNET"
	HopPeering = "PEERING"
)

// Hop is one step of the path.
type Hop struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	Name string `json:"name"`
	// State is a peering hop's state: both halves' peeringState, e.g.
	// "Connected/Initiated", "-" for a missing half.
	State string `json:"state,omitempty"`
}

// Check is one check made, with its result (PASS, FAIL, INFO or SKIP).
type Check struct {
	Name      string `json:"name"`
	Component string `json:"component,omitempty"`
	Result    string `json:"result"`
	Detail    string `json:"detail"`
}

// Blocker names why a flow cannot happen and how to fix it.
type Blocker struct {
	Code      string `json:"code"`
	Component string `json:"component"`
	Detail    string `json:"detail"`
	Fix       string `json:"fix"`
}

// InputError is a query the engine cannot resolve: a bad parameter, an
// unknown cluster. Param names the query parameter.
type InputError struct {
	Param   string
	Message string
}

func (e *InputError) Error() string { return e.Param + ": " + e.Message }

func inputErrorf(param, format string, args ...any) *InputError {
	return &InputError{Param: param, Message: fmt.Sprintf(format, args...)}
}
