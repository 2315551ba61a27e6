package azureemu

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// graphToken gets a Graph token for a user with the password grant, with
// the Graph scope az uses in the emulator's cloud.
func (w *entraWorld) graphToken(t testing.TB, tenant, upn string) string {
	t.Helper()
	return w.passwordToken(t, tenant, upn, w.srv.URL+"/graph//.default")["access_token"].(string)
}

func (te *testEmu) graphDo(t testing.TB, method, path, token string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, te.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := te.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestGraphServicePrincipalsAsAzDoes(t *testing.T) {
	w := newEntraWorld(t)
	admin := w.graphToken(t, testCustomerTenant, testCustomerAdmin)
	user := w.graphToken(t, testCustomerTenant, testCustomerUser)
	spPath := "/graph/v1.0/servicePrincipals?$filter=" + url.QueryEscape("appId eq '"+DefaultProviderAppID+"'")

	// Before consent: an empty list.
	status, b := w.graphDo(t, "GET", spPath, admin, nil)
	if status != 200 {
		t.Fatalf("list: %d %s", status, b)
	}
	golden(t, w.srv.URL, "graph", "sp_list_empty", b)

	// az ad sp create --id: a non-admin is refused, the admin creates it, a second create conflicts.
	body := []byte(`{"appId":"` + DefaultProviderAppID + `"}`)
	status, b = w.graphDo(t, "POST", "/graph/v1.0/servicePrincipals", user, body)
	if status != 403 || !strings.Contains(string(b), `"Authorization_RequestDenied"`) || !strings.Contains(string(b), "Insufficient privileges to complete the operation.") {
		t.Fatalf("non-admin create: %d %s", status, b)
	}
	golden(t, w.srv.URL, "graph", "sp_create_forbidden", b)
	status, b = w.graphDo(t, "POST", "/graph/v1.0/servicePrincipals", admin, body)
	if status != 201 {
		t.Fatalf("create: %d %s", status, b)
	}
	golden(t, w.srv.URL, "graph", "sp_create", b)
	created := decodeMap(t, b)
	status, b = w.graphDo(t, "POST", "/graph/v1.0/servicePrincipals", admin, body)
	if status != 409 || !strings.Contains(string(b), "Request_MultipleObjectsWithSameKeyValue") {
		t.Fatalf("second create: %d %s", status, b)
	}
	golden(t, w.srv.URL, "graph", "sp_create_conflict", b)
	status, b = w.graphDo(t, "POST", "/graph/v1.0/servicePrincipals", admin, []byte(`{"appId":"`+testSingleTenantApp+`"}`))
	if status != 400 || !strings.Contains(string(b), "does not reference a valid application object") {
		t.Errorf("single-tenant app: %d %s", status, b)
	}

	// The filters az uses.
	spID := created["id"].(string)
	for name, path := range map[string]string{
		"sp_list_appid":    spPath,
		"sp_list_spn":      "/graph/v1.0/servicePrincipals?$filter=" + url.QueryEscape("servicePrincipalNames/any(c:c eq '"+DefaultProviderAppID+"')"),
		"sp_list_name":     "/graph/v1.0/servicePrincipals?$filter=" + url.QueryEscape("displayName eq 'Confluent Cloud Peering'") + "&$select=id,appId",
		"sp_list_starts":   "/graph/v1.0/servicePrincipals?$filter=" + url.QueryEscape("startswith(displayName,'confluent')") + "&$top=5",
		"sp_get":           "/graph/v1.0/servicePrincipals/" + spID,
		"sp_get_by_appid":  "/graph/v1.0/servicePrincipals(appId='" + DefaultProviderAppID + "')",
		"users_by_upn":     "/graph/v1.0/users?$filter=" + url.QueryEscape("userPrincipalName eq '"+testCustomerUser+"'"),
		"user_get_upn":     "/graph/v1.0/users/" + testCustomerAdmin,
		"me":               "/graph/v1.0/me",
		"directory_object": "/graph/v1.0/directoryObjects/" + spID,
	} {
		status, b := w.graphDo(t, "GET", path, admin, nil)
		if status != 200 {
			t.Errorf("%s: %d %s", name, status, b)
			continue
		}
		golden(t, w.srv.URL, "graph", name, b)
		if strings.HasPrefix(name, "sp_list") && !strings.Contains(string(b), spID) {
			t.Errorf("%s does not list %s: %s", name, spID, b)
		}
	}

	// getByIds, as az role assignment create resolves an assignee.
	adminID := w.userID(t, testCustomerAdmin)
	status, b = w.graphDo(t, "POST", "/graph/v1.0/directoryObjects/getByIds", admin,
		[]byte(`{"ids":["`+spID+`","`+adminID+`","99999999-9999-4999-8999-999999999999"],"types":["user","group","servicePrincipal","device","directoryRole"]}`))
	if status != 200 || !strings.Contains(string(b), `"@odata.type":"#microsoft.graph.servicePrincipal"`) || !strings.Contains(string(b), `"@odata.type":"#microsoft.graph.user"`) {
		t.Fatalf("getByIds: %d %s", status, b)
	}
	golden(t, w.srv.URL, "graph", "get_by_ids", b)

	// Tenant scoping: the provider tenant's admin sees its own SP, not the customer's.
	prov := w.graphToken(t, testProviderTenant, testProviderAdmin)
	status, b = w.graphDo(t, "GET", "/graph/v1.0/servicePrincipals/"+spID, prov, nil)
	if status != 404 || !strings.Contains(string(b), "Request_ResourceNotFound") {
		t.Errorf("other tenant's SP: %d %s", status, b)
	}
	status, b = w.graphDo(t, "GET", "/graph/v1.0/applications?$filter="+url.QueryEscape("appId eq '"+DefaultProviderAppID+"'"), prov, nil)
	if status != 200 || !strings.Contains(string(b), DefaultProviderAppID) {
		t.Errorf("provider applications: %d %s", status, b)
	}
	golden(t, w.srv.URL, "graph", "applications_list", b)
	status, b = w.graphDo(t, "GET", "/graph/v1.0/applications", admin, nil)
	if status != 200 || strings.Contains(string(b), DefaultProviderAppID) {
		t.Errorf("customer sees the provider's app registration: %d %s", status, b)
	}
}

func TestGraphErrors(t *testing.T) {
	w := newEntraWorld(t)
	admin := w.graphToken(t, testCustomerTenant, testCustomerAdmin)
	arm := w.passwordToken(t, testCustomerTenant, testCustomerAdmin, "https://management.core.windows.net//.default")["access_token"].(string)
	cases := []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"unsupported_filter_prop", "GET", "/graph/v1.0/servicePrincipals?$filter=" + url.QueryEscape("homepage eq 'x'"), admin, "", 400, "Request_UnsupportedQuery"},
		{"unsupported_filter_op", "GET", "/graph/v1.0/servicePrincipals?$filter=" + url.QueryEscape("appId ne 'x'"), admin, "", 400, "Request_UnsupportedQuery"},
		{"bad_filter", "GET", "/graph/v1.0/users?$filter=" + url.QueryEscape("userPrincipalName eq 'x"), admin, "", 400, "BadRequest"},
		{"bad_top", "GET", "/graph/v1.0/users?$top=0", admin, "", 400, "Request_BadRequest"},
		{"bad_id", "GET", "/graph/v1.0/servicePrincipals/not-a-guid", admin, "", 400, "Request_BadRequest"},
		{"not_found", "GET", "/graph/v1.0/users/99999999-9999-4999-8999-999999999999", admin, "", 404, "Request_ResourceNotFound"},
		{"no_token", "GET", "/graph/v1.0/me", "", "", 401, "InvalidAuthenticationToken"},
		{"arm_token", "GET", "/graph/v1.0/me", arm, "", 401, "InvalidAuthenticationToken"},
		{"create_bad_json", "POST", "/graph/v1.0/servicePrincipals", admin, `{"appId":`, 400, "Request_BadRequest"},
		{"create_no_appid", "POST", "/graph/v1.0/servicePrincipals", admin, `{}`, 400, "Request_BadRequest"},
		{"create_unknown_prop", "POST", "/graph/v1.0/servicePrincipals", admin, `{"appId":"` + DefaultProviderAppID + `","bogus":1}`, 400, "Request_BadRequest"},
		{"create_unknown_app", "POST", "/graph/v1.0/servicePrincipals", admin, `{"appId":"99999999-9999-4999-8999-999999999999"}`, 400, "Request_BadRequest"},
		{"getbyids_no_ids", "POST", "/graph/v1.0/directoryObjects/getByIds", admin, `{"types":["user"]}`, 400, "Request_BadRequest"},
		{"getbyids_bad_type", "POST", "/graph/v1.0/directoryObjects/getByIds", admin, `{"ids":[],"types":["printer"]}`, 400, "Request_BadRequest"},
		{"getbyids_bad_id", "POST", "/graph/v1.0/directoryObjects/getByIds", admin, `{"ids":["x"]}`, 400, "Request_BadRequest"},
		{"wrong_version", "GET", "/graph/beta/me", admin, "", 400, "BadRequest"},
		{"method", "DELETE", "/graph/v1.0/users", admin, "", 405, "Request_BadRequest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			status, b := w.graphDo(t, tc.method, tc.path, tc.token, body)
			m := decodeMap(t, b)
			errObj, _ := m["error"].(map[string]any)
			if status != tc.status || errObj["code"] != tc.code {
				t.Fatalf("got %d %s, want %d %s", status, b, tc.status, tc.code)
			}
			golden(t, w.srv.URL, "graph", "error_"+tc.name, b)
		})
	}
	// A non-admin user and an app token are both refused POST servicePrincipals.
	if err := w.update(context.Background(), func(tx *txn) error {
		_, err := w.ensureServicePrincipalTx(tx, testCustomerTenant, tx.s.apps[lower(DefaultProviderAppID)])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	status, b := w.postForm(t, "/"+testCustomerTenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultProviderAppID},
		"client_secret": {w.secret}, "scope": {w.srv.URL + "/graph//.default"}})
	if status != 200 {
		t.Fatalf("app graph token: %d %s", status, b)
	}
	appTok := decodeMap(t, b)["access_token"].(string)
	status, b = w.graphDo(t, "POST", "/graph/v1.0/servicePrincipals", appTok, []byte(`{"appId":"`+DefaultProviderAppID+`"}`))
	if status != 403 {
		t.Errorf("app creating SP: %d %s", status, b)
	}
	// An app reading /me is told it is not delegated.
	if status, b := w.graphDo(t, "GET", "/graph/v1.0/me", appTok, nil); status != 400 {
		t.Errorf("app /me: %d %s", status, b)
	}
	// ...and its own SP is visible to it.
	status, b = w.graphDo(t, "GET", "/graph/v1.0/servicePrincipals?$filter="+url.QueryEscape("appId eq '"+DefaultProviderAppID+"'"), appTok, nil)
	if status != 200 || !strings.Contains(string(b), DefaultProviderAppID) {
		t.Errorf("app lists its SP: %d %s", status, b)
	}
}

func TestGraphPaging(t *testing.T) {
	w := newEntraWorld(t)
	ctx := context.Background()
	for i := range 5 {
		if _, err := w.CreateUser(ctx, testCustomerTenant, UserSpec{UserPrincipalName: "u" + string(rune('a'+i)) + "@contoso.example", Password: testPassword}); err != nil {
			t.Fatal(err)
		}
	}
	admin := w.graphToken(t, testCustomerTenant, testCustomerAdmin)
	seen := map[string]bool{}
	next := "/graph/v1.0/users?$top=3"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		status, b := w.graphDo(t, "GET", next, admin, nil)
		if status != 200 {
			t.Fatalf("%d %s", status, b)
		}
		m := decodeMap(t, b)
		for _, v := range m["value"].([]any) {
			seen[v.(map[string]any)["id"].(string)] = true
		}
		next = ""
		if nl, ok := m["@odata.nextLink"].(string); ok {
			next = strings.TrimPrefix(nl, w.srv.URL)
		}
	}
	if len(seen) != 7 {
		t.Errorf("paged through %d users, want 7", len(seen))
	}
}

// fuzzWorld is shared by the fuzz targets' iterations.
func fuzzWorld(f *testing.F) (*entraWorld, string) {
	w := newEntraWorld(f)
	w.clock.Advance(0)
	return w, w.graphToken(f, testCustomerTenant, testCustomerAdmin)
}

func FuzzTokenRequest(f *testing.F) {
	w := newEntraWorld(f)
	seeds := []string{
		"grant_type=client_credentials&client_id=" + DefaultProviderAppID + "&client_secret=" + url.QueryEscape(w.secret) + "&scope=https%3A%2F%2Fmanagement.azure.com%2F.default",
		"grant_type=password&client_id=" + AzureCLIClientID + "&username=admin%40contoso.example&password=" + url.QueryEscape(testPassword) + "&scope=https%3A%2F%2Fmanagement.core.windows.net%2F%2F.default",
		"grant_type=refresh_token&client_id=" + AzureCLIClientID + "&refresh_token=a.b.c",
		"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=x&device_code=y",
		"grant_type=password&scope=%2F.default+%2F%2F%2F.default",
		"grant_type=client_credentials&client_id=%zz",
		"",
		"scope=https://&grant_type=password&client_id=" + AzureCLIClientID + "&username=@&password=x",
	}
	for _, s := range seeds {
		f.Add("/"+testCustomerTenant+"/oauth2/v2.0/token", s)
		f.Add("/adfs/oauth2/v2.0/token", s)
	}
	f.Add("/common/oauth2/token", "grant_type=password&resource=x")
	f.Add("/organizations/oauth2/v2.0/devicecode", "client_id="+AzureCLIClientID+"&scope=openid")
	client := w.srv.Client()
	client.Timeout = 10 * time.Second
	f.Fuzz(func(t *testing.T, path, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?#% \t\r\n") || strings.HasPrefix(path, "/_emulator") {
			return
		}
		u, err := url.Parse(w.srv.URL + path)
		if err != nil {
			return
		}
		resp, err := client.Post(u.String(), "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("POST %s %q: %d %s", path, body, resp.StatusCode, b)
		}
	})
}

func FuzzGraphServicePrincipalCreate(f *testing.F) {
	w, tok := fuzzWorld(f)
	for _, s := range []string{
		`{"appId":"` + DefaultProviderAppID + `"}`,
		`{"appId":"` + testSingleTenantApp + `"}`,
		`{"appId":null}`, `{"appId":1}`, `[]`, `null`, `{"appId":"x","accountEnabled":"yes"}`, `{} {}`, "", `{"appId":"` + DefaultProviderAppID + `","tags":[1]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		status, b := w.graphDo(t, "POST", "/graph/v1.0/servicePrincipals", tok, []byte(body))
		if status >= 500 {
			t.Fatalf("%q: %d %s", body, status, b)
		}
	})
}

func FuzzGraphGetByIds(f *testing.F) {
	w, tok := fuzzWorld(f)
	for _, s := range []string{
		`{"ids":["` + testCustomerTenant + `"],"types":["user","servicePrincipal"]}`,
		`{"ids":[]}`, `{"ids":null,"types":null}`, `{"ids":[1]}`, `{"types":["printer"]}`, `{"ids":["x"],"types":[""]}`, `"`, `{"ids":["` + strings.Repeat("a", 100) + `"]}`,
	} {
		f.Add(s, "appId eq 'x'")
	}
	f.Add(`{}`, "servicePrincipalNames/any(c:c eq 'a''b')")
	f.Add(`{}`, "startswith(displayName,'")
	f.Add(`{}`, "(appId eq 'x') and displayName eq 'y'")
	f.Fuzz(func(t *testing.T, body, filter string) {
		status, b := w.graphDo(t, "POST", "/graph/v1.0/directoryObjects/getByIds", tok, []byte(body))
		if status >= 500 {
			t.Fatalf("getByIds %q: %d %s", body, status, b)
		}
		status, b = w.graphDo(t, "GET", "/graph/v1.0/servicePrincipals?$filter="+url.QueryEscape(filter), tok, nil)
		if status >= 500 {
			t.Fatalf("filter %q: %d %s", filter, status, b)
		}
	})
}
