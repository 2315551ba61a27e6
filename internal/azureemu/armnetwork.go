package azureemu

import (
	"context"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/peerplane/peerplane/internal/azureid"
)

// Microsoft.Network: virtual networks with subnets, and network security
// groups with security rules. Peerings are in armpeering.go.

const (
	typeVNet    = "Microsoft.Network/virtualNetworks"
	typeSubnet  = "Microsoft.Network/virtualNetworks/subnets"
	typePeering = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings"
	typeNSG     = "Microsoft.Network/networkSecurityGroups"
	typeRule    = "Microsoft.Network/networkSecurityGroups/securityRules"
	typeDefRule = "Microsoft.Network/networkSecurityGroups/defaultSecurityRules"
)

var childNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$`)

// ValidateVirtualNetworkName applies Azure's rule (azureid.IsVNetName): 2–64
// letters, digits, underscores, periods and hyphens, starting with a letter
// or digit and ending with a letter, digit or underscore. Returns ARM's
// InvalidResourceName otherwise.
func ValidateVirtualNetworkName(name string) error {
	if !azureid.IsVNetName(name) {
		return errorf(400, "InvalidResourceName", "Resource name %s is invalid (field 'virtualNetworkName'). The name can be 2 to 64 characters long. It must begin with a letter or digit, end with a letter, digit or '_', and may contain only letters, digits, '_', '.' and '-'.", name)
	}
	return nil
}

func validateChildName(name, field string) error {
	if !childNameRE.MatchString(name) {
		return errorf(400, "InvalidResourceName", "Resource name %s is invalid (field '%s'). The name can be up to 80 characters long. It must begin with a word character, and it must end with a word character or with '_'. The name may contain word characters or '.', '-', '_'.", name, field)
	}
	return nil
}

func vnetID(subID, rg, name string) string {
	return rgID(subID, rg) + "/providers/Microsoft.Network/virtualNetworks/" + name
}

func nsgID(subID, rg, name string) string {
	return rgID(subID, rg) + "/providers/Microsoft.Network/networkSecurityGroups/" + name
}

func vnetNotFound(name, rg string) error {
	return errorf(http.StatusNotFound, "ResourceNotFound", "The Resource 'Microsoft.Network/virtualNetworks/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", name, rg)
}

func nsgNotFound(name, rg string) error {
	return errorf(http.StatusNotFound, "ResourceNotFound", "The Resource 'Microsoft.Network/networkSecurityGroups/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", name, rg)
}

func childNotFound(id string) error {
	return errorf(http.StatusNotFound, "NotFound", "Resource %s not found.", id)
}

// parsePrefix parses a CIDR address prefix as Azure accepts it: in CIDR
// notation, with no host bits set.
func parsePrefix(p, field, owner string) (netip.Prefix, error) {
	pf, err := netip.ParsePrefix(strings.TrimSpace(p))
	if err != nil || strings.TrimSpace(p) != p {
		return netip.Prefix{}, errorf(400, "InvalidAddressPrefixFormat", "Address prefix %s of resource %s is not formatted correctly (field '%s'). It should follow CIDR notation, for example 10.0.0.0/24.", p, owner, field)
	}
	if pf.Masked() != pf {
		return netip.Prefix{}, errorf(400, "InvalidAddressPrefix", "Value provided: %s for address prefix of resource %s is invalid (field '%s'). The prefix must be the network address of its range, such as %s.", p, owner, field, pf.Masked())
	}
	return pf, nil
}

// armOverlapping returns the first pair of armOverlapping prefixes, if any.
func armOverlapping(a, b []string) (string, bool) {
	for _, x := range a {
		px, err := netip.ParsePrefix(x)
		if err != nil {
			continue
		}
		for _, y := range b {
			py, err := netip.ParsePrefix(y)
			if err == nil && px.Overlaps(py) {
				if px.Bits() >= py.Bits() {
					return x, true
				}
				return y, true
			}
		}
	}
	return "", false
}

func armWithin(inner netip.Prefix, outer []string) bool {
	for _, o := range outer {
		po, err := netip.ParsePrefix(o)
		if err == nil && po.Bits() <= inner.Bits() && po.Contains(inner.Addr()) {
			return true
		}
	}
	return false
}

func subnetPrefixes(sn Subnet) []string {
	if len(sn.AddressPrefixes) > 0 {
		return sn.AddressPrefixes
	}
	if sn.AddressPrefix != "" {
		return []string{sn.AddressPrefix}
	}
	return nil
}

// VNetSpec describes a virtual network for PutVirtualNetwork.
type VNetSpec struct {
	SubscriptionID  string            `json:"subscriptionId"`
	ResourceGroup   string            `json:"resourceGroup"`
	Name            string            `json:"name"`
	Location        string            `json:"location"`
	AddressPrefixes []string          `json:"addressPrefixes"`
	Subnets         []Subnet          `json:"subnets,omitempty"`
	Tags            map[string]string `json:"tags,omitempty"`
}

// PutVirtualNetwork creates or updates a virtual network as the operator
// (no RBAC), with the same validation as ARM's PUT.
func (e *Emulator) PutVirtualNetwork(ctx context.Context, spec VNetSpec) (*VirtualNetwork, error) {
	var out *VirtualNetwork
	err := e.update(ctx, func(t *txn) error {
		v, _, err := e.putVNetTx(t, nil, spec)
		if err == nil {
			out = copyVNet(v)
		}
		return err
	})
	return out, err
}

func copyVNet(v *VirtualNetwork) *VirtualNetwork {
	c := *v
	c.Tags = armCopyTags(v.Tags)
	c.AddressPrefixes = append([]string(nil), v.AddressPrefixes...)
	c.Subnets = nil
	for _, sn := range v.Subnets {
		sn.AddressPrefixes = append([]string(nil), sn.AddressPrefixes...)
		c.Subnets = append(c.Subnets, sn)
	}
	return &c
}

// validateSubnets checks subnet names, prefixes (inside the address space,
// not armOverlapping each other) and NSG references; caller, when not nil,
// needs join/action on each referenced NSG.
func validateSubnets(s *state, c *Caller, id, vnetName string, space []string, subnets []Subnet) error {
	seen := map[string]bool{}
	var all []netip.Prefix
	var owners []string
	for i, sn := range subnets {
		field := "properties.subnets[" + strconv.Itoa(i) + "]"
		if err := validateChildName(sn.Name, field+".name"); err != nil {
			return err
		}
		if seen[lower(sn.Name)] {
			return errorf(400, "InvalidRequestFormat", "Cannot parse the request: the subnet name '%s' appears more than once (field '%s.name').", sn.Name, field)
		}
		seen[lower(sn.Name)] = true
		ps := subnetPrefixes(sn)
		if len(ps) == 0 {
			return errorf(400, "NoAddressPrefixOrPoolProvided", "Subnet %s/subnets/%s must have either an address prefix or an IP address pool (field '%s.properties.addressPrefix').", id, sn.Name, field)
		}
		for _, p := range ps {
			pf, err := parsePrefix(p, field+".properties.addressPrefix", id+"/subnets/"+sn.Name)
			if err != nil {
				return err
			}
			if !armWithin(pf, space) {
				return errorf(400, "NetcfgSubnetRangeOutsideVnet", "Subnet '%s' is not valid because its IP address range is outside the IP address range of virtual network '%s' (field '%s.properties.addressPrefix').", sn.Name, vnetName, field)
			}
			for j, o := range all {
				if o.Overlaps(pf) {
					return errorf(400, "NetcfgSubnetRangesOverlap", "Subnet '%s' is not valid because its IP address range overlaps with that of an existing subnet '%s' in virtual network '%s' (field '%s.properties.addressPrefix').", sn.Name, owners[j], vnetName, field)
				}
			}
			all = append(all, pf)
			owners = append(owners, sn.Name)
		}
		if sn.NetworkSecurityGroup != "" {
			if s.nsgs[lower(sn.NetworkSecurityGroup)] == nil {
				return errorf(400, "InvalidResourceReference", "Resource %s referenced by resource %s/subnets/%s was not found. Please make sure that the referenced resource exists, and that both resources are in the same region (field '%s.properties.networkSecurityGroup.id').", sn.NetworkSecurityGroup, id, sn.Name, field)
			}
			if c != nil {
				if err := authorizeLinked(s, c, nil, actVNetWrite, id, actNSGJoin, scopeSubscription(sn.NetworkSecurityGroup), sn.NetworkSecurityGroup); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// putVNetTx creates or updates a virtual network. c is nil for the
// operator; RBAC on the VNet itself is the caller's business.
func (e *Emulator) putVNetTx(t *txn, c *Caller, spec VNetSpec) (*VirtualNetwork, bool, error) {
	s := t.s
	sub := s.subs[lower(spec.SubscriptionID)]
	if sub == nil {
		return nil, false, errorf(http.StatusNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", spec.SubscriptionID)
	}
	if err := ValidateResourceGroupName(spec.ResourceGroup); err != nil {
		return nil, false, err
	}
	rg := s.rgs[lower(rgID(sub.ID, spec.ResourceGroup))]
	if rg == nil {
		return nil, false, rgNotFound(spec.ResourceGroup)
	}
	if err := ValidateVirtualNetworkName(spec.Name); err != nil {
		return nil, false, err
	}
	loc, err := checkLocation(spec.Location, typeVNet)
	if err != nil {
		return nil, false, err
	}
	if err := validateTags(spec.Tags); err != nil {
		return nil, false, err
	}
	id := vnetID(sub.ID, rg.Name, spec.Name)
	old := s.vnets[lower(id)]
	if old != nil {
		id = old.ID
		if old.Location != loc {
			return nil, false, errorf(400, "InvalidResourceLocation", "The resource '%s' already exists in location '%s' in resource group '%s'. A resource with the same name cannot be created in location '%s'. Please select a new resource name.", old.Name, old.Location, rg.Name, loc)
		}
	}
	if len(spec.AddressPrefixes) == 0 {
		return nil, false, errorf(400, "InvalidAddressSpace", "Virtual network %s must have at least one address prefix in its address space (field 'properties.addressSpace.addressPrefixes').", id)
	}
	var pfs []netip.Prefix
	for i, p := range spec.AddressPrefixes {
		pf, err := parsePrefix(p, "properties.addressSpace.addressPrefixes["+strconv.Itoa(i)+"]", id)
		if err != nil {
			return nil, false, err
		}
		for _, o := range pfs {
			if o.Overlaps(pf) {
				return nil, false, errorf(400, "VnetAddressSpaceOverlaps", "Address prefixes %s and %s of virtual network %s overlap (field 'properties.addressSpace.addressPrefixes').", o, pf, id)
			}
		}
		pfs = append(pfs, pf)
	}
	if err := validateSubnets(s, c, id, spec.Name, spec.AddressPrefixes, spec.Subnets); err != nil {
		return nil, false, err
	}
	spaceChanged := old != nil && !armSameStrings(old.AddressPrefixes, spec.AddressPrefixes)
	if spaceChanged {
		// A new address space may not overlap a peered VNet's.
		for _, p := range s.peeringsOf(id) {
			rv := s.vnets[lower(p.RemoteVNetID)]
			if rv == nil || p.PeeringState == PeeringDisconnected {
				continue
			}
			if ov, bad := armOverlapping(spec.AddressPrefixes, rv.AddressPrefixes); bad {
				return nil, false, errorf(400, "VnetAddressSpacesOverlap", "Cannot update address space of virtual network %s: it would overlap with address space of virtual network %s peered through %s. Overlapping address prefixes: %s. For more information please refer to https://aka.ms/VnetPeeringInfo", id, rv.ID, p.ID, ov)
			}
		}
	}
	v := old
	if v == nil {
		v = &VirtualNetwork{ID: id, SubscriptionID: sub.ID, ResourceGroup: rg.Name, Name: spec.Name, Location: loc, ResourceGUID: uuid.NewString()}
		s.vnets[lower(id)] = v
	}
	v.Tags = armCopyTags(spec.Tags)
	v.AddressPrefixes = append([]string(nil), spec.AddressPrefixes...)
	v.Subnets = nil
	for _, sn := range spec.Subnets {
		if len(sn.AddressPrefixes) == 1 {
			sn.AddressPrefix, sn.AddressPrefixes = sn.AddressPrefixes[0], nil
		}
		if len(sn.AddressPrefixes) > 1 {
			sn.AddressPrefix = ""
		}
		v.Subnets = append(v.Subnets, sn)
	}
	t.put(KindVirtualNetwork, v.ID, v)
	t.emit(KindVirtualNetwork, v.ID, Event{Type: EventVNet, TenantID: sub.TenantID, ResourceID: v.ID})
	if spaceChanged {
		for _, p := range s.peeringsOf(id) {
			t.emit(KindVirtualNetwork, v.ID, Event{Type: EventPeering, TenantID: sub.TenantID, ResourceID: p.ID})
		}
		for _, p := range s.peeringsTo(id) {
			t.emit(KindVirtualNetwork, v.ID, Event{Type: EventPeering, TenantID: s.subTenant(scopeSubscription(p.ID)), ResourceID: p.ID})
		}
	}
	return v, old == nil, nil
}

func armSameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}

// deleteVNetTx deletes a VNet with its peerings; the remote halves of
// those peerings become Disconnected.
func (e *Emulator) deleteVNetTx(t *txn, v *VirtualNetwork) {
	s := t.s
	for _, p := range s.peeringsOf(v.ID) {
		e.deletePeeringTx(t, p)
	}
	for _, p := range s.peeringsTo(v.ID) {
		if p.PeeringState != PeeringDisconnected {
			p.PeeringState = PeeringDisconnected
			t.put(KindPeering, p.ID, p)
			t.emit(KindPeering, p.ID, Event{Type: EventPeering, TenantID: s.subTenant(scopeSubscription(p.ID)), ResourceID: p.ID})
		}
	}
	delete(s.vnets, lower(v.ID))
	t.del(KindVirtualNetwork, v.ID)
	t.emit(KindVirtualNetwork, v.ID, Event{Type: EventVNetDeleted, TenantID: s.subTenant(v.SubscriptionID), ResourceID: v.ID})
}

// Wire shapes.

type subResource struct {
	ID *string `json:"id"`
}

type subnetPropsIn struct {
	AddressPrefix        *string      `json:"addressPrefix"`
	AddressPrefixes      []string     `json:"addressPrefixes"`
	NetworkSecurityGroup *subResource `json:"networkSecurityGroup"`
}

type subnetIn struct {
	Name       *string        `json:"name"`
	Properties *subnetPropsIn `json:"properties"`
}

type vnetIn struct {
	Location   *string           `json:"location"`
	Tags       map[string]string `json:"tags"`
	Properties *struct {
		AddressSpace *struct {
			AddressPrefixes []string `json:"addressPrefixes"`
		} `json:"addressSpace"`
		Subnets []subnetIn `json:"subnets"`
	} `json:"properties"`
}

func (in *subnetPropsIn) toSubnet(name string) Subnet {
	sn := Subnet{Name: name}
	if in == nil {
		return sn
	}
	if in.AddressPrefix != nil {
		sn.AddressPrefix = *in.AddressPrefix
	}
	if len(in.AddressPrefixes) > 0 {
		sn.AddressPrefixes = append([]string(nil), in.AddressPrefixes...)
		if sn.AddressPrefix != "" {
			sn.AddressPrefixes = append([]string{sn.AddressPrefix}, sn.AddressPrefixes...)
		}
		sn.AddressPrefix = ""
	}
	if in.NetworkSecurityGroup != nil && in.NetworkSecurityGroup.ID != nil {
		sn.NetworkSecurityGroup = *in.NetworkSecurityGroup.ID
	}
	return sn
}

func (in *vnetIn) toSpec(subID, rg, name string) (VNetSpec, error) {
	spec := VNetSpec{SubscriptionID: subID, ResourceGroup: rg, Name: name, Tags: in.Tags}
	if in.Location != nil {
		spec.Location = *in.Location
	}
	if p := in.Properties; p != nil {
		if p.AddressSpace != nil {
			spec.AddressPrefixes = p.AddressSpace.AddressPrefixes
		}
		for i, sn := range p.Subnets {
			if sn.Name == nil {
				return spec, errorf(400, "InvalidRequestFormat", "Cannot parse the request: the subnet at index %d has no name (field 'properties.subnets[%d].name').", i, i)
			}
			spec.Subnets = append(spec.Subnets, sn.Properties.toSubnet(*sn.Name))
		}
	}
	return spec, nil
}

func subnetJSON(s *state, v *VirtualNetwork, sn Subnet) map[string]any {
	props := map[string]any{
		"provisioningState":                 "Succeeded",
		"privateEndpointNetworkPolicies":    "Disabled",
		"privateLinkServiceNetworkPolicies": "Enabled",
		"delegations":                       []any{},
	}
	if len(sn.AddressPrefixes) > 0 {
		props["addressPrefixes"] = sn.AddressPrefixes
	} else {
		props["addressPrefix"] = sn.AddressPrefix
	}
	if sn.NetworkSecurityGroup != "" {
		id := sn.NetworkSecurityGroup
		if n := s.nsgs[lower(id)]; n != nil {
			id = n.ID
		}
		props["networkSecurityGroup"] = map[string]string{"id": id}
	}
	return map[string]any{"id": v.ID + "/subnets/" + sn.Name, "name": sn.Name, "etag": v.Etag, "type": typeSubnet, "properties": props}
}

func vnetJSON(s *state, v *VirtualNetwork, provisioning string) map[string]any {
	subnets := []map[string]any{}
	for _, sn := range v.Subnets {
		subnets = append(subnets, subnetJSON(s, v, sn))
	}
	peerings := []map[string]any{}
	for _, p := range s.peeringsOf(v.ID) {
		peerings = append(peerings, peeringJSON(s, p, "Succeeded"))
	}
	return map[string]any{
		"id": v.ID, "name": v.Name, "type": typeVNet, "location": v.Location, "etag": v.Etag, "tags": armTagsOut(v.Tags),
		"properties": map[string]any{
			"provisioningState":           provisioning,
			"resourceGuid":                v.ResourceGUID,
			"addressSpace":                map[string]any{"addressPrefixes": v.AddressPrefixes},
			"subnets":                     subnets,
			"virtualNetworkPeerings":      peerings,
			"enableDdosProtection":        false,
			"privateEndpointVNetPolicies": "Disabled",
		},
	}
}

// serveNetwork serves /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/….
func (e *Emulator) serveNetwork(q *armReq, subID, rg string) error {
	n := len(q.segs)
	switch {
	case q.is(6, "virtualNetworks") && n == 7:
		return e.serveRGList(q, subID, rg, actVNetRead, listVNets)
	case q.is(6, "virtualNetworks") && n == 8:
		return e.serveVNet(q, subID, rg, q.seg(7))
	case q.is(6, "virtualNetworks") && q.is(8, "subnets") && (n == 9 || n == 10):
		return e.serveSubnet(q, subID, rg, q.seg(7), q.seg(9))
	case q.is(6, "virtualNetworks") && q.is(8, "virtualNetworkPeerings") && (n == 9 || n == 10):
		return e.servePeering(q, subID, rg, q.seg(7), q.seg(9))
	case q.is(6, "networkSecurityGroups") && n == 7:
		return e.serveRGList(q, subID, rg, actNSGRead, listNSGs)
	case q.is(6, "networkSecurityGroups") && n == 8:
		return e.serveNSG(q, subID, rg, q.seg(7))
	case q.is(6, "networkSecurityGroups") && (q.is(8, "securityRules") || q.is(8, "defaultSecurityRules")) && (n == 9 || n == 10):
		return e.serveSecurityRule(q, subID, rg, q.seg(7), q.seg(9), q.is(8, "defaultSecurityRules"))
	}
	return errorf(400, "InvalidResourceType", "The resource type '%s' could not be found in the namespace 'Microsoft.Network' for api version '%s'.", strings.Join(q.segs[6:min(n, 9)], "/"), q.r.URL.Query().Get("api-version"))
}

// serveNetworkSubscriptionList lists VNets or NSGs across a subscription.
func (e *Emulator) serveNetworkSubscriptionList(q *armReq, subID, typ string) error {
	return e.armListIn(q, subID, func(s *state) ([]map[string]any, error) {
		switch {
		case strings.EqualFold(typ, "virtualNetworks"):
			return listVNets(s, q.c, "/subscriptions/"+subID), nil
		case strings.EqualFold(typ, "networkSecurityGroups"):
			return listNSGs(s, q.c, "/subscriptions/"+subID), nil
		}
		return nil, errorf(400, "InvalidResourceType", "The resource type '%s' could not be found in the namespace 'Microsoft.Network' for api version '%s'.", typ, q.r.URL.Query().Get("api-version"))
	})
}

func listVNets(s *state, c *Caller, scope string) []map[string]any {
	return listReadable(s, c, scope, actVNetRead, s.vnetsIn, func(v *VirtualNetwork) string { return v.ID }, vnetJSON)
}

func (e *Emulator) serveVNet(q *armReq, subID, rg, name string) error {
	scope := q.path(8)
	id := vnetID(subID, rg, name)
	switch q.r.Method {
	case http.MethodGet:
		return e.armRead(q, subID, actVNetRead, scope, func(s *state) (any, error) {
			v := s.vnets[lower(id)]
			if v == nil {
				return nil, vnetNotFound(name, rg)
			}
			return vnetJSON(s, v, "Succeeded"), nil
		})
	case http.MethodPut:
		var in vnetIn
		if err := decodeARM(q, &in); err != nil {
			return e.preauth(q, subID, actVNetWrite, scope, err)
		}
		var body map[string]any
		var created bool
		var loc string
		err := e.armTx(q, subID, actVNetWrite, scope, func(t *txn) error {
			spec, err := in.toSpec(subID, rg, name)
			if err != nil {
				return err
			}
			v, c, err := e.putVNetTx(t, q.c, spec)
			if err != nil {
				return err
			}
			created, loc = c, v.Location
			body = vnetJSON(t.s, v, "Succeeded")
			return nil
		})
		if err != nil {
			return err
		}
		return e.armPutDone(q, subID, loc, created, body)
	case http.MethodPatch:
		var in struct {
			Tags map[string]string `json:"tags"`
		}
		if err := decodeARM(q, &in); err != nil {
			return err
		}
		var body map[string]any
		err := e.armTx(q, subID, actVNetWrite, scope, func(t *txn) error {
			v := t.s.vnets[lower(id)]
			if v == nil {
				return vnetNotFound(name, rg)
			}
			if err := validateTags(in.Tags); err != nil {
				return err
			}
			v.Tags = armCopyTags(in.Tags)
			t.put(KindVirtualNetwork, v.ID, v)
			t.emit(KindVirtualNetwork, v.ID, Event{Type: EventVNet, TenantID: t.s.subTenant(subID), ResourceID: v.ID})
			body = vnetJSON(t.s, v, "Succeeded")
			return nil
		})
		if err != nil {
			return err
		}
		writeJSON(q.w, http.StatusOK, body)
		return nil
	case http.MethodDelete:
		found := false
		var loc string
		err := e.armTx(q, subID, actVNetDelete, scope, func(t *txn) error {
			v := t.s.vnets[lower(id)]
			if v == nil {
				return nil
			}
			found, loc = true, v.Location
			e.deleteVNetTx(t, v)
			return nil
		})
		if err != nil {
			return err
		}
		return e.armDeleteDone(q, subID, loc, found)
	}
	return armMethodNotAllowed(q)
}

// serveSubnet serves a VNet's subnets as sub-resources.
func (e *Emulator) serveSubnet(q *armReq, subID, rg, vnetName, name string) error {
	id := vnetID(subID, rg, vnetName)
	scope := q.path(len(q.segs))
	if name == "" {
		return e.armReadList(q, subID, actSubnetRead, q.path(8), func(s *state) ([]map[string]any, error) {
			v := s.vnets[lower(id)]
			if v == nil {
				return nil, vnetNotFound(vnetName, rg)
			}
			var out []map[string]any
			for _, sn := range v.Subnets {
				out = append(out, subnetJSON(s, v, sn))
			}
			return out, nil
		})
	}
	find := func(v *VirtualNetwork) int {
		for i, sn := range v.Subnets {
			if strings.EqualFold(sn.Name, name) {
				return i
			}
		}
		return -1
	}
	switch q.r.Method {
	case http.MethodGet:
		return e.armRead(q, subID, actSubnetRead, scope, func(s *state) (any, error) {
			v := s.vnets[lower(id)]
			if v == nil {
				return nil, vnetNotFound(vnetName, rg)
			}
			i := find(v)
			if i < 0 {
				return nil, childNotFound(v.ID + "/subnets/" + name)
			}
			return subnetJSON(s, v, v.Subnets[i]), nil
		})
	case http.MethodPut:
		var in struct {
			Properties *subnetPropsIn `json:"properties"`
		}
		if err := decodeARM(q, &in); err != nil {
			return err
		}
		var body map[string]any
		var created bool
		var loc string
		err := e.armTx(q, subID, actSubnetWrite, scope, func(t *txn) error {
			v := t.s.vnets[lower(id)]
			if v == nil {
				return vnetNotFound(vnetName, rg)
			}
			spec := VNetSpec{SubscriptionID: v.SubscriptionID, ResourceGroup: v.ResourceGroup, Name: v.Name, Location: v.Location,
				AddressPrefixes: v.AddressPrefixes, Tags: v.Tags}
			spec.Subnets = append(spec.Subnets, v.Subnets...)
			i := find(v)
			created = i < 0
			if created {
				spec.Subnets = append(spec.Subnets, in.Properties.toSubnet(name))
				i = len(spec.Subnets) - 1
			} else {
				spec.Subnets[i] = in.Properties.toSubnet(v.Subnets[i].Name)
			}
			nv, _, err := e.putVNetTx(t, q.c, spec)
			if err != nil {
				return err
			}
			loc = nv.Location
			body = subnetJSON(t.s, nv, nv.Subnets[i])
			return nil
		})
		if err != nil {
			return err
		}
		return e.armPutDone(q, subID, loc, created, body)
	case http.MethodDelete:
		found := false
		var loc string
		err := e.armTx(q, subID, actSubnetDelete, scope, func(t *txn) error {
			v := t.s.vnets[lower(id)]
			if v == nil {
				return nil
			}
			i := find(v)
			if i < 0 {
				return nil
			}
			found, loc = true, v.Location
			v.Subnets = append(v.Subnets[:i:i], v.Subnets[i+1:]...)
			t.put(KindVirtualNetwork, v.ID, v)
			t.emit(KindVirtualNetwork, v.ID, Event{Type: EventVNet, TenantID: t.s.subTenant(subID), ResourceID: v.ID})
			return nil
		})
		if err != nil {
			return err
		}
		return e.armDeleteDone(q, subID, loc, found)
	}
	return armMethodNotAllowed(q)
}

// NetworkSnapshot is a copy of the emulator's networks, for a reachability
// engine.
type NetworkSnapshot struct {
	// Version changes whenever the emulator's state does (it is an
	// opaque ETag, unique to this process).
	Version         string
	VirtualNetworks []VirtualNetwork
	Peerings        []VirtualNetworkPeering
	NSGs            []NetworkSecurityGroup
}

// Snapshot returns copies of all VNets, peerings and NSGs, ordered by id.
// It copies the world under the read lock and sorts outside it.
func (e *Emulator) Snapshot() NetworkSnapshot {
	var out NetworkSnapshot
	var vnets []keyed[VirtualNetwork]
	var peerings []keyed[VirtualNetworkPeering]
	var nsgs []keyed[NetworkSecurityGroup]
	e.view(func(s *state) {
		out.Version = e.versionLocked()
		vnets = make([]keyed[VirtualNetwork], 0, len(s.vnets))
		for k, v := range s.vnets {
			vnets = append(vnets, keyed[VirtualNetwork]{k, *copyVNet(v)})
		}
		peerings = make([]keyed[VirtualNetworkPeering], 0, len(s.peerings))
		for k, p := range s.peerings {
			c := *p
			c.RemoteAddressSpace = append([]string(nil), p.RemoteAddressSpace...)
			peerings = append(peerings, keyed[VirtualNetworkPeering]{k, c})
		}
		nsgs = make([]keyed[NetworkSecurityGroup], 0, len(s.nsgs))
		for k, n := range s.nsgs {
			nsgs = append(nsgs, keyed[NetworkSecurityGroup]{k, *copyNSG(n)})
		}
	})
	out.VirtualNetworks = sortedByKey(vnets)
	out.Peerings = sortedByKey(peerings)
	out.NSGs = sortedByKey(nsgs)
	return out
}

// keyed is a copy of an object with its map key (its lower-cased id).
type keyed[T any] struct {
	key string
	v   T
}

// sortedByKey returns the objects ordered by key; nil for none.
func sortedByKey[T any](ks []keyed[T]) []T {
	if len(ks) == 0 {
		return nil
	}
	slices.SortFunc(ks, func(a, b keyed[T]) int { return strings.Compare(a.key, b.key) })
	out := make([]T, len(ks))
	for i := range ks {
		out[i] = ks[i].v
	}
	return out
}
