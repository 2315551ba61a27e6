package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/control"
)

// TestDiagnosis: GET /peerplane/v1/peerings/{id}/diagnosis answers the
// checklist stored with the peering (every step PENDING before the
// reconciler's first pass), with the fixes, and nothing of another
// environment or organization.
func TestDiagnosis(t *testing.T) {
	h := newHarness(t)
	ctx := control.NewContextWithOrganization(context.Background(), h.org)
	env := &control.Environment{DisplayName: "prod"}
	if err := h.svc.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	n := &control.Network{EnvironmentID: env.ID, DisplayName: "n", Cloud: "AZURE", Region: "eastus", CIDR: "10.10.0.0/16", ConnectionTypes: []string{"PEERING"}}
	if err := h.svc.CreateNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	p := &control.Peering{EnvironmentID: env.ID, NetworkID: n.ID, DisplayName: "p", Cloud: "AZURE", CustomerRegion: "eastus",
		Tenant: tenantID, VNet: vnetID("rg", "vnet")}
	if err := h.svc.CreatePeering(ctx, p); err != nil {
		t.Fatal(err)
	}
	path := "/peerplane/v1/peerings/" + p.ID + "/diagnosis?environment=" + env.ID

	t.Run("pending", func(t *testing.T) {
		r := h.do("GET", path, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		d := r.json(t)
		if _, ok := d["checked_at"]; ok || len(d["checks"].([]any)) != len(control.PeeringSteps) {
			t.Fatalf("a peering never checked: %s", r.body)
		}
		golden(t, r)
	})

	// The reconciler's pass, stored with the status.
	app := control.ProviderApp{AppID: "f0955e3a-9013-4cf4-a1ea-21587621c9cc", LoginURL: "https://login.microsoftonline.com"}
	fixes := control.NewGrantFixes(app, p)
	list := control.Checklist{CheckedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Fixes: fixes, Checks: []control.Check{
		control.PassCheck(control.StepConsent, "The app got a token."),
		control.PassCheck(control.StepReadVNet, "VNet rg/vnet in eastus."),
		control.FailCheck(control.StepTag, control.PeeringVNetNotAuthorizedForEnvironment, `VNet rg/vnet has ConfluentEnvIDs="env-other1".`, "Add the environment:\n"+fixes.Tag),
		control.SkippedCheck(control.StepAddressSpace),
		control.SkippedCheck(control.StepRegion),
		control.SkippedCheck(control.StepProviderHalf),
		control.SkippedCheck(control.StepCustomerHalf),
	}}
	if _, err := h.svc.UpdatePeeringStatusFrom(context.Background(), p.ID, p.Status, control.PeeringStatusOf(list)); err != nil {
		t.Fatal(err)
	}
	t.Run("failed", func(t *testing.T) {
		r := h.do("GET", path, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		d := r.json(t)
		checks := d["checks"].([]any)
		tag := checks[2].(map[string]any)
		if d["phase"] != "FAILED" || d["checked_at"] != "2030-01-01T00:00:00Z" || tag["status"] != "FAIL" ||
			tag["error_code"] != control.PeeringVNetNotAuthorizedForEnvironment || d["fixes"].(map[string]any)["tag_command"] != fixes.Tag {
			t.Fatalf("diagnosis %s", r.body)
		}
		golden(t, r)
	})

	t.Run("no environment", func(t *testing.T) {
		h.do("GET", "/peerplane/v1/peerings/"+p.ID+"/diagnosis", nil).wantError(t, http.StatusBadRequest, "invalid_parameter", "environment")
	})
	t.Run("other environment", func(t *testing.T) {
		h.do("GET", "/peerplane/v1/peerings/"+p.ID+"/diagnosis?environment=env-nope00", nil).wantError(t, http.StatusNotFound, "not_found", "")
	})
	t.Run("other organization", func(t *testing.T) {
		_, key, secret := h.newOrg("other", false)
		h.do("GET", path, nil, key+":"+secret).wantError(t, http.StatusNotFound, "not_found", "")
	})
}
