package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/store"
)

// sampleChecklist is a checklist failed at the tag step, with text that
// JSON must carry unharmed (quotes, newlines, non-ASCII, HTML).
func sampleChecklist(at time.Time) control.Checklist {
	return control.Checklist{
		CheckedAt: at,
		Checks: []control.Check{
			control.PassCheck(control.StepConsent, "The app got a token in tenant t."),
			control.PassCheck(control.StepReadVNet, "VNet rg/v in eastus, address space 10.2.0.0/16."),
			control.FailCheck(control.StepTag, control.PeeringVNetNotAuthorizedForEnvironment,
				`VNet rg/v has ConfluentEnvIDs="env-x". Only <listed> environments may peer — “quoted”.`,
				"Add the environment:\naz resource tag --tags ConfluentEnvIDs=env-x,env-a"),
			control.SkippedCheck(control.StepAddressSpace),
		},
		Fixes: control.GrantFixes{ConsentURL: "https://login.example/t/oauth2/authorize?client_id=a&response_type=code",
			RoleDefinitionCreate: `az role definition create --role-definition '{"Name": "x"}'`, Tag: "az resource tag"},
	}
}

// testControlPeeringChecklist: the checklist is stored with the peering's
// status and read back whole, across a reopen (another replica, a
// restart); a status write that changes nothing but the checklist's
// CheckedAt writes nothing; a retry keeps the checklist; a write computed
// from a stale status is refused.
func testControlPeeringChecklist(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	octx, svc, env := seedService(t, open)
	clock := t0
	svc.Now = func() time.Time { return clock }
	n := newNetwork(env.ID, "10.1.0.0/16")
	if err := svc.CreateNetwork(octx, n); err != nil {
		t.Fatal(err)
	}
	p := &control.Peering{EnvironmentID: env.ID, NetworkID: n.ID, CustomerRegion: "eastus", Tenant: "5f1c2e3d-1111-4a2b-9c3d-0123456789ab",
		VNet: "/subscriptions/0a1b2c3d-2222-4e5f-8a9b-abcdefabcdef/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet"}
	if err := svc.CreatePeering(octx, p); err != nil {
		t.Fatal(err)
	}
	if !p.Status.Checklist.IsZero() {
		t.Fatalf("a new peering has a checklist: %+v", p.Status.Checklist)
	}

	// The reconciler's first pass: FAILED with its checklist.
	clock = t0.Add(time.Minute)
	list := sampleChecklist(t0.Add(time.Minute))
	failed := control.PeeringStatusOf(list)
	got, err := svc.UpdatePeeringStatusFrom(ctx, p.ID, p.Status, failed)
	if err != nil {
		t.Fatal(err)
	}
	written := got.UpdatedAt
	read := func(db *store.DB) *control.Peering {
		t.Helper()
		var got *control.Peering
		view(t, db.Control(), func(tx control.Tx) error {
			var err error
			got, err = tx.FindPeeringByID(ctx, control.AllOrgs(), p.ID)
			return err
		})
		return got
	}
	stored := read(open(t)) // a second handle, as another replica
	same(t, "stored checklist", stored.Status.Checklist, list)
	if stored.Status.Phase != control.PhaseFailed || stored.Status.ErrorCode != control.PeeringVNetNotAuthorizedForEnvironment ||
		stored.Status.ErrorMessage != list.Checks[2].Evidence {
		t.Fatalf("stored status %+v", stored.Status)
	}
	view(t, open(t).Control(), func(tx control.Tx) error {
		ps, err := tx.FindPeerings(ctx, control.AllOrgs(), control.PeeringFilter{NetworkIDs: []string{n.ID}})
		if err != nil {
			return err
		}
		if len(ps) != 1 {
			t.Fatalf("%d peerings listed", len(ps))
		}
		same(t, "listed checklist", ps[0].Status.Checklist, list)
		// A list that asks for no checklist gets the rest of the row.
		ps, err = tx.FindPeerings(ctx, control.AllOrgs(), control.PeeringFilter{NetworkIDs: []string{n.ID}, WithoutChecklist: true})
		if err != nil {
			return err
		}
		if len(ps) != 1 || !ps[0].Status.Checklist.IsZero() {
			t.Fatalf("listed without checklist: %+v", ps)
		}
		want := *stored
		want.Status.Checklist = control.Checklist{}
		same(t, "listed without checklist", *ps[0], want)
		return nil
	})

	// The next pass finds the same: only CheckedAt moved, nothing is written.
	clock = t0.Add(2 * time.Minute)
	again := control.PeeringStatusOf(sampleChecklist(t0.Add(2 * time.Minute)))
	if got, err = svc.UpdatePeeringStatusFrom(ctx, p.ID, stored.Status, again); err != nil {
		t.Fatal(err)
	}
	if s := read(open(t)); !s.UpdatedAt.Equal(written) || !s.Status.Checklist.CheckedAt.Equal(list.CheckedAt) {
		t.Fatalf("an unchanged checklist was rewritten: updated %s (was %s), checked %s", s.UpdatedAt, written, s.Status.Checklist.CheckedAt)
	}

	// A check that changed is written.
	changed := sampleChecklist(t0.Add(2 * time.Minute))
	changed.Checks[2].Fix += " (now with the env)"
	if _, err := svc.UpdatePeeringStatusFrom(ctx, p.ID, stored.Status, control.PeeringStatusOf(changed)); err != nil {
		t.Fatal(err)
	}
	stored = read(open(t))
	same(t, "changed checklist", stored.Status.Checklist, changed)
	if !stored.UpdatedAt.Equal(clock) {
		t.Fatalf("updated_at %s, want %s", stored.UpdatedAt, clock)
	}

	// A retry resets the phase and keeps the checklist; a write computed
	// from the status before the retry is refused.
	retried, err := svc.RetryPeering(octx, env.ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if retried.Status.Phase != control.PhaseProvisioning || retried.Status.ErrorCode != "" {
		t.Fatalf("after retry: %+v", retried.Status)
	}
	same(t, "checklist after retry", read(open(t)).Status.Checklist, changed)
	_, err = svc.UpdatePeeringStatusFrom(ctx, p.ID, stored.Status, control.PeeringStatusOf(changed))
	wantCode(t, err, control.ECONFLICT)
	if s := read(open(t)); s.Status.Phase != control.PhaseProvisioning {
		t.Fatalf("a stale write undid the retry: %+v", s.Status)
	}
}
