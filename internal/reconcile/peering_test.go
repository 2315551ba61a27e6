package reconcile

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/control"
)

const (
	provTenant = "aaaaaaaa-0000-4000-8000-000000000001"
	custTenant = "bbbbbbbb-0000-4000-8000-000000000001"
	custSub    = "bbbbbbbb-0000-4000-8000-000000000002"
	custSP     = "cccccccc-0000-4000-8000-000000000003" // the app's service principal in the customer tenant
	testAppID  = "f0955e3a-9013-4cf4-a1ea-21587621c9cc"
)

var (
	custVNet  = azure.VNetID(custSub, "rg", "vnet")
	testApp   = control.ProviderApp{AppID: testAppID, LoginURL: "https://login.example/"}
	testClock = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
)

// world is a peering of a READY network with a customer VNet that is
// granted everything (consented, readable, tagged, private, same region):
// each test takes one grant away.
type world struct {
	az       *fakeAzure
	p        *control.Peering
	n        *control.Network
	settings control.Settings
}

func newWorld() *world {
	fa := newFakeAzure(provTenant)
	n := &control.Network{ID: "n-abc123", EnvironmentID: "env-abc123", Region: "eastus", CIDR: "10.10.0.0/16",
		Status: control.NetworkStatus{Phase: control.PhaseReady, AzureVNet: fa.ProviderVNetID("n-abc123")}}
	fa.addVNet(n.Status.AzureVNet, "eastus", nil, n.CIDR)
	fa.addVNet(custVNet, "eastus", map[string]string{control.EnvTag: "env-abc123"}, "10.1.0.0/16")
	p := &control.Peering{ID: "peer-abc123", EnvironmentID: n.EnvironmentID, NetworkID: n.ID, Tenant: custTenant, VNet: custVNet,
		CustomerRegion: "eastus", Status: control.PeeringStatus{Phase: control.PhaseProvisioning}}
	return &world{az: fa, p: p, n: n, settings: control.DefaultSettings()}
}

// connect makes both halves, Connected, and the peering READY.
func (w *world) connect() {
	ctx := context.Background()
	w.az.PutPeering(ctx, provTenant, w.n.Status.AzureVNet, w.p.ID, custTenant, custVNet, false)
	w.az.PutPeering(ctx, custTenant, custVNet, w.p.ID, provTenant, w.n.Status.AzureVNet, false)
	w.p.Status.Phase = control.PhaseReady
}

func (w *world) pass() *peeringPass {
	return newPeeringPass(w.az, testApp, w.settings, testClock, w.p, w.n)
}

// check runs the steps up to step (each before it must pass) and returns
// step's check.
func (w *world) check(t *testing.T, step string) (control.Check, error) {
	t.Helper()
	r := w.pass()
	for _, s := range r.steps() {
		ch, err := s.run(context.Background())
		if s.name == step {
			return ch, err
		}
		if err != nil || ch.Status != control.CheckPass {
			t.Fatalf("step %s before %s: %+v, %v", s.name, step, ch, err)
		}
	}
	t.Fatalf("no step %s", step)
	return control.Check{}, nil
}

// want asserts a check's step, status and code, and that its evidence
// names every one of names.
func want(t *testing.T, ch control.Check, step, status, code string, names ...string) {
	t.Helper()
	if ch.Step != step || ch.Status != status || ch.ErrorCode != code || ch.Title != control.StepTitle(step) {
		t.Fatalf("check = %+v, want step %s %s %q", ch, step, status, code)
	}
	for _, n := range names {
		if !strings.Contains(ch.Evidence, n) {
			t.Fatalf("evidence does not name %q:\n%s", n, ch.Evidence)
		}
	}
	if status == control.CheckFail && ch.Fix == "" {
		t.Fatalf("failed check without a fix: %+v", ch)
	}
}

func wantIn(t *testing.T, what, text string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(text, s) {
			t.Fatalf("%s does not contain %q:\n%s", what, s, text)
		}
	}
}

func TestCheckConsent(t *testing.T) {
	consentURL := "https://login.example/" + custTenant + "/oauth2/authorize?client_id=" + testAppID + "&response_type=code"
	t.Run("consented", func(t *testing.T) {
		ch, err := newWorld().check(t, control.StepConsent)
		if err != nil {
			t.Fatal(err)
		}
		want(t, ch, control.StepConsent, control.CheckPass, "", testAppID, custTenant)
	})
	t.Run("no service principal", func(t *testing.T) {
		w := newWorld()
		w.az.consent[custTenant] = azErr(400, azure.CodeAppNotInTenant, "AADSTS700016: Application with identifier '"+testAppID+"' was not found in the directory.")
		ch, err := w.check(t, control.StepConsent)
		if err != nil {
			t.Fatal(err)
		}
		want(t, ch, control.StepConsent, control.CheckFail, control.PeeringAppNotConsented, testAppID, custTenant, consentURL)
		wantIn(t, "fix", ch.Fix, consentURL, "az ad sp create --id "+testAppID)
	})
	t.Run("no such tenant", func(t *testing.T) {
		w := newWorld()
		w.az.consent[custTenant] = azErr(400, azure.CodeTenantNotFound, "AADSTS90002: Tenant '"+custTenant+"' not found.")
		ch, err := w.check(t, control.StepConsent)
		if err != nil {
			t.Fatal(err)
		}
		want(t, ch, control.StepConsent, control.CheckFail, control.PeeringTenantNotFound, custTenant, "does not exist")
		wantIn(t, "fix", ch.Fix, "az account show --subscription "+custSub)
		if strings.Contains(ch.Evidence+ch.Fix, "consent") {
			t.Fatalf("an unknown tenant is told to consent:\n%s\n%s", ch.Evidence, ch.Fix)
		}
	})
	t.Run("the provider's own tenant or subscription", func(t *testing.T) {
		for name, acct := range map[string]control.ProviderAccount{
			"tenant":       {TenantID: custTenant},
			"subscription": {SubscriptionID: custSub},
		} {
			w := newWorld()
			r := w.pass()
			r.provider = acct
			ch, err := r.checkConsent(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want(t, ch, control.StepConsent, control.CheckFail, control.PeeringProviderVNet, "provider's own")
			if len(w.az.calls)+len(w.az.reads) != 0 {
				t.Fatalf("%s: Azure was asked %v %v before the peering was refused", name, w.az.reads, w.az.calls)
			}
		}
	})
	t.Run("Entra ID failing", func(t *testing.T) {
		w := newWorld()
		w.az.consent[custTenant] = azErr(500, "AADSTS90033", "AADSTS90033: A transient error has occurred.")
		if ch, err := w.check(t, control.StepConsent); err == nil {
			t.Fatalf("a transient error concluded %+v", ch)
		}
	})
	t.Run("CheckConsent", func(t *testing.T) {
		w := newWorld()
		w.az.consent[custTenant] = azErr(400, azure.CodeAppNotInTenant, "AADSTS700016")
		c := New(Config{Azure: w.az, App: testApp, Control: settingsOnly{}})
		ch, err := c.CheckConsent(context.Background(), w.p)
		if err != nil {
			t.Fatal(err)
		}
		want(t, ch, control.StepConsent, control.CheckFail, control.PeeringAppNotConsented, consentURL)
		if len(w.az.calls) != 0 {
			t.Fatalf("CheckConsent called Azure beyond the token: %v", w.az.calls)
		}
	})
}

// settingsOnly is a Control for tests that need only Settings.
type settingsOnly struct{ Control }

func (settingsOnly) Settings() control.Settings { return control.DefaultSettings() }

func TestReadVNet(t *testing.T) {
	ref := "rg/vnet in subscription " + custSub
	t.Run("readable", func(t *testing.T) {
		w := newWorld()
		w.az.vnets[strings.ToLower(custVNet)].Tags = map[string]string{"confluentenvids": "env-other, env-abc123"}
		r := w.pass()
		if ch, err := r.checkConsent(context.Background()); err != nil || ch.Status != control.CheckPass {
			t.Fatal(ch, err)
		}
		ch, err := r.readVNet(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want(t, ch, control.StepReadVNet, control.CheckPass, "", ref)
		// Nothing of the VNet is told before the tag check passes.
		for _, secret := range []string{"10.1.0.0/16", "eastus", "env-other"} {
			if strings.Contains(ch.Evidence+ch.Fix+r.fixes.Tag, secret) {
				t.Errorf("the read check tells %q before the tag check: %+v, tag fix %q", secret, ch, r.fixes.Tag)
			}
		}
		// The tag is read case-insensitively.
		if r.tag != "env-other, env-abc123" {
			t.Fatalf("tag %q", r.tag)
		}
	})
	for _, tt := range []struct {
		name       string
		err        error
		code       string
		names      []string
		fixContent []string
	}{
		{"no such VNet", azErr(404, azure.CodeResourceNotFound, "not found"), control.PeeringVNetNotFound,
			[]string{ref, "does not exist", azure.CodeResourceNotFound}, []string{"az network vnet list --subscription " + custSub}},
		{"no such resource group", azErr(404, azure.CodeResourceGroupNotFound, "not found"), control.PeeringVNetNotFound,
			[]string{ref, azure.CodeResourceGroupNotFound}, []string{"delete this peering"}},
		{"no such subscription", azErr(404, azure.CodeSubscriptionNotFound, "not found"), control.PeeringVNetNotFound,
			[]string{"Subscription " + custSub, "does not exist"}, []string{"az network vnet list"}},
		{"subscription of another tenant", azErr(401, azure.CodeInvalidAuthenticationTokenTenant, "wrong issuer"), control.PeeringVNetNotFound,
			[]string{"Subscription " + custSub, "is not in tenant " + custTenant}, []string{"tenant of the VNet's subscription"}},
		{"forbidden or missing", denied(custSP, control.ActionVNetRead, custVNet), control.PeeringPermissionDenied,
			[]string{"Either VNet " + ref + " does not exist", "service principal " + custSP + " in tenant " + custTenant, "lacks " + control.ActionVNetRead, control.PeeringCreatorRole},
			[]string{"az network vnet show --ids", "az role definition list --custom-role-only true --name", "az role definition update", "az role assignment create", control.PeeringRoleAdvice}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			w.az.getVNetErr[strings.ToLower(custVNet)] = tt.err
			ch, err := w.check(t, control.StepReadVNet)
			if err != nil {
				t.Fatal(err)
			}
			want(t, ch, control.StepReadVNet, control.CheckFail, tt.code, tt.names...)
			wantIn(t, "fix", ch.Fix, tt.fixContent...)
		})
	}
	t.Run("forbidden or missing: the role is created only if absent", func(t *testing.T) {
		w := newWorld()
		w.az.getVNetErr[strings.ToLower(custVNet)] = denied(custSP, control.ActionVNetRead, custVNet)
		ch, _ := w.check(t, control.StepReadVNet)
		fixes := control.NewGrantFixes(testApp, w.p)
		list, create := strings.Index(ch.Fix, fixes.RoleDefinitionList), strings.Index(ch.Fix, fixes.RoleDefinitionCreate)
		if list < 0 || create < 0 || create < list || !strings.Contains(ch.Fix[list:create], "If it prints nothing") {
			t.Fatalf("the fix creates the role without checking it is absent first:\n%s", ch.Fix)
		}
		if strings.Count(ch.Fix, "az role definition create") != 1 {
			t.Fatalf("the fix creates the role more than once:\n%s", ch.Fix)
		}
	})
	t.Run("ARM failing", func(t *testing.T) {
		w := newWorld()
		w.az.getVNetErr[strings.ToLower(custVNet)] = azErr(503, "ServiceUnavailable", "try later")
		if ch, err := w.check(t, control.StepReadVNet); err == nil {
			t.Fatalf("a transient error concluded %+v", ch)
		}
	})
}

func TestCheckTag(t *testing.T) {
	for _, tt := range []struct {
		name  string
		tags  map[string]string
		code  string
		names []string
	}{
		{"listed", map[string]string{control.EnvTag: "env-abc123"}, "", []string{"lists env-abc123", "10.1.0.0/16", "eastus"}},
		{"in a list, any case", map[string]string{"CONFLUENTENVIDS": "env-x , ENV-ABC123"}, "", []string{"lists env-abc123"}},
		{"no tag", nil, control.PeeringVNetNotAuthorizedForEnvironment, []string{"ConfluentEnvIDs tag of VNet rg/vnet", "does not list environment env-abc123"}},
		{"another environment", map[string]string{control.EnvTag: "env-other1"}, control.PeeringVNetNotAuthorizedForEnvironment,
			[]string{"ConfluentEnvIDs tag of VNet rg/vnet", "does not list environment env-abc123"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			w.az.vnets[strings.ToLower(custVNet)].Tags = tt.tags
			ch, err := w.check(t, control.StepTag)
			if err != nil {
				t.Fatal(err)
			}
			status := control.CheckPass
			if tt.code != "" {
				status = control.CheckFail
				// The tag command extends the tag the VNet has, read in
				// the customer's shell: the others it lists are not told.
				wantIn(t, "fix", ch.Fix, "az resource tag --is-incremental --ids", control.NewGrantFixes(testApp, w.p).Tag)
				if strings.Contains(ch.Evidence+ch.Fix, "env-other1") || strings.Contains(ch.Evidence, "10.1.0.0/16") {
					t.Fatalf("the tag check tells what the VNet's owner did not allow: %+v", ch)
				}
			}
			want(t, ch, control.StepTag, status, tt.code, tt.names...)
		})
	}
}

func TestCheckAddressSpace(t *testing.T) {
	t.Run("peered VNets are read only when the half is to be made", func(t *testing.T) {
		w := newWorld()
		other := azure.VNetID(custSub, "rg", "other")
		w.az.addVNet(other, "eastus", nil, "10.1.128.0/17")
		w.az.PutPeering(context.Background(), provTenant, w.n.Status.AzureVNet, "peer-other1", custTenant, other, false)
		ch, err := w.check(t, control.StepAddressSpace)
		if err != nil {
			t.Fatal(err)
		}
		want(t, ch, control.StepAddressSpace, control.CheckFail, control.PeeringAddressSpaceOverlap, "10.1.0.0/16", "10.1.128.0/17", "rg/other", w.n.ID)
		if w.az.called("list ") != 1 {
			t.Fatalf("calls %v: want one list of the provider VNet's peerings", w.az.calls)
		}
	})
	t.Run("a Connected, in-sync half skips the list", func(t *testing.T) {
		w := newWorld()
		w.connect()
		ch, err := w.check(t, control.StepAddressSpace)
		if err != nil {
			t.Fatal(err)
		}
		want(t, ch, control.StepAddressSpace, control.CheckPass, "", "10.1.0.0/16", w.n.CIDR)
		if w.az.called("list ") != 0 {
			t.Fatalf("calls %v: a READY peering's re-check listed the peerings", w.az.calls)
		}
	})
	t.Run("its own half does not overlap itself", func(t *testing.T) {
		w := newWorld()
		// Out of sync: listed, but the half of this very peering is skipped.
		w.az.PutPeering(context.Background(), provTenant, w.n.Status.AzureVNet, w.p.ID, custTenant, custVNet, false)
		ch, err := w.check(t, control.StepAddressSpace)
		if err != nil || ch.Status != control.CheckPass {
			t.Fatalf("%+v, %v", ch, err)
		}
	})
	t.Run("public prefix", func(t *testing.T) {
		w := newWorld()
		w.az.vnets[strings.ToLower(custVNet)].AddressPrefixes = []string{"10.1.0.0/16", "8.8.0.0/16"}
		ch, _ := w.check(t, control.StepAddressSpace)
		want(t, ch, control.StepAddressSpace, control.CheckFail, control.PeeringInvalidAddressSpace, "8.8.0.0/16", "RFC 1918")
	})
	t.Run("overlaps the network", func(t *testing.T) {
		w := newWorld()
		w.az.vnets[strings.ToLower(custVNet)].AddressPrefixes = []string{"10.10.128.0/17"}
		ch, _ := w.check(t, control.StepAddressSpace)
		want(t, ch, control.StepAddressSpace, control.CheckFail, control.PeeringAddressSpaceOverlap, "10.10.128.0/17", "10.10.0.0/16", w.n.ID)
	})
}

func TestCheckRegion(t *testing.T) {
	w := newWorld()
	w.p.CustomerRegion = "westus"
	ch, err := w.check(t, control.StepRegion)
	if err != nil {
		t.Fatal(err)
	}
	want(t, ch, control.StepRegion, control.CheckFail, control.PeeringCrossRegionNotSupported, "westus", "eastus", w.n.ID, "contact support")
	w.settings.AllowedRegionPairs = [][2]string{{"westus", "eastus"}}
	ch, _ = w.check(t, control.StepRegion)
	want(t, ch, control.StepRegion, control.CheckPass, "", "westus", "eastus")
}

// TestNewPeeringsShareTheProviderHalvesList: new peerings of one network
// take the provider VNet's halves for their overlap checks from the
// controller's halfCache: one list for a burst, kept current by the halves
// the reconciler writes, read again once older than halfCacheTTL; each
// peering's own half is read from Azure.
func TestNewPeeringsShareTheProviderHalvesList(t *testing.T) {
	w := newWorld()
	now := testClock
	cache := newHalfCache(w.az, func() time.Time { return now })
	pass := func(id, vnet string) control.PeeringStatus {
		t.Helper()
		p := *w.p
		p.ID, p.VNet = id, vnet
		r := newPeeringPass(w.az, testApp, w.settings, testClock, &p, w.n)
		r.halves = cache
		list, err := r.run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return control.PeeringStatusOf(list)
	}
	tagged := map[string]string{control.EnvTag: w.n.EnvironmentID}
	second, overlapping := azure.VNetID(custSub, "rg", "second"), azure.VNetID(custSub, "rg", "overlapping")
	w.az.addVNet(second, "eastus", tagged, "10.2.0.0/16")
	w.az.addVNet(overlapping, "eastus", tagged, "10.1.128.0/17") // inside the first VNet's 10.1.0.0/16

	if st := pass(w.p.ID, w.p.VNet); st.Phase != control.PhaseReady {
		t.Fatalf("first peering: %+v", st)
	}
	if st := pass("peer-second", second); st.Phase != control.PhaseReady {
		t.Fatalf("second peering: %+v", st)
	}
	if n := w.az.called("list "); n != 1 {
		t.Fatalf("two new peerings listed the provider halves %d times, want 1: %v", n, w.az.calls)
	}
	// The first peering's provider half came into the list by the
	// reconciler's own write, not by a second list.
	if st := pass("peer-overlap", overlapping); st.Phase != control.PhaseFailed || st.ErrorCode != control.PeeringAddressSpaceOverlap {
		t.Fatalf("a VNet overlapping a peered one: %+v", st)
	}
	if n := w.az.called("list "); n != 1 {
		t.Fatalf("the provider halves listed %d times, want still 1", n)
	}
	ownReads := 0
	for _, r := range w.az.reads {
		if r == "get-half "+w.n.Status.AzureVNet {
			ownReads++
		}
	}
	if ownReads != 3 {
		t.Fatalf("%d reads of a peering's own provider half, want one per pass (3): %v", ownReads, w.az.reads)
	}
	// Older than halfCacheTTL: read again.
	now = now.Add(halfCacheTTL + time.Second)
	pass("peer-overlap", overlapping)
	if n := w.az.called("list "); n != 2 {
		t.Fatalf("after the TTL the provider halves were listed %d times in all, want 2", n)
	}
}

// TestConnectedPeeringIsLeftAlone: a pass over a peering whose halves are
// Connected and in sync reads Azure and writes nothing to it.
func TestConnectedPeeringIsLeftAlone(t *testing.T) {
	w := newWorld()
	w.connect()
	w.az.calls = nil
	list, err := w.pass().run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st := control.PeeringStatusOf(list); st.Phase != control.PhaseReady {
		t.Fatalf("status %+v", st)
	}
	if len(w.az.calls) != 0 {
		t.Fatalf("a READY peering's re-check changed or listed Azure: %v", w.az.calls)
	}
}

func TestEnsureProviderHalf(t *testing.T) {
	ctx := context.Background()
	provPut := func(w *world) string { return "put " + w.n.Status.AzureVNet + " " + w.p.ID }
	t.Run("created", func(t *testing.T) {
		w := newWorld()
		ch, err := w.check(t, control.StepProviderHalf)
		if err != nil {
			t.Fatal(err)
		}
		want(t, ch, control.StepProviderHalf, control.CheckPass, "", w.p.ID, "rg/vnet")
		h := w.az.half(w.n.Status.AzureVNet, w.p.ID)
		if h == nil || !strings.EqualFold(h.RemoteVNetID, custVNet) || w.az.called(provPut(w)+" sync=false") != 1 {
			t.Fatalf("half %+v, calls %v", h, w.az.calls)
		}
	})
	t.Run("out of sync: synced", func(t *testing.T) {
		w := newWorld()
		w.connect()
		w.az.halves[halfKey(w.n.Status.AzureVNet, w.p.ID)].SyncLevel = azure.SyncRemoteNotInSync
		ch, _ := w.check(t, control.StepProviderHalf)
		want(t, ch, control.StepProviderHalf, control.CheckPass, "")
		if w.az.called(provPut(w)+" sync=true") != 1 {
			t.Fatalf("calls %v: want a PUT with syncRemoteAddressSpace", w.az.calls)
		}
	})
	t.Run("customer deleted their half", func(t *testing.T) {
		w := newWorld()
		w.connect()
		w.az.DeletePeering(ctx, custTenant, custVNet, w.p.ID)
		w.az.calls = nil
		w.p.Status.Phase = control.PhaseReady
		ch, _ := w.check(t, control.StepProviderHalf)
		want(t, ch, control.StepProviderHalf, control.CheckFail, control.PeeringDisconnected, "Disconnected", "rg/vnet")
		if len(w.az.calls) != 1 || !strings.HasPrefix(w.az.calls[0], "list ") {
			t.Fatalf("a DISCONNECTED peering changed Azure: %v", w.az.calls)
		}
		// Retried: the Disconnected half goes and is made again.
		w.p.Status.Phase = control.PhaseProvisioning
		w.az.calls = nil
		ch, _ = w.check(t, control.StepProviderHalf)
		want(t, ch, control.StepProviderHalf, control.CheckPass, "")
		if w.az.called("delete "+w.n.Status.AzureVNet) != 1 || w.az.called(provPut(w)+" sync=false") != 1 {
			t.Fatalf("calls %v: want the Disconnected half deleted, then created", w.az.calls)
		}
	})
	t.Run("no peer/action", func(t *testing.T) {
		w := newWorld()
		w.az.putErr[strings.ToLower(w.n.Status.AzureVNet)] = azErr(403, azure.CodeLinkedAuthorizationFailed,
			"The client 'x' with object id 'dddddddd-0000-4000-8000-000000000009' has permission to perform action 'write'; however, it does not have permission to perform action(s) 'peer/action' on the linked scope(s).")
		ch, _ := w.check(t, control.StepProviderHalf)
		want(t, ch, control.StepProviderHalf, control.CheckFail, control.PeeringPermissionDenied, "lacks "+control.ActionPeer, "rg/vnet", "tenant "+custTenant)
		// The object id Azure names is the provider tenant's principal, not
		// the one the customer grants: it is not named.
		if strings.Contains(ch.Evidence, "dddddddd") {
			t.Fatalf("names the provider tenant's principal as the customer's:\n%s", ch.Evidence)
		}
		wantIn(t, "fix", ch.Fix, control.ActionPeer, "az role definition update", "az role assignment create")
	})
	t.Run("Azure finds an overlap", func(t *testing.T) {
		w := newWorld()
		w.az.putErr[strings.ToLower(w.n.Status.AzureVNet)] = azErr(400, azure.CodeVnetAddressSpacesOverlap, "Cannot create or update peering because address spaces overlap: 10.1.0.0/16.")
		ch, _ := w.check(t, control.StepProviderHalf)
		want(t, ch, control.StepProviderHalf, control.CheckFail, control.PeeringAddressSpaceOverlap, "rg/vnet", w.n.ID)
		wantIn(t, "fix", ch.Fix, "Cannot create or update peering because address spaces overlap: 10.1.0.0/16.")
	})
	t.Run("ARM failing", func(t *testing.T) {
		w := newWorld()
		w.az.putErr[strings.ToLower(w.n.Status.AzureVNet)] = azErr(429, "TooManyRequests", "slow down")
		if ch, err := w.check(t, control.StepProviderHalf); err == nil {
			t.Fatalf("a transient error concluded %+v", ch)
		}
	})
}

func TestEnsureCustomerHalf(t *testing.T) {
	ctx := context.Background()
	t.Run("created: Connected", func(t *testing.T) {
		w := newWorld()
		ch, err := w.check(t, control.StepCustomerHalf)
		if err != nil {
			t.Fatal(err)
		}
		want(t, ch, control.StepCustomerHalf, control.CheckPass, "", "Connected", "rg/vnet")
		if h := w.az.half(w.n.Status.AzureVNet, w.p.ID); h == nil || h.State != azure.PeeringConnected {
			t.Fatalf("provider half %+v", h)
		}
	})
	t.Run("not connected yet: pending", func(t *testing.T) {
		w := newWorld()
		// Without the provider half, the customer half is Initiated.
		ch, err := w.pass().ensureCustomerHalf(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want(t, ch, control.StepCustomerHalf, control.CheckPending, "", "Initiated")
	})
	t.Run("Disconnected: re-created", func(t *testing.T) {
		w := newWorld()
		w.az.PutPeering(ctx, custTenant, custVNet, w.p.ID, provTenant, w.n.Status.AzureVNet, false)
		w.az.halves[halfKey(custVNet, w.p.ID)].State = azure.PeeringDisconnected
		ch, _ := w.check(t, control.StepCustomerHalf)
		want(t, ch, control.StepCustomerHalf, control.CheckPass, "", "Connected")
		if w.az.called("delete "+custVNet) != 1 {
			t.Fatalf("calls %v: the Disconnected half was not deleted first", w.az.calls)
		}
	})
	for _, tt := range []struct {
		name   string
		setup  func(w *world)
		names  []string
		action string
	}{
		{"cannot read peerings", func(w *world) {
			w.az.getErr[strings.ToLower(custVNet)] = denied(custSP, control.ActionPeeringRead, custVNet)
		}, []string{"cannot read the VNet's peerings", custSP}, control.ActionPeeringRead},
		{"cannot delete a Disconnected half", func(w *world) {
			w.az.PutPeering(ctx, custTenant, custVNet, w.p.ID, provTenant, w.n.Status.AzureVNet, false)
			w.az.halves[halfKey(custVNet, w.p.ID)].State = azure.PeeringDisconnected
			w.az.deleteErr[strings.ToLower(custVNet)] = denied(custSP, control.ActionPeeringDelete, custVNet)
		}, []string{"Disconnected customer half " + "peer-abc123", custSP}, control.ActionPeeringDelete},
		{"cannot write", func(w *world) {
			w.az.putErr[strings.ToLower(custVNet)] = denied(custSP, control.ActionPeeringWrite, custVNet)
		}, []string{"customer → provider", custSP}, control.ActionPeeringWrite},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			tt.setup(w)
			ch, err := w.check(t, control.StepCustomerHalf)
			if err != nil {
				t.Fatal(err)
			}
			want(t, ch, control.StepCustomerHalf, control.CheckFail, control.PeeringPermissionDenied, append(tt.names, "lacks "+tt.action, "rg/vnet")...)
			wantIn(t, "fix", ch.Fix, tt.action, control.PeeringRoleAdvice)
		})
	}
	t.Run("the provider's own peer/action", func(t *testing.T) {
		w := newWorld()
		w.az.putErr[strings.ToLower(custVNet)] = azErr(403, azure.CodeLinkedAuthorizationFailed, "linked")
		ch, _ := w.check(t, control.StepCustomerHalf)
		want(t, ch, control.StepCustomerHalf, control.CheckFail, control.PeeringPermissionDenied, "its own VNet", "contact support")
	})
	t.Run("ARM failing", func(t *testing.T) {
		w := newWorld()
		w.az.getErr[strings.ToLower(custVNet)] = errors.New("connection reset")
		if ch, err := w.check(t, control.StepCustomerHalf); err == nil {
			t.Fatalf("a transient error concluded %+v", ch)
		}
	})
}

// failures are every way a pass fails, each a change to a granted world
// and the code it must give.
var failures = []struct {
	name  string
	code  string
	setup func(w *world)
}{
	{"no consent", control.PeeringAppNotConsented, func(w *world) {
		w.az.consent[custTenant] = azErr(400, azure.CodeAppNotInTenant, "AADSTS700016: not found")
	}},
	{"no tenant", control.PeeringTenantNotFound, func(w *world) {
		w.az.consent[custTenant] = azErr(400, azure.CodeTenantNotFound, "AADSTS90002: not found")
	}},
	{"no VNet", control.PeeringVNetNotFound, func(w *world) { delete(w.az.vnets, strings.ToLower(custVNet)) }},
	{"no subscription", control.PeeringVNetNotFound, func(w *world) {
		w.az.getVNetErr[strings.ToLower(custVNet)] = azErr(404, azure.CodeSubscriptionNotFound, "The subscription could not be found.")
	}},
	{"subscription elsewhere", control.PeeringVNetNotFound, func(w *world) {
		w.az.getVNetErr[strings.ToLower(custVNet)] = azErr(401, azure.CodeInvalidAuthenticationTokenTenant, "The access token is from the wrong issuer.")
	}},
	{"VNet unreadable", control.PeeringPermissionDenied, func(w *world) {
		w.az.getVNetErr[strings.ToLower(custVNet)] = denied(custSP, control.ActionVNetRead, custVNet)
	}},
	{"untagged", control.PeeringVNetNotAuthorizedForEnvironment, func(w *world) { w.az.vnets[strings.ToLower(custVNet)].Tags = nil }},
	{"tagged for another", control.PeeringVNetNotAuthorizedForEnvironment, func(w *world) {
		w.az.vnets[strings.ToLower(custVNet)].Tags = map[string]string{control.EnvTag: "env-a.b, env-c"}
	}},
	{"not a CIDR", control.PeeringInvalidAddressSpace, func(w *world) { w.az.vnets[strings.ToLower(custVNet)].AddressPrefixes = []string{"10.1.0.0/16", "x."} }},
	{"public", control.PeeringInvalidAddressSpace, func(w *world) { w.az.vnets[strings.ToLower(custVNet)].AddressPrefixes = []string{"8.8.0.0/16"} }},
	{"overlaps the network", control.PeeringAddressSpaceOverlap, func(w *world) {
		w.az.vnets[strings.ToLower(custVNet)].AddressPrefixes = []string{"10.10.0.0/24"}
	}},
	{"overlaps a peered VNet", control.PeeringAddressSpaceOverlap, func(w *world) {
		other := azure.VNetID(custSub, "rg", "other")
		w.az.addVNet(other, "eastus", nil, "10.1.0.0/24")
		w.az.PutPeering(context.Background(), provTenant, w.n.Status.AzureVNet, "peer-other1", custTenant, other, false)
	}},
	{"cross-region", control.PeeringCrossRegionNotSupported, func(w *world) { w.p.CustomerRegion = "westus" }},
	{"disconnected", control.PeeringDisconnected, func(w *world) {
		ctx := context.Background()
		w.connect()
		w.az.DeletePeering(ctx, custTenant, custVNet, w.p.ID)
		w.p.Status.Phase = control.PhaseReady
	}},
	{"no peer/action", control.PeeringPermissionDenied, func(w *world) {
		w.az.putErr[strings.ToLower(w.n.Status.AzureVNet)] = azErr(403, azure.CodeLinkedAuthorizationFailed, "no peer/action. Really.")
	}},
	{"Azure overlap, provider half", control.PeeringAddressSpaceOverlap, func(w *world) {
		w.az.putErr[strings.ToLower(w.n.Status.AzureVNet)] = azErr(400, azure.CodeVnetAddressSpaceOverlapsPeered, "Overlap. Az is unhappy. See az network vnet peering list.")
	}},
	{"peerings unreadable", control.PeeringPermissionDenied, func(w *world) {
		w.az.getErr[strings.ToLower(custVNet)] = denied(custSP, control.ActionPeeringRead, custVNet)
	}},
	{"Disconnected half undeletable", control.PeeringPermissionDenied, func(w *world) {
		w.az.PutPeering(context.Background(), custTenant, custVNet, w.p.ID, provTenant, w.n.Status.AzureVNet, false)
		w.az.halves[halfKey(custVNet, w.p.ID)].State = azure.PeeringDisconnected
		w.az.deleteErr[strings.ToLower(custVNet)] = denied(custSP, control.ActionPeeringDelete, custVNet)
	}},
	{"no peerings/write", control.PeeringPermissionDenied, func(w *world) {
		w.az.putErr[strings.ToLower(custVNet)] = denied(custSP, control.ActionPeeringWrite, custVNet)
	}},
	{"provider lacks peer/action", control.PeeringPermissionDenied, func(w *world) {
		w.az.putErr[strings.ToLower(custVNet)] = azErr(403, azure.CodeLinkedAuthorizationFailed, "linked. Scope.")
	}},
	{"Azure overlap, customer half", control.PeeringAddressSpaceOverlap, func(w *world) {
		w.az.putErr[strings.ToLower(custVNet)] = azErr(400, azure.CodeVnetAddressSpacesOverlap, "Overlap.")
	}},
}

// sentenceEnd is the end of a sentence: . ! or ? before a space or the end.
var (
	sentenceEnd = regexp.MustCompile(`[.!?]["')\]]?(\s|$)`)
	azCommand   = regexp.MustCompile(`(^|[^\w-])az\s`)
)

// TestErrorMessagesAreShort runs every way a pass fails and checks the
// error_message it leads to: at most two sentences, naming what is
// missing and where, with no az command (those live in the fixes).
func TestErrorMessagesAreShort(t *testing.T) {
	codes := map[string]bool{}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			w := newWorld()
			f.setup(w)
			list, err := w.pass().run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			st := control.PeeringStatusOf(list)
			failed, _ := list.Failed()
			if st.ErrorCode != f.code || st.ErrorMessage == "" || st.ErrorMessage != failed.Evidence {
				t.Fatalf("status %+v, want code %s with the failed check's evidence", st, f.code)
			}
			codes[st.ErrorCode] = true
			msg := st.ErrorMessage
			t.Logf("%s: %s", st.ErrorCode, msg)
			if n := len(sentenceEnd.FindAllString(msg, -1)); n > 2 || n == 0 {
				t.Errorf("error_message has %d sentences, want 1 or 2:\n%s", n, msg)
			}
			if azCommand.MatchString(msg) || strings.Contains(msg, "\n") {
				t.Errorf("error_message holds a command or several lines:\n%s", msg)
			}
			if failed.Fix == "" {
				t.Errorf("no fix for %s", f.name)
			}
		})
	}
	// Every code the reconciler documents is among them.
	for _, c := range []string{control.PeeringAppNotConsented, control.PeeringTenantNotFound, control.PeeringVNetNotFound, control.PeeringPermissionDenied,
		control.PeeringVNetNotAuthorizedForEnvironment, control.PeeringInvalidAddressSpace, control.PeeringAddressSpaceOverlap,
		control.PeeringCrossRegionNotSupported, control.PeeringDisconnected} {
		if !codes[c] {
			t.Errorf("no failure case gives %s", c)
		}
	}
}

// TestSentenceCounter: the counter the message test relies on.
func TestSentenceCounter(t *testing.T) {
	for msg, n := range map[string]int{
		"One. Two.": 2, "One (Azure: X). Two three.": 2, "One. Two. Three.": 3,
		"Prefix 10.1.0.0/16 of rg/a.b in subscription s overlaps https://x.example/a?b=c.": 1,
		`VNet v has ConfluentEnvIDs="env-a.b". Only listed ones may peer.`:                 2,
	} {
		if got := len(sentenceEnd.FindAllString(msg, -1)); got != n {
			t.Errorf("%q: %d sentences, want %d", msg, got, n)
		}
	}
	for msg, cmd := range map[string]bool{"run az role list": true, "Azure says no": false, "az login": true, "Contoso-az group": false} {
		if azCommand.MatchString(msg) != cmd {
			t.Errorf("%q: command %t, want %t", msg, !cmd, cmd)
		}
	}
}
