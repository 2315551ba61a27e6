package main

import (
	"context"
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

	"github.com/chromedp/chromedp"

	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/reconcile"
)

// gatedAzure holds the reconciler's first call for the demo tenant until
// the test opens the gate, so that the console shows Pending for certain
// before Error; and, while the test holds reads (holdReads), every read
// of a demo-tenant VNet, so that a Create connection stays Pending until
// the test lets its pass go on. Continue's consent check asks only for a
// token: reads held, it still answers.
type gatedAzure struct {
	reconcile.Azure
	gate chan struct{}

	mu   sync.Mutex
	read chan struct{} // while not nil, GetVNet waits for it to close
}

func (g *gatedAzure) GetVNet(ctx context.Context, tenant, id string) (*azure.VNet, error) {
	g.mu.Lock()
	read := g.read
	g.mu.Unlock()
	if read != nil && strings.EqualFold(tenant, demoTenant) {
		select {
		case <-read:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Azure.GetVNet(ctx, tenant, id)
}

// holdReads holds the reconciler's reads of demo-tenant VNets until the
// returned func is called (it may be called more than once).
func (g *gatedAzure) holdReads() (release func()) {
	ch := make(chan struct{})
	g.mu.Lock()
	g.read = ch
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.read = nil
			g.mu.Unlock()
			close(ch)
		})
	}
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

// waitGone waits until the page has no element sel.
func (b *browser) waitGone(sel string) {
	b.t.Helper()
	js := fmt.Sprintf(`document.querySelector(%q) === null`, sel)
	b.run("wait for "+sel+" to go", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(25*time.Second))(ctx, t)
		return err
	}))
}

// saveDocImage writes png as name in dir and, with
// PEERPLANE_UPDATE_DOCS_IMAGES=1, in docs/images.
func (b *browser) saveDocImage(dir, name string, png []byte) {
	b.t.Helper()
	paths := []string{filepath.Join(dir, name)}
	if os.Getenv("PEERPLANE_UPDATE_DOCS_IMAGES") == "1" {
		paths = append(paths, filepath.Join("..", "..", "docs", "images", name))
	}
	for _, p := range paths {
		if err := os.WriteFile(p, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
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

// TestConsoleSeedFlow drives the web console in headless Chromium through
// the seed flow: sign in (a wrong key first), an environment and a network,
// bad then good "+ VNet Peering" input, Pending then Error live, the
// embedded Azure's CA offered for download, the consent through the link
// on the embedded Azure's page and its way back to the peering, Continue
// listing the steps left (fewer as the grants are made through the Azure
// SDK), Create connection reading Pending while the test holds the
// reconciler, then Error at the tag, then Active with the grant card gone,
// the card back when the customer deletes their half, a Dedicated cluster
// within the network's budget, "Test connectivity" to it, a connector
// Running and one Failed under the cluster, and deletion. Screenshots of
// each step go to testoutput/console (PEERPLANE_UPDATE_DOCS_IMAGES=1 also
// refreshes docs/images/network-active.png and peering-grant.png).
func TestConsoleSeedFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test is not short")
	}
	gate := &gatedAzure{gate: make(chan struct{})}
	var openGate sync.Once
	release := func() { openGate.Do(func() { close(gate.gate) }) }
	t.Cleanup(release)
	e := startE2E(t, "", func(c *ServeConfig) {
		c.WrapAzure = func(a reconcile.Azure) reconcile.Azure { gate.Azure = a; return gate }
	})
	r := e.r

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
	b.waitText("#action-result", "Still to do: step 1, “Consent to the provider app in your tenant”")

	// The embedded Azure's private CA: explained next to the consent link,
	// and served by the console.
	b.run("open the certificate help", chromedp.Click(chromedp.CSS("#trust-ca summary")), chromedp.WaitVisible(chromedp.CSS("#ca-download")))
	b.waitText("#trust-ca", "Manage certificates → Authorities → Import")
	ca := get(b, "download the CA", chromedp.Evaluate[map[string]string](`fetch(document.querySelector("#ca-download").href)
		.then(r => r.text().then(body => ({status: String(r.status), type: r.headers.get("content-type"), body})))`, chromedp.EvalAwaitPromise))
	caPEM, err := os.ReadFile(r.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if ca["status"] != "200" || ca["type"] != "application/x-pem-file" || ca["body"] != string(caPEM) {
		t.Fatalf("the CA download: %s %s, %d bytes, want the CA file's %d", ca["status"], ca["type"], len(ca["body"]), len(caPEM))
	}
	b.shot("trust-ca")
	// The help stays open when the card is patched (Continue again).
	b.run("Continue with the help open", chromedp.Evaluate[chromedp.Void](`document.querySelector("#action-result").textContent = ""`),
		chromedp.Click(chromedp.CSS("#continue")))
	b.waitText("#action-result", "Still to do: step 1")
	if !get(b, "read the help's state", chromedp.Evaluate[bool](`document.querySelector("#trust-ca").open`)) {
		t.Fatal("a live patch closed the certificate help")
	}

	// The consent link is Entra's admin-consent endpoint, coming back here.
	peerURL := base + "/console/environments/" + envID + "/peerings/" + peerID
	consentURL := get(b, "read the consent link", chromedp.AttributeValue(chromedp.CSS("#consent-link"), "href")).Value
	cu, err := url.Parse(consentURL)
	if err != nil || cu.Scheme+"://"+cu.Host+cu.Path != r.AzureURL+"/"+demoTenant+"/v2.0/adminconsent" ||
		cu.Query().Get("client_id") != azureemu.DefaultProviderAppID || cu.Query().Get("redirect_uri") != base+"/console/consent-return" ||
		cu.Query().Get("state") != envID+"/"+peerID {
		t.Fatalf("consent link %q", consentURL)
	}
	// The administrator approves on the embedded Azure's page (the link
	// opens a new tab; the test follows it in this one) and is sent back
	// to the peering, where the consent is checked afresh.
	b.run("open the consent page", chromedp.Navigate(consentURL), chromedp.WaitVisible(chromedp.CSS("#username")))
	b.run("sign in as admin", b.fill(map[string]string{"#username": demoAdmin, "#password": demoAdminPass}))
	b.shot("consent-page")
	b.run("accept", chromedp.Click(chromedp.CSS("#accept")), chromedp.WaitVisible(chromedp.CSS("#continue")))
	if loc := b.location(); loc != peerURL+"#grant" {
		t.Fatalf("after the consent the browser is at %s, want the peering %s", loc, peerURL)
	}
	b.markPage()
	b.waitText("#action-result", "Step 1 is done: the provider app "+azureemu.DefaultProviderAppID+" is present in tenant "+demoTenant)
	b.waitText("#step-1", "Done")
	b.shot("consent-returned")

	// The reconciler's pass after the consent finds no role: the line
	// lists steps 2 and 3 to do, step 4 not checked yet; live.
	b.waitText("#action-result", "Still to do: step 2, “Create the custom role” and step 3, “Assign the role to the app on your VNet”. Not checked yet: step 4")
	b.checkNotReloaded()
	b.shot("continue-steps-left")
	b.run("scroll to the steps", chromedp.Evaluate[chromedp.Void](`document.querySelector("#step-2").scrollIntoView(); document.activeElement.blur()`))
	png := get(b, "screenshot the grant card", chromedp.CaptureScreenshot())
	b.saveDocImage(out, "peering-grant.png", png)

	// The role granted: only the tag is left, as Continue says too.
	e.putRole(e2eRoleActions...)
	e.findServicePrincipal()
	e.assign(demoVNetID)
	b.waitText("#step-3", "Done")
	b.run("Continue after the role", chromedp.Click(chromedp.CSS("#continue")))
	b.waitText("#action-result", "Still to do: step 4, “Tag the VNet with the environment”. Each is ticked off")
	if msg := b.text("#action-result"); strings.Contains(msg, "step 2") || strings.Contains(msg, "Create connection") {
		t.Fatalf("Continue with only the tag left: %q", msg)
	}
	b.checkNotReloaded()

	// Create connection before the tag: Pending while the reconciler's pass
	// is held, then the real result, Error at step 4.
	// The result line is a live region a screen reader announces: patches
	// change it in place, never swap it for a new element.
	b.run("mark the result line", chromedp.Evaluate[chromedp.Void](`document.querySelector("#action-result").__peerplaneMark = 1; undefined`))
	releaseReads := gate.holdReads()
	b.run("Create connection without the tag", chromedp.Click(chromedp.CSS("#create-connection")))
	b.waitText("#action-result", "Pending: Peerplane is checking each step")
	b.waitText("#peering-badge", "Pending")
	if cls := get(b, "read the line's class", chromedp.Evaluate[string](`document.querySelector("#action-result").className`)); strings.Contains(cls, "ok") {
		t.Fatalf("Pending in a success colour: %q", cls)
	}
	b.shot("create-connection-pending")
	releaseReads()
	b.waitText("#action-result", "Create connection failed at step 4, “Tag the VNet with the environment” (VNET_NOT_AUTHORIZED_FOR_ENVIRONMENT)")
	b.waitText("#peering-badge", "Error")
	b.checkNotReloaded()
	if !get(b, "check the result line's mark", chromedp.Evaluate[bool](`document.querySelector("#action-result").__peerplaneMark === 1`)) {
		t.Fatal("a live update replaced the result line's element; a screen reader would not announce the change")
	}
	b.shot("create-connection-error")

	// Tagged, with the pass the tag's change starts held: Create
	// connection reads Pending, then Active; the grant card leaves.
	releaseReads = gate.holdReads()
	e.tag(demoVNetID, envID)
	b.run("Create connection", chromedp.Click(chromedp.CSS("#create-connection")))
	b.waitText("#action-result", "Pending")
	b.waitText("#peering-badge", "Pending")
	releaseReads()
	b.waitText("#peering-badge", "Active")
	b.waitText(`[data-live="checks"]`, "Connected")
	b.waitGone("#grant")
	b.checkNotReloaded()
	b.shot("peering-active")

	// The customer deletes their half: Disconnected, and the grant card
	// comes back, live; Create connection makes both halves again.
	e.deleteCustomerHalf(demoVNetID, peerID)
	b.waitText("#peering-badge", "Disconnected")
	b.run("the grant card is back", chromedp.WaitVisible(chromedp.CSS("#create-connection")))
	b.checkNotReloaded()
	b.shot("peering-disconnected")
	b.run("Create connection again", chromedp.Click(chromedp.CSS("#create-connection")))
	b.waitText("#peering-badge", "Active")
	b.waitGone("#grant")
	b.checkNotReloaded()

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
	png = get(b, "screenshot the network page", chromedp.CaptureScreenshot())
	b.saveDocImage(out, "network-active.png", png)
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
