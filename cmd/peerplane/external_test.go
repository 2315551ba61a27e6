package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// extClient calls one HTTP API with JSON bodies.
type extClient struct {
	t      *testing.T
	http   *http.Client
	base   string
	header http.Header
}

func (c *extClient) do(method, path string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	for k, v := range c.header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 && out != nil {
		c.t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

// TestExternalAzure runs the control plane against an Azure it does not
// embed — another Peerplane's embedded Azure, reached only over HTTPS with
// the provider app's credentials, as real Azure would be — and peers the
// customer's VNet there.
func TestExternalAzure(t *testing.T) {
	azure := startE2E(t, "").r
	plane := startE2E(t, "", func(c *ServeConfig) {
		*c = ServeConfig{DataDir: c.DataDir, Listen: c.Listen, LogLevel: c.LogLevel,
			ExternalAzure: true, ProviderAppID: azure.Provider.ClientID, ProviderTenantID: azure.Provider.TenantID,
			ProviderSubscriptionID: azure.Provider.SubscriptionID, ProviderClientSecret: azure.Provider.ClientSecret,
			AzureAuthorityHost: azure.AzureURL + "/", AzureARMEndpoint: azure.AzureURL, AzureARMAudience: "https://management.core.windows.net/",
			AzureCAFile: azure.CAFile}
	}).r
	if plane.AzureURL != "" {
		t.Fatalf("the external-azure server started an embedded Azure at %s", plane.AzureURL)
	}

	const (
		tenant = "5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01"
		sub    = "6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02"
		vnet   = "/subscriptions/" + sub + "/resourceGroups/contoso-network/providers/Microsoft.Network/virtualNetworks/contoso-vnet"
	)
	api := &extClient{t: t, http: http.DefaultClient, base: plane.APIURL, header: http.Header{}}
	api.header.Set("Authorization", "Basic "+basic(plane.Credentials.APIKey, plane.Credentials.APISecret))
	var env struct{ ID string }
	api.do("POST", "/org/v2/environments", map[string]any{"display_name": "external"}, &env)
	var nw struct{ ID string }
	api.do("POST", "/networking/v1/networks", map[string]any{"spec": map[string]any{"display_name": "n", "cloud": "AZURE", "region": "eastus",
		"cidr": "10.210.0.0/16", "connection_types": []string{"PEERING"}, "environment": map[string]string{"id": env.ID}}}, &nw)

	// The configured provider tenant and subscription are never a
	// customer's: a peering naming either is refused (422; otherwise valid
	// input, so nothing else can refuse it).
	for _, c := range []struct{ tenant, vnet string }{
		{azure.Provider.TenantID, vnet},
		{tenant, "/subscriptions/" + azure.Provider.SubscriptionID + "/resourceGroups/peerplane-networks/providers/Microsoft.Network/virtualNetworks/" + nw.ID},
	} {
		if code := api.do("POST", "/networking/v1/peerings", map[string]any{"spec": map[string]any{"display_name": "p", "environment": map[string]string{"id": env.ID},
			"network": map[string]string{"id": nw.ID}, "cloud": map[string]string{"kind": "AzurePeering", "tenant": c.tenant, "vnet": c.vnet, "customer_region": "eastus"}}}, nil); code != http.StatusUnprocessableEntity {
			t.Fatalf("peering with tenant %s, VNet %s: %d, want 422", c.tenant, c.vnet, code)
		}
	}

	// The customer grants access on "Azure" (the other server).
	pem, err := os.ReadFile(azure.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	azHTTP := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	token := func(scope string) string {
		resp, err := azHTTP.PostForm(azure.AzureURL+"/"+tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"password"},
			"client_id": {"04b07795-8ddb-461a-bbee-02f9e1bf7b46"}, "username": {"admin@contoso.example"}, "password": {"Contoso-demo-pass1"}, "scope": {scope}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		json.NewDecoder(resp.Body).Decode(&tok)
		if tok.AccessToken == "" {
			t.Fatalf("no token for %s: %s", scope, resp.Status)
		}
		return tok.AccessToken
	}
	graph := &extClient{t: t, http: azHTTP, base: azure.AzureURL + "/graph/v1.0", header: http.Header{"Authorization": {"Bearer " + token(azure.AzureURL+"/graph//.default")}}}
	var sp struct{ ID string }
	graph.do("POST", "/servicePrincipals", map[string]string{"appId": azure.Provider.ClientID}, &sp)
	arm := &extClient{t: t, http: azHTTP, base: azure.AzureURL, header: http.Header{"Authorization": {"Bearer " + token("https://management.core.windows.net//.default")}}}
	role := uuid.NewString()
	arm.do("PUT", "/subscriptions/"+sub+"/providers/Microsoft.Authorization/roleDefinitions/"+role+"?api-version=2022-04-01", map[string]any{"properties": map[string]any{
		"roleName": "Confluent Cloud Peering Creator", "type": "CustomRole", "assignableScopes": []string{"/subscriptions/" + sub},
		"permissions": []map[string]any{{"actions": []string{"Microsoft.Network/virtualNetworks/read", "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read",
			"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write", "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete", "Microsoft.Network/virtualNetworks/peer/action"}}}}}, &struct{}{})
	arm.do("PUT", vnet+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=2022-04-01", map[string]any{"properties": map[string]any{
		"roleDefinitionId": "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/" + role, "principalId": sp.ID, "principalType": "ServicePrincipal"}}, &struct{}{})
	var v map[string]any
	arm.do("GET", vnet+"?api-version=2023-09-01", nil, &v)
	v["tags"] = map[string]string{"ConfluentEnvIDs": env.ID}
	arm.do("PUT", vnet+"?api-version=2023-09-01", v, &struct{}{})

	var p struct{ ID string }
	api.do("POST", "/networking/v1/peerings", map[string]any{"spec": map[string]any{"display_name": "p", "environment": map[string]string{"id": env.ID},
		"network": map[string]string{"id": nw.ID}, "cloud": map[string]string{"kind": "AzurePeering", "tenant": tenant, "vnet": vnet, "customer_region": "eastus"}}}, &p)
	var got struct {
		Status struct {
			Phase        string
			ErrorCode    string `json:"error_code"`
			ErrorMessage string `json:"error_message"`
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		api.do("GET", "/networking/v1/peerings/"+p.ID+"?environment="+env.ID, nil, &got)
		if got.Status.Phase == "READY" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("peering is %s %s %s, not READY", got.Status.Phase, got.Status.ErrorCode, got.Status.ErrorMessage)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var halves struct {
		Value []struct {
			Name       string
			Properties struct{ PeeringState string }
		}
	}
	arm.do("GET", vnet+"/virtualNetworkPeerings?api-version=2023-09-01", nil, &halves)
	if len(halves.Value) != 1 || halves.Value[0].Name != p.ID || halves.Value[0].Properties.PeeringState != "Connected" {
		t.Fatalf("customer halves on the external Azure: %+v", halves.Value)
	}
	if !strings.HasPrefix(got.Status.Phase, "READY") {
		t.Fatal(fmt.Sprint(got))
	}

	// Reachability reads Azure through ARM as the provider app. The
	// customer's subnet "apps" gets an NSG the app may not read (the
	// Peering Creator role grants no NSG reads): the answer says its rules
	// were not evaluated rather than guessing.
	nsg := "/subscriptions/" + sub + "/resourceGroups/contoso-network/providers/Microsoft.Network/networkSecurityGroups/apps-nsg"
	arm.do("PUT", nsg+"?api-version=2023-09-01", map[string]any{"location": "eastus", "properties": map[string]any{"securityRules": []map[string]any{{
		"name": "deny-all-out", "properties": map[string]any{"priority": 100, "direction": "Outbound", "access": "Deny", "protocol": "*",
			"sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "*"}}}}}, &struct{}{})
	arm.do("PUT", vnet+"/subnets/apps?api-version=2023-09-01", map[string]any{"properties": map[string]any{
		"addressPrefix": "10.1.0.0/24", "networkSecurityGroup": map[string]string{"id": nsg}}}, &struct{}{})
	type check struct{ Name, Result, Detail string }
	var res struct {
		Verdict   string
		Checks    []check
		BlockedBy *struct{ Code string } `json:"blocked_by"`
	}
	reachQ := func(src, dst string) {
		t.Helper()
		res.Checks, res.BlockedBy = nil, nil
		if code := api.do("GET", "/peerplane/v1/reachability?environment="+env.ID+"&source="+src+"&destination="+dst+"&port=443", nil, &res); code != http.StatusOK {
			t.Fatalf("reachability %s -> %s: %d", src, dst, code)
		}
	}
	reachQ("10.1.0.4", "10.210.0.10")
	skipped := false
	for _, c := range res.Checks {
		skipped = skipped || (c.Name == "nsg_outbound" && c.Result == "SKIP" && strings.Contains(c.Detail, "apps-nsg") && strings.Contains(c.Detail, "not evaluated"))
	}
	if res.Verdict != "REACHABLE" || !skipped {
		t.Fatalf("from the apps subnet behind an unreadable NSG: %s %+v", res.Verdict, res.Checks)
	}
	reachQ("10.1.1.4", "10.210.0.10")
	if res.Verdict != "REACHABLE" {
		t.Fatalf("from the data subnet: %s %+v", res.Verdict, res.Checks)
	}
	reachQ("10.1.1.4", "10.99.0.10")
	if res.Verdict != "UNREACHABLE" || res.BlockedBy == nil || res.BlockedBy.Code != "DESTINATION_NOT_IN_ANY_VNET" {
		t.Fatalf("to an address in no VNet: %s %+v", res.Verdict, res.BlockedBy)
	}
}

func basic(user, pass string) string {
	req, _ := http.NewRequest("GET", "http://x", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}
