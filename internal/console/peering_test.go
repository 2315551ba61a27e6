package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/console"
	"github.com/peerplane/peerplane/internal/control"
)

// TestPeeringPageReadsTheStoredChecklist: the peering page renders the
// checklist stored with the peering and asks Azure nothing; "Continue"
// checks the consent alone, once, and tells the steps still undone from
// the stored checklist and that fresh answer.
func TestPeeringPageReadsTheStoredChecklist(t *testing.T) {
	var consentCalls atomic.Int32
	var consent atomic.Value // func() (control.Check, error)
	f := newFixture(t, func(o *console.Options, _ *control.Service, _ *control.Organization) {
		o.CheckConsent = func(ctx context.Context, p *control.Peering) (control.Check, error) {
			consentCalls.Add(1)
			return consent.Load().(func() (control.Check, error))()
		}
	})
	f.signIn(f.secret)
	ctx := control.NewContextWithOrganization(context.Background(), mustOrg(t, f))
	env := &control.Environment{DisplayName: "prod"}
	if err := f.svc.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	n := &control.Network{EnvironmentID: env.ID, DisplayName: "net", Cloud: "AZURE", Region: "eastus", CIDR: "10.10.0.0/16", ConnectionTypes: []string{"PEERING"}}
	if err := f.svc.CreateNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	p := &control.Peering{EnvironmentID: env.ID, NetworkID: n.ID, DisplayName: "contoso", Cloud: "AZURE", CustomerRegion: "eastus",
		Tenant: "5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01",
		VNet:   "/subscriptions/6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02/resourceGroups/contoso-network/providers/Microsoft.Network/virtualNetworks/contoso-vnet"}
	if err := f.svc.CreatePeering(ctx, p); err != nil {
		t.Fatal(err)
	}
	peerURL := "/console/environments/" + env.ID + "/peerings/" + p.ID

	// Never checked: every step pending.
	_, body, _ := f.get(peerURL)
	if strings.Count(body, `<li class="check PENDING">`) != len(control.PeeringSteps) || !strings.Contains(body, "Not checked yet: the reconciler checks it next.") {
		t.Fatalf("a peering never checked does not show its steps pending:\n%s", body)
	}

	// The reconciler's pass: no consent.
	app := control.ProviderApp{AppID: "f0955e3a-9013-4cf4-a1ea-21587621c9cc", LoginURL: "https://login.example"}
	fixes := control.NewGrantFixes(app, p)
	list := control.Checklist{CheckedAt: time.Now(), Fixes: fixes, Checks: []control.Check{
		control.FailCheck(control.StepConsent, control.PeeringAppNotConsented, "The provider app has no service principal in tenant 5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01.", "Consent."),
	}}
	for _, step := range control.PeeringSteps[1:] {
		list.Checks = append(list.Checks, control.SkippedCheck(step))
	}
	if _, err := f.svc.UpdatePeeringStatusFrom(context.Background(), p.ID, p.Status, control.PeeringStatusOf(list)); err != nil {
		t.Fatal(err)
	}
	_, body, _ = f.get(peerURL)
	for _, want := range []string{fixes.ConsentURL, fixes.RoleDefinitionCreate, fixes.RoleAssignmentCreate, fixes.Tag, control.PeeringRoleAdvice,
		"has no service principal in tenant", "APP_NOT_CONSENTED"} {
		if !strings.Contains(html.UnescapeString(body), want) {
			t.Errorf("the peering page lacks %q", want)
		}
	}
	if consentCalls.Load() != 0 {
		t.Fatalf("rendering the page checked the consent %d times", consentCalls.Load())
	}

	tok := f.csrf(peerURL)
	cont := func() (ok bool, msg, grant string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+peerURL+"/continue", strings.NewReader(url.Values{"csrf": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", f.srv.URL)
		req.Header.Set("X-Console-Fragment", "1")
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var res struct {
			OK      bool
			Message string
			Patches []struct{ Key, HTML string }
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &res) != nil {
			t.Fatalf("continue: %d %s", resp.StatusCode, b)
		}
		for _, p := range res.Patches {
			if p.Key == "grant" {
				grant = p.HTML
			}
		}
		return res.OK, res.Message, grant
	}

	// Still no consent in Azure.
	consent.Store(func() (control.Check, error) { return list.Checks[0], nil })
	if ok, msg, _ := cont(); ok || !strings.Contains(msg, "is not present in tenant") || consentCalls.Load() != 1 {
		t.Fatalf("continue before consent: %t %q, %d checks", ok, msg, consentCalls.Load())
	}
	// Consented since: step 1 is done at once; the steps the reconciler
	// has not reached are not checked yet.
	consent.Store(func() (control.Check, error) {
		return control.PassCheck(control.StepConsent, "The app got a token."), nil
	})
	ok, msg, grant := cont()
	if !ok || !strings.Contains(msg, "is present in tenant 5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01") ||
		!strings.Contains(msg, "Not checked yet: step 2 (create the custom role), step 3") || consentCalls.Load() != 2 {
		t.Fatalf("continue after consent: %t %q", ok, msg)
	}
	if !strings.Contains(grant, `class="step done" id="step-1"`) || !strings.Contains(grant, `class="step unknown" id="step-2"`) {
		t.Fatalf("grant steps after consent:\n%s", grant)
	}
	// Azure not answering: said so, nothing concluded.
	consent.Store(func() (control.Check, error) { return control.Check{}, errors.New("connection refused") })
	if ok, msg, _ := cont(); ok || !strings.Contains(msg, "could not be checked") {
		t.Fatalf("continue without Azure: %t %q", ok, msg)
	}
}
