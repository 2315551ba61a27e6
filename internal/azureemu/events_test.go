package azureemu

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
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
