package reconcile

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/peerplane/peerplane/internal/azure"
)

// fakeAzure is the slice of Azure the reconciler calls, in memory, with
// Azure's peering semantics: a half is Initiated until the reverse half
// exists, then both are Connected; deleting one leaves the other, if
// Connected, Disconnected. Errors are injected per call and VNet; calls are recorded.
type fakeAzure struct {
	mu sync.Mutex

	provTenant string
	// consent is CheckTenantAccess's answer per tenant (lower-case); a
	// tenant not in it has consented.
	consent map[string]error
	vnets   map[string]*azure.VNet // by lower-case id
	// getVNetErr, getErr, putErr and deleteErr fail GetVNet, GetPeering,
	// PutPeering and DeletePeering on a VNet (lower-case id).
	getVNetErr, getErr, putErr, deleteErr map[string]error
	halves                                map[string]*azure.PeeringHalf // by halfKey
	calls                                 []string                      // "put <vnet> <name> sync=<bool>", "delete …", "list …", "ensure-vnet <name>"
	reads                                 []string                      // "token <tenant>", "get-vnet <id>", "get-half <vnet>"
	// fail, when set, is asked before each write (op is the method's
	// name, what the VNet or peering name) with f.mu held; a non-nil
	// answer fails the call.
	fail func(op, what string) error
}

// failed asks fail about a write; f.mu is held.
func (f *fakeAzure) failed(op, what string) error {
	if f.fail == nil {
		return nil
	}
	return f.fail(op, what)
}

// snapshot returns the ids of the VNets and the keys of the halves, sorted.
func (f *fakeAzure) snapshot() (vnets, halves []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.vnets)), slices.Sorted(maps.Keys(f.halves))
}

var _ Azure = (*fakeAzure)(nil)

func newFakeAzure(provTenant string) *fakeAzure {
	return &fakeAzure{provTenant: provTenant, consent: map[string]error{}, vnets: map[string]*azure.VNet{},
		getVNetErr: map[string]error{}, getErr: map[string]error{}, putErr: map[string]error{}, deleteErr: map[string]error{},
		halves: map[string]*azure.PeeringHalf{}}
}

func halfKey(vnet, name string) string { return strings.ToLower(vnet) + "|" + strings.ToLower(name) }

// azErr is an Azure error as the azure package reports it.
func azErr(status int, code, msg string) error {
	return &azure.Error{Status: status, Code: code, Message: msg}
}

// denied is ARM's AuthorizationFailed for principal oid.
func denied(oid, action, scope string) error {
	return azErr(http.StatusForbidden, azure.CodeAuthorizationFailed, fmt.Sprintf(
		"The client '%s' with object id '%s' does not have authorization to perform action '%s' over scope '%s' or the scope is invalid.", oid, oid, action, scope))
}

func (f *fakeAzure) addVNet(id, location string, tags map[string]string, prefixes ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rid, _ := azure.ParseVNetID(id)
	f.vnets[strings.ToLower(id)] = &azure.VNet{ID: id, Name: rid.Name, Location: location, AddressPrefixes: prefixes, Tags: tags}
}

func (f *fakeAzure) called(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeAzure) half(vnet, name string) *azure.PeeringHalf {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h := f.halves[halfKey(vnet, name)]; h != nil {
		c := *h
		return &c
	}
	return nil
}

func (f *fakeAzure) ProviderTenantID() string { return f.provTenant }

func (f *fakeAzure) CheckTenantAccess(ctx context.Context, tenant string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, "token "+tenant)
	return f.consent[strings.ToLower(tenant)]
}

func (f *fakeAzure) GetVNet(ctx context.Context, tenant, id string) (*azure.VNet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, "get-vnet "+id)
	if err := f.getVNetErr[strings.ToLower(id)]; err != nil {
		return nil, err
	}
	v := f.vnets[strings.ToLower(id)]
	if v == nil {
		return nil, azErr(http.StatusNotFound, azure.CodeResourceNotFound, "The Resource '"+id+"' was not found.")
	}
	c := *v
	return &c, nil
}

func (f *fakeAzure) EnsureProviderVNet(ctx context.Context, name, location, cidr string, tags map[string]string) (*azure.VNet, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "ensure-vnet "+name)
	err := f.failed("EnsureProviderVNet", name)
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	id := f.ProviderVNetID(name)
	f.addVNet(id, location, tags, cidr)
	return f.GetVNet(ctx, f.provTenant, id)
}

func (f *fakeAzure) ProviderVNetID(name string) string {
	return azure.VNetID("aaaaaaaa-0000-4000-8000-000000000002", "peerplane-networks", name)
}

func (f *fakeAzure) DeleteProviderVNet(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failed("DeleteProviderVNet", name); err != nil {
		return err
	}
	delete(f.vnets, strings.ToLower(f.ProviderVNetID(name)))
	return nil
}

func (f *fakeAzure) GetPeering(ctx context.Context, tenant, localVNetID, name string) (*azure.PeeringHalf, error) {
	f.mu.Lock()
	f.reads = append(f.reads, "get-half "+localVNetID)
	err := f.getErr[strings.ToLower(localVNetID)]
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.half(localVNetID, name), nil
}

func (f *fakeAzure) ListPeerings(ctx context.Context, tenant, localVNetID string) ([]*azure.PeeringHalf, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "list "+localVNetID)
	var out []*azure.PeeringHalf
	for k, h := range f.halves {
		if strings.HasPrefix(k, strings.ToLower(localVNetID)+"|") {
			c := *h
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *azure.PeeringHalf) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *fakeAzure) PutPeering(ctx context.Context, tenant, localVNetID, name, remoteTenant, remoteVNetID string, syncRemote bool) (*azure.PeeringHalf, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("put %s %s sync=%t", localVNetID, name, syncRemote))
	if err := f.failed("PutPeering", name); err != nil {
		return nil, err
	}
	if err := f.putErr[strings.ToLower(localVNetID)]; err != nil {
		return nil, err
	}
	h := &azure.PeeringHalf{ID: localVNetID + "/virtualNetworkPeerings/" + name, Name: name, RemoteVNetID: remoteVNetID,
		State: azure.PeeringInitiated, SyncLevel: azure.SyncFullyInSync}
	if v := f.vnets[strings.ToLower(remoteVNetID)]; v != nil {
		h.RemoteAddressSpace = slices.Clone(v.AddressPrefixes)
	}
	if rev := f.halves[halfKey(remoteVNetID, name)]; rev != nil && rev.State != azure.PeeringDisconnected {
		h.State, rev.State = azure.PeeringConnected, azure.PeeringConnected
	}
	f.halves[halfKey(localVNetID, name)] = h
	c := *h
	return &c, nil
}

func (f *fakeAzure) DeletePeering(ctx context.Context, tenant, localVNetID, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "delete "+localVNetID+" "+name)
	if err := f.failed("DeletePeering", name); err != nil {
		return err
	}
	if err := f.deleteErr[strings.ToLower(localVNetID)]; err != nil {
		return err
	}
	h := f.halves[halfKey(localVNetID, name)]
	if h == nil {
		return nil
	}
	delete(f.halves, halfKey(localVNetID, name))
	if rev := f.halves[halfKey(h.RemoteVNetID, name)]; rev != nil && rev.State == azure.PeeringConnected {
		rev.State = azure.PeeringDisconnected
	}
	return nil
}
