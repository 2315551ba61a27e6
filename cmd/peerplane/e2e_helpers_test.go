package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	cmkv2 "github.com/confluentinc/ccloud-sdk-go-v2/cmk/v2"
	connectv1 "github.com/confluentinc/ccloud-sdk-go-v2/connect/v1"
	networkingv1 "github.com/confluentinc/ccloud-sdk-go-v2/networking/v1"
	orgv2 "github.com/confluentinc/ccloud-sdk-go-v2/org/v2"
	"github.com/google/uuid"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/azureid"
)

// e2eWait bounds every wait of the end-to-end tests. The flow converges
// in milliseconds; the bound only turns a hang into a failure.
const e2eWait = 10 * time.Second

// e2eRoleActions are the five actions of "Confluent Cloud Peering Creator".
var e2eRoleActions = []string{
	"Microsoft.Network/virtualNetworks/read",
	"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read",
	"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write",
	"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete",
	"Microsoft.Network/virtualNetworks/peer/action",
}

// e2e is a running `peerplane serve --demo` with the clients the tests
// drive it through: the official Confluent SDKs for the control plane,
// and the Azure SDK for Go as the Contoso admin and as the provider.
type e2e struct {
	t      *testing.T
	dir    string
	r      Ready
	cancel context.CancelFunc
	errc   chan error

	networking *networkingv1.APIClient
	cmk        *cmkv2.APIClient
	orgs       *orgv2.APIClient

	azHTTP   *http.Client
	armOpts  *arm.ClientOptions
	admin    *azidentity.UsernamePasswordCredential
	provider *azidentity.ClientSecretCredential

	spID   string // the provider app's service principal in Contoso, after consent
	roleID string // the custom role's name (a GUID), once created
}

// startE2E starts Serve in this process on dir (a new temporary directory
// when empty) with the demo world on loopback ports, its configuration
// changed by each of with, and stops it when the test ends, failing the
// test if Serve fails. It is the one place the tests call Serve; tests of
// the built binary use serveProcess.
func startE2E(t *testing.T, dir string, with ...func(*ServeConfig)) *e2e {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &e2e{t: t, dir: dir, cancel: cancel, errc: make(chan error, 1)}
	readyc := make(chan Ready, 1)
	cfg := ServeConfig{DataDir: dir, Listen: "127.0.0.1:0", AzureListen: "127.0.0.1:0", Demo: true,
		ProviderAppID: azureemu.DefaultProviderAppID, LogLevel: "error"}
	for _, f := range with {
		f(&cfg)
	}
	go func() { e.errc <- Serve(ctx, cfg, io.Discard, func(r Ready) { readyc <- r }) }()
	t.Cleanup(e.stop)
	select {
	case e.r = <-readyc:
	case err := <-e.errc:
		e.errc <- err
		t.Fatalf("Serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve was not ready within 30s")
	}
	e.connect()
	return e
}

// connect makes e's clients for the server e.r describes: the Confluent
// SDKs, and the Azure SDK's when it embeds an Azure (e.r.AzureURL).
func (e *e2e) connect() {
	t := e.t
	ncfg := networkingv1.NewConfiguration()
	ncfg.Servers = networkingv1.ServerConfigurations{{URL: e.r.APIURL}}
	e.networking = networkingv1.NewAPIClient(ncfg)
	ccfg := cmkv2.NewConfiguration()
	ccfg.Servers = cmkv2.ServerConfigurations{{URL: e.r.APIURL}}
	e.cmk = cmkv2.NewAPIClient(ccfg)
	ocfg := orgv2.NewConfiguration()
	ocfg.Servers = orgv2.ServerConfigurations{{URL: e.r.APIURL}}
	e.orgs = orgv2.NewAPIClient(ocfg)
	if e.r.AzureURL == "" {
		return // --external-azure: no embedded Azure to be a client of
	}

	pem, err := os.ReadFile(e.r.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", e.r.CAFile)
	}
	e.azHTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	copts := embeddedAzureOptions(e.r.AzureURL, e.azHTTP)
	e.armOpts = &arm.ClientOptions{ClientOptions: copts}
	e.admin, err = azidentity.NewUsernamePasswordCredential(demoTenant, azureemu.AzureCLIClientID, demoAdmin, demoAdminPass,
		&azidentity.UsernamePasswordCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	e.provider, err = azidentity.NewClientSecretCredential(e.r.Provider.TenantID, e.r.Provider.ClientID, e.r.Provider.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
}

// embeddedAzureOptions points the Azure SDK for Go at the embedded Azure
// at azureURL (Entra ID and ARM on one host) through hc.
func embeddedAzureOptions(azureURL string, hc *http.Client) policy.ClientOptions {
	return policy.ClientOptions{Transport: hc, Cloud: cloud.Configuration{
		ActiveDirectoryAuthorityHost: azureURL + "/",
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Audience: "https://management.core.windows.net/", Endpoint: azureURL},
		},
	}}
}

// on returns e for subtest t, so that its failures end t, not its parent.
func (e *e2e) on(t *testing.T) *e2e {
	c := *e
	c.t = t
	return &c
}

// stop cancels Serve and waits for it to return; it is idempotent.
func (e *e2e) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	select {
	case err := <-e.errc:
		if err != nil {
			e.t.Errorf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		e.t.Errorf("Serve did not stop within 15s")
	}
}

// ctx carries the API key for the three Confluent SDKs.
func (e *e2e) ctx() context.Context {
	c := e.r.Credentials
	ctx := e.t.Context()
	ctx = context.WithValue(ctx, networkingv1.ContextBasicAuth, networkingv1.BasicAuth{UserName: c.APIKey, Password: c.APISecret})
	ctx = context.WithValue(ctx, cmkv2.ContextBasicAuth, cmkv2.BasicAuth{UserName: c.APIKey, Password: c.APISecret})
	ctx = context.WithValue(ctx, orgv2.ContextBasicAuth, orgv2.BasicAuth{UserName: c.APIKey, Password: c.APISecret})
	return ctx
}

// sdkErr describes an SDK call's failure with the response body.
func sdkErr(resp *http.Response, err error) string {
	var body []byte
	var ge interface{ Body() []byte }
	if errors.As(err, &ge) {
		body = ge.Body()
	}
	status := "no response"
	if resp != nil {
		status = resp.Status
	}
	return fmt.Sprintf("%s: %v %s", status, err, body)
}

func wantHTTP(t *testing.T, what string, resp *http.Response, err error, status int) {
	t.Helper()
	if resp == nil || resp.StatusCode != status {
		t.Fatalf("%s: want %d, got %s", what, status, sdkErr(resp, err))
	}
}

// --- The control plane, through the Confluent SDKs. ---

func (e *e2e) createEnv(name string) string {
	e.t.Helper()
	env, resp, err := e.orgs.EnvironmentsOrgV2Api.CreateOrgV2Environment(e.ctx()).OrgV2Environment(orgv2.OrgV2Environment{DisplayName: &name}).Execute()
	wantHTTP(e.t, "create environment", resp, err, http.StatusCreated)
	return env.GetId()
}

// postNetwork posts an Azure PEERING network.
func (e *e2e) postNetwork(env, name, region, cidr string) (networkingv1.NetworkingV1Network, *http.Response, error) {
	spec := networkingv1.NewNetworkingV1NetworkSpec()
	spec.SetDisplayName(name)
	spec.SetCloud("AZURE")
	spec.SetRegion(region)
	spec.SetCidr(cidr)
	spec.SetConnectionTypes([]string{"PEERING"})
	spec.SetEnvironment(networkingv1.ObjectReference{Id: env})
	return e.networking.NetworksNetworkingV1Api.CreateNetworkingV1Network(e.ctx()).NetworkingV1Network(networkingv1.NetworkingV1Network{Spec: spec}).Execute()
}

// createNetwork creates an Azure PEERING network and waits for READY.
func (e *e2e) createNetwork(env, name, region, cidr string) networkingv1.NetworkingV1Network {
	e.t.Helper()
	n, resp, err := e.postNetwork(env, name, region, cidr)
	wantHTTP(e.t, "create network", resp, err, http.StatusAccepted)
	id := n.GetId()
	deadline := time.Now().Add(e2eWait)
	for n.Status.GetPhase() != "READY" {
		if time.Now().After(deadline) {
			e.t.Fatalf("network %s is %s, not READY after %s", id, n.Status.GetPhase(), e2eWait)
		}
		time.Sleep(5 * time.Millisecond)
		n, resp, err = e.networking.NetworksNetworkingV1Api.GetNetworkingV1Network(e.ctx(), id).Environment(env).Execute()
		wantHTTP(e.t, "get network", resp, err, http.StatusOK)
	}
	return n
}

// createPeering posts a peering of a Contoso VNet and checks the 202,
// Location and phase.
func (e *e2e) createPeering(env, network, name, vnet, region string) string {
	e.t.Helper()
	return e.createPeeringIn(env, network, name, demoTenant, vnet, region)
}

// createPeeringIn is createPeering with the tenant given.
func (e *e2e) createPeeringIn(env, network, name, tenant, vnet, region string) string {
	e.t.Helper()
	spec := networkingv1.NewNetworkingV1PeeringSpec()
	spec.SetDisplayName(name)
	spec.SetCloud(networkingv1.NetworkingV1AzurePeeringAsNetworkingV1PeeringSpecCloudOneOf(
		networkingv1.NewNetworkingV1AzurePeering("AzurePeering", tenant, vnet, region)))
	spec.SetEnvironment(networkingv1.ObjectReference{Id: env})
	spec.SetNetwork(networkingv1.ObjectReference{Id: network})
	p, resp, err := e.networking.PeeringsNetworkingV1Api.CreateNetworkingV1Peering(e.ctx()).NetworkingV1Peering(networkingv1.NetworkingV1Peering{Spec: spec}).Execute()
	wantHTTP(e.t, "create peering", resp, err, http.StatusAccepted)
	if loc := resp.Header.Get("Location"); !strings.HasSuffix(loc, "/networking/v1/peerings/"+p.GetId()) {
		e.t.Fatalf("create peering: Location %q for %s", loc, p.GetId())
	}
	if !strings.HasPrefix(p.GetId(), "peer-") || p.Status.GetPhase() != "PROVISIONING" {
		e.t.Fatalf("created peering %s is %q, want PROVISIONING", p.GetId(), p.Status.GetPhase())
	}
	return p.GetId()
}

func (e *e2e) getPeering(env, id string) (networkingv1.NetworkingV1Peering, int) {
	e.t.Helper()
	p, resp, err := e.networking.PeeringsNetworkingV1Api.GetNetworkingV1Peering(e.ctx(), id).Environment(env).Execute()
	if resp == nil {
		e.t.Fatalf("get peering %s: %v", id, err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
		e.t.Fatalf("get peering %s: %s", id, sdkErr(resp, err))
	}
	return p, resp.StatusCode
}

// phaseOf is "PHASE" or "PHASE ERROR_CODE".
func phaseOf(p networkingv1.NetworkingV1Peering) string {
	if c := p.Status.GetErrorCode(); c != "" {
		return p.Status.GetPhase() + " " + c
	}
	return p.Status.GetPhase()
}

// waitPeering polls the peering until it is in want ("PHASE", "PHASE
// CODE" or "404"), and returns it with every distinct phase seen on the way.
func (e *e2e) waitPeering(env, id, want string) (networkingv1.NetworkingV1Peering, []string) {
	e.t.Helper()
	return e.waitPeeringFunc(env, id, want, func(p networkingv1.NetworkingV1Peering, got string) bool {
		return got == want || p.Status.GetPhase() == want
	})
}

// waitPeeringFunc polls the peering until ok, and returns it with every
// distinct phase seen on the way; got is phaseOf(p), or "404".
func (e *e2e) waitPeeringFunc(env, id, what string, ok func(p networkingv1.NetworkingV1Peering, got string) bool) (networkingv1.NetworkingV1Peering, []string) {
	e.t.Helper()
	var seen []string
	deadline := time.Now().Add(e2eWait)
	for {
		p, status := e.getPeering(env, id)
		got := phaseOf(p)
		if status == http.StatusNotFound {
			got = "404"
		}
		if len(seen) == 0 || seen[len(seen)-1] != got {
			seen = append(seen, got)
		}
		if ok(p, got) {
			return p, seen
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("peering %s: want %s, saw %v within %s; last error_message: %s", id, what, seen, e2eWait, p.Status.GetErrorMessage())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitMessage waits for FAILED code with an error_message containing want.
func (e *e2e) waitMessage(env, id, code, want string) string {
	e.t.Helper()
	p, _ := e.waitPeeringFunc(env, id, "FAILED "+code+" naming "+want, func(p networkingv1.NetworkingV1Peering, got string) bool {
		return got == "FAILED "+code && strings.Contains(p.Status.GetErrorMessage(), want)
	})
	return p.Status.GetErrorMessage()
}

// waitFailed waits for FAILED with code and returns the error message.
func (e *e2e) waitFailed(env, id, code string) string {
	e.t.Helper()
	p, _ := e.waitPeering(env, id, "FAILED "+code)
	return p.Status.GetErrorMessage()
}

func (e *e2e) deletePeering(env, id string) {
	e.t.Helper()
	resp, err := e.networking.PeeringsNetworkingV1Api.DeleteNetworkingV1Peering(e.ctx(), id).Environment(env).Execute()
	wantHTTP(e.t, "delete peering", resp, err, http.StatusNoContent)
}

// peerplane calls a /peerplane/v1 route with the API key and decodes the
// JSON answer into out (when not nil); it returns the status.
func (e *e2e) peerplane(method, path string, body, out any) int {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(e.t.Context(), method, e.r.APIURL+path, rd)
	req.SetBasicAuth(e.r.Credentials.APIKey, e.r.Credentials.APISecret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %s: not JSON: %v\n%s", method, path, resp.Status, err, b)
		}
	}
	return resp.StatusCode
}

func (e *e2e) retry(env, id string) {
	e.t.Helper()
	var p struct{ Status struct{ Phase string } }
	if code := e.peerplane("POST", "/peerplane/v1/peerings/"+id+"/retry?environment="+env, nil, &p); code != http.StatusAccepted {
		e.t.Fatalf("retry %s: %d %+v", id, code, p)
	}
}

type e2eDiagnosis struct {
	PeeringID string `json:"peering_id"`
	Phase     string `json:"phase"`
	Checks    []struct {
		Step, Title, Status, Evidence, Fix string
		ErrorCode                          string `json:"error_code"`
	} `json:"checks"`
	Fixes map[string]any `json:"fixes"`
}

func (e *e2e) diagnose(env, id string) e2eDiagnosis {
	e.t.Helper()
	var d e2eDiagnosis
	if code := e.peerplane("GET", "/peerplane/v1/peerings/"+id+"/diagnosis?environment="+env, nil, &d); code != http.StatusOK {
		e.t.Fatalf("diagnosis of %s: %d", id, code)
	}
	return d
}

// --- The customer (Contoso's admin) and the provider, through the Azure SDK. ---

// vnetIDOf is a Contoso VNet's resource id.
func vnetIDOf(rg, name string) string { return azureid.VNetID(demoSubscription, rg, name) }

// splitVNetID returns a VNet id's subscription, resource group and name.
func splitVNetID(t *testing.T, id string) (sub, rg, name string) {
	t.Helper()
	v, err := azureid.ParseVNetID(id)
	if err != nil {
		t.Fatal(err)
	}
	return v.SubscriptionID, v.ResourceGroup, v.Name
}

func (e *e2e) vnets(cred azcore.TokenCredential, sub string) *armnetwork.VirtualNetworksClient {
	c, err := armnetwork.NewVirtualNetworksClient(sub, cred, e.armOpts)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *e2e) peerings(cred azcore.TokenCredential, sub string) *armnetwork.VirtualNetworkPeeringsClient {
	c, err := armnetwork.NewVirtualNetworkPeeringsClient(sub, cred, e.armOpts)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// consent does what `az ad sp create --id <app>` does, as the admin.
func (e *e2e) consent() {
	e.t.Helper()
	tok, err := e.admin.GetToken(e.t.Context(), policy.TokenRequestOptions{Scopes: []string{e.r.AzureURL + "/graph//.default"}})
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"appId": e.r.Provider.ClientID})
	req, _ := http.NewRequestWithContext(e.t.Context(), http.MethodPost, e.r.AzureURL+"/graph/v1.0/servicePrincipals", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.azHTTP.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var sp struct{ ID, AppID string }
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &sp) != nil || sp.ID == "" {
		e.t.Fatalf("create service principal: %s %s", resp.Status, b)
	}
	e.spID = sp.ID
}

// findServicePrincipal finds the provider app's service principal in
// Contoso through Graph, as the admin, after a consent made elsewhere (in
// a browser).
func (e *e2e) findServicePrincipal() {
	e.t.Helper()
	tok, err := e.admin.GetToken(e.t.Context(), policy.TokenRequestOptions{Scopes: []string{e.r.AzureURL + "/graph//.default"}})
	if err != nil {
		e.t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(e.t.Context(), http.MethodGet,
		e.r.AzureURL+"/graph/v1.0/servicePrincipals?$filter="+url.QueryEscape("appId eq '"+e.r.Provider.ClientID+"'"), nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := e.azHTTP.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var sps struct {
		Value []struct{ ID string } `json:"value"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &sps) != nil || len(sps.Value) != 1 {
		e.t.Fatalf("the provider app's service principal in Contoso: %s %s", resp.Status, b)
	}
	e.spID = sps.Value[0].ID
}

// putRole creates or updates the custom role with actions, assignable in
// the Contoso subscription.
func (e *e2e) putRole(actions ...string) {
	e.t.Helper()
	e.putRoleIn([]string{demoSubscription}, actions...)
}

// putRoleIn creates or updates the custom role with actions, assignable
// in the Contoso subscriptions subs.
func (e *e2e) putRoleIn(subs []string, actions ...string) {
	e.t.Helper()
	if err := e.tryPutRole(subs, actions...); err != nil {
		e.t.Fatalf("create role definition: %v", err)
	}
}

// tryPutRole is putRoleIn, returning Azure's error.
func (e *e2e) tryPutRole(subs []string, actions ...string) error {
	e.t.Helper()
	c, err := armauthorization.NewRoleDefinitionsClient(e.admin, e.armOpts)
	if err != nil {
		e.t.Fatal(err)
	}
	if e.roleID == "" {
		e.roleID = uuid.NewString()
	}
	var acts, scopes []*string
	for _, a := range actions {
		acts = append(acts, to.Ptr(a))
	}
	for _, s := range subs {
		scopes = append(scopes, to.Ptr("/subscriptions/"+s))
	}
	_, err = c.CreateOrUpdate(e.t.Context(), *scopes[0], e.roleID, armauthorization.RoleDefinition{
		Properties: &armauthorization.RoleDefinitionProperties{
			RoleName: to.Ptr(peeringRole), RoleType: to.Ptr("CustomRole"),
			Description:      to.Ptr("Lets Confluent Cloud peer with a VNet"),
			Permissions:      []*armauthorization.Permission{{Actions: acts}},
			AssignableScopes: scopes,
		}}, nil)
	return err
}

// assign assigns the custom role to the app's service principal at scope
// and returns the assignment's id.
func (e *e2e) assign(scope string) string {
	e.t.Helper()
	id, err := e.tryAssign(scope)
	if err != nil {
		e.t.Fatalf("create role assignment at %s: %v", scope, err)
	}
	return id
}

// tryAssign is assign, returning Azure's error.
func (e *e2e) tryAssign(scope string) (string, error) {
	e.t.Helper()
	if e.spID == "" || e.roleID == "" {
		e.t.Fatal("assign before consent and putRole")
	}
	sub, _, _ := strings.Cut(strings.TrimPrefix(scope, "/subscriptions/"), "/")
	c, err := armauthorization.NewRoleAssignmentsClient(sub, e.admin, e.armOpts)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := c.Create(e.t.Context(), scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr("/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/" + e.roleID),
			PrincipalID:      to.Ptr(e.spID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
		}}, nil)
	if err != nil {
		return "", err
	}
	return *resp.ID, nil
}

// tag sets the VNet's ConfluentEnvIDs tag (PATCH, as `az network vnet update --set tags…`).
func (e *e2e) tag(vnet, value string) {
	e.t.Helper()
	sub, rg, name := splitVNetID(e.t, vnet)
	if _, err := e.vnets(e.admin, sub).UpdateTags(e.t.Context(), rg, name, armnetwork.TagsObject{
		Tags: map[string]*string{"ConfluentEnvIDs": to.Ptr(value)}}, nil); err != nil {
		e.t.Fatalf("tag %s: %v", vnet, err)
	}
}

// grantDemoVNet grants the provider app everything on Contoso's VNet for
// env: consent, the full role, its assignment on the VNet, the tag.
func (e *e2e) grantDemoVNet(env string) {
	e.t.Helper()
	e.consent()
	e.putRole(e2eRoleActions...)
	e.assign(demoVNetID)
	e.tag(demoVNetID, env)
}

// createVNet creates a Contoso VNet as the admin.
func (e *e2e) createVNet(rg, name, location string, prefixes ...string) string {
	e.t.Helper()
	return e.createVNetIn(demoSubscription, rg, name, location, prefixes...)
}

// createVNetIn creates a VNet in the Contoso subscription sub as the admin.
func (e *e2e) createVNetIn(sub, rg, name, location string, prefixes ...string) string {
	e.t.Helper()
	poller, err := e.vnets(e.admin, sub).BeginCreateOrUpdate(e.t.Context(), rg, name, armnetwork.VirtualNetwork{
		Location:   to.Ptr(location),
		Properties: &armnetwork.VirtualNetworkPropertiesFormat{AddressSpace: &armnetwork.AddressSpace{AddressPrefixes: to.SliceOfPtrs(prefixes...)}},
	}, nil)
	if err == nil {
		_, err = poller.PollUntilDone(e.t.Context(), nil)
	}
	if err != nil {
		e.t.Fatalf("create vnet %s: %v", name, err)
	}
	return "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Network/virtualNetworks/" + name
}

// grantVNet creates a VNet, assigns the role on it and tags it for env:
// steps 4c and 4d of the flow for one more VNet.
func (e *e2e) grantVNet(name, location, tag string, prefixes ...string) string {
	e.t.Helper()
	id := e.createVNet("contoso-network", name, location, prefixes...)
	e.assign(id)
	e.tag(id, tag)
	return id
}

// setPrefixes replaces a Contoso VNet's address space (GET, then PUT).
func (e *e2e) setPrefixes(vnet string, prefixes ...string) error {
	e.t.Helper()
	_, rg, name := splitVNetID(e.t, vnet)
	c := e.vnets(e.admin, demoSubscription)
	v, err := c.Get(e.t.Context(), rg, name, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	v.Properties.AddressSpace.AddressPrefixes = to.SliceOfPtrs(prefixes...)
	poller, err := c.BeginCreateOrUpdate(e.t.Context(), rg, name, v.VirtualNetwork, nil)
	if err == nil {
		_, err = poller.PollUntilDone(e.t.Context(), nil)
	}
	return err
}

// half reads the peering half name of vnet with cred; nil when missing.
func (e *e2e) half(cred azcore.TokenCredential, vnet, name string) *armnetwork.VirtualNetworkPeering {
	e.t.Helper()
	sub, rg, vn := splitVNetID(e.t, vnet)
	resp, err := e.peerings(cred, sub).Get(e.t.Context(), rg, vn, name, nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return nil
	}
	if err != nil {
		e.t.Fatalf("read peering %s of %s: %v", name, vnet, err)
	}
	return &resp.VirtualNetworkPeering
}

func halfState(h *armnetwork.VirtualNetworkPeering) string {
	if h == nil {
		return "<gone>"
	}
	if h.Properties == nil || h.Properties.PeeringState == nil {
		return "<no state>"
	}
	return string(*h.Properties.PeeringState)
}

// remoteSpace is a half's view of the remote VNet's address space.
func remoteSpace(h *armnetwork.VirtualNetworkPeering) []string {
	var out []string
	if h != nil && h.Properties != nil && h.Properties.RemoteAddressSpace != nil {
		for _, p := range h.Properties.RemoteAddressSpace.AddressPrefixes {
			out = append(out, *p)
		}
	}
	slices.Sort(out)
	return out
}

// deleteCustomerHalf deletes the customer's half as the admin, as
// `az network vnet peering delete` does.
func (e *e2e) deleteCustomerHalf(vnet, name string) {
	e.t.Helper()
	_, rg, vn := splitVNetID(e.t, vnet)
	poller, err := e.peerings(e.admin, demoSubscription).BeginDelete(e.t.Context(), rg, vn, name, nil)
	if err == nil {
		_, err = poller.PollUntilDone(e.t.Context(), nil)
	}
	if err != nil {
		e.t.Fatalf("delete customer half: %v", err)
	}
}

// waitHalves polls both halves of peering id until their states are
// cust and prov ("<gone>" for none).
func (e *e2e) waitHalves(custVNet, provVNet, id, cust, prov string) (c, p *armnetwork.VirtualNetworkPeering) {
	e.t.Helper()
	deadline := time.Now().Add(e2eWait)
	for {
		c, p = e.half(e.admin, custVNet, id), e.half(e.provider, provVNet, id)
		if halfState(c) == cust && halfState(p) == prov {
			return c, p
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("peering %s halves: customer %s, provider %s; want %s and %s", id, halfState(c), halfState(p), cust, prov)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// contextWithConnectAuth carries an API key for the Connect SDK.
func contextWithConnectAuth(t *testing.T, key, secret string) context.Context {
	return context.WithValue(t.Context(), connectv1.ContextBasicAuth, connectv1.BasicAuth{UserName: key, Password: secret})
}

// postCluster posts a Dedicated cluster of cku CKUs in network.
func (e *e2e) postCluster(env, network, name string, cku int32) (cmkv2.CmkV2Cluster, *http.Response, error) {
	spec := cmkv2.NewCmkV2ClusterSpec()
	spec.SetDisplayName(name)
	spec.SetAvailability("MULTI_ZONE")
	spec.SetCloud("AZURE")
	spec.SetRegion("eastus")
	spec.SetConfig(cmkv2.CmkV2DedicatedAsCmkV2ClusterSpecConfigOneOf(&cmkv2.CmkV2Dedicated{Kind: "Dedicated", Cku: cku}))
	spec.SetEnvironment(cmkv2.EnvScopedObjectReference{Id: env})
	spec.SetNetwork(cmkv2.EnvScopedObjectReference{Id: network})
	return e.cmk.ClustersCmkV2Api.CreateCmkV2Cluster(e.ctx()).CmkV2Cluster(cmkv2.CmkV2Cluster{Spec: spec}).Execute()
}

// waitCluster polls cluster c until PROVISIONED.
func (e *e2e) waitCluster(env string, c cmkv2.CmkV2Cluster) cmkv2.CmkV2Cluster {
	e.t.Helper()
	deadline := time.Now().Add(e2eWait)
	for c.Status.GetPhase() != "PROVISIONED" {
		if time.Now().After(deadline) {
			e.t.Fatalf("cluster %s is %s, not PROVISIONED", c.GetId(), c.Status.GetPhase())
		}
		time.Sleep(5 * time.Millisecond)
		var resp *http.Response
		var err error
		c, resp, err = e.cmk.ClustersCmkV2Api.GetCmkV2Cluster(e.ctx(), c.GetId()).Environment(env).Execute()
		wantHTTP(e.t, "get cluster", resp, err, http.StatusOK)
	}
	return c
}

// createCluster creates a Dedicated cluster and waits for PROVISIONED.
func (e *e2e) createCluster(env, network, name string, cku int32) cmkv2.CmkV2Cluster {
	e.t.Helper()
	c, resp, err := e.postCluster(env, network, name, cku)
	wantHTTP(e.t, "create cluster", resp, err, http.StatusAccepted)
	return e.waitCluster(env, c)
}

// createNSG creates an empty network security group in Contoso's
// subscription and returns its id.
func (e *e2e) createNSG(rg, name string) string {
	e.t.Helper()
	c, err := armnetwork.NewSecurityGroupsClient(demoSubscription, e.admin, e.armOpts)
	if err != nil {
		e.t.Fatal(err)
	}
	poller, err := c.BeginCreateOrUpdate(e.t.Context(), rg, name, armnetwork.SecurityGroup{Location: to.Ptr("eastus")}, nil)
	var resp armnetwork.SecurityGroupsClientCreateOrUpdateResponse
	if err == nil {
		resp, err = poller.PollUntilDone(e.t.Context(), nil)
	}
	if err != nil {
		e.t.Fatalf("create nsg %s: %v", name, err)
	}
	return *resp.ID
}

// createSubnet adds a subnet with an NSG (if nsg is not empty) to vnet.
func (e *e2e) createSubnet(vnet, name, prefix, nsg string) {
	e.t.Helper()
	_, rg, vn := splitVNetID(e.t, vnet)
	c, err := armnetwork.NewSubnetsClient(demoSubscription, e.admin, e.armOpts)
	if err != nil {
		e.t.Fatal(err)
	}
	props := &armnetwork.SubnetPropertiesFormat{AddressPrefix: to.Ptr(prefix)}
	if nsg != "" {
		props.NetworkSecurityGroup = &armnetwork.SecurityGroup{ID: to.Ptr(nsg)}
	}
	poller, err := c.BeginCreateOrUpdate(e.t.Context(), rg, vn, name, armnetwork.Subnet{Properties: props}, nil)
	if err == nil {
		_, err = poller.PollUntilDone(e.t.Context(), nil)
	}
	if err != nil {
		e.t.Fatalf("create subnet %s of %s: %v", name, vnet, err)
	}
}

// peerVNets creates the half from → to as Contoso's admin, with forwarded
// traffic and gateway transit allowed.
func (e *e2e) peerVNets(from, to_, name string) {
	e.t.Helper()
	_, rg, vn := splitVNetID(e.t, from)
	poller, err := e.peerings(e.admin, demoSubscription).BeginCreateOrUpdate(e.t.Context(), rg, vn, name, armnetwork.VirtualNetworkPeering{
		Properties: &armnetwork.VirtualNetworkPeeringPropertiesFormat{
			RemoteVirtualNetwork:      &armnetwork.SubResource{ID: to.Ptr(to_)},
			AllowVirtualNetworkAccess: to.Ptr(true), AllowForwardedTraffic: to.Ptr(true), AllowGatewayTransit: to.Ptr(true),
		}}, nil)
	if err == nil {
		_, err = poller.PollUntilDone(e.t.Context(), nil)
	}
	if err != nil {
		e.t.Fatalf("peer %s with %s: %v", from, to_, err)
	}
}

func (e *e2e) securityRules(nsg string) (*armnetwork.SecurityRulesClient, string, string) {
	e.t.Helper()
	p := strings.Split(nsg, "/")
	c, err := armnetwork.NewSecurityRulesClient(demoSubscription, e.admin, e.armOpts)
	if err != nil {
		e.t.Fatal(err)
	}
	return c, p[4], p[len(p)-1]
}

// putRule creates or replaces a security rule of nsg.
func (e *e2e) putRule(nsg, name string, props armnetwork.SecurityRulePropertiesFormat) {
	e.t.Helper()
	c, rg, n := e.securityRules(nsg)
	poller, err := c.BeginCreateOrUpdate(e.t.Context(), rg, n, name, armnetwork.SecurityRule{Properties: &props}, nil)
	if err == nil {
		_, err = poller.PollUntilDone(e.t.Context(), nil)
	}
	if err != nil {
		e.t.Fatalf("put rule %s of %s: %v", name, nsg, err)
	}
}

// deleteRule deletes a security rule of nsg.
func (e *e2e) deleteRule(nsg, name string) {
	e.t.Helper()
	c, rg, n := e.securityRules(nsg)
	poller, err := c.BeginDelete(e.t.Context(), rg, n, name, nil)
	if err == nil {
		_, err = poller.PollUntilDone(e.t.Context(), nil)
	}
	if err != nil {
		e.t.Fatalf("delete rule %s of %s: %v", name, nsg, err)
	}
}
