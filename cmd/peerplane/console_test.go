package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/chromedp/chromedp"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/reconcile"
)

// gatedAzure holds the reconciler's first call for the demo tenant until
// the test opens the gate, so that the console shows Pending for certain
// before Error.
type gatedAzure struct {
	reconcile.Azure
	gate chan struct{}
}

func (g *gatedAzure) CheckTenantAccess(ctx context.Context, tenant string) error {
	if strings.EqualFold(tenant, demoTenant) {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.Azure.CheckTenantAccess(ctx, tenant)
}

// startConsoleServe starts Serve with the demo world and the reconciler's
// Azure wrapped by wrap.
func startConsoleServe(t *testing.T, wrap func(reconcile.Azure) reconcile.Azure) Ready {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	readyc, errc := make(chan Ready, 1), make(chan error, 1)
	cfg := ServeConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0", AzureListen: "127.0.0.1:0", Demo: true,
		ProviderAppID: azureemu.DefaultProviderAppID, LogLevel: "error", WrapAzure: wrap}
	go func() { errc <- Serve(ctx, cfg, io.Discard, func(r Ready) { readyc <- r }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Serve did not stop within 15s")
		}
	})
	select {
	case r := <-readyc:
		return r
	case err := <-errc:
		errc <- err
		t.Fatalf("Serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve was not ready within 30s")
	}
	return Ready{}
}

// chromium returns the browser's path, or skips (fails when
// PEERPLANE_TEST_REQUIRE_BROWSER=1) when it is missing.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("PEERPLANE_TEST_REQUIRE_BROWSER") == "1" {
		t.Fatal("chromium is not installed and PEERPLANE_TEST_REQUIRE_BROWSER=1: run scripts/test-deps.sh")
	}
	t.Skip("chromium is not installed: run scripts/test-deps.sh to run the browser test")
	return ""
}

// browser is a headless Chromium driven by chromedp, saving numbered
// screenshots to dir.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string
	n   int
}

func newBrowser(t *testing.T, ctx context.Context, dir string) *browser {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-quic", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.Flag("mute-audio", true),
		// The embedded Azure's certificate comes from the data directory's CA.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800),
	}
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancel)
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancel)
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: bctx, dir: dir}
}

func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// shot saves a full-page screenshot as NN-name.png and returns its path.
func (b *browser) shot(name string) string {
	b.t.Helper()
	b.n++
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

// get runs a that returns a value.
func get[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// text reads the visible text of the element sel, once it exists. It
// reads in the page (querySelector), not through a node id, so a live
// update replacing the element in between does not break the read.
func (b *browser) text(sel string) string {
	b.t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? {text: e.innerText.trim()} : null; })()`, sel)
	var out struct {
		Text string `json:"text"`
	}
	b.run("read "+sel, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		v, err := chromedp.Poll[struct {
			Text string `json:"text"`
		}](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(25*time.Second))(ctx, t)
		out.Text = v.Text
		return err
	}))
	return out.Text
}

func (b *browser) location() string {
	b.t.Helper()
	return get(b, "read the location", chromedp.Location())
}

// waitText waits until the element sel's text contains want.
func (b *browser) waitText(sel, want string) {
	b.t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.includes(%q); })()`, sel, want)
	b.run(fmt.Sprintf("wait for %q in %s", want, sel), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(25*time.Second))(ctx, t)
		return err
	}))
}

// markPage and checkNotReloaded prove that a change arrived live: a
// reload would drop the marker.
func (b *browser) markPage() {
	b.t.Helper()
	b.run("mark the page", chromedp.Evaluate[chromedp.Void](`window.__peerplaneMark = 1; undefined`))
}

func (b *browser) checkNotReloaded() {
	b.t.Helper()
	if !get(b, "check the mark", chromedp.Evaluate[bool](`window.__peerplaneMark === 1`)) {
		b.t.Fatal("the page was reloaded; the change should have arrived live")
	}
}

func (b *browser) fill(fields map[string]string) chromedp.Action[chromedp.Void] {
	var ts []chromedp.Action[chromedp.Void]
	for sel, v := range fields {
		ts = append(ts, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = ""`, sel)), chromedp.SendKeys(chromedp.CSS(sel), v))
	}
	return chromedp.Steps(ts...)
}

// apiGet calls the REST API with the API key and decodes into v; it
// returns the status.
func apiGet(t *testing.T, r Ready, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.APIURL+path, nil)
	req.SetBasicAuth(r.Credentials.APIKey, r.Credentials.APISecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}

// grantAsAdmin does steps 2 to 4 of "Grant access" with the real Azure SDK
// as Contoso's administrator: the custom role, its assignment to the
// provider app's service principal on the VNet, and the tag.
func grantAsAdmin(t *testing.T, r Ready, envID string) {
	t.Helper()
	ctx := context.Background()
	pem, err := os.ReadFile(r.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	cfg := cloud.Configuration{ActiveDirectoryAuthorityHost: r.AzureURL + "/",
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: {Audience: "https://management.core.windows.net/", Endpoint: r.AzureURL}}}
	cred, err := azidentity.NewUsernamePasswordCredential(demoTenant, azureemu.AzureCLIClientID, demoAdmin, demoAdminPass,
		&azidentity.UsernamePasswordCredentialOptions{ClientOptions: policy.ClientOptions{Cloud: cfg, Transport: client}, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := &arm.ClientOptions{ClientOptions: policy.ClientOptions{Cloud: cfg, Transport: client}}
	rd, err := armauthorization.NewRoleDefinitionsClient(cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	var actions []*string
	for _, a := range control.PeeringCreatorActions {
		actions = append(actions, to.Ptr(a))
	}
	const roleID = "c0de0000-0000-4000-8000-000000000001"
	scope := "/subscriptions/" + demoSubscription
	if _, err := rd.CreateOrUpdate(ctx, scope, roleID, armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
		RoleName: to.Ptr(control.PeeringCreatorRole), RoleType: to.Ptr("CustomRole"), Description: to.Ptr("Perform cross-tenant network peering."),
		Permissions: []*armauthorization.Permission{{Actions: actions}}, AssignableScopes: []*string{to.Ptr(scope)},
	}}, nil); err != nil {
		t.Fatalf("create the role definition: %v", err)
	}

	// The service principal the consent created, found through Graph.
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{r.AzureURL + "/graph//.default"}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, r.AzureURL+"/graph/v1.0/servicePrincipals?$filter="+url.QueryEscape("appId eq '"+azureemu.DefaultProviderAppID+"'"), nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sps struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	json.NewDecoder(resp.Body).Decode(&sps)
	resp.Body.Close()
	if len(sps.Value) != 1 {
		t.Fatalf("service principals of the provider app in Contoso: %+v (status %s)", sps, resp.Status)
	}
	ra, err := armauthorization.NewRoleAssignmentsClient(demoSubscription, cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ra.Create(ctx, demoVNetID, "c0de0000-0000-4000-8000-000000000002", armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr(scope + "/providers/Microsoft.Authorization/roleDefinitions/" + roleID),
		PrincipalID:      to.Ptr(sps.Value[0].ID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
	}}, nil); err != nil {
		t.Fatalf("assign the role: %v", err)
	}
	tags, err := armresources.NewTagsClient(demoSubscription, cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tags.UpdateAtScope(ctx, demoVNetID, armresources.TagsPatchResource{Operation: to.Ptr(armresources.TagsPatchOperationMerge),
		Properties: &armresources.Tags{Tags: map[string]*string{control.EnvTag: to.Ptr(envID)}}}, nil); err != nil {
		t.Fatalf("tag the VNet: %v", err)
	}
}

// TestConsoleSeedFlow drives the web console in headless Chromium through
// the seed flow: sign in (a wrong key first), an environment and a network,
// bad then good "+ VNet Peering" input, Pending then Error live, the
// consent on the embedded Azure's page, the grants through the Azure SDK,
// Continue and Create connection, Active live, a Dedicated cluster within
// the network's budget, "Test connectivity" to it, a connector Running and
// one Failed under the cluster, and deletion. Screenshots of each step go to
// testoutput/console (PEERPLANE_UPDATE_DOCS_IMAGES=1 also refreshes
// docs/images/network-active.png).
func TestConsoleSeedFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test is not short")
	}
	gate := &gatedAzure{gate: make(chan struct{})}
	var openGate sync.Once
	release := func() { openGate.Do(func() { close(gate.gate) }) }
	t.Cleanup(release)
	r := startConsoleServe(t, func(a reconcile.Azure) reconcile.Azure { gate.Azure = a; return gate })

	out, _ := filepath.Abs(filepath.Join("..", "..", "testoutput", "console"))
	os.RemoveAll(out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", out)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := newBrowser(t, ctx, out)
	start := time.Now()
	base := r.APIURL

	// / leads to the console's sign-in page; a wrong key sees nothing.
	b.run("open the console", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#signin")))
	b.run("sign in with a wrong key", b.fill(map[string]string{"#key": r.Credentials.APIKey, "#secret": "wrong-secret"}),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#login-error")))
	if msg := b.text("#login-error"); !strings.Contains(msg, "do not match") {
		t.Fatalf("wrong key: %q", msg)
	}
	b.shot("wrong-key")
	var loc string
	b.run("environments without a session", chromedp.Navigate(base+"/console/environments"), chromedp.WaitVisible(chromedp.CSS("#signin")))
	loc = b.location()
	if !strings.Contains(loc, "/console/login") {
		t.Fatalf("after a wrong key, /console/environments went to %s", loc)
	}

	// Sign in.
	b.run("sign in", b.fill(map[string]string{"#key": r.Credentials.APIKey, "#secret": r.Credentials.APISecret}))
	b.shot("sign-in")
	b.run("submit sign-in", chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#f-name")))

	// An environment and a network, through the console.
	b.run("create an environment", b.fill(map[string]string{"#f-name": "production"}), chromedp.Submit(chromedp.CSS("#f-name")),
		chromedp.WaitVisible(chromedp.CSS("#f-cidr")))
	loc = b.location()
	envID := loc[strings.LastIndex(loc, "/")+1:]
	if !strings.HasPrefix(envID, "env-") {
		t.Fatalf("environment page %s", loc)
	}
	b.run("bad CIDR", b.fill(map[string]string{"#f-name": "prod-eastus", "#f-cidr": "10.10.0.0/24"}), chromedp.Submit(chromedp.CSS("#f-cidr")),
		chromedp.WaitVisible(chromedp.CSS("#f-cidr-err")))
	if msg := b.text("#f-cidr-err"); !strings.Contains(msg, "must be a /16") {
		t.Fatalf("bad CIDR error: %q", msg)
	}
	b.run("create a network", b.fill(map[string]string{"#f-cidr": "10.10.0.0/16"}), chromedp.Submit(chromedp.CSS("#f-cidr")),
		chromedp.WaitVisible(chromedp.CSS("#add-peering")))
	loc = b.location()
	netURL := loc
	b.markPage()
	b.waitText(`[data-live="net-status"]`, "Ready")
	b.checkNotReloaded()
	b.shot("network-ready")

	// Without a session nothing is readable, not even the live stream.
	jar, _ := cookiejar.New(nil)
	anon := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, want := range map[string]int{netURL: http.StatusSeeOther, netURL + "/live": http.StatusUnauthorized} {
		resp, err := anon.Get(path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || strings.Contains(string(body), "10.10.0.0/16") {
			t.Fatalf("GET %s without a session: %s, want %d and nothing of the network", path, resp.Status, want)
		}
	}

	// "+ VNet Peering": bad input shows each field's error and creates nothing.
	b.run("open the peering form", chromedp.Click(chromedp.CSS("#add-peering")), chromedp.WaitVisible(chromedp.CSS("#f-tenant")))
	region := get(b, "read the default region", chromedp.Value(chromedp.CSS("#f-region")))
	if region != "eastus" {
		t.Fatalf("customer region defaults to %q, want the network's eastus", region)
	}
	bad := map[string]string{"#f-name": "contoso", "#f-tenant": "not-a-guid", "#f-subscription": demoSubscription,
		"#f-resource_group": "contoso network.", "#f-vnet": "-vnet"}
	b.run("bad input, checked in the page", b.fill(bad), chromedp.Click(chromedp.CSS("#add")), chromedp.WaitVisible(chromedp.CSS("#f-tenant-err")))
	for sel, want := range map[string]string{"#f-tenant-err": "must be a GUID", "#f-resource_group-err": "must not end in '.'", "#f-vnet-err": "start with a letter or digit"} {
		if msg := b.text(sel); !strings.Contains(msg, want) {
			t.Fatalf("%s = %q, want %q", sel, msg, want)
		}
	}
	b.shot("peering-form-errors")
	// The server checks too: submit past the page's script.
	b.run("bad input, checked by the server", chromedp.Evaluate[chromedp.Void](`document.querySelector("form[data-validate]").submit()`),
		chromedp.WaitVisible(chromedp.CSS(`.field.has-error #f-tenant`)))
	for sel, want := range map[string]string{"#f-tenant-err": `Tenant ID "not-a-guid" must be a GUID`, "#f-resource_group-err": "Resource group name", "#f-vnet-err": "VNet name"} {
		if msg := b.text(sel); !strings.Contains(msg, want) {
			t.Fatalf("server error %s = %q, want %q", sel, msg, want)
		}
	}
	var list struct {
		Data []json.RawMessage `json:"data"`
	}
	if apiGet(t, r, "/networking/v1/peerings?environment="+envID, &list); len(list.Data) != 0 {
		t.Fatalf("bad input created %d peerings", len(list.Data))
	}

	// Good input: Add, then Pending (the reconciler is held) and Error live.
	b.run("add the peering", b.fill(map[string]string{"#f-tenant": demoTenant, "#f-resource_group": "contoso-network", "#f-vnet": "contoso-vnet"}))
	b.shot("peering-form")
	b.run("submit the peering", chromedp.Click(chromedp.CSS("#add")), chromedp.WaitVisible(chromedp.CSS("#peerings tbody tr[data-live]")))
	b.markPage()
	b.waitText("#peerings tbody", "Pending")
	b.shot("peering-pending")
	release()
	b.waitText("#peerings tbody", "Error")
	b.waitText("#peerings tbody", "APP_NOT_CONSENTED")
	b.checkNotReloaded()
	b.shot("peering-error")

	// The peering page: grant access.
	b.run("open the peering", chromedp.Click(chromedp.CSS("#peerings tbody a")), chromedp.WaitVisible(chromedp.CSS("#step-1")))
	loc = b.location()
	peerID := loc[strings.LastIndex(loc, "/")+1 : strings.Index(loc, "?")]
	for _, want := range []string{"Pending", "Error"} {
		b.waitText(`[data-live="history"]`, want)
	}
	for sel, want := range map[string]string{
		"#step-2": "az role definition create", "#step-3": "az role assignment create",
		"#step-4": "ConfluentEnvIDs=${TAG:+$TAG,}" + envID, "#grant": "AssignableScopes",
	} {
		b.waitText(sel, want)
	}
	b.waitText("#step-3", demoVNetID)
	b.shot("grant-access")
	b.run("Continue before consent", chromedp.Click(chromedp.CSS("#continue")))
	b.waitText("#action-result", "is not present")

	consentURL := get(b, "read the consent link", chromedp.AttributeValue(chromedp.CSS("#consent-link"), "href")).Value
	if !strings.HasPrefix(consentURL, r.AzureURL+"/"+demoTenant+"/oauth2/authorize?client_id="+azureemu.DefaultProviderAppID) {
		t.Fatalf("consent link %q", consentURL)
	}
	// The administrator approves on the embedded Azure's page (the link
	// opens a new tab; the test follows it in this one and comes back).
	peerURL := loc
	b.run("open the consent page", chromedp.Navigate(consentURL), chromedp.WaitVisible(chromedp.CSS("#username")))
	b.run("sign in as admin", b.fill(map[string]string{"#username": demoAdmin, "#password": demoAdminPass}))
	b.shot("consent-page")
	b.run("accept", chromedp.Click(chromedp.CSS("#accept")), chromedp.WaitVisible(chromedp.CSS("#success")))
	b.shot("consent-approved")
	b.run("back to the peering", chromedp.Navigate(peerURL), chromedp.WaitVisible(chromedp.CSS("#continue")))

	b.markPage()
	b.run("Continue after consent", chromedp.Click(chromedp.CSS("#continue")))
	b.waitText("#action-result", "is present in tenant "+demoTenant)
	b.waitText("#step-1", "Done")
	b.shot("consent-checked")

	grantAsAdmin(t, r, envID)
	b.run("Create connection", chromedp.Click(chromedp.CSS("#create-connection")))
	b.waitText("#action-result", "onnection")
	b.waitText("#peering-badge", "Active")
	b.waitText(`[data-live="checks"]`, "Connected")
	b.checkNotReloaded()
	b.shot("peering-active")

	// A Dedicated cluster within the network's budget, then the network page.
	b.run("back to the network", chromedp.Navigate(netURL), chromedp.WaitVisible(chromedp.CSS("#clusters")))
	b.run("a cluster over the budget", b.fill(map[string]string{"#clusters #f-name": "orders", "#clusters #f-cku": "100"}),
		chromedp.Submit(chromedp.CSS("#clusters #f-cku")), chromedp.WaitVisible(chromedp.CSS("#cluster-error")))
	if msg := b.text("#cluster-error"); !strings.Contains(msg, "dedicated_ckus_per_network") {
		t.Fatalf("cluster over budget: %q", msg)
	}
	b.run("a cluster", b.fill(map[string]string{"#clusters #f-cku": "4"}), chromedp.Submit(chromedp.CSS("#clusters #f-cku")),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	b.waitText(`[data-live="clusters"]`, "4 of 64 CKUs")
	b.run("reload the network page for the README", chromedp.Navigate(netURL), chromedp.WaitVisible(chromedp.CSS("#clusters")))
	b.waitText("#peerings tbody", "Active")
	b.run("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0); document.activeElement.blur()`))
	png := get(b, "screenshot the network page", chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(out, "network-active.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("PEERPLANE_UPDATE_DOCS_IMAGES") == "1" {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "images", "network-active.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.shot("network-active-full")
	b.run("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.shot("network-phone")
	b.run("desktop width", chromedp.EmulateViewport(1280, 800))

	// "Test connectivity": a VM's address in the peered VNet reaches the
	// cluster; an address in no VNet does not, and the page says why.
	b.waitText(`[data-live="clusters"]`, "Running")
	b.run("reload for the provisioned cluster", chromedp.Navigate(netURL), chromedp.WaitVisible(chromedp.CSS("#reach")))
	b.run("test connectivity", b.fill(map[string]string{"#f-source": "10.1.0.4"}), chromedp.Click(chromedp.CSS("#reach-test")),
		chromedp.WaitVisible(chromedp.CSS("#reach-verdict")))
	if v := b.text("#reach-verdict"); v != "Reachable" {
		t.Fatalf("10.1.0.4 to the cluster: %q, want Reachable; the result:\n%s", v, b.text("#reach-result"))
	}
	if loc := b.location(); !strings.Contains(loc, "source=10.1.0.4") || !strings.HasSuffix(loc, "#reach") {
		t.Fatalf("the test's URL %s", loc)
	}
	b.waitText("#reach-result", "contoso-vnet")
	b.shot("reach-reachable")
	b.run("test an address in no VNet", b.fill(map[string]string{"#f-source": "10.99.0.4"}), chromedp.Click(chromedp.CSS("#reach-test")),
		chromedp.WaitVisible(chromedp.CSS("#reach-code")))
	if code := b.text("#reach-code"); code != "SOURCE_NOT_IN_ANY_VNET" || b.text("#reach-verdict") != "Unreachable" {
		t.Fatalf("10.99.0.4: %q %q", b.text("#reach-verdict"), code)
	}
	b.shot("reach-unreachable")

	// Managed connectors under the cluster: a sink in the peered VNet is
	// Running; one at an address in no VNet is Failed, with the reason.
	addConnector := func(name, url string) {
		b.t.Helper()
		b.run("open Add connector", chromedp.Evaluate[chromedp.Void](`document.querySelector(".add-connector").open = true`),
			chromedp.WaitVisible(chromedp.CSS(".conn-form [name=name]")))
		b.run("add connector "+name, b.fill(map[string]string{".conn-form [name=name]": name, ".conn-form [name=class]": "PostgresSink", ".conn-form [name=url]": url,
			".conn-form [name=config]": "topics=orders"}),
			chromedp.Click(chromedp.CSS(".conn-form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(`[data-live$=":`+name+`"]`)))
	}
	b.run("open Add connector", chromedp.Click(chromedp.CSS(".add-connector summary")), chromedp.WaitVisible(chromedp.CSS(".conn-form [name=name]")))
	b.run("a connector with a DNS host", b.fill(map[string]string{".conn-form [name=name]": "orders-sink", ".conn-form [name=class]": "PostgresSink",
		".conn-form [name=url]": "jdbc:postgresql://db.contoso.example:5432/orders"}), chromedp.Click(chromedp.CSS(".conn-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".conn-form .has-error [name=url]")))
	b.waitText(".conn-form .has-error", "is not an IP address")
	b.shot("connector-form-error")
	addConnector("orders-sink", "jdbc:postgresql://10.1.0.4:5432/orders")
	b.waitText(".connector", "orders-sink")
	b.waitText(".connector", "Running")
	addConnector("lost-sink", "jdbc:postgresql://10.99.0.4:5432/orders")
	b.waitText(".conn-list", "DESTINATION_NOT_IN_ANY_VNET")
	if st := b.text(`[data-live$=":orders-sink"] .badge`); st != "Running" {
		t.Fatalf("orders-sink: %q, want Running", st)
	}
	if st := b.text(`[data-live$=":lost-sink"] .badge`); st != "Failed" {
		t.Fatalf("lost-sink: %q, want Failed", st)
	}
	b.run("scroll to the connectors", chromedp.Evaluate[chromedp.Void](`document.querySelector(".conn-block").scrollIntoView(); document.activeElement.blur()`))
	png = get(b, "screenshot the connectors", chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(out, "connectors.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}

	// Delete, with confirmation; the row goes away live.
	b.run("open the peering again", chromedp.Click(chromedp.CSS("#peerings tbody a")), chromedp.WaitVisible(chromedp.CSS("#delete-open")))
	b.run("delete with a wrong confirmation", chromedp.Click(chromedp.CSS("#delete-open")), b.fill(map[string]string{"#f-confirm": "nope"}),
		chromedp.Click(chromedp.CSS("#delete")), chromedp.WaitVisible(chromedp.CSS("#f-confirm-err")))
	b.waitText("#f-confirm-err", "to confirm")
	b.run("delete", b.fill(map[string]string{"#f-confirm": "contoso"}))
	b.shot("delete-confirm")
	b.run("confirm", chromedp.Click(chromedp.CSS("#delete")), chromedp.WaitVisible(chromedp.CSS("#add-peering")))
	b.markPage()
	b.waitText("#peerings tbody", "No peerings yet")
	b.checkNotReloaded()
	b.shot("peering-deleted")
	if st := apiGet(t, r, "/networking/v1/peerings/"+peerID+"?environment="+envID, nil); st != http.StatusNotFound {
		t.Fatalf("GET the deleted peering: %d, want 404", st)
	}

	// Signing out ends the session.
	b.run("sign out", chromedp.Click(chromedp.CSS(".signout button")), chromedp.WaitVisible(chromedp.CSS("#signin")),
		chromedp.Navigate(netURL), chromedp.WaitVisible(chromedp.CSS("#signin")))
	t.Logf("browser flow took %s", time.Since(start).Round(time.Millisecond))
}
