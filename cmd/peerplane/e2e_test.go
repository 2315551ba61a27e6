package main

// The end-to-end tests of the flow (SPEC.md, "The flow"): a real
// `peerplane serve --demo` driven through the official Confluent Go SDKs as
// the provider's customer, and through the Azure SDK for Go as Contoso's
// administrator granting access in the embedded Azure. Nothing reaches
// into the server's memory; every wait is bounded, no timing is asserted.

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
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

	d := e.diagnose(env, id)
	if len(d.Checks) != 7 || d.Checks[0].Step != "consent" || d.Checks[0].Status != "FAIL" || d.Checks[0].ErrorCode != "APP_NOT_CONSENTED" ||
		!strings.Contains(d.Checks[0].Fix, consentURL) || d.Fixes["consent_url"] != consentURL {
		t.Fatalf("diagnosis before consent: %+v", d)
	}
	for _, c := range d.Checks[1:] {
		if c.Status != "SKIPPED" {
			t.Fatalf("diagnosis step %s after a failed consent is %s", c.Step, c.Status)
		}
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

	d = e.diagnose(env, id)
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
	e.grantDemoVNet(env)

	id := e.createPeering(env, n.GetId(), "contoso", demoVNetID, "eastus")
	_, seen := e.waitPeering(env, id, "READY")
	for _, ph := range seen {
		if ph != "PROVISIONING" && ph != "READY" {
			t.Fatalf("phases seen %v: want only PROVISIONING then READY", seen)
		}
	}
	provVNet := n.Status.GetCloud().NetworkingV1AzureNetwork.GetVnet()
	e.waitHalves(demoVNetID, provVNet, id, "Connected", "Connected")
	// The reconciler's writes (the provider VNet, both halves) are the
	// provider app's in the change feed: the reconciler's event watcher
	// skips them rather than waking the peering that made them.
	resp, err := e.azHTTP.Get(e.r.AzureURL + "/_emulator/events?after=-1")
	if err != nil {
		t.Fatal(err)
	}
	var feed struct {
		Events []struct{ Type, ResourceID, Actor string }
	}
	err = json.NewDecoder(resp.Body).Decode(&feed)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	own := 0
	for _, ev := range feed.Events {
		if strings.EqualFold(ev.ResourceID, provVNet) || strings.HasSuffix(ev.ResourceID, "/virtualNetworkPeerings/"+id) {
			own++
			if ev.Actor != e.r.Provider.ClientID {
				t.Errorf("the reconciler's %s of %s has actor %q, want the provider app %s", ev.Type, ev.ResourceID, ev.Actor, e.r.Provider.ClientID)
			}
		}
	}
	if own < 3 {
		t.Fatalf("%d events of the provider VNet and the halves in the feed, want at least 3: %+v", own, feed.Events)
	}
	// And it stays READY: a few more reads never see anything else.
	for range 50 {
		if p, _ := e.getPeering(env, id); phaseOf(p) != "READY" {
			t.Fatalf("peering went from READY to %s: %s", phaseOf(p), p.Status.GetErrorMessage())
		}
	}
}

// TestE2ERules runs each of the reconciler's checks (SPEC.md's table) and
// the transitions after READY against the real server: the failure it
// gives, its message, and the way out of it.
func TestE2ERules(t *testing.T) {
	e := startE2E(t, "")
	e.consent()
	e.putRole(e2eRoleActions...)
	// Assigned on the resource group, so the app may read it whole: a
	// missing VNet in it is then "not found" rather than "forbidden".
	e.assign("/subscriptions/" + demoSubscription + "/resourceGroups/contoso-network")

	// newNet makes an environment and a READY network in eastus.
	newNet := func(e *e2e, cidr string) (env, network, provVNet string) {
		env = e.createEnv(e.t.Name())
		n := e.createNetwork(env, "net", "eastus", cidr)
		return env, n.GetId(), n.Status.GetCloud().NetworkingV1AzureNetwork.GetVnet()
	}
	wantIn := func(t *testing.T, msg string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Fatalf("error_message does not name %q:\n%s", w, msg)
			}
		}
	}

	t.Run("VNET_NOT_FOUND", func(t *testing.T) {
		e := e.on(t)
		env, nw, _ := newNet(e, "10.20.0.0/16")
		missing := vnetIDOf("contoso-network", "no-such-vnet")
		id := e.createPeering(env, nw, "p", missing, "eastus")
		wantIn(t, e.waitFailed(env, id, "VNET_NOT_FOUND"), "contoso-network/no-such-vnet in subscription "+demoSubscription, "does not exist")
	})

	t.Run("VNET_NOT_AUTHORIZED_FOR_ENVIRONMENT", func(t *testing.T) {
		e := e.on(t)
		env, nw, _ := newNet(e, "10.21.0.0/16")
		vnet := e.createVNet("contoso-network", "tagged-vnet", "eastus", "10.51.0.0/16")
		e.tag(vnet, "env-other1")
		id := e.createPeering(env, nw, "p", vnet, "eastus")
		msg := e.waitFailed(env, id, "VNET_NOT_AUTHORIZED_FOR_ENVIRONMENT")
		wantIn(t, msg, env, "ConfluentEnvIDs", "tagged-vnet")
		// The environments the tag lists are other customers': neither the
		// message nor the diagnosis tells them, nor the VNet's address space.
		d := e.diagnose(env, id)
		all, _ := json.Marshal(d)
		for _, secret := range []string{"env-other1", "10.51.0.0/16"} {
			if strings.Contains(msg+string(all), secret) {
				t.Fatalf("the failure tells %q before the tag lists the environment:\n%s\n%s", secret, msg, all)
			}
		}
		// A comma-separated list that includes ours: READY, at once (a tag
		// change is an event), without a retry.
		e.tag(vnet, "env-other1, "+env)
		e.waitPeering(env, id, "READY")
	})

	t.Run("INVALID_ADDRESS_SPACE", func(t *testing.T) {
		e := e.on(t)
		env, nw, _ := newNet(e, "10.22.0.0/16")
		vnet := e.createVNet("contoso-network", "public-vnet", "eastus", "8.8.0.0/16")
		e.tag(vnet, env)
		id := e.createPeering(env, nw, "p", vnet, "eastus")
		wantIn(t, e.waitFailed(env, id, "INVALID_ADDRESS_SPACE"), "8.8.0.0/16", "RFC 1918")
	})

	t.Run("ADDRESS_SPACE_OVERLAP/network", func(t *testing.T) {
		e := e.on(t)
		env, nw, _ := newNet(e, "10.23.0.0/16")
		vnet := e.createVNet("contoso-network", "overlap-net-vnet", "eastus", "10.23.128.0/17")
		e.tag(vnet, env)
		id := e.createPeering(env, nw, "p", vnet, "eastus")
		wantIn(t, e.waitFailed(env, id, "ADDRESS_SPACE_OVERLAP"), "10.23.128.0/17", "10.23.0.0/16", nw)
	})

	t.Run("ADDRESS_SPACE_OVERLAP/peered", func(t *testing.T) {
		e := e.on(t)
		env, nw, _ := newNet(e, "10.24.0.0/16")
		first := e.createVNet("contoso-network", "first-vnet", "eastus", "10.52.0.0/16")
		e.tag(first, env)
		e.waitPeering(env, e.createPeering(env, nw, "first", first, "eastus"), "READY")
		second := e.createVNet("contoso-network", "second-vnet", "eastus", "10.52.128.0/17")
		e.tag(second, env)
		id := e.createPeering(env, nw, "second", second, "eastus")
		wantIn(t, e.waitFailed(env, id, "ADDRESS_SPACE_OVERLAP"), "10.52.128.0/17", "10.52.0.0/16", "contoso-network/first-vnet")
	})

	t.Run("CROSS_REGION_NOT_SUPPORTED", func(t *testing.T) {
		e := e.on(t)
		env, nw, provVNet := newNet(e, "10.25.0.0/16")
		vnet := e.createVNet("contoso-network", "west-vnet", "westus", "10.53.0.0/16")
		e.tag(vnet, env)
		id := e.createPeering(env, nw, "p", vnet, "westus")
		wantIn(t, e.waitFailed(env, id, "CROSS_REGION_NOT_SUPPORTED"), "westus", "eastus", "contact support")
		var s struct {
			AllowedRegionPairs [][2]string `json:"allowed_region_pairs"`
		}
		if code := e.peerplane("PUT", "/peerplane/v1/settings", map[string]any{"allowed_region_pairs": [][2]string{{"eastus", "westus"}}}, &s); code != http.StatusOK ||
			len(s.AllowedRegionPairs) != 1 {
			t.Fatalf("PUT settings: %d %+v", code, s)
		}
		e.retry(env, id)
		e.waitPeering(env, id, "READY")
		e.waitHalves(vnet, provVNet, id, "Connected", "Connected")
	})

	t.Run("DISCONNECTED", func(t *testing.T) {
		e := e.on(t)
		env, nw, provVNet := newNet(e, "10.26.0.0/16")
		vnet := e.createVNet("contoso-network", "disc-vnet", "eastus", "10.54.0.0/16")
		e.tag(vnet, env)
		id := e.createPeering(env, nw, "p", vnet, "eastus")
		e.waitPeering(env, id, "READY")
		e.deleteCustomerHalf(vnet, id)
		p, _ := e.waitPeering(env, id, "DISCONNECTED")
		wantIn(t, p.Status.GetErrorMessage(), "Disconnected", "contoso-network/disc-vnet")
		if p.Status.GetErrorCode() != "DISCONNECTED" {
			t.Fatalf("error_code %q, want DISCONNECTED", p.Status.GetErrorCode())
		}
		if _, prov := e.waitHalves(vnet, provVNet, id, "<gone>", "Disconnected"); prov == nil {
			t.Fatal("no provider half")
		}
		e.retry(env, id)
		e.waitPeering(env, id, "READY")
		e.waitHalves(vnet, provVNet, id, "Connected", "Connected")
	})

	t.Run("address_prefix_added", func(t *testing.T) {
		e := e.on(t)
		env, nw, provVNet := newNet(e, "10.27.0.0/16")
		vnet := e.createVNet("contoso-network", "growing-vnet", "eastus", "10.55.0.0/16")
		e.tag(vnet, env)
		id := e.createPeering(env, nw, "p", vnet, "eastus")
		e.waitPeering(env, id, "READY")

		// A new, free prefix: synced into the provider half, still READY.
		if err := e.setPrefixes(vnet, "10.55.0.0/16", "10.56.0.0/16"); err != nil {
			t.Fatalf("add a prefix: %v", err)
		}
		deadline := time.Now().Add(e2eWait)
		for {
			if p, _ := e.getPeering(env, id); phaseOf(p) != "READY" {
				t.Fatalf("peering is %s after a new prefix: %s", phaseOf(p), p.Status.GetErrorMessage())
			}
			prov := e.half(e.provider, provVNet, id)
			if got := remoteSpace(prov); slices.Equal(got, []string{"10.55.0.0/16", "10.56.0.0/16"}) && halfState(prov) == "Connected" &&
				*prov.Properties.PeeringSyncLevel == "FullyInSync" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("provider half not synced: %s %v", halfState(prov), remoteSpace(prov))
			}
			time.Sleep(5 * time.Millisecond)
		}

		// A prefix overlapping the network's CIDR: Azure itself refuses
		// to change the VNet (it overlaps a peered VNet), nothing changes.
		err := e.setPrefixes(vnet, "10.55.0.0/16", "10.56.0.0/16", "10.27.128.0/17")
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.ErrorCode != "VnetAddressSpacesOverlap" {
			t.Fatalf("adding the network's CIDR to a peered VNet: %v, want Azure's VnetAddressSpacesOverlap", err)
		}
		if p, _ := e.getPeering(env, id); phaseOf(p) != "READY" {
			t.Fatalf("peering is %s after a refused prefix", phaseOf(p))
		}

		// A prefix overlapping another VNet peered with the same network:
		// Azure checks only the VNet's own peers and accepts it; syncing
		// the provider half would overlap, so the peering FAILs.
		other := e.createVNet("contoso-network", "neighbour-vnet", "eastus", "10.57.0.0/16")
		e.tag(other, env)
		e.waitPeering(env, e.createPeering(env, nw, "neighbour", other, "eastus"), "READY")
		if err := e.setPrefixes(vnet, "10.55.0.0/16", "10.56.0.0/16", "10.57.4.0/24"); err != nil {
			t.Fatalf("adding a prefix of a VNet peered elsewhere: %v", err)
		}
		wantIn(t, e.waitFailed(env, id, "ADDRESS_SPACE_OVERLAP"), "10.57.4.0/24", "contoso-network/neighbour-vnet")
		// The customer takes the prefix back: READY again, synced.
		if err := e.setPrefixes(vnet, "10.55.0.0/16", "10.56.0.0/16"); err != nil {
			t.Fatal(err)
		}
		e.waitPeering(env, id, "READY")
		if _, prov := e.waitHalves(vnet, provVNet, id, "Connected", "Connected"); !slices.Equal(remoteSpace(prov), []string{"10.55.0.0/16", "10.56.0.0/16"}) {
			t.Fatalf("provider half's remote space %v", remoteSpace(prov))
		}
	})
}

// TestE2EDedicatedCluster places a Dedicated cluster in a READY network:
// PROVISIONED with a bootstrap endpoint inside the network's CIDR; past
// the network's CKU budget, 402 quota_exceeded naming it.
func TestE2EDedicatedCluster(t *testing.T) {
	e := startE2E(t, "")
	env := e.createEnv("prod")
	n := e.createNetwork(env, "prod-net", "eastus", "10.30.0.0/16")
	c, resp, err := e.postCluster(env, n.GetId(), "kafka", 60)
	wantHTTP(t, "create cluster", resp, err, http.StatusAccepted)
	if !strings.HasPrefix(c.GetId(), "lkc-") || c.Status.GetPhase() != "PROVISIONING" {
		t.Fatalf("created cluster %s is %s", c.GetId(), c.Status.GetPhase())
	}
	c = e.waitCluster(env, c)
	// Its private name (the brokers' addresses inside the CIDR are
	// checked by TestClusterEndpoints and the Kafka end-to-end tests).
	boot := c.Spec.GetKafkaBootstrapEndpoint()
	host := c.GetId() + "-" + strings.TrimPrefix(n.GetId(), "n-") + ".eastus.azure.private.confluent.cloud"
	if boot != host+":9092" || c.Spec.GetHttpEndpoint() != "https://"+host+":443" {
		t.Fatalf("endpoints %q and %q are not the private name %s", boot, c.Spec.GetHttpEndpoint(), host)
	}

	// 60 + 8 CKUs > the network's 64.
	_, resp, err = e.postCluster(env, n.GetId(), "kafka-2", 8)
	wantHTTP(t, "create a cluster past the CKU budget", resp, err, http.StatusPaymentRequired)
	body := sdkErr(resp, err)
	if !strings.Contains(body, `"quota_exceeded"`) || !strings.Contains(body, "dedicated_ckus_per_network") {
		t.Fatalf("402 does not name the CKU budget: %s", body)
	}
}

// TestRestartKeepsEverything stops Serve and starts it again on the same
// data directory: the control plane's objects, the embedded Azure's state
// (role assignment, both halves) and the API key all survive, and the
// restarted reconciler still acts (a delete removes both halves).
func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	e := startE2E(t, dir)
	env := e.createEnv("prod")
	n := e.createNetwork(env, "prod-net", "eastus", "10.10.0.0/16")
	provVNet := n.Status.GetCloud().NetworkingV1AzureNetwork.GetVnet()
	e.consent()
	e.putRole(e2eRoleActions...)
	assignment := e.assign(demoVNetID)
	e.tag(demoVNetID, env)
	id := e.createPeering(env, n.GetId(), "contoso", demoVNetID, "eastus")
	e.waitPeering(env, id, "READY")
	e.waitHalves(demoVNetID, provVNet, id, "Connected", "Connected")
	// A second peering left FAILED across the restart: its VNet lacks the tag.
	late := e.createVNet("contoso-network", "late-vnet", "eastus", "10.60.0.0/16")
	e.assign(late)
	lateID := e.createPeering(env, n.GetId(), "late", late, "eastus")
	e.waitFailed(env, lateID, "VNET_NOT_AUTHORIZED_FOR_ENVIRONMENT")
	creds, prov := e.r.Credentials, e.r.Provider
	e.stop()

	e2 := startE2E(t, dir)
	if e2.r.Credentials != creds {
		t.Fatalf("credentials changed across the restart: %+v, then %+v", creds, e2.r.Credentials)
	}
	if e2.r.Provider != prov {
		t.Fatalf("provider identity changed across the restart")
	}
	// The same key works (e2.ctx carries the key read before the restart).
	if got, resp, err := e2.orgs.EnvironmentsOrgV2Api.GetOrgV2Environment(e2.ctx(), env).Execute(); err != nil || got.GetDisplayName() != "prod" {
		t.Fatalf("environment after restart: %s", sdkErr(resp, err))
	}
	n2, resp, err := e2.networking.NetworksNetworkingV1Api.GetNetworkingV1Network(e2.ctx(), n.GetId()).Environment(env).Execute()
	wantHTTP(t, "network after restart", resp, err, http.StatusOK)
	if n2.Status.GetPhase() != "READY" || n2.Status.GetCloud().NetworkingV1AzureNetwork.GetVnet() != provVNet {
		t.Fatalf("network after restart: %+v", n2.Status)
	}
	if p, status := e2.getPeering(env, id); status != http.StatusOK || phaseOf(p) != "READY" {
		t.Fatalf("peering after restart: %d %s %s", status, phaseOf(p), p.Status.GetErrorMessage())
	}
	ra, err := armauthorization.NewRoleAssignmentsClient(demoSubscription, e2.admin, e2.armOpts)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ra.GetByID(t.Context(), assignment, nil); err != nil || !strings.EqualFold(*got.Properties.Scope, demoVNetID) {
		t.Fatalf("role assignment %s after restart: %+v, %v", assignment, got, err)
	}
	v, err := e2.vnets(e2.admin, demoSubscription).Get(t.Context(), "contoso-network", "contoso-vnet", nil)
	if err != nil || v.Tags["ConfluentEnvIDs"] == nil || *v.Tags["ConfluentEnvIDs"] != env {
		t.Fatalf("the customer's tag on contoso-vnet after restart: %+v, %v", v.Tags, err)
	}
	e2.waitHalves(demoVNetID, provVNet, id, "Connected", "Connected")
	// Still READY after the restarted reconciler had a look.
	if p, _ := e2.waitPeering(env, id, "READY"); p.Status.GetErrorCode() != "" {
		t.Fatalf("peering after restart: %s", phaseOf(p))
	}

	// The restarted server still hears the embedded Azure's events: the
	// tag alone takes the failed peering to READY.
	e2.waitFailed(env, lateID, "VNET_NOT_AUTHORIZED_FOR_ENVIRONMENT")
	e2.tag(late, env)
	e2.waitPeering(env, lateID, "READY")

	e2.deletePeering(env, id)
	e2.waitPeering(env, id, "404")
	e2.waitHalves(demoVNetID, provVNet, id, "<gone>", "<gone>")
}

// TestServeStopsWithARequestOpen stops Serve while a request to the
// embedded Azure outlives the shutdown grace (a handler that waits until
// its connection goes): Serve closes the connection and returns nil
// rather than failing its shutdown.
func TestServeStopsWithARequestOpen(t *testing.T) {
	const slow = "/_test/slow"
	inHandler := make(chan struct{})
	e := startE2E(t, "", func(c *ServeConfig) {
		c.wrapAzureHandler = func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != slow {
					next.ServeHTTP(w, r)
					return
				}
				close(inHandler)
				<-r.Context().Done()
			})
		}
	})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.r.AzureURL+slow, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := e.azHTTP.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-inHandler
	e.cancel()
	e.cancel = nil
	if err := <-e.errc; err != nil {
		t.Fatalf("Serve with a request open at stop: %v", err)
	}
	if err := <-done; err == nil {
		t.Fatal("the slow request answered after the server stopped; want its connection closed")
	}
}
