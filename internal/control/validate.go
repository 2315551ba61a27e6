package control

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/peerplane/peerplane/internal/azureid"
)

func itoa(i int) string { return strconv.Itoa(i) }

// parseIPv4Prefix parses an IPv4 CIDR block in dotted form whose host bits
// are zero.
func parseIPv4Prefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("not an IPv4 prefix")
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("host bits set; did you mean %s?", p.Masked())
	}
	return p, nil
}

// PrefixesOverlap reports whether two CIDR blocks share an address. Blocks
// that do not parse never overlap.
func PrefixesOverlap(a, b string) bool {
	pa, err1 := netip.ParsePrefix(a)
	pb, err2 := netip.ParsePrefix(b)
	return err1 == nil && err2 == nil && pa.Masked().Overlaps(pb.Masked())
}

// ValidateNetworkCIDR checks a network CIDR: an IPv4 /16 with no host bits,
// inside RFC 1918 or 100.64.0.0/10, overlapping no reserved range. It
// returns the canonical form. Errors are EINVALID on /spec/cidr.
func (s Settings) ValidateNetworkCIDR(cidr string) (string, error) {
	const field = "/spec/cidr"
	if cidr == "" {
		return "", FieldErrorf(EINVALID, field, "CIDR is required for a network with connection type PEERING.")
	}
	p, err := parseIPv4Prefix(cidr)
	if err != nil {
		return "", FieldErrorf(EINVALID, field, "CIDR %q is not a valid IPv4 CIDR block: %v.", cidr, err)
	}
	if p.Bits() != 16 {
		return "", FieldErrorf(EINVALID, field, "CIDR %q must be a /16.", cidr)
	}
	if !azureid.InPrivateRange(p) {
		return "", FieldErrorf(EINVALID, field, "CIDR %q must lie inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918) or 100.64.0.0/10 (RFC 6598).", cidr)
	}
	for _, r := range s.ReservedCIDRs {
		if PrefixesOverlap(p.String(), r) {
			return "", FieldErrorf(EINVALID, field, "CIDR %q overlaps the reserved range %s; reserved ranges are %s.", cidr, r, strings.Join(s.ReservedCIDRs, ", "))
		}
	}
	return p.String(), nil
}

// CheckNetworkOverlap returns EINVALID on /spec/cidr when cidr overlaps the
// CIDR of another network in siblings (the networks of the same
// environment); a network never overlaps itself (same ID).
func CheckNetworkOverlap(id, cidr string, siblings []*Network) error {
	for _, n := range siblings {
		if n.ID != id && PrefixesOverlap(cidr, n.CIDR) {
			return FieldErrorf(EINVALID, "/spec/cidr", "CIDR %s overlaps network %s (%s) in the same environment.", cidr, n.ID, n.CIDR)
		}
	}
	return nil
}

// ValidateName checks a name people read: what ("Display name") names it
// in the message. At most 255 characters of valid UTF-8, none of them a
// character that hides or reorders text (hiddenRune): a name must read as
// what it is. Errors are EINVALID on field naming the character.
// Every name in the domain goes through it: display names of environments,
// networks, peerings, clusters; organization names; API key descriptions.
func ValidateName(field, what, name string) error {
	if !utf8.ValidString(name) {
		return FieldErrorf(EINVALID, field, "%s must be valid UTF-8.", what)
	}
	if utf8.RuneCountInString(name) > 255 {
		return FieldErrorf(EINVALID, field, "%s must be at most 255 characters.", what)
	}
	for _, c := range name {
		if kind := hiddenRune(c); kind != "" {
			return FieldErrorf(EINVALID, field, "%s must not contain %s (U+%04X): names may not hold control, bidirectional or zero-width characters.", what, kind, c)
		}
	}
	return nil
}

// ValidateDisplayName checks an optional display name (ValidateName).
func ValidateDisplayName(field, name string) error {
	return ValidateName(field, "Display name", name)
}

// hiddenRune returns what kind of character c is when it may not appear in
// a name, "" when it may: control characters (C0, DEL, C1) and the line and
// paragraph separators; bidirectional controls (U+061C, U+200E, U+200F,
// U+202A–U+202E, U+2066–U+2069), which reorder what a reader sees; and
// zero-width characters (U+200B–U+200D, U+2060, U+FEFF), which hide in it.
func hiddenRune(c rune) string {
	switch {
	case unicode.IsControl(c), c == 0x2028, c == 0x2029:
		return "a control character"
	case c == 0x061C, c == 0x200E, c == 0x200F, c >= 0x202A && c <= 0x202E, c >= 0x2066 && c <= 0x2069:
		return "a bidirectional control character"
	case c >= 0x200B && c <= 0x200D, c == 0x2060, c == 0xFEFF:
		return "a zero-width character"
	}
	return ""
}

// ValidateOrganizationName checks an organization's display name as
// Confluent does: 1–31 characters, none of <>#%'*^`{|}~", and a name
// (ValidateName).
func ValidateOrganizationName(field, name string) error {
	if name == "" || utf8.RuneCountInString(name) > 31 || strings.ContainsAny(name, "<>#%'*^`{|}~\"") {
		return FieldErrorf(EINVALID, field, "Organization name must be 1 to 31 characters, none of <>#%%'*^`{|}~\".")
	}
	return ValidateName(field, "Organization name", name)
}

// ValidateGUID returns EINVALID on field unless value is a GUID
// (azureid.IsGUID); what names the thing ("Tenant ID") in the message.
func ValidateGUID(field, what, value string) error {
	if !azureid.IsGUID(value) {
		return FieldErrorf(EINVALID, field, "%s %q must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).", what, value)
	}
	return nil
}

// ValidateResourceGroupName returns EINVALID on field unless name is an
// Azure resource group name (azureid.IsResourceGroupName): 1–90 letters,
// digits, '_', '-', '.', '(' or ')', not ending in '.'.
func ValidateResourceGroupName(field, name string) error {
	if !azureid.IsResourceGroupName(name) {
		return FieldErrorf(EINVALID, field, "Resource group name %q must be 1 to 90 letters, digits, '_', '-', '.', '(' or ')', and must not end in '.'.", name)
	}
	return nil
}

// ValidateVNetName returns EINVALID on field unless name is an Azure VNet
// name (azureid.IsVNetName): 2–64 letters, digits, '_', '-' or '.',
// starting with a letter or digit and ending with a letter, digit or '_'.
func ValidateVNetName(field, name string) error {
	if !azureid.IsVNetName(name) {
		return FieldErrorf(EINVALID, field, "VNet name %q must be 2 to 64 letters, digits, '_', '-' or '.', start with a letter or digit, and end with a letter, digit or '_'.", name)
	}
	return nil
}

// ParseVNetID parses a VNet's resource id
// (/subscriptions/{guid}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name},
// azureid.ParseVNetID) and validates its parts: a GUID subscription, a
// resource group name and a VNet name. Errors are EINVALID on field,
// naming the part at fault.
func ParseVNetID(field, id string) (azureid.ResourceID, error) {
	v, err := azureid.ParseVNetID(id)
	if err != nil {
		return azureid.ResourceID{}, FieldErrorf(EINVALID, field, "VNet %q must be a VNet resource id: /subscriptions/<subscription id>/resourceGroups/<resource group>/providers/Microsoft.Network/virtualNetworks/<vnet name>.", id)
	}
	if err := ValidateGUID(field, "Subscription ID", v.SubscriptionID); err != nil {
		return azureid.ResourceID{}, err
	}
	if err := ValidateResourceGroupName(field, v.ResourceGroup); err != nil {
		return azureid.ResourceID{}, err
	}
	if err := ValidateVNetName(field, v.Name); err != nil {
		return azureid.ResourceID{}, err
	}
	return v, nil
}

// VNetKey is the form of a VNet resource id under which uniqueness is
// checked: Azure names are case-insensitive.
func VNetKey(id string) string { return strings.ToLower(id) }

// ValidateRegion returns EINVALID on field unless region is in the list.
func (s Settings) ValidateRegion(field, region string) error {
	if region == "" {
		return FieldErrorf(EINVALID, field, "Region is required.")
	}
	if !s.HasRegion(region) {
		return FieldErrorf(EINVALID, field, "Region %q is not a supported Azure region.", region)
	}
	return nil
}

// ValidateNetwork checks a network to be created and canonicalises it in
// place: cloud AZURE, region from the list, connection types containing
// PEERING, zones ["1","2","3"] (the default), a valid /16 CIDR. Errors are
// EINVALID naming the field.
func (s Settings) ValidateNetwork(n *Network) error {
	if err := ValidateDisplayName("/spec/display_name", n.DisplayName); err != nil {
		return err
	}
	if n.EnvironmentID == "" {
		return FieldErrorf(EINVALID, "/spec/environment/id", "Environment is required.")
	}
	if n.Cloud == "" {
		return FieldErrorf(EINVALID, "/spec/cloud", "Cloud is required.")
	}
	if !strings.EqualFold(n.Cloud, CloudAzure) {
		return FieldErrorf(EINVALID, "/spec/cloud", "Cloud %q is not supported; only AZURE is.", n.Cloud)
	}
	n.Cloud = CloudAzure
	if err := s.ValidateRegion("/spec/region", n.Region); err != nil {
		return err
	}
	if len(n.ConnectionTypes) == 0 {
		return FieldErrorf(EINVALID, "/spec/connection_types", "Connection types are required and must contain PEERING.")
	}
	seen := map[string]bool{}
	for i, t := range n.ConnectionTypes {
		t = strings.ToUpper(t)
		if t != ConnectionTypePeering && t != "PRIVATELINK" {
			return FieldErrorf(EINVALID, "/spec/connection_types/"+itoa(i), "Connection type %q is not supported on Azure here; use PEERING.", n.ConnectionTypes[i])
		}
		if seen[t] {
			return FieldErrorf(EINVALID, "/spec/connection_types/"+itoa(i), "Connection type %q is listed twice.", t)
		}
		seen[t] = true
		n.ConnectionTypes[i] = t
	}
	if !seen[ConnectionTypePeering] {
		return FieldErrorf(EINVALID, "/spec/connection_types", "Connection types must contain PEERING.")
	}
	if len(n.Zones) == 0 {
		n.Zones = append([]string(nil), AzureZones...)
	} else if !sameSet(n.Zones, AzureZones) {
		return FieldErrorf(EINVALID, "/spec/zones", "Zones of an Azure network must be [\"1\",\"2\",\"3\"].")
	} else {
		n.Zones = append([]string(nil), AzureZones...)
	}
	cidr, err := s.ValidateNetworkCIDR(n.CIDR)
	if err != nil {
		return err
	}
	n.CIDR = cidr
	return nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		if m[x] == 0 {
			return false
		}
		m[x]--
	}
	return true
}

// ValidatePeering checks a peering to be created and canonicalises it in
// place: cloud AZURE, tenant a GUID, the VNet a valid resource id (GUID
// subscription, valid resource group and VNet names), customer region from
// the list. Errors are EINVALID naming the field.
func (s Settings) ValidatePeering(p *Peering) error {
	if err := ValidateDisplayName("/spec/display_name", p.DisplayName); err != nil {
		return err
	}
	if p.EnvironmentID == "" {
		return FieldErrorf(EINVALID, "/spec/environment/id", "Environment is required.")
	}
	if p.NetworkID == "" {
		return FieldErrorf(EINVALID, "/spec/network/id", "Network is required.")
	}
	if p.Cloud != "" && !strings.EqualFold(p.Cloud, CloudAzure) {
		return FieldErrorf(EINVALID, "/spec/cloud/kind", "Peering kind for cloud %q is not supported; only AzurePeering is.", p.Cloud)
	}
	p.Cloud = CloudAzure
	if p.Tenant == "" {
		return FieldErrorf(EINVALID, "/spec/cloud/tenant", "Tenant is required.")
	}
	if err := ValidateGUID("/spec/cloud/tenant", "Tenant ID", p.Tenant); err != nil {
		return err
	}
	p.Tenant = strings.ToLower(p.Tenant)
	if p.VNet == "" {
		return FieldErrorf(EINVALID, "/spec/cloud/vnet", "VNet is required.")
	}
	v, err := ParseVNetID("/spec/cloud/vnet", p.VNet)
	if err != nil {
		return err
	}
	p.VNet = azureid.VNetID(v.SubscriptionID, v.ResourceGroup, v.Name)
	if err := s.ValidateRegion("/spec/cloud/customer_region", p.CustomerRegion); err != nil {
		return err
	}
	return nil
}

// CheckPeeringUnique returns ECONFLICT on /spec/cloud/vnet when another
// peering in existing (the peerings of the same network) targets the same
// VNet.
func CheckPeeringUnique(p *Peering, existing []*Peering) error {
	for _, e := range existing {
		if e.ID != p.ID && VNetKey(e.VNet) == VNetKey(p.VNet) {
			return FieldErrorf(ECONFLICT, "/spec/cloud/vnet", "Network %s already has peering %s with VNet %s.", p.NetworkID, e.ID, e.VNet)
		}
	}
	return nil
}

// ValidateCluster checks a Dedicated cluster to be created in network n and
// canonicalises it in place: the network is in the cluster's environment and
// not failed or being deleted; cloud and region match the network's (and
// default to them); availability SINGLE_ZONE (default) or MULTI_ZONE; at
// least 1 CKU, 2 for MULTI_ZONE. Errors are EINVALID naming the field.
func (s Settings) ValidateCluster(c *Cluster, n *Network) error {
	if err := ValidateDisplayName("/spec/display_name", c.DisplayName); err != nil {
		return err
	}
	if n.EnvironmentID != c.EnvironmentID {
		return FieldErrorf(EINVALID, "/spec/network/id", "Network %s is not in environment %s.", n.ID, c.EnvironmentID)
	}
	if n.Status.Phase == PhaseFailed || n.Status.Phase == PhaseDeprovisioning {
		return FieldErrorf(EINVALID, "/spec/network/id", "Network %s is %s; clusters can only be placed in a network that is PROVISIONING or READY.", n.ID, n.Status.Phase)
	}
	if c.Cloud == "" {
		c.Cloud = n.Cloud
	} else if !strings.EqualFold(c.Cloud, n.Cloud) {
		return FieldErrorf(EINVALID, "/spec/cloud", "Cloud %q does not match the network's cloud %s.", c.Cloud, n.Cloud)
	}
	c.Cloud = n.Cloud
	if c.Region == "" {
		c.Region = n.Region
	} else if c.Region != n.Region {
		return FieldErrorf(EINVALID, "/spec/region", "Region %q does not match the network's region %s.", c.Region, n.Region)
	}
	switch strings.ToUpper(c.Availability) {
	case "", AvailabilitySingleZone, "LOW":
		c.Availability = AvailabilitySingleZone
	case AvailabilityMultiZone, "HIGH":
		c.Availability = AvailabilityMultiZone
	default:
		return FieldErrorf(EINVALID, "/spec/availability", "Availability %q is not supported; use SINGLE_ZONE or MULTI_ZONE.", c.Availability)
	}
	return ValidateCKU(c.Availability, c.CKU)
}

// ValidateCKU returns EINVALID on /spec/config/cku unless cku is at least 1,
// and at least 2 for MULTI_ZONE.
func ValidateCKU(availability string, cku int) error {
	if cku < 1 {
		return FieldErrorf(EINVALID, "/spec/config/cku", "A Dedicated cluster needs at least 1 CKU.")
	}
	if availability == AvailabilityMultiZone && cku < 2 {
		return FieldErrorf(EINVALID, "/spec/config/cku", "A MULTI_ZONE Dedicated cluster needs at least 2 CKUs.")
	}
	return nil
}

// quotaError is the EQUOTA error for a quota whose limit would be exceeded.
func quotaError(quota string, limit int, detail string) error {
	return &Error{Code: EQUOTA, Message: fmt.Sprintf("The request would exceed the quota: %s (limit %d). %s", quota, limit, detail)}
}

// CheckEnvironmentQuota returns EQUOTA when an organization with count
// environments may not get another.
func (s Settings) CheckEnvironmentQuota(count int) error {
	if count >= s.EnvironmentsPerOrg {
		return quotaError(QuotaEnvironmentsPerOrg, s.EnvironmentsPerOrg, "Delete an environment or ask the operator to raise the quota.")
	}
	return nil
}

// CheckNetworkQuota returns EQUOTA when an environment with count networks
// may not get another.
func (s Settings) CheckNetworkQuota(count int) error {
	if count >= s.NetworksPerEnvironment {
		return quotaError(QuotaNetworksPerEnvironment, s.NetworksPerEnvironment, "Delete a network or ask the operator to raise the quota.")
	}
	return nil
}

// CheckPeeringQuota returns EQUOTA when a network with count peerings may
// not get another.
func (s Settings) CheckPeeringQuota(count int) error {
	if count >= s.PeeringsPerNetwork {
		return quotaError(QuotaPeeringsPerNetwork, s.PeeringsPerNetwork, "Delete a peering of this network or ask the operator to raise the quota.")
	}
	return nil
}

// CheckClusterQuota returns EQUOTA when cluster c (new, or resized when its
// ID is among them) does not fit: envClusters are the clusters of its
// environment, netClusters those of its network.
func (s Settings) CheckClusterQuota(c *Cluster, envClusters, netClusters []*Cluster) error {
	envCount := 1
	for _, e := range envClusters {
		if e.ID != c.ID {
			envCount++
		}
	}
	if envCount > s.ClustersPerEnvironment {
		return quotaError(QuotaKafkaClustersPerEnvironment, s.ClustersPerEnvironment, "Delete a cluster in this environment or ask the operator to raise the quota.")
	}
	count, ckus := 1, c.CKU
	for _, e := range netClusters {
		if e.ID != c.ID {
			count++
			ckus += e.CKU
		}
	}
	if count > s.ClustersPerNetwork {
		return quotaError(QuotaDedicatedClustersPerNetwork, s.ClustersPerNetwork,
			fmt.Sprintf("Network %s already holds %d clusters, its budget.", c.NetworkID, count-1))
	}
	if ckus > s.CKUsPerNetwork {
		return quotaError(QuotaDedicatedCKUsPerNetwork, s.CKUsPerNetwork,
			fmt.Sprintf("Network %s would hold %d CKUs, over its budget of %d CKUs (%d in use).", c.NetworkID, ckus, s.CKUsPerNetwork, ckus-c.CKU))
	}
	return nil
}

// CheckVNetAddressSpace is the checklist's address-space step for peering
// p of network n: prefixes are the customer VNet's address prefixes, peered
// maps the id of every other VNet already peered with the network to its
// prefixes. The check fails with PeeringInvalidAddressSpace for a prefix
// outside RFC 1918 and RFC 6598, PeeringAddressSpaceOverlap for a prefix
// overlapping the network CIDR or a peered VNet, naming the prefixes.
func CheckVNetAddressSpace(p *Peering, n *Network, prefixes []string, peered map[string][]string) Check {
	vnet := VNetRef(p.VNet)
	for _, s := range prefixes {
		pfx, err := netip.ParsePrefix(s)
		if err != nil || !pfx.Addr().Is4() {
			return FailCheck(StepAddressSpace, PeeringInvalidAddressSpace,
				fmt.Sprintf("Address prefix %q of VNet %s is not an IPv4 CIDR block.", s, vnet),
				"Fix the VNet's address space, or peer another VNet.")
		}
		if !azureid.InPrivateRange(pfx.Masked()) {
			return FailCheck(StepAddressSpace, PeeringInvalidAddressSpace,
				fmt.Sprintf("Address prefix %s of VNet %s is outside RFC 1918 (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) and RFC 6598 (100.64.0.0/10).", s, vnet),
				fmt.Sprintf("Peering needs private address space: remove %s from the VNet's address space, or peer another VNet.", s))
		}
		if PrefixesOverlap(s, n.CIDR) {
			return FailCheck(StepAddressSpace, PeeringAddressSpaceOverlap,
				fmt.Sprintf("Address prefix %s of VNet %s overlaps network %s's CIDR %s.", s, vnet, n.ID, n.CIDR),
				fmt.Sprintf("Peer a VNet whose address space does not overlap %s, or create a network with another CIDR.", n.CIDR))
		}
		vnets := make([]string, 0, len(peered))
		for v := range peered {
			vnets = append(vnets, v)
		}
		sort.Strings(vnets)
		for _, other := range vnets {
			for _, o := range peered[other] {
				if PrefixesOverlap(s, o) {
					return FailCheck(StepAddressSpace, PeeringAddressSpaceOverlap,
						fmt.Sprintf("Address prefix %s of VNet %s overlaps prefix %s of VNet %s, already peered with network %s.", s, vnet, o, VNetRef(other), n.ID),
						fmt.Sprintf("The VNets peered with a network need address spaces of their own: remove %s from the VNet, or peer a VNet that does not overlap %s.", s, o))
				}
			}
		}
	}
	return PassCheck(StepAddressSpace, fmt.Sprintf("%s is private and overlaps neither network %s's CIDR %s nor the VNets already peered with it.",
		strings.Join(prefixes, ", "), n.ID, n.CIDR))
}
