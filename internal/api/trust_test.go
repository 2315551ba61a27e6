package api_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
)

// raw sends body as is with the given Content-Type ("" for none) and the
// harness's key, plus any extra header pairs.
func (h *harness) raw(method, path, contentType, body string, hdr ...string) response {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(h.key+":"+h.secret)))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return h.send(req)
}

// count returns how many items the list at path holds on its first page.
func (h *harness) count(path string) int {
	h.t.Helper()
	r := h.do("GET", path, nil)
	if r.status != http.StatusOK {
		h.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	return len(r.json(h.t)["data"].([]any))
}

// TestSettingsRejectedChangesNothing: a PUT of settings that do not
// validate (or do not decode) is a 4xx naming the field, and the live rules
// stay as they were even though the rejected body removed a reserved range
// and added the region "mars": a network in the reserved range is still
// refused, and "mars" is still not a region.
func TestSettingsRejectedChangesNothing(t *testing.T) {
	h := newHarness(t)
	envID, _ := h.setup("10.1.0.0/16")
	before := h.do("GET", "/peerplane/v1/settings", nil)
	if before.status != http.StatusOK {
		t.Fatalf("GET settings: %d %s", before.status, before.body)
	}
	liveRules := func(t *testing.T) {
		t.Helper()
		if r := h.do("GET", "/peerplane/v1/settings", nil); r.status != http.StatusOK || string(r.body) != string(before.body) {
			t.Fatalf("settings changed: %d\n%s\nwas\n%s", r.status, r.body, before.body)
		}
		h.do("POST", "/networking/v1/networks", networkBody(envID, "10.253.0.0/16")).wantError(t, 422, "invalid_configuration", "/spec/cidr")
		mars := networkBody(envID, "10.60.0.0/16")
		mars["spec"].(map[string]any)["region"] = "mars"
		h.do("POST", "/networking/v1/networks", mars).wantError(t, 422, "invalid_configuration", "/spec/region")
	}
	for _, tt := range []struct {
		name, body   string
		status       int
		code, source string
	}{
		{"bad quota", `{"reserved_cidrs":["10.254.0.0/16"],"azure_regions":["mars","eastus"],"peerings_per_network":0}`, 422, "invalid_configuration", "/peerings_per_network"},
		{"bad cidr", `{"azure_regions":["mars"],"reserved_cidrs":["10.254.0.0/33"]}`, 422, "invalid_configuration", "/reserved_cidrs/0"},
		{"bad pair", `{"reserved_cidrs":["10.254.0.0/16"],"azure_regions":["mars","eastus"],"allowed_region_pairs":[["mars","eastus"],["eastus","pluto"]]}`, 422, "invalid_configuration", "/allowed_region_pairs/1/1"},
		// The decoder writes the fields before the one of the wrong type.
		{"bad type", `{"azure_regions":["mars"],"reserved_cidrs":["10.254.0.0/16"],"environments_per_org":"many"}`, 400, "invalid_parameter", "/environments_per_org"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h.do("PUT", "/peerplane/v1/settings", tt.body).wantError(t, tt.status, tt.code, tt.source)
			liveRules(t)
		})
	}
	// A good PUT still applies.
	if r := h.do("PUT", "/peerplane/v1/settings", `{"azure_regions":["mars","eastus"]}`); r.status != http.StatusOK {
		t.Fatalf("good PUT: %d %s", r.status, r.body)
	}
	mars := networkBody(envID, "10.60.0.0/16")
	mars["spec"].(map[string]any)["region"] = "mars"
	if r := h.do("POST", "/networking/v1/networks", mars); r.status != http.StatusAccepted {
		t.Fatalf("network in mars after allowing it: %d %s", r.status, r.body)
	}
}

const (
	providerTenant = "9a8b7c6d-3333-1e5f-8a9b-abcdefabcdef"
	providerSub    = "1b2c3d4e-4444-1e5f-8a9b-abcdefabcdef"
)

// TestPeeringNeverNamesTheProvider: a peering whose tenant is the
// provider's, or whose VNet is in the provider's subscription, is refused
// at create, naming the field, however the ids are cased; the message
// tells nothing about the provider's VNet; nothing is created.
func TestPeeringNeverNamesTheProvider(t *testing.T) {
	h := newHarness(t, func(svc *control.Service) {
		svc.Provider = control.ProviderAccount{TenantID: providerTenant, SubscriptionID: providerSub}
	})
	envID, netID := h.setup("10.1.0.0/16")
	list := "/networking/v1/peerings?environment=" + envID
	provVNet := "/subscriptions/" + providerSub + "/resourceGroups/peerplane-rg/providers/Microsoft.Network/virtualNetworks/n-abc123"
	for _, tt := range []struct {
		name, tenant, vnet, source string
	}{
		{"provider tenant", providerTenant, vnetID("rg", "v1"), "/spec/cloud/tenant"},
		{"provider tenant upper case", strings.ToUpper(providerTenant), vnetID("rg", "v1"), "/spec/cloud/tenant"},
		{"provider subscription", tenantID, provVNet, "/spec/cloud/vnet"},
		{"provider subscription upper case", tenantID, strings.Replace(provVNet, providerSub, strings.ToUpper(providerSub), 1), "/spec/cloud/vnet"},
		{"both", providerTenant, provVNet, "/spec/cloud/tenant"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := peeringBody(envID, netID, "v1")
			cloud := body["spec"].(map[string]any)["cloud"].(map[string]any)
			cloud["tenant"], cloud["vnet"] = tt.tenant, tt.vnet
			r := h.do("POST", "/networking/v1/peerings", body)
			r.wantError(t, 422, "invalid_configuration", tt.source)
			if !strings.Contains(string(r.body), "provider's own") || strings.Contains(string(r.body), "10.") || strings.Contains(string(r.body), "eastus") {
				t.Fatalf("message: %s", r.body)
			}
		})
	}
	if n := h.count(list); n != 0 {
		t.Fatalf("%d peerings after refusals", n)
	}
	// A customer's own tenant and VNet still peer.
	if r := h.do("POST", "/networking/v1/peerings", peeringBody(envID, netID, "v1")); r.status != http.StatusAccepted {
		t.Fatalf("customer peering: %d %s", r.status, r.body)
	}
}

// TestContentTypeMustBeJSON: a POST, PUT or PATCH with a body that is not
// declared application/json is 415, naming the Content-Type header, before
// anything happens: so the forms a browser may post cross-site without a
// preflight (urlencoded, multipart, text/plain) cannot act with credentials
// it has cached. JSON (with a charset) and body-less calls pass.
func TestContentTypeMustBeJSON(t *testing.T) {
	h := newHarness(t)
	envID, netID := h.setup("10.1.0.0/16")
	envJSON := `{"display_name":"pwned"}`
	for _, tt := range []struct {
		name, method, path, contentType, body string
	}{
		{"form", "POST", "/org/v2/environments", "application/x-www-form-urlencoded", "display_name=pwned"},
		{"multipart", "POST", "/org/v2/environments", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"display_name\"\r\n\r\npwned\r\n--x--\r\n"},
		{"text/plain JSON", "POST", "/org/v2/environments", "text/plain", envJSON},
		{"no content type", "POST", "/org/v2/environments", "", envJSON},
		{"malformed content type", "POST", "/org/v2/environments", "application/json;;", envJSON},
		{"patch", "PATCH", "/networking/v1/networks/" + netID, "text/plain", `{"spec":{"display_name":"x","environment":{"id":"` + envID + `"}}}`},
		{"settings", "PUT", "/peerplane/v1/settings", "text/plain", `{"peerings_per_network":1}`},
		{"empty form to retry", "POST", "/peerplane/v1/peerings/peer-abc123/retry?environment=" + envID, "application/x-www-form-urlencoded", ""},
		{"api key", "POST", "/peerplane/v1/organizations/" + h.org.ID + "/api-keys", "text/plain", `{"description":"x"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.raw(tt.method, tt.path, tt.contentType, tt.body, "Origin", "https://evil.example")
			r.wantError(t, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type")
		})
	}
	t.Run("connect", func(t *testing.T) {
		r := h.raw("POST", "/connect/v1/environments/"+envID+"/clusters/lkc-abc123/connectors", "text/plain", `{"name":"x","config":{}}`)
		if r.status != http.StatusUnsupportedMediaType || !strings.Contains(string(r.body), `"code":415`) || !strings.Contains(string(r.body), "Content-Type") {
			t.Fatalf("connect: %d %s", r.status, r.body)
		}
	})
	golden(t, h.raw("POST", "/org/v2/environments", "application/x-www-form-urlencoded", "display_name=pwned"))
	if n := h.count("/org/v2/environments"); n != 1 {
		t.Fatalf("%d environments after refused posts", n)
	}
	if r := h.do("GET", "/peerplane/v1/settings", nil); !strings.Contains(string(r.body), `"peerings_per_network":25`) {
		t.Fatalf("settings changed: %s", r.body)
	}

	// What passes: JSON, with a charset; a POST without a body.
	if r := h.raw("POST", "/org/v2/environments", "application/json; charset=utf-8", envJSON); r.status != http.StatusCreated {
		t.Fatalf("JSON with charset: %d %s", r.status, r.body)
	}
	if r := h.raw("POST", "/peerplane/v1/peerings/peer-abc123/retry?environment="+envID, "", ""); r.status != http.StatusNotFound {
		t.Fatalf("retry without a body: %d %s", r.status, r.body)
	}
}

// TestPageSizeMaximum: a page_size past the list's maximum (Confluent's:
// 1000 for networking/v1, 100 for org/v2 and cmk/v2) is 400 naming
// page_size; the maximum itself is served. The Confluent SDK gets the 400
// too.
func TestPageSizeMaximum(t *testing.T) {
	h := newHarness(t)
	envID, _ := h.setup("10.1.0.0/16")
	for _, tt := range []struct {
		path string
		max  int
	}{
		{"/networking/v1/networks?environment=" + envID, control.MaxPageSize},
		{"/networking/v1/peerings?environment=" + envID, control.MaxPageSize},
		{"/org/v2/environments?", control.MaxEnvironmentPageSize},
		{"/cmk/v2/clusters?environment=" + envID, control.MaxClusterPageSize},
		{"/peerplane/v1/organizations?", control.MaxEnvironmentPageSize},
	} {
		t.Run(tt.path, func(t *testing.T) {
			sep := "&"
			if strings.HasSuffix(tt.path, "?") {
				sep = ""
			}
			if r := h.do("GET", tt.path+sep+"page_size="+strconv.Itoa(tt.max), nil); r.status != http.StatusOK {
				t.Fatalf("page_size=%d: %d %s", tt.max, r.status, r.body)
			}
			r := h.do("GET", tt.path+sep+"page_size="+strconv.Itoa(tt.max+1), nil)
			r.wantError(t, http.StatusBadRequest, "invalid_parameter", "page_size")
			if !strings.Contains(string(r.body), "maximum of "+strconv.Itoa(tt.max)) {
				t.Fatalf("detail: %s", r.body)
			}
		})
	}
	golden(t, h.do("GET", "/org/v2/environments?page_size=101", nil))

	_, resp, err := h.orgs.EnvironmentsOrgV2Api.ListOrgV2Environments(h.ctx()).PageSize(101).Execute()
	wantStatus(t, resp, err, http.StatusBadRequest)
	_, resp, err = h.orgs.EnvironmentsOrgV2Api.ListOrgV2Environments(h.ctx()).PageSize(100).Execute()
	wantStatus(t, resp, err, http.StatusOK)
}

// TestNamesRefuseHiddenCharacters: every name a person reads (display
// names of environments, networks, peerings and clusters, at create and
// rename; organization names; API key descriptions) refuses control,
// bidirectional and zero-width characters, naming the field, and changes
// nothing; ordinary non-ASCII letters and emoji pass.
func TestNamesRefuseHiddenCharacters(t *testing.T) {
	h := newHarness(t)
	envID, netID := h.setup("10.1.0.0/16")
	r := h.do("POST", "/networking/v1/peerings", peeringBody(envID, netID, "v1"))
	if r.status != http.StatusAccepted {
		t.Fatalf("peering: %d %s", r.status, r.body)
	}
	peerID := r.json(t)["id"].(string)
	r = h.do("POST", "/cmk/v2/clusters", clusterBody(envID, netID, 1))
	if r.status != http.StatusAccepted {
		t.Fatalf("cluster: %d %s", r.status, r.body)
	}
	clusterID := r.json(t)["id"].(string)

	spec := func(name string, extra map[string]any) map[string]any {
		s := map[string]any{"display_name": name, "environment": map[string]any{"id": envID}}
		for k, v := range extra {
			s[k] = v
		}
		return map[string]any{"spec": s}
	}
	calls := []struct {
		name, method, path, source string
		body                       func(name string) any
	}{
		{"environment create", "POST", "/org/v2/environments", "/display_name", func(n string) any { return map[string]any{"display_name": n} }},
		{"environment rename", "PATCH", "/org/v2/environments/" + envID, "/display_name", func(n string) any { return map[string]any{"display_name": n} }},
		{"network create", "POST", "/networking/v1/networks", "/spec/display_name", func(n string) any {
			b := networkBody(envID, "10.2.0.0/16")
			b["spec"].(map[string]any)["display_name"] = n
			return b
		}},
		{"network rename", "PATCH", "/networking/v1/networks/" + netID, "/spec/display_name", func(n string) any { return spec(n, nil) }},
		{"peering create", "POST", "/networking/v1/peerings", "/spec/display_name", func(n string) any {
			b := peeringBody(envID, netID, "v2")
			b["spec"].(map[string]any)["display_name"] = n
			return b
		}},
		{"peering rename", "PATCH", "/networking/v1/peerings/" + peerID, "/spec/display_name", func(n string) any { return spec(n, nil) }},
		{"cluster create", "POST", "/cmk/v2/clusters", "/spec/display_name", func(n string) any {
			b := clusterBody(envID, netID, 1)
			b["spec"].(map[string]any)["display_name"] = n
			return b
		}},
		{"cluster rename", "PATCH", "/cmk/v2/clusters/" + clusterID, "/spec/display_name", func(n string) any { return spec(n, nil) }},
		{"organization", "POST", "/peerplane/v1/organizations", "/display_name", func(n string) any { return map[string]any{"display_name": n} }},
		{"api key description", "POST", "/peerplane/v1/organizations/" + h.org.ID + "/api-keys", "/description", func(n string) any { return map[string]any{"description": n} }},
	}
	hidden := map[string]string{
		"bell": "\a", "newline": "\n", "DEL": "\x7f", "C1 NEL": "\u0085",
		"RLO": "\u202e", "LRE": "\u202a", "RLI": "\u2067", "PDI": "\u2069", "LRM": "\u200e", "RLM": "\u200f", "ALM": "\u061c",
		"ZWSP": "\u200b", "ZWNJ": "\u200c", "ZWJ": "\u200d", "WJ": "\u2060", "BOM": "\ufeff",
		"line separator": "\u2028",
	}
	for _, c := range calls {
		for what, ch := range hidden {
			t.Run(c.name+"/"+what, func(t *testing.T) {
				r := h.do(c.method, c.path, c.body("pay"+ch+"roll"))
				r.wantError(t, 422, "invalid_configuration", c.source)
			})
		}
	}
	golden(t, h.do("POST", "/org/v2/environments", map[string]any{"display_name": "invoice\u202etxt.exe"}))

	// Nothing changed.
	if n := h.count("/org/v2/environments"); n != 1 {
		t.Fatalf("%d environments", n)
	}
	if n := h.count("/networking/v1/networks?environment=" + envID); n != 1 {
		t.Fatalf("%d networks", n)
	}
	if n := h.count("/networking/v1/peerings?environment=" + envID); n != 1 {
		t.Fatalf("%d peerings", n)
	}
	if r := h.do("GET", "/org/v2/environments/"+envID, nil); r.json(t)["display_name"] != "prod" {
		t.Fatalf("environment renamed: %s", r.body)
	}

	// Letters of any script, and emoji, pass (an emoji sequence joined by
	// ZWJ does not).
	for _, ok := range []string{"Zürich-prod", "東京", "ملف", "prod 🚀"} {
		if r := h.do("POST", "/org/v2/environments", map[string]any{"display_name": ok}); r.status != http.StatusCreated {
			t.Fatalf("%q: %d %s", ok, r.status, r.body)
		}
	}
}
