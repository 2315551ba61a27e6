package main

// Small HTTP clients for the control-plane API and for the benchCustomer and
// provider sides of the embedded Azure, shared by `peerplane bench` and
// the crash test. They speak the wire formats directly (as Terraform, the
// portal or az would), so they exercise the same paths real clients do.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Demo world ids (internal/world/demo.yaml).
const (
	benchTenant           = "5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01"
	benchSubscription     = "6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02"
	benchResourceGroup    = "contoso-network"
	benchAdmin            = "admin@contoso.example"
	benchAdminPassword    = "Contoso-demo-pass1"
	benchAzureCLIClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
	benchARMScope         = "https://management.core.windows.net//.default"
	benchRoleName         = "Confluent Cloud Peering Creator"
)

var benchRoleActions = []string{
	"Microsoft.Network/virtualNetworks/read",
	"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read",
	"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write",
	"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete",
	"Microsoft.Network/virtualNetworks/peer/action",
}

// benchHTTPError is a response outside 2xx.
type benchHTTPError struct {
	Method, URL string
	Status      int
	Body        string
}

func (e *benchHTTPError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, strings.TrimSpace(e.Body))
}

// benchStatus returns the HTTP status of err, or 0 when it is not one.
func benchStatus(err error) int {
	if e, ok := err.(*benchHTTPError); ok {
		return e.Status
	}
	return 0
}

// benchJSON sends JSON requests to one base URL with fixed headers.
type benchJSON struct {
	http   *http.Client
	base   string
	header http.Header
}

// do sends body (JSON, when not nil) and decodes a 2xx answer into out
// (when not nil). It returns the status, and an *benchHTTPError for a
// status outside 2xx.
func (c *benchJSON) do(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, &benchHTTPError{Method: method, URL: c.base + path, Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// newBenchAPI is a control-plane API client with the API key.
func newBenchAPI(hc *http.Client, apiURL, key, secret string) *benchJSON {
	req, _ := http.NewRequest(http.MethodGet, apiURL, nil)
	req.SetBasicAuth(key, secret)
	return &benchJSON{http: hc, base: apiURL, header: http.Header{"Authorization": req.Header["Authorization"]}}
}

// benchPeering is the part of a peering the tools read.
type benchPeering struct {
	ID   string `json:"id"`
	Spec struct {
		Cloud struct {
			Tenant string `json:"tenant"`
			VNet   string `json:"vnet"`
		} `json:"cloud"`
		Network struct {
			ID string `json:"id"`
		} `json:"network"`
	} `json:"spec"`
	Status struct {
		Phase        string `json:"phase"`
		ErrorCode    string `json:"error_code"`
		ErrorMessage string `json:"error_message"`
	} `json:"status"`
}

type benchNetwork struct {
	ID     string `json:"id"`
	Status struct {
		Phase string `json:"phase"`
		Cloud *struct {
			VNet string `json:"vnet"`
		} `json:"cloud"`
	} `json:"status"`
}

func benchCreateEnv(ctx context.Context, api *benchJSON, name string) (string, error) {
	var env struct{ ID string }
	_, err := api.do(ctx, http.MethodPost, "/org/v2/environments", map[string]any{"display_name": name}, &env)
	return env.ID, err
}

func benchCreateNetwork(ctx context.Context, api *benchJSON, env, cidr string) (string, error) {
	var n benchNetwork
	_, err := api.do(ctx, http.MethodPost, "/networking/v1/networks", map[string]any{"spec": map[string]any{
		"display_name": "n-" + cidr, "cloud": "AZURE", "region": "eastus", "cidr": cidr,
		"connection_types": []string{"PEERING"}, "environment": map[string]string{"id": env}}}, &n)
	return n.ID, err
}

// benchWaitNetwork polls the network until READY and returns its provider
// VNet id.
func benchWaitNetwork(ctx context.Context, api *benchJSON, env, id string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		var n benchNetwork
		_, err := api.do(ctx, http.MethodGet, "/networking/v1/networks/"+id+"?environment="+env, nil, &n)
		if err == nil && n.Status.Phase == "READY" && n.Status.Cloud != nil {
			return n.Status.Cloud.VNet, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("network %s is %q after %v (last error: %v)", id, n.Status.Phase, timeout, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func benchCreatePeering(ctx context.Context, api *benchJSON, env, network, tenant, vnet, name string) (benchPeering, int, error) {
	var p benchPeering
	st, err := api.do(ctx, http.MethodPost, "/networking/v1/peerings", map[string]any{"spec": map[string]any{
		"display_name": name, "environment": map[string]string{"id": env}, "network": map[string]string{"id": network},
		"cloud": map[string]string{"kind": "AzurePeering", "tenant": tenant, "vnet": vnet, "customer_region": "eastus"}}}, &p)
	return p, st, err
}

func benchGetPeering(ctx context.Context, api *benchJSON, env, id string) (benchPeering, int, error) {
	var p benchPeering
	st, err := api.do(ctx, http.MethodGet, "/networking/v1/peerings/"+id+"?environment="+env, nil, &p)
	return p, st, err
}

// benchListPeerings returns every peering of env, following metadata.next.
func benchListPeerings(ctx context.Context, api *benchJSON, env string) ([]benchPeering, error) {
	return benchListPeeringsQuery(ctx, api, env, "")
}

// benchListPeeringsQuery returns every peering of env the list's filters
// in query ("&status.phase=…", or "") select, following metadata.next.
func benchListPeeringsQuery(ctx context.Context, api *benchJSON, env, query string) ([]benchPeering, error) {
	var out []benchPeering
	path := "/networking/v1/peerings?environment=" + env + "&page_size=100" + query
	for i := 0; i < 1000 && path != ""; i++ {
		var page struct {
			Metadata struct {
				Next string `json:"next"`
			} `json:"metadata"`
			Data []benchPeering `json:"data"`
		}
		if _, err := api.do(ctx, http.MethodGet, path, nil, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Data...)
		path = ""
		if page.Metadata.Next != "" {
			u, err := url.Parse(page.Metadata.Next)
			if err != nil {
				return nil, err
			}
			path = u.RequestURI()
		}
	}
	return out, nil
}

// benchAzureHTTP trusts the embedded Azure's CA.
func benchAzureHTTP(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no certificate", caFile)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}}, nil
}

// benchAzureToken gets an access token from the embedded Entra ID.
func benchAzureToken(ctx context.Context, hc *http.Client, azureURL, tenant string, form url.Values) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, azureURL+"/"+tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(b, &tok); tok.AccessToken == "" {
		return "", fmt.Errorf("token in tenant %s: %s %s", tenant, resp.Status, b)
	}
	return tok.AccessToken, nil
}

// benchCustomer acts as the demo tenant's Global Administrator: Graph for the
// consent, ARM for VNets, roles and tags.
type benchCustomer struct {
	graph, arm *benchJSON
}

func newBenchCustomer(ctx context.Context, hc *http.Client, azureURL string) (*benchCustomer, error) {
	form := func(scope string) url.Values {
		return url.Values{"grant_type": {"password"}, "client_id": {benchAzureCLIClientID}, "username": {benchAdmin}, "password": {benchAdminPassword}, "scope": {scope}}
	}
	gt, err := benchAzureToken(ctx, hc, azureURL, benchTenant, form(azureURL+"/graph//.default"))
	if err != nil {
		return nil, err
	}
	at, err := benchAzureToken(ctx, hc, azureURL, benchTenant, form(benchARMScope))
	if err != nil {
		return nil, err
	}
	return &benchCustomer{
		graph: &benchJSON{http: hc, base: azureURL + "/graph/v1.0", header: http.Header{"Authorization": {"Bearer " + gt}}},
		arm:   &benchJSON{http: hc, base: azureURL, header: http.Header{"Authorization": {"Bearer " + at}}},
	}, nil
}

// consent creates the provider app's service principal in the tenant (as
// `az ad sp create --id APP` does) and returns its object id.
func (c *benchCustomer) consent(ctx context.Context, appID string) (string, error) {
	var sp struct{ ID string }
	_, err := c.graph.do(ctx, http.MethodPost, "/servicePrincipals", map[string]string{"appId": appID}, &sp)
	if benchStatus(err) == http.StatusConflict {
		var list struct{ Value []struct{ ID string } }
		if _, err := c.graph.do(ctx, http.MethodGet, "/servicePrincipals?$filter="+url.QueryEscape("appId eq '"+appID+"'"), nil, &list); err != nil {
			return "", err
		}
		if len(list.Value) == 0 {
			return "", fmt.Errorf("service principal of %s: conflict, then not found", appID)
		}
		return list.Value[0].ID, nil
	}
	return sp.ID, err
}

// createRole creates the custom peering role at the subscription and
// returns its id.
func (c *benchCustomer) createRole(ctx context.Context) (string, error) {
	id := "/subscriptions/" + benchSubscription + "/providers/Microsoft.Authorization/roleDefinitions/" + uuid.NewString()
	_, err := c.arm.do(ctx, http.MethodPut, id+"?api-version=2022-04-01", map[string]any{"properties": map[string]any{
		"roleName": benchRoleName, "type": "CustomRole", "assignableScopes": []string{"/subscriptions/" + benchSubscription},
		"permissions": []map[string]any{{"actions": benchRoleActions}}}}, nil)
	return id, err
}

// assignRole assigns role to principal at scope.
func (c *benchCustomer) assignRole(ctx context.Context, scope, role, principal string) error {
	_, err := c.arm.do(ctx, http.MethodPut, scope+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=2022-04-01",
		map[string]any{"properties": map[string]any{"roleDefinitionId": role, "principalId": principal, "principalType": "ServicePrincipal"}}, nil)
	return err
}

// createVNet creates VNet name in the demo resource group, tagged with
// ConfluentEnvIDs=envs, and returns its id.
func (c *benchCustomer) createVNet(ctx context.Context, name, cidr, envs string) (string, error) {
	id := "/subscriptions/" + benchSubscription + "/resourceGroups/" + benchResourceGroup + "/providers/Microsoft.Network/virtualNetworks/" + name
	_, err := c.arm.do(ctx, http.MethodPut, id+"?api-version=2023-09-01", map[string]any{"location": "eastus",
		"tags":       map[string]string{"ConfluentEnvIDs": envs},
		"properties": map[string]any{"addressSpace": map[string]any{"addressPrefixes": []string{cidr}}}}, nil)
	return id, err
}

// benchHalf is a VNet peering half as ARM lists it.
type benchHalf struct {
	Name       string `json:"name"`
	Properties struct {
		PeeringState         string `json:"peeringState"`
		RemoteVirtualNetwork struct {
			ID string `json:"id"`
		} `json:"remoteVirtualNetwork"`
	} `json:"properties"`
}

// benchListHalves lists the peering halves of vnet through arm.
func benchListHalves(ctx context.Context, arm *benchJSON, vnet string) ([]benchHalf, error) {
	var out []benchHalf
	path := vnet + "/virtualNetworkPeerings?api-version=2023-09-01"
	for i := 0; i < 1000 && path != ""; i++ {
		var page struct {
			Value    []benchHalf `json:"value"`
			NextLink string      `json:"nextLink"`
		}
		if _, err := arm.do(ctx, http.MethodGet, path, nil, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Value...)
		path = strings.TrimPrefix(page.NextLink, arm.base)
	}
	return out, nil
}

// benchProviderARM is an ARM client as the provider app in its own tenant.
func benchProviderARM(ctx context.Context, hc *http.Client, azureURL string, p ProviderCredentials) (*benchJSON, error) {
	tok, err := benchAzureToken(ctx, hc, azureURL, p.TenantID, url.Values{"grant_type": {"client_credentials"},
		"client_id": {p.ClientID}, "client_secret": {p.ClientSecret}, "scope": {benchARMScope}})
	if err != nil {
		return nil, err
	}
	return &benchJSON{http: hc, base: azureURL, header: http.Header{"Authorization": {"Bearer " + tok}}}, nil
}
