package main

// The end-to-end tests of the flow (SPEC.md, "The flow"): a real
// `peerplane serve --demo` driven through the official Confluent Go SDKs as
// the provider's customer, and through the Azure SDK for Go as Contoso's
// administrator granting access in the embedded Azure. Nothing reaches
// into the server's memory; every wait is bounded, no timing is asserted.

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestSeedFlow is the seed document's flow: PROVISIONING → FAILED
// APP_NOT_CONSENTED → (consent) FAILED PERMISSION_DENIED on read → (a role
// without peer/action, assignment, tag) FAILED PERMISSION_DENIED on
// peer/action → (the full role) READY with both halves Connected; then
// delete → DEPROVISIONING → 404 with both halves gone.
func TestSeedFlow(t *testing.T) {
	e := startE2E(t, "")
	env := e.createEnv("prod")
	n := e.createNetwork(env, "prod-net", "eastus", "10.10.0.0/16")
	az := n.Status.GetCloud().NetworkingV1AzureNetwork
	if az == nil || az.GetKind() != "AzureNetwork" || az.GetSubscription() != e.r.Provider.SubscriptionID ||
		!strings.HasPrefix(az.GetVnet(), "/subscriptions/"+e.r.Provider.SubscriptionID+"/") {
		t.Fatalf("READY network's status.cloud = %+v, want AzureNetwork in the provider subscription %s", az, e.r.Provider.SubscriptionID)
	}
	if z := n.Spec.GetZones(); !slices.Equal(z, []string{"1", "2", "3"}) {
		t.Fatalf("zones %v", z)
	}
	provVNet := az.GetVnet()
	// The provider VNet exists in Azure with the network's CIDR.
	_, rg, name := splitVNetID(t, provVNet)
	pv, err := e.vnets(e.provider, e.r.Provider.SubscriptionID).Get(t.Context(), rg, name, nil)
	if err != nil || len(pv.Properties.AddressSpace.AddressPrefixes) != 1 || *pv.Properties.AddressSpace.AddressPrefixes[0] != "10.10.0.0/16" {
		t.Fatalf("provider VNet %s: %+v, %v", provVNet, pv, err)
	}

	id := e.createPeering(env, n.GetId(), "contoso", demoVNetID, "eastus")

	// 3. No consent yet.
	msg := e.waitFailed(env, id, "APP_NOT_CONSENTED")
	consentURL := e.r.AzureURL + "/" + demoTenant + "/oauth2/authorize?client_id=" + e.r.Provider.ClientID + "&response_type=code"
	if !strings.Contains(msg, consentURL) {
		t.Fatalf("APP_NOT_CONSENTED message does not carry the consent URL %s:\n%s", consentURL, msg)
	}

	// 4a. Consent: the app may sign in, but may not read the VNet.
	e.consent()
	msg = e.waitFailed(env, id, "PERMISSION_DENIED")
	if !strings.Contains(msg, "lacks Microsoft.Network/virtualNetworks/read") || !strings.Contains(msg, peeringRole) {
		t.Fatalf("after consent, the message does not name the missing virtualNetworks/read and the role:\n%s", msg)
	}
	t.Logf("after consent: %s", msg)

	// 4b–d with a role that lacks peer/action: the provider half is refused.
	e.putRole(e2eRoleActions[:4]...)
	e.assign(demoVNetID)
	e.tag(demoVNetID, env)
	msg = e.waitMessage(env, id, "PERMISSION_DENIED", "lacks Microsoft.Network/virtualNetworks/peer/action")
	t.Logf("without peer/action: %s", msg)

	// The full role: READY, both halves Connected.
	e.putRole(e2eRoleActions...)
	e.waitPeering(env, id, "READY")
	cust, prov := e.waitHalves(demoVNetID, provVNet, id, "Connected", "Connected")
	if !strings.EqualFold(*cust.Properties.RemoteVirtualNetwork.ID, provVNet) || !strings.EqualFold(*prov.Properties.RemoteVirtualNetwork.ID, demoVNetID) {
		t.Fatalf("halves point at %s and %s", *cust.Properties.RemoteVirtualNetwork.ID, *prov.Properties.RemoteVirtualNetwork.ID)
	}
	if got := remoteSpace(prov); !slices.Equal(got, []string{"10.1.0.0/16"}) {
		t.Fatalf("provider half's remote address space %v", got)
	}

	d := e.diagnose(env, id)
	if d.PeeringID != id || d.Phase != "READY" || len(d.Checks) != 7 {
		t.Fatalf("diagnosis %+v", d)
	}
	for _, c := range d.Checks {
		if c.Status != "PASS" {
			t.Errorf("diagnosis step %s is %s: %s", c.Step, c.Status, c.Evidence)
		}
	}

	// Delete: DEPROVISIONING (or already gone), then 404, both halves gone.
	e.deletePeering(env, id)
	if p, status := e.getPeering(env, id); status == http.StatusOK && p.Status.GetPhase() != "DEPROVISIONING" {
		t.Fatalf("phase right after DELETE: %s", p.Status.GetPhase())
	}
	e.waitPeering(env, id, "404")
	e.waitHalves(demoVNetID, provVNet, id, "<gone>", "<gone>")
}

// TestSeedFlowPreGranted: with consent, role, assignment and tag in place
// first, a new peering goes to READY without ever showing FAILED (the
// Terraform provider fails at once on FAILED).
func TestSeedFlowPreGranted(t *testing.T) {
	e := startE2E(t, "")
	env := e.createEnv("prod")
	n := e.createNetwork(env, "prod-net", "eastus", "10.10.0.0/16")
	e.consent()
	e.putRole(e2eRoleActions...)
	e.assign(demoVNetID)
	e.tag(demoVNetID, env)

	id := e.createPeering(env, n.GetId(), "contoso", demoVNetID, "eastus")
	_, seen := e.waitPeering(env, id, "READY")
	for _, ph := range seen {
		if ph != "PROVISIONING" && ph != "READY" {
			t.Fatalf("phases seen %v: want only PROVISIONING then READY", seen)
		}
	}
	e.waitHalves(demoVNetID, n.Status.GetCloud().NetworkingV1AzureNetwork.GetVnet(), id, "Connected", "Connected")
	// And it stays READY: a few more reads never see anything else.
	for range 50 {
		if p, _ := e.getPeering(env, id); phaseOf(p) != "READY" {
			t.Fatalf("peering went from READY to %s: %s", phaseOf(p), p.Status.GetErrorMessage())
		}
	}
}
