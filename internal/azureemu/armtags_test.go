package azureemu

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
)

func strPtrs(m map[string]string) map[string]*string {
	out := map[string]*string{}
	for k, v := range m {
		out[k] = to.Ptr(v)
	}
	return out
}

func tagValues(m map[string]*string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = *v
	}
	return out
}

func wantTags(t *testing.T, what string, got *armresources.TagsResource, id string, want map[string]string) {
	t.Helper()
	if got.ID == nil || *got.ID != id+"/providers/Microsoft.Resources/tags/default" || *got.Name != "default" || *got.Type != "Microsoft.Resources/tags" {
		t.Fatalf("%s: id %v name %v type %v", what, to.Ptr(got.ID), got.Name, got.Type)
	}
	if g := tagValues(got.Properties.Tags); !maps.Equal(g, want) {
		t.Fatalf("%s: tags %v, want %v", what, g, want)
	}
}

// TestTagsAtScopeSDK drives `az tag update|create`'s API through
// armresources.TagsClient on a VNet, an NSG and a resource group.
func TestTagsAtScopeSDK(t *testing.T) {
	w := newPeeringWorld(t)
	ctx := context.Background()
	tc, err := armresources.NewTagsClient(testCustomerSub, w.custAdmin, w.te.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	merge := func(scope string, tags map[string]string) armresources.TagsResource {
		t.Helper()
		res, err := tc.UpdateAtScope(ctx, scope, armresources.TagsPatchResource{
			Operation:  to.Ptr(armresources.TagsPatchOperationMerge),
			Properties: &armresources.Tags{Tags: strPtrs(tags)},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.TagsResource
	}
	_, seq, _ := w.te.events.since(0)

	// Merge onto a VNet: the change is an EventVNet, as a PATCH of the VNet is.
	res := merge(w.custVNet, map[string]string{"ConfluentEnvIDs": "env-1"})
	wantTags(t, "merge", &res, w.custVNet, map[string]string{"ConfluentEnvIDs": "env-1"})
	evs, _, _ := w.te.events.since(seq)
	if len(evs) != 1 || evs[0].Type != EventVNet || evs[0].ResourceID != w.custVNet || evs[0].TenantID != testCustomerTenant {
		t.Fatalf("events after a tag merge: %+v", evs)
	}
	// Names match case-insensitively and keep their casing.
	res = merge(w.custVNet, map[string]string{"confluentenvids": "env-1,env-2", "owner": "net-team"})
	want := map[string]string{"ConfluentEnvIDs": "env-1,env-2", "owner": "net-team"}
	wantTags(t, "merge again", &res, w.custVNet, want)
	vc, err := armnetwork.NewVirtualNetworksClient(testCustomerSub, w.custAdmin, w.te.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	v, err := vc.Get(ctx, custRG, custVNetName, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := tagValues(v.Tags); !maps.Equal(g, want) {
		t.Fatalf("VNet tags %v, want %v", g, want)
	}

	// Delete by name, or by name and value when a value is given.
	del, err := tc.UpdateAtScope(ctx, w.custVNet, armresources.TagsPatchResource{
		Operation:  to.Ptr(armresources.TagsPatchOperationDelete),
		Properties: &armresources.Tags{Tags: strPtrs(map[string]string{"OWNER": "someone-else", "missing": ""})},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantTags(t, "delete with another value", &del.TagsResource, w.custVNet, want)
	del, err = tc.UpdateAtScope(ctx, w.custVNet, armresources.TagsPatchResource{
		Operation:  to.Ptr(armresources.TagsPatchOperationDelete),
		Properties: &armresources.Tags{Tags: strPtrs(map[string]string{"OWNER": ""})},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantTags(t, "delete by name", &del.TagsResource, w.custVNet, map[string]string{"ConfluentEnvIDs": "env-1,env-2"})

	// Replace, with PUT (Create Or Update At Scope) and with PATCH.
	put, err := tc.CreateOrUpdateAtScope(ctx, w.custVNet, armresources.TagsResource{
		Properties: &armresources.Tags{Tags: strPtrs(map[string]string{"a": "1", "b": "2"})}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantTags(t, "put", &put.TagsResource, w.custVNet, map[string]string{"a": "1", "b": "2"})
	rep, err := tc.UpdateAtScope(ctx, w.custVNet, armresources.TagsPatchResource{
		Operation:  to.Ptr(armresources.TagsPatchOperationReplace),
		Properties: &armresources.Tags{Tags: strPtrs(map[string]string{"ConfluentEnvIDs": "env-3"})},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantTags(t, "replace", &rep.TagsResource, w.custVNet, map[string]string{"ConfluentEnvIDs": "env-3"})
	got, err := tc.GetAtScope(ctx, w.custVNet, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantTags(t, "get", &got.TagsResource, w.custVNet, map[string]string{"ConfluentEnvIDs": "env-3"})
	// The delete with another value changed nothing: no event for it.
	if evs, _, _ := w.te.events.since(seq); len(evs) != 5 {
		t.Fatalf("want an event per tag write that changed the tags (5), got %+v", evs)
	}

	// An NSG and a resource group, whose tags start out empty.
	nsg := "/subscriptions/" + testCustomerSub + "/resourceGroups/" + custRG + "/providers/Microsoft.Network/networkSecurityGroups/nsg"
	if st, b := armCall(t, w.te.Emulator, w.adminCaller(t, testCustomerTenant, testCustomerAdmin), "PUT", nsg, map[string]any{"location": "eastus"}); st != 201 {
		t.Fatalf("nsg: %d %s", st, b)
	}
	got, err = tc.GetAtScope(ctx, nsg, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantTags(t, "nsg get", &got.TagsResource, nsg, map[string]string{})
	res = merge(nsg, map[string]string{"k": "v"})
	wantTags(t, "nsg merge", &res, nsg, map[string]string{"k": "v"})
	rg := "/subscriptions/" + testCustomerSub + "/resourceGroups/" + custRG
	res = merge(strings.ToLower(rg), map[string]string{"env": "prod"})
	wantTags(t, "rg merge", &res, rg, map[string]string{"env": "prod"})
	rgc, err := armresources.NewResourceGroupsClient(testCustomerSub, w.custAdmin, w.te.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	g, err := rgc.Get(ctx, custRG, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tv := tagValues(g.Tags); !maps.Equal(tv, map[string]string{"env": "prod"}) {
		t.Fatalf("resource group tags %v", tv)
	}
	if _, err := tc.DeleteAtScope(ctx, rg, nil); err != nil {
		t.Fatal(err)
	}
	got, err = tc.GetAtScope(ctx, rg, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantTags(t, "rg after delete", &got.TagsResource, rg, map[string]string{})
}

// TestTagsAtScopeRBAC checks who may read and write tags: holders of
// Microsoft.Resources/tags/* without access to the resource, and holders of
// the resource's own read or write action.
func TestTagsAtScopeRBAC(t *testing.T) {
	w := newPeeringWorld(t)
	ctx := context.Background()
	sp := w.custSP.ID
	tc, err := armresources.NewTagsClient(testCustomerSub, w.spCust, w.te.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	mergeEnv := func() error {
		_, err := tc.UpdateAtScope(ctx, w.custVNet, armresources.TagsPatchResource{
			Operation:  to.Ptr(armresources.TagsPatchOperationMerge),
			Properties: &armresources.Tags{Tags: strPtrs(map[string]string{"ConfluentEnvIDs": "env-1"})},
		}, nil)
		return err
	}
	msg := wantARMError(t, mergeEnv(), 403, "AuthorizationFailed")
	if !strings.Contains(msg, actTagsWrite) {
		t.Fatalf("the error should name %s: %s", actTagsWrite, msg)
	}
	_, err = tc.GetAtScope(ctx, w.custVNet, nil)
	wantARMError(t, err, 403, "AuthorizationFailed")

	// The VNet's read action lets it read the tags, not write them.
	w.createRole(t, "0b8d2f7e-1c1d-4c55-9f0e-5a4b3c2d1e01", "VNet Reader", []string{actVNetRead}, nil)
	if err := w.assign(t, w.custVNet, "0b8d2f7e-1c1d-4c55-9f0e-5a4b3c2d1e01", sp, "ServicePrincipal"); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.GetAtScope(ctx, w.custVNet, nil); err != nil {
		t.Fatal(err)
	}
	wantARMError(t, mergeEnv(), 403, "AuthorizationFailed")

	// The VNet's write action (as Network Contributor has) writes its tags.
	w.createRole(t, "0b8d2f7e-1c1d-4c55-9f0e-5a4b3c2d1e02", "VNet Writer", []string{actVNetWrite}, nil)
	if err := w.assign(t, w.custVNet, "0b8d2f7e-1c1d-4c55-9f0e-5a4b3c2d1e02", sp, "ServicePrincipal"); err != nil {
		t.Fatal(err)
	}
	if err := mergeEnv(); err != nil {
		t.Fatal(err)
	}

	// Microsoft.Resources/tags/* (Tag Contributor) reads and writes the
	// tags of a resource group it cannot write.
	rg := "/subscriptions/" + testCustomerSub + "/resourceGroups/" + custRG
	w.createRole(t, "0b8d2f7e-1c1d-4c55-9f0e-5a4b3c2d1e03", "Tag Writer", []string{"Microsoft.Resources/tags/*"}, nil)
	if err := w.assign(t, rg, "0b8d2f7e-1c1d-4c55-9f0e-5a4b3c2d1e03", sp, "ServicePrincipal"); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.UpdateAtScope(ctx, rg, armresources.TagsPatchResource{
		Operation:  to.Ptr(armresources.TagsPatchOperationMerge),
		Properties: &armresources.Tags{Tags: strPtrs(map[string]string{"cost-center": "42"})},
	}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := tc.GetAtScope(ctx, rg, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantTags(t, "rg", &got.TagsResource, rg, map[string]string{"cost-center": "42"})
	rgc, err := armresources.NewResourceGroupsClient(testCustomerSub, w.spCust, w.te.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = rgc.Update(ctx, custRG, armresources.ResourceGroupPatchable{Tags: strPtrs(map[string]string{"x": "y"})}, nil)
	wantARMError(t, err, 403, "AuthorizationFailed")
	if _, err := tc.DeleteAtScope(ctx, rg, nil); err != nil {
		t.Fatal(err)
	}

	provTC, err := armresources.NewTagsClient(testCustomerSub, w.provAdmin, w.te.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	// The wrong tenant's token is refused before anything else.
	_, err = provTC.GetAtScope(ctx, w.custVNet, nil)
	wantARMError(t, err, 401, "InvalidAuthenticationTokenTenant")
}

// TestTagsAtScopeGolden pins the wire shape of az tag update's call and
// of its errors, and checks every bad input is a 4xx that changes nothing.
func TestTagsAtScopeGolden(t *testing.T) {
	w := newPeeringWorld(t)
	e := w.te.Emulator
	cust := w.adminCaller(t, testCustomerTenant, testCustomerAdmin)
	tags := w.custVNet + "/providers/Microsoft.Resources/tags/default?api-version=2019-10-01"
	st, b := armCall(t, e, cust, "PATCH", tags, `{"operation":"Merge","properties":{"tags":{"ConfluentEnvIDs":"env-1"}}}`)
	if st != 200 {
		t.Fatalf("az tag update: %d %s", st, b)
	}
	armGolden(t, e.base, "tags-update", b)
	st, b = armCall(t, e, w.spCust.caller[""], "PATCH", tags, `{"operation":"Merge","properties":{"tags":{"k":"v"}}}`)
	if st != 403 {
		t.Fatalf("no permission: %d %s", st, b)
	}
	armGolden(t, e.base, "error-tags-authorizationfailed", b)

	subnet := w.custVNet + "/subnets/default/providers/Microsoft.Resources/tags/default"
	many := map[string]string{}
	for i := range 51 {
		many["t"+string(rune('a'+i/26))+string(rune('a'+i%26))] = "v"
	}
	for _, c := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"PATCH", tags, `{"operation":"Upsert","properties":{"tags":{}}}`, 400},
		{"PATCH", tags, `{"properties":{"tags":{"k":"v"}}}`, 400},
		{"PATCH", tags, `{"operation":"Merge"}`, 400},
		{"PATCH", tags, `{"operation":"Merge","properties":{"tags":{"a/b":"v"}}}`, 400},
		{"PATCH", tags, map[string]any{"operation": "Merge", "properties": map[string]any{"tags": many}}, 400},
		{"PATCH", tags, `{"operation":"Merge","properties":{"tags":{"k":1}}}`, 400},
		{"PATCH", tags, `{"operation":7}`, 400},
		{"PATCH", tags, ``, 400},
		{"PUT", tags, `{"properties":null}`, 400},
		{"PUT", tags, `[]`, 400},
		{"POST", tags, `{}`, 405},
		{"GET", subnet, nil, 400},
		{"GET", "/subscriptions/" + testCustomerSub + "/providers/Microsoft.Resources/tags/default", nil, 400},
		{"GET", "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Resources/tags/default", nil, 400},
		{"GET", w.custVNet + "/providers/Microsoft.Resources/tags/other", nil, 404},
		{"GET", w.custVNet + "/providers/Microsoft.Resources/tags", nil, 404},
		{"GET", strings.Replace(w.custVNet, custVNetName, "nope", 1) + "/providers/Microsoft.Resources/tags/default", nil, 404},
		{"PATCH", "/subscriptions/" + testCustomerSub + "/resourceGroups/nope/providers/Microsoft.Resources/tags/default", `{"operation":"Merge","properties":{"tags":{}}}`, 404},
	} {
		st, b := armCall(t, e, cust, c.method, c.path, c.body)
		if st != c.status {
			t.Errorf("%s %s %v: %d %s, want %d", c.method, c.path, c.body, st, b, c.status)
		}
	}
	st, b = armCall(t, e, cust, "GET", tags, nil)
	if st != 200 {
		t.Fatalf("get: %d %s", st, b)
	}
	armGolden(t, e.base, "tags-update", b)
}

func FuzzTagsAtScope(f *testing.F) {
	w := newARMFuzzWorld(f)
	for _, s := range []string{
		`{"operation":"Merge","properties":{"tags":{"ConfluentEnvIDs":"env-1"}}}`,
		`{"operation":"delete","properties":{"tags":{"CONFLUENTENVIDS":"","x":"y"}}}`,
		`{"operation":"Replace","properties":{"tags":{"a":"1","A":"2"}}}`,
		`{"properties":{"tags":null}}`, `{"operation":null,"properties":{}}`, `{"operation":"Merge","properties":{"tags":{"":"v"}}}`,
	} {
		f.Add([]byte(s))
	}
	rg := "/subscriptions/" + testCustomerSub + "/resourceGroups/rg"
	f.Fuzz(func(t *testing.T, body []byte) {
		w.run(t, func() {
			for _, scope := range []string{w.vnet, rg} {
				w.check(t, http.MethodPatch, scope+"/providers/Microsoft.Resources/tags/default", body)
				w.check(t, http.MethodPut, scope+"/providers/Microsoft.Resources/tags/default", body)
			}
		})
	})
}
