package azureemu

import (
	"sort"
	"strings"
)

// Secondary indexes of the state, so that a request costs what the objects
// it is about cost, not what the world holds: a peering is found by its
// VNet, a role assignment by its scope, a VNet by its resource group, a
// service principal by its tenant and application. They are kept by the
// txn (put and del index the document) and by load, so every change that
// is persisted is indexed; an object's indexed fields change only through
// a put of it.

// remover is an index an object can be taken out of.
type remover interface{ remove(key, id string) }

// indexRef is one entry of a document in an index.
type indexRef struct {
	ix  remover
	key string
}

// multimap indexes objects by a derived key: key → document key → object.
type multimap[T any] map[string]map[string]T

func (m multimap[T]) add(key, id string, v T) {
	inner := m[key]
	if inner == nil {
		inner = map[string]T{}
		m[key] = inner
	}
	inner[id] = v
}

func (m multimap[T]) remove(key, id string) {
	if inner := m[key]; inner != nil {
		delete(inner, id)
		if len(inner) == 0 {
			delete(m, key)
		}
	}
}

// sortedValues returns the objects under key ordered by their document key.
func (m multimap[T]) sortedValues(key string) []T {
	inner := m[key]
	if len(inner) == 0 {
		return nil
	}
	ids := make([]string, 0, len(inner))
	for id := range inner {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]T, len(ids))
	for i, id := range ids {
		out[i] = inner[id]
	}
	return out
}

// first returns one object under key (for keys that hold at most one).
func (m multimap[T]) first(key string) (T, bool) {
	for _, v := range m[key] {
		return v, true
	}
	var zero T
	return zero, false
}

type indexes struct {
	// reg lists each document's entries, to take them out on a change.
	reg map[[2]string][]indexRef

	peeringsOn     multimap[*VirtualNetworkPeering] // by lower-cased VNet id
	peeringsToward multimap[*VirtualNetworkPeering] // by lower-cased remote VNet id
	halves         multimap[*VirtualNetworkPeering] // by halfKey(VNet, remote VNet)
	vnetsIn        multimap[*VirtualNetwork]        // by lower-cased resource group id
	vnetsUsing     multimap[*VirtualNetwork]        // by lower-cased id of an NSG a subnet names
	nsgsIn         multimap[*NetworkSecurityGroup]  // by lower-cased resource group id
	rgsIn          multimap[*ResourceGroup]         // by lower-cased subscription id
	subsOf         multimap[*Subscription]          // by lower-cased tenant id
	roleDefsOf     multimap[*RoleDefinition]        // custom roles, by lower-cased tenant id
	assignments    *scopeTree
	roleUses       multimap[*RoleAssignment]   // by lower-cased role definition id
	spsOfApp       multimap[*ServicePrincipal] // by spKey(tenant, appId)
	spsIn          multimap[*ServicePrincipal] // by lower-cased tenant id
	appsOf         multimap[*Application]      // by lower-cased owner tenant id
	usersIn        multimap[*User]             // by lower-cased tenant id
	usersByUPN     multimap[*User]             // by lower-cased user principal name
	tenantDomain   multimap[*Tenant]           // by lower-cased default domain
}

func newIndexes() indexes {
	return indexes{
		reg:            map[[2]string][]indexRef{},
		peeringsOn:     multimap[*VirtualNetworkPeering]{},
		peeringsToward: multimap[*VirtualNetworkPeering]{},
		halves:         multimap[*VirtualNetworkPeering]{},
		vnetsIn:        multimap[*VirtualNetwork]{},
		vnetsUsing:     multimap[*VirtualNetwork]{},
		nsgsIn:         multimap[*NetworkSecurityGroup]{},
		rgsIn:          multimap[*ResourceGroup]{},
		subsOf:         multimap[*Subscription]{},
		roleDefsOf:     multimap[*RoleDefinition]{},
		assignments:    &scopeTree{},
		roleUses:       multimap[*RoleAssignment]{},
		spsOfApp:       multimap[*ServicePrincipal]{},
		spsIn:          multimap[*ServicePrincipal]{},
		appsOf:         multimap[*Application]{},
		usersIn:        multimap[*User]{},
		usersByUPN:     multimap[*User]{},
		tenantDomain:   multimap[*Tenant]{},
	}
}

func spKey(tenantID, appID string) string { return lower(tenantID) + "/" + lower(appID) }

// halfKey is the key of the peering halves on vnet whose remote is remote.
func halfKey(vnet, remote string) string { return lower(vnet) + "|" + lower(remote) }

// addTo puts v in m under key and records the entry in refs.
func addTo[T any](refs *[]indexRef, m multimap[T], key, id string, v T) {
	m.add(key, id, v)
	*refs = append(*refs, indexRef{ix: m, key: key})
}

// index (re)indexes the document k, whose object is obj.
func (s *state) index(k [2]string, obj any) {
	s.unindex(k)
	id := k[1]
	var refs []indexRef
	switch o := obj.(type) {
	case *VirtualNetworkPeering:
		addTo(&refs, s.peeringsOn, lower(o.VNetID), id, o)
		addTo(&refs, s.peeringsToward, lower(o.RemoteVNetID), id, o)
		addTo(&refs, s.halves, halfKey(o.VNetID, o.RemoteVNetID), id, o)
	case *VirtualNetwork:
		addTo(&refs, s.vnetsIn, lower(rgID(o.SubscriptionID, o.ResourceGroup)), id, o)
		for _, sn := range o.Subnets {
			if sn.NetworkSecurityGroup != "" {
				addTo(&refs, s.vnetsUsing, lower(sn.NetworkSecurityGroup), id, o)
			}
		}
	case *NetworkSecurityGroup:
		addTo(&refs, s.nsgsIn, lower(rgID(o.SubscriptionID, o.ResourceGroup)), id, o)
	case *ResourceGroup:
		addTo(&refs, s.rgsIn, lower(o.SubscriptionID), id, o)
	case *Subscription:
		addTo(&refs, s.subsOf, lower(o.TenantID), id, o)
	case *RoleDefinition:
		addTo(&refs, s.roleDefsOf, lower(o.TenantID), id, o)
	case *RoleAssignment:
		s.assignments.add(o.Scope, id, o)
		refs = append(refs, indexRef{ix: s.assignments, key: o.Scope})
		addTo(&refs, s.roleUses, lower(o.RoleDefinitionID), id, o)
	case *ServicePrincipal:
		addTo(&refs, s.spsOfApp, spKey(o.TenantID, o.AppID), id, o)
		addTo(&refs, s.spsIn, lower(o.TenantID), id, o)
	case *Application:
		addTo(&refs, s.appsOf, lower(o.TenantID), id, o)
	case *User:
		addTo(&refs, s.usersIn, lower(o.TenantID), id, o)
		addTo(&refs, s.usersByUPN, lower(o.UserPrincipalName), id, o)
	case *Tenant:
		addTo(&refs, s.tenantDomain, lower(o.DefaultDomain), id, o)
	}
	if len(refs) > 0 {
		s.reg[k] = refs
	}
}

// unindex takes the document k out of every index.
func (s *state) unindex(k [2]string) {
	for _, r := range s.reg[k] {
		r.ix.remove(r.key, k[1])
	}
	delete(s.reg, k)
}

// scopeTree indexes role assignments by scope, one node per path segment
// (lower-cased), so that the assignments at a scope's ancestors, or below
// it, are found without looking at the others.
type scopeTree struct{ root scopeNode }

type scopeNode struct {
	kids map[string]*scopeNode
	ras  map[string]*RoleAssignment // by lower-cased GUID
}

// scopeSegments returns the lower-cased segments of scope.
func scopeSegments(scope string) []string {
	n := normScope(scope)
	if n == "" {
		return nil
	}
	var out []string
	for _, seg := range strings.Split(n, "/") {
		if seg != "" {
			out = append(out, seg)
		}
	}
	return out
}

func (t *scopeTree) add(scope, id string, ra *RoleAssignment) {
	n := &t.root
	for _, seg := range scopeSegments(scope) {
		kid := n.kids[seg]
		if kid == nil {
			if n.kids == nil {
				n.kids = map[string]*scopeNode{}
			}
			kid = &scopeNode{}
			n.kids[seg] = kid
		}
		n = kid
	}
	if n.ras == nil {
		n.ras = map[string]*RoleAssignment{}
	}
	n.ras[id] = ra
}

func (t *scopeTree) remove(scope, id string) {
	segs := scopeSegments(scope)
	path := []*scopeNode{&t.root}
	n := &t.root
	for _, seg := range segs {
		if n = n.kids[seg]; n == nil {
			return
		}
		path = append(path, n)
	}
	delete(n.ras, id)
	// Prune the nodes left empty, from the leaf up.
	for i := len(path) - 1; i > 0; i-- {
		if len(path[i].ras) > 0 || len(path[i].kids) > 0 {
			break
		}
		delete(path[i-1].kids, segs[i-1])
	}
}

// at returns the assignments made exactly at scope.
func (t *scopeTree) at(scope string) map[string]*RoleAssignment {
	n := &t.root
	for _, seg := range scopeSegments(scope) {
		if n = n.kids[seg]; n == nil {
			return nil
		}
	}
	return n.ras
}

// above calls fn with each assignment at scope or an ancestor of it, until
// fn returns false.
func (t *scopeTree) above(scope string, fn func(*RoleAssignment) bool) {
	n := &t.root
	for i, segs := 0, scopeSegments(scope); ; i++ {
		for _, ra := range n.ras {
			if !fn(ra) {
				return
			}
		}
		if i == len(segs) {
			return
		}
		if n = n.kids[segs[i]]; n == nil {
			return
		}
	}
}

// below calls fn with each assignment strictly below scope, until fn
// returns false.
func (t *scopeTree) below(scope string, fn func(*RoleAssignment) bool) {
	n := &t.root
	for _, seg := range scopeSegments(scope) {
		if n = n.kids[seg]; n == nil {
			return
		}
	}
	var walk func(n *scopeNode) bool
	walk = func(n *scopeNode) bool {
		for _, kid := range n.kids {
			for _, ra := range kid.ras {
				if !fn(ra) {
					return false
				}
			}
			if !walk(kid) {
				return false
			}
		}
		return true
	}
	walk(n)
}
