package azureemu

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
)

// feedEvents reads the change feed over HTTP after seq.
func feedEvents(t *testing.T, te *testEmu, after int64) ([]Event, int64) {
	t.Helper()
	res, err := te.srv.Client().Get(te.srv.URL + "/_emulator/events?wait=0s&after=" + strconv.FormatInt(after, 10))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /_emulator/events: %d", res.StatusCode)
	}
	var out struct {
		Events []Event `json:"events"`
		Last   int64   `json:"last"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Events, out.Last
}

// TestEventActor: each event in the feed names who made the change: the
// application id for an app's token (the provider's peering halves, in
// either tenant), the user's object id for a user's token (a tag write),
// nothing for the operator.
func TestEventActor(t *testing.T) {
	w := newPeeringWorld(t)
	te := w.te
	ctx := context.Background()
	_, last := feedEvents(t, te, 0)

	// The operator assigns a role.
	w.createRole(t, peeringCreatorRoleID, "Confluent Cloud Peering Creator", peeringCreatorActions, nil)
	_, last = feedEvents(t, te, last)
	if _, err := te.AssignRole(ctx, w.custVNet, peeringCreatorRoleID, w.custSP.ID); err != nil {
		t.Fatal(err)
	}
	evs, last := feedEvents(t, te, last)
	if len(evs) != 1 || evs[0].Type != EventRoleAssignment || evs[0].Actor != "" {
		t.Fatalf("the operator's role assignment: %+v, want one event without an actor", evs)
	}

	// The customer's admin tags the VNet.
	vc, err := armnetwork.NewVirtualNetworksClient(testCustomerSub, w.custAdmin, te.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vc.UpdateTags(ctx, custRG, custVNetName, armnetwork.TagsObject{Tags: map[string]*string{"ConfluentEnvIDs": to.Ptr("env-1")}}, nil); err != nil {
		t.Fatal(err)
	}
	admin := te.userID(t, testCustomerAdmin)
	evs, last = feedEvents(t, te, last)
	if len(evs) != 1 || evs[0].Type != EventVNet || evs[0].Actor != admin {
		t.Fatalf("the admin's tag write: %+v, want one event by %s", evs, admin)
	}

	// The provider's app creates both halves.
	if _, err := w.provHalf(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.custHalf(); err != nil {
		t.Fatal(err)
	}
	evs, _ = feedEvents(t, te, last)
	if len(evs) == 0 {
		t.Fatal("no events for the peering halves")
	}
	for _, ev := range evs {
		if ev.Type != EventPeering || ev.Actor != DefaultProviderAppID {
			t.Errorf("the app's peering: %+v, want an actor %s", ev, DefaultProviderAppID)
		}
	}
}

// TestUnchangedWritesAreSilent: a write that leaves a resource as it was
// (the same VNet PUT again, the same peering half again, a tag merge of
// the value it has) answers as Azure does, with the resource and its
// unchanged etag, and writes nothing: no event, no generation, no change
// signal.
func TestUnchangedWritesAreSilent(t *testing.T) {
	st := &versionedMemStore{}
	w := newPeeringWorldOn(t, st)
	te := w.te
	ctx := context.Background()
	w.createRole(t, peeringCreatorRoleID, "Confluent Cloud Peering Creator", peeringCreatorActions, nil)
	if err := w.assign(t, w.custVNet, peeringCreatorRoleID, w.custSP.ID, "ServicePrincipal"); err != nil {
		t.Fatal(err)
	}
	putVNet := func(envs string) armnetwork.VirtualNetwork {
		t.Helper()
		return sdkPutVNet(t, te, w.custAdmin, testCustomerSub, custRG, custVNetName, "East US", map[string]*string{"ConfluentEnvIDs": to.Ptr(envs)}, "10.2.0.0/16")
	}
	type mark struct {
		gen     int64
		seq     int64
		changed <-chan struct{}
		version string
	}
	at := func() mark {
		_, seq, _ := te.events.since(0)
		g, _ := st.Generation(ctx)
		return mark{gen: g, seq: seq, changed: te.Changed(), version: te.stateVersion()}
	}
	// steps checks that since m the store took n generation steps and the
	// feed n events (each write here is one change with one event).
	steps := func(what string, m mark, n int) {
		t.Helper()
		evs, _, _ := te.events.since(m.seq)
		g, _ := st.Generation(ctx)
		if int(g-m.gen) != n || len(evs) != n {
			t.Fatalf("%s: %d generation steps and events %+v, want %d of each", what, g-m.gen, evs, n)
		}
		fired := false
		select {
		case <-m.changed:
			fired = true
		default:
		}
		if fired != (n > 0) || (te.stateVersion() != m.version) != (n > 0) {
			t.Fatalf("%s: Changed fired %v, snapshot version %s → %s; want a change signal only for a change", what, fired, m.version, te.stateVersion())
		}
	}

	m := at()
	first := putVNet("env-1")
	steps("a VNet PUT that changes its tags", m, 1)
	m = at()
	again := putVNet("env-1")
	steps("the same VNet PUT again", m, 0)
	if *again.Etag != *first.Etag || *again.Tags["ConfluentEnvIDs"] != "env-1" {
		t.Fatalf("the same PUT again answered etag %s tags %v, want the stored etag %s", *again.Etag, again.Tags, *first.Etag)
	}
	m = at()
	if third := putVNet("env-1,env-2"); *third.Etag == *first.Etag {
		t.Fatal("a PUT that changed the VNet kept its etag")
	}
	steps("a VNet PUT with another tag", m, 1)

	// Tags: a merge of the value the VNet has.
	tc, err := armresources.NewTagsClient(testCustomerSub, w.custAdmin, te.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	m = at()
	res, err := tc.UpdateAtScope(ctx, w.custVNet, armresources.TagsPatchResource{
		Operation:  to.Ptr(armresources.TagsPatchOperationMerge),
		Properties: &armresources.Tags{Tags: map[string]*string{"ConfluentEnvIDs": to.Ptr("env-1,env-2")}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Properties.Tags["ConfluentEnvIDs"]; v == nil || *v != "env-1,env-2" {
		t.Fatalf("the merge answered %v", res.Properties.Tags)
	}
	steps("a tag merge of the value there", m, 0)

	// The provider's half, put again as a resync would.
	if _, err := w.provHalf(); err != nil {
		t.Fatal(err)
	}
	m = at()
	p, err := w.provHalf()
	if err != nil {
		t.Fatal(err)
	}
	if *p.Properties.PeeringState != armnetwork.VirtualNetworkPeeringStateInitiated {
		t.Fatalf("the half put again: %s", *p.Properties.PeeringState)
	}
	steps("the same peering half again", m, 0)
	// A role assignment PUT again.
	m = at()
	ac, err := armauthorization.NewRoleAssignmentsClient(testCustomerSub, w.custAdmin, te.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	id := newGUID()
	params := armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr("/subscriptions/" + testCustomerSub + "/providers/Microsoft.Authorization/roleDefinitions/" + RoleReader),
		PrincipalID:      to.Ptr(w.custSP.ID),
	}}
	for range 2 {
		if _, err := ac.Create(ctx, w.custVNet, id, params, nil); err != nil {
			t.Fatal(err)
		}
	}
	steps("a role assignment PUT twice", m, 1)
}

// TestEventLogKeepsTheLastEvents: the log keeps at least its last max
// events, and since answers exactly the events after a sequence number.
func TestEventLogKeepsTheLastEvents(t *testing.T) {
	l := newEventLog(3)
	for range 10 {
		l.append(Event{Type: EventVNet}, time.Now())
	}
	all, last, _ := l.since(0)
	if last != 10 || len(all) < 3 || all[len(all)-1].Seq != 10 {
		t.Fatalf("since(0): %d events ending %+v, last %d; want at least the last 3, ending at 10", len(all), all[len(all)-1], last)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq != all[i-1].Seq+1 {
			t.Fatalf("since(0) skips from %d to %d", all[i-1].Seq, all[i].Seq)
		}
	}
	for after, want := range map[int64][]int64{8: {9, 10}, 10: nil, 11: nil, -1: nil} {
		got, _, _ := l.since(after)
		var seqs []int64
		for _, ev := range got {
			seqs = append(seqs, ev.Seq)
		}
		if after >= 0 && !slices.Equal(seqs, want) {
			t.Errorf("since(%d) = %v, want %v", after, seqs, want)
		}
	}
}
