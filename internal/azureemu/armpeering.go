package azureemu

import (
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/peerplane/peerplane/internal/azureid"
)

// Microsoft.Network/virtualNetworks/{v}/virtualNetworkPeerings/{p}: one
// half of a peering each. A half alone is Initiated; with its reverse half
// both are Connected; deleting one half (or its VNet) leaves the other
// Disconnected.

// maxPeeringsPerVNet is Azure's default limit.
const maxPeeringsPerVNet = 500

// peeringsOf returns the halves on the VNet id, ordered by id.
func (s *state) peeringsOf(id string) []*VirtualNetworkPeering {
	return s.peeringsOn.sortedValues(lower(id))
}

// peeringsTo returns the halves on other VNets whose remote is id, ordered
// by id.
func (s *state) peeringsTo(id string) []*VirtualNetworkPeering {
	return s.peeringsToward.sortedValues(lower(id))
}

// reverseOf returns the half on p's remote VNet that points back at p's VNet.
func (s *state) reverseOf(vnetID, remoteID string) *VirtualNetworkPeering {
	r, _ := s.halves.first(halfKey(remoteID, vnetID))
	return r
}

// syncLevel computes a half's peeringSyncLevel: local is out of sync when
// the reverse half has not picked up this VNet's address space, remote
// when this half has not picked up the remote VNet's.
func (s *state) syncLevel(p *VirtualNetworkPeering) string {
	v, rv := s.vnets[lower(p.VNetID)], s.vnets[lower(p.RemoteVNetID)]
	localOK, remoteOK := true, true
	if r := s.reverseOf(p.VNetID, p.RemoteVNetID); r != nil && v != nil {
		localOK = armSameStrings(r.RemoteAddressSpace, v.AddressPrefixes)
	}
	if rv != nil && p.PeeringState != PeeringDisconnected {
		remoteOK = armSameStrings(p.RemoteAddressSpace, rv.AddressPrefixes)
	}
	switch {
	case localOK && remoteOK:
		return SyncFullyInSync
	case localOK:
		return SyncRemoteNotInSync
	case remoteOK:
		return SyncLocalNotInSync
	}
	return SyncLocalAndRemoteNotInSync
}

func peeringJSON(s *state, p *VirtualNetworkPeering, provisioning string) map[string]any {
	current := p.RemoteAddressSpace
	if rv := s.vnets[lower(p.RemoteVNetID)]; rv != nil {
		current = rv.AddressPrefixes
	}
	remoteID := p.RemoteVNetID
	if rv := s.vnets[lower(p.RemoteVNetID)]; rv != nil {
		remoteID = rv.ID
	}
	return map[string]any{
		"id": p.ID, "name": p.Name, "etag": p.Etag, "type": typePeering,
		"properties": map[string]any{
			"provisioningState":                provisioning,
			"resourceGuid":                     p.ResourceGUID,
			"peeringState":                     p.PeeringState,
			"peeringSyncLevel":                 s.syncLevel(p),
			"remoteVirtualNetwork":             map[string]string{"id": remoteID},
			"allowVirtualNetworkAccess":        p.AllowVirtualNetworkAccess,
			"allowForwardedTraffic":            p.AllowForwardedTraffic,
			"allowGatewayTransit":              p.AllowGatewayTransit,
			"useRemoteGateways":                p.UseRemoteGateways,
			"doNotVerifyRemoteGateways":        false,
			"peerCompleteVnets":                true,
			"remoteAddressSpace":               map[string]any{"addressPrefixes": armNonNil(p.RemoteAddressSpace)},
			"remoteVirtualNetworkAddressSpace": map[string]any{"addressPrefixes": armNonNil(current)},
			"routeServiceVips":                 map[string]string{},
		},
	}
}

func armNonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// deletePeeringTx removes a half; its reverse half becomes Disconnected.
func (e *Emulator) deletePeeringTx(t *txn, p *VirtualNetworkPeering) {
	s := t.s
	delete(s.peerings, lower(p.ID))
	t.del(KindPeering, p.ID)
	t.emit(KindPeering, p.ID, Event{Type: EventPeeringDeleted, TenantID: s.subTenant(scopeSubscription(p.ID)), ResourceID: p.ID})
	if r := s.reverseOf(p.VNetID, p.RemoteVNetID); r != nil && r.PeeringState != PeeringDisconnected {
		r.PeeringState = PeeringDisconnected
		t.put(KindPeering, r.ID, r)
		t.emit(KindPeering, r.ID, Event{Type: EventPeering, TenantID: s.subTenant(scopeSubscription(r.ID)), ResourceID: r.ID})
	}
}

type peeringIn struct {
	Properties *struct {
		RemoteVirtualNetwork      *subResource `json:"remoteVirtualNetwork"`
		AllowVirtualNetworkAccess *bool        `json:"allowVirtualNetworkAccess"`
		AllowForwardedTraffic     *bool        `json:"allowForwardedTraffic"`
		AllowGatewayTransit       *bool        `json:"allowGatewayTransit"`
		UseRemoteGateways         *bool        `json:"useRemoteGateways"`
	} `json:"properties"`
}

// peeredWith returns the VNets with a live (not Disconnected) half to or
// from id.
func (s *state) peeredWith(id string) []*VirtualNetwork {
	seen := map[string]bool{}
	var out []*VirtualNetwork
	add := func(other string, p *VirtualNetworkPeering) {
		if p.PeeringState == PeeringDisconnected || seen[lower(other)] {
			return
		}
		if v := s.vnets[lower(other)]; v != nil {
			seen[lower(other)] = true
			out = append(out, v)
		}
	}
	for _, p := range s.peeringsOf(id) {
		add(p.RemoteVNetID, p)
	}
	for _, p := range s.peeringsTo(id) {
		add(p.VNetID, p)
	}
	return out
}

func (e *Emulator) servePeering(q *armReq, subID, rg, vnetName, name string) error {
	aid := vnetID(subID, rg, vnetName)
	scope := q.path(len(q.segs))
	if name == "" {
		return e.armReadList(q, subID, actPeeringRead, scope, func(s *state) ([]map[string]any, error) {
			if s.vnets[lower(aid)] == nil {
				return nil, vnetNotFound(vnetName, rg)
			}
			var out []map[string]any
			for _, p := range s.peeringsOf(aid) {
				out = append(out, peeringJSON(s, p, "Succeeded"))
			}
			return out, nil
		})
	}
	switch q.r.Method {
	case http.MethodGet:
		return e.armRead(q, subID, actPeeringRead, scope, func(s *state) (any, error) {
			v := s.vnets[lower(aid)]
			if v == nil {
				return nil, vnetNotFound(vnetName, rg)
			}
			p := s.peerings[lower(aid+"/virtualNetworkPeerings/"+name)]
			if p == nil {
				return nil, childNotFound(v.ID + "/virtualNetworkPeerings/" + name)
			}
			return peeringJSON(s, p, "Succeeded"), nil
		})
	case http.MethodPut:
		return e.putPeering(q, subID, rg, vnetName, name, scope)
	case http.MethodDelete:
		found := false
		var loc string
		err := e.armTx(q, subID, actPeeringDelete, scope, func(t *txn) error {
			p := t.s.peerings[lower(aid+"/virtualNetworkPeerings/"+name)]
			if p == nil {
				return nil
			}
			found = true
			if v := t.s.vnets[lower(aid)]; v != nil {
				loc = v.Location
			}
			e.deletePeeringTx(t, p)
			return nil
		})
		if err != nil {
			return err
		}
		return e.armDeleteDone(q, subID, loc, found)
	}
	return armMethodNotAllowed(q)
}

func (e *Emulator) putPeering(q *armReq, subID, rg, vnetName, name, scope string) error {
	var in peeringIn
	if err := decodeARM(q, &in); err != nil {
		return e.preauth(q, subID, actPeeringWrite, scope, err)
	}
	aux, auxErr := e.auxiliaryCallers(q.r)
	sync := strings.EqualFold(q.r.URL.Query().Get("syncRemoteAddressSpace"), "true")
	aid := vnetID(subID, rg, vnetName)
	var body map[string]any
	var created bool
	var loc string
	err := e.update(q.r.Context(), func(t *txn) error {
		s := t.s
		if _, err := checkSubscription(s, q.c, subID); err != nil {
			return err
		}
		if err := authorize(s, q.c, actPeeringWrite, scope); err != nil {
			return err
		}
		if auxErr != nil {
			return auxErr
		}
		if err := validateChildName(name, "virtualNetworkPeeringName"); err != nil {
			return err
		}
		if in.Properties == nil || in.Properties.RemoteVirtualNetwork == nil || in.Properties.RemoteVirtualNetwork.ID == nil || *in.Properties.RemoteVirtualNetwork.ID == "" {
			return errorf(400, "InvalidRequestFormat", "Cannot parse the request: the remote virtual network of peering %s/virtualNetworkPeerings/%s is missing (field 'properties.remoteVirtualNetwork.id').", aid, name)
		}
		remote := *in.Properties.RemoteVirtualNetwork.ID
		rid, err := azureid.ParseVNetID(remote)
		if err != nil || !azureid.IsGUID(rid.SubscriptionID) {
			return errorf(400, "LinkedInvalidPropertyId", "Property id '%s' at path 'properties.remoteVirtualNetwork.id' is invalid. Expect fully qualified resource Id that start with '/subscriptions/{subscriptionId}' or '/providers/{resourceProviderNamespace}/'.", remote)
		}
		var live []*Caller
		for _, a := range aux {
			if s.principalInTenant(a.ObjectID, a.TenantID) != "" {
				live = append(live, a)
			}
		}
		if err := authorizeLinked(s, q.c, live, actPeeringWrite, scope, actVNetPeer, rid.SubscriptionID, remote); err != nil {
			return err
		}
		a := s.vnets[lower(aid)]
		if a == nil {
			return vnetNotFound(vnetName, rg)
		}
		pid := a.ID + "/virtualNetworkPeerings/" + name
		b := s.vnets[lower(remote)]
		if b == nil {
			return errorf(400, "InvalidResourceReference", "Resource %s referenced by resource %s was not found. Please make sure that the referenced resource exists, and that both resources are in the same region (field 'properties.remoteVirtualNetwork.id').", remote, pid)
		}
		if strings.EqualFold(a.ID, b.ID) {
			return errorf(400, "CannotPeerVirtualNetworkWithItself", "Cannot create or update peering %s: a virtual network cannot be peered with itself (field 'properties.remoteVirtualNetwork.id').", pid)
		}
		p := s.peerings[lower(pid)]
		if p != nil {
			pid = p.ID
			if !strings.EqualFold(p.RemoteVNetID, b.ID) {
				return errorf(400, "CannotChangeRemoteVirtualNetworkOfPeering", "Cannot update peering %s: its remote virtual network %s cannot be changed to %s (field 'properties.remoteVirtualNetwork.id').", pid, p.RemoteVNetID, b.ID)
			}
		} else {
			if o, ok := s.halves.first(halfKey(a.ID, b.ID)); ok {
				return errorf(400, "PeeringWithSameRemoteVnetAlreadyExists", "Cannot create peering %s because peering %s already connects virtual network %s with %s.", pid, o.ID, a.ID, b.ID)
			}
			if len(s.peeringsOn[lower(a.ID)]) >= maxPeeringsPerVNet {
				return errorf(400, "PeeringsPerVirtualNetworkLimitReached", "Cannot create peering %s because virtual network %s already has the maximum of %d peerings.", pid, a.ID, maxPeeringsPerVNet)
			}
		}
		r := s.reverseOf(a.ID, b.ID)
		if r != nil && r.PeeringState == PeeringDisconnected {
			return errorf(400, "RemotePeeringIsDisconnected", "Cannot create or update peering %s because remote peering %s referencing parent virtual network %s is in Disconnected state. Update or re-create the remote peering to get it back to Initiated state. Peering gets Disconnected when remote vnet or remote peering is deleted and re-created.", pid, r.ID, a.ID)
		}
		if ov, bad := armOverlapping(a.AddressPrefixes, b.AddressPrefixes); bad {
			return errorf(400, "VnetAddressSpacesOverlap", "Cannot create or update peering %s. Virtual networks %s and %s cannot be peered because their address spaces overlap. Overlapping address prefixes: %s. For more information please refer to https://aka.ms/VnetPeeringInfo", pid, a.ID, b.ID, ov)
		}
		for _, c := range s.peeredWith(b.ID) {
			if strings.EqualFold(c.ID, a.ID) {
				continue
			}
			if ov, bad := armOverlapping(a.AddressPrefixes, c.AddressPrefixes); bad {
				return errorf(400, "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet", "Cannot create or update peering %s. Virtual networks %s and %s cannot be peered because address space of the first virtual network overlaps with address space of virtual network %s already peered with the second virtual network. Overlapping address prefixes: %s. For more information please refer to https://aka.ms/VnetPeeringInfo", pid, a.ID, b.ID, c.ID, ov)
			}
		}
		for _, d := range s.peeredWith(a.ID) {
			if strings.EqualFold(d.ID, b.ID) {
				continue
			}
			if ov, bad := armOverlapping(b.AddressPrefixes, d.AddressPrefixes); bad {
				return errorf(400, "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet", "Cannot create or update peering %s. Virtual networks %s and %s cannot be peered because address space of the second virtual network overlaps with address space of virtual network %s already peered with the first virtual network. Overlapping address prefixes: %s. For more information please refer to https://aka.ms/VnetPeeringInfo", pid, a.ID, b.ID, d.ID, ov)
			}
		}
		created = p == nil
		if p == nil {
			p = &VirtualNetworkPeering{ID: pid, VNetID: a.ID, Name: name, RemoteVNetID: b.ID, ResourceGUID: uuid.NewString(),
				AllowVirtualNetworkAccess: true}
			s.peerings[lower(pid)] = p
		}
		props := in.Properties
		if props.AllowVirtualNetworkAccess != nil {
			p.AllowVirtualNetworkAccess = *props.AllowVirtualNetworkAccess
		}
		set := func(dst *bool, v *bool) {
			if v != nil {
				*dst = *v
			} else if created {
				*dst = false
			}
		}
		set(&p.AllowForwardedTraffic, props.AllowForwardedTraffic)
		set(&p.AllowGatewayTransit, props.AllowGatewayTransit)
		set(&p.UseRemoteGateways, props.UseRemoteGateways)
		if created || sync || p.PeeringState == PeeringDisconnected {
			p.RemoteAddressSpace = append([]string(nil), b.AddressPrefixes...)
		}
		tenant := s.subTenant(a.SubscriptionID)
		if r != nil {
			p.PeeringState = PeeringConnected
			if r.PeeringState != PeeringConnected {
				r.PeeringState = PeeringConnected
				t.put(KindPeering, r.ID, r)
				t.emit(KindPeering, r.ID, Event{Type: EventPeering, TenantID: s.subTenant(b.SubscriptionID), ResourceID: r.ID})
			}
		} else {
			p.PeeringState = PeeringInitiated
		}
		p.PeeringSyncLevel = s.syncLevel(p)
		t.put(KindPeering, p.ID, p)
		t.emit(KindPeering, p.ID, Event{Type: EventPeering, TenantID: tenant, ResourceID: p.ID})
		if r != nil && sync {
			t.emit(KindPeering, p.ID, Event{Type: EventPeering, TenantID: s.subTenant(b.SubscriptionID), ResourceID: r.ID})
		}
		loc = a.Location
		body = peeringJSON(s, p, "Succeeded")
		return nil
	})
	if err != nil {
		return err
	}
	return e.armPutDone(q, subID, loc, created, body)
}
