package azureemu

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestConsentRedirectOnlyToRegisteredReplyURLs: the consent pages send the
// browser back only to a reply URL registered for the app. Anything else a
// link names — another host, a look-alike, another path or query, a
// scheme that runs code — is refused with the page's AADSTS50011 error
// and no Location, on GET and on POST, and nothing is consented.
func TestConsentRedirectOnlyToRegisteredReplyURLs(t *testing.T) {
	w := newEntraWorld(t)
	ctx := context.Background()
	const reply = "http://127.0.0.1:8080/console/consent-return"
	consentURL := func(redirect string) string {
		return w.srv.URL + "/" + testCustomerTenant + "/v2.0/adminconsent?client_id=" + DefaultProviderAppID +
			"&redirect_uri=" + url.QueryEscape(redirect) + "&state=env-1%2Fpeer-1"
	}

	// No reply URL registered yet: any redirect_uri is refused.
	b := w.browser(t)
	resp, err := b.Get(consentURL(reply))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("redirect_uri with no reply URL registered: %d, want 400", resp.StatusCode)
	}

	if err := w.AddApplicationRedirectURI(ctx, DefaultProviderAppID, reply); err != nil {
		t.Fatal(err)
	}
	// Registering it again changes nothing: nothing is written.
	before := w.stateVersion()
	if err := w.AddApplicationRedirectURI(ctx, DefaultProviderAppID, "HTTP://127.0.0.1:8080/console/consent-return"); err != nil {
		t.Fatal(err)
	}
	if app, _ := w.FindApplication(DefaultProviderAppID); len(app.RedirectURIs) != 1 || w.stateVersion() != before {
		t.Fatalf("registered twice: %v (state %s, was %s)", app.RedirectURIs, w.stateVersion(), before)
	}
	// It is durable: an emulator loaded from the store has it.
	again, err := New(ctx, Options{BaseURL: w.srv.URL, Store: w.store})
	if err != nil {
		t.Fatal(err)
	}
	if app, _ := again.FindApplication(DefaultProviderAppID); len(app.RedirectURIs) != 1 || app.RedirectURIs[0] != reply {
		t.Fatalf("after a reload: %v", app.RedirectURIs)
	}
	for _, bad := range []string{"javascript:alert(1)", "http://evil.example/cb", "ftp://127.0.0.1/x", "https://u:p@example.com/", "https://example.com/#f", "/relative"} {
		if err := w.AddApplicationRedirectURI(ctx, DefaultProviderAppID, bad); err == nil || !strings.Contains(err.Error(), "reply URL") {
			t.Errorf("registering %q: %v, want a refusal", bad, err)
		}
	}
	if err := w.AddApplicationRedirectURI(ctx, "99999999-9999-4999-8999-999999999999", reply); err == nil || !strings.Contains(err.Error(), "was not found") {
		t.Errorf("registering for an unknown app: %v", err)
	}

	for _, attempt := range []string{
		"https://evil.example/console/consent-return",
		"http://127.0.0.1:8081/console/consent-return",
		"http://127.0.0.1:8080/console/consent-return/../../evil",
		"http://127.0.0.1:8080/console/consent-return?next=https://evil.example",
		"http://127.0.0.1:8080/console/consent-returnx",
		"http://127.0.0.1:8080@evil.example/console/consent-return",
		"http://127.0.0.1:8080/console/consent-return#https://evil.example",
		"//evil.example/console/consent-return",
		"javascript:alert(document.cookie)",
		"data:text/html,<script>alert(1)</script>",
	} {
		u := consentURL(attempt)
		status, body := w.get(t, strings.TrimPrefix(u, w.srv.URL), "")
		if status != http.StatusBadRequest || !strings.Contains(string(body), "AADSTS50011") || strings.Contains(string(body), `name="password"`) {
			t.Errorf("GET with redirect_uri %q: %d, want 400 with AADSTS50011 and no form:\n%s", attempt, status, body)
		}
		// A POST to the page (a forged form) is refused the same way:
		// no redirect, no consent.
		r, body2 := submit(t, b, u, url.Values{"action": {"accept"}, "username": {testCustomerAdmin}, "password": {testPassword}})
		if r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" || !strings.Contains(body2, "AADSTS50011") {
			t.Errorf("POST with redirect_uri %q: %d %v", attempt, r.StatusCode, r.Header)
		}
	}
	if _, ok := w.FindServicePrincipal(testCustomerTenant, DefaultProviderAppID); ok {
		t.Fatal("a refused redirect_uri consented")
	}

	// The registered one, differing only in the case of scheme and host:
	// the admin approves and is sent back there with Entra's answer.
	u := consentURL("http://127.0.0.1:8080/console/consent-return")
	tok := openForm(t, b, u)
	r, body := submit(t, b, u, url.Values{"csrf_token": {tok}, "action": {"accept"}, "username": {testCustomerAdmin}, "password": {testPassword}})
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusFound || loc == nil || loc.Scheme+"://"+loc.Host+loc.Path != reply {
		t.Fatalf("approval: %d %v %s", r.StatusCode, r.Header, body)
	}
	if q := loc.Query(); q.Get("admin_consent") != "True" || q.Get("tenant") != testCustomerTenant || q.Get("state") != "env-1/peer-1" {
		t.Fatalf("approval answer: %s", loc.RawQuery)
	}
	if _, ok := w.FindServicePrincipal(testCustomerTenant, DefaultProviderAppID); !ok {
		t.Fatal("the approval created no service principal")
	}
}
