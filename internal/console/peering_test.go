package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/console"
	"github.com/peerplane/peerplane/internal/control"
)

const (
	testTenant = "5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01"
	testVNet   = "/subscriptions/6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02/resourceGroups/contoso-network/providers/Microsoft.Network/virtualNetworks/contoso-vnet"
	testAppID  = "f0955e3a-9013-4cf4-a1ea-21587621c9cc"
)

// testFixes stand for the reconciler's grant commands: the console shows
// what is stored, whatever it is.
var testFixes = control.GrantFixes{
	ConsentURL:             "https://login.example/" + testTenant + "/oauth2/authorize?client_id=" + testAppID + "&response_type=code",
	CreateServicePrincipal: "az ad sp create --id " + testAppID,
	RoleDefinitionCreate:   "az role definition create --role-definition '{\"AssignableScopes\": [\"/subscriptions/6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02\"]}'",
	RoleAssignmentCreate:   "az role assignment create --scope " + testVNet,
	Tag:                    "az resource tag --is-incremental --ids " + testVNet + " --tags ConfluentEnvIDs=env-test",
}

// peeringFixture is a console with one peering, and what the tests need
// to play the reconciler's part: its stored status is set directly.
type peeringFixture struct {
	*fixture
	p       *control.Peering
	url     string // the peering's page
	tok     string // the session's CSRF token
	fixes   control.GrantFixes
	consent atomic.Value // func() (control.Check, error), the fresh consent check
	checks  atomic.Int32 // consent checks made
}

func newPeeringFixture(t *testing.T, configure ...func(*console.Options)) *peeringFixture {
	t.Helper()
	pf := &peeringFixture{}
	pf.consent.Store(func() (control.Check, error) { return control.Check{}, errors.New("no consent check set") })
	pf.fixture = newFixture(t, func(o *console.Options, _ *control.Service, _ *control.Organization) {
		o.CheckConsent = func(ctx context.Context, p *control.Peering) (control.Check, error) {
			pf.checks.Add(1)
			return pf.consent.Load().(func() (control.Check, error))()
		}
		for _, f := range configure {
			f(o)
		}
	})
	pf.signIn(pf.secret)
	ctx := control.NewContextWithOrganization(context.Background(), mustOrg(t, pf.fixture))
	env := &control.Environment{DisplayName: "prod"}
	if err := pf.svc.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	n := &control.Network{EnvironmentID: env.ID, DisplayName: "net", Cloud: "AZURE", Region: "eastus", CIDR: "10.10.0.0/16", ConnectionTypes: []string{"PEERING"}}
	if err := pf.svc.CreateNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	pf.p = &control.Peering{EnvironmentID: env.ID, NetworkID: n.ID, DisplayName: "contoso", Cloud: "AZURE", CustomerRegion: "eastus", Tenant: testTenant, VNet: testVNet}
	if err := pf.svc.CreatePeering(ctx, pf.p); err != nil {
		t.Fatal(err)
	}
	pf.url = "/console/environments/" + env.ID + "/peerings/" + pf.p.ID
	pf.fixes = testFixes
	pf.tok = pf.csrf(pf.url)
	return pf
}

// store plays the reconciler: checks (the steps they lack SKIPPED) become
// the stored checklist and the status it leads to.
func (pf *peeringFixture) store(checks ...control.Check) control.PeeringStatus {
	pf.t.Helper()
	list := control.Checklist{CheckedAt: time.Now(), Fixes: pf.fixes, Checks: checks}
	for _, step := range control.PeeringSteps[len(checks):] {
		list.Checks = append(list.Checks, control.SkippedCheck(step))
	}
	return pf.setStatus(control.PeeringStatusOf(list))
}

func (pf *peeringFixture) setStatus(st control.PeeringStatus) control.PeeringStatus {
	pf.t.Helper()
	p, err := pf.svc.ReconcilePeering(context.Background(), pf.p.ID)
	if err != nil {
		pf.t.Fatal(err)
	}
	if _, err := pf.svc.UpdatePeeringStatusFrom(context.Background(), p.ID, p.Status, st); err != nil {
		pf.t.Fatal(err)
	}
	return st
}

// actionResponse is the JSON a button's script gets.
type actionResponse struct {
	OK      bool
	Message string
	Patches []struct{ Key, HTML string }
}

func (r actionResponse) patch(key string) string {
	for _, p := range r.Patches {
		if p.Key == key {
			return p.HTML
		}
	}
	return ""
}

// press posts the peering's action (continue or retry) as the page's
// script does.
func (pf *peeringFixture) press(action string) actionResponse {
	pf.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, pf.srv.URL+pf.url+"/"+action, strings.NewReader(url.Values{"csrf": {pf.tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", pf.srv.URL)
	req.Header.Set("X-Console-Fragment", "1")
	resp, err := pf.client.Do(req)
	if err != nil {
		pf.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var res actionResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &res) != nil {
		pf.t.Fatalf("%s: %d %s", action, resp.StatusCode, b)
	}
	return res
}

var actionRE = regexp.MustCompile(`<p class="action-result( [a-z]+)?" id="action-result"[^>]*>([^<]*)</p>`)

// actionLine returns the class and text of the result line in page.
func actionLine(t *testing.T, page string) (class, text string) {
	t.Helper()
	m := actionRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no result line in:\n%s", page)
	}
	return strings.TrimSpace(m[1]), html.UnescapeString(m[2])
}

// pageLine reads the result line off a fresh rendering of the page.
func (pf *peeringFixture) pageLine() (class, text string) {
	pf.t.Helper()
	_, body, _ := pf.get(pf.url)
	return actionLine(pf.t, body)
}

var (
	noConsent  = control.FailCheck(control.StepConsent, control.PeeringAppNotConsented, "The provider app has no service principal in tenant "+testTenant+".", "Consent.")
	consented  = control.PassCheck(control.StepConsent, "The app got a token.")
	readDenied = control.FailCheck(control.StepReadVNet, control.PeeringPermissionDenied,
		"Either VNet contoso-network/contoso-vnet does not exist, or the app lacks read on it.", "Check the names, then: az role definition create …")
	vnetRead  = control.PassCheck(control.StepReadVNet, "VNet contoso-network/contoso-vnet in eastus.")
	untagged  = control.FailCheck(control.StepTag, control.PeeringVNetNotAuthorizedForEnvironment, "VNet contoso-network/contoso-vnet has no ConfluentEnvIDs tag.", "az resource tag …")
	tagged    = control.PassCheck(control.StepTag, "ConfluentEnvIDs lists the environment.")
	overlap   = control.FailCheck(control.StepAddressSpace, control.PeeringAddressSpaceOverlap, "10.10.0.0/16 overlaps the network.", "Peer another VNet.")
	spaceOK   = control.PassCheck(control.StepAddressSpace, "10.1.0.0/16.")
	regionOK  = control.PassCheck(control.StepRegion, "eastus.")
	provHalf  = control.PassCheck(control.StepProviderHalf, "Half peer-x.")
	custHalf  = control.PassCheck(control.StepCustomerHalf, "Both halves are Connected.")
	deleted   = control.FailCheck(control.StepProviderHalf, control.PeeringDisconnected, "The customer's half was deleted.", "Retry the peering to re-create both halves, or delete it.")
	custAwait = control.PendingCheck(control.StepCustomerHalf, "Half peer-x is Initiated.")
)

// TestPeeringPageReadsTheStoredChecklist: the peering page renders the
// checklist stored with the peering and asks Azure nothing.
func TestPeeringPageReadsTheStoredChecklist(t *testing.T) {
	pf := newPeeringFixture(t)
	// Never checked: every step pending.
	_, body, _ := pf.get(pf.url)
	if strings.Count(body, `<li class="check PENDING">`) != len(control.PeeringSteps) || !strings.Contains(body, "Not checked yet: the reconciler checks it next.") {
		t.Fatalf("a peering never checked does not show its steps pending:\n%s", body)
	}
	pf.store(noConsent)
	_, body, _ = pf.get(pf.url)
	for _, want := range []string{pf.fixes.ConsentURL, pf.fixes.RoleDefinitionCreate, pf.fixes.RoleAssignmentCreate, pf.fixes.Tag, control.PeeringRoleAdvice,
		"has no service principal in tenant", "APP_NOT_CONSENTED"} {
		if !strings.Contains(html.UnescapeString(body), want) {
			t.Errorf("the peering page lacks %q", want)
		}
	}
	if pf.checks.Load() != 0 {
		t.Fatalf("rendering the page checked the consent %d times", pf.checks.Load())
	}
}

// TestContinueListsTheStepsLeft: "Continue" checks the consent alone,
// once, and its result line names exactly the grant steps still to do and
// those not checked yet, by number and title; as the reconciler's later
// passes tick steps off, the same line lists fewer, without another
// check. Only when nothing is left does it invite Create connection, and
// only then is it green.
func TestContinueListsTheStepsLeft(t *testing.T) {
	pf := newPeeringFixture(t)
	pf.store(noConsent)

	// Still no consent in Azure.
	pf.consent.Store(func() (control.Check, error) { return noConsent, nil })
	res := pf.press("continue")
	class, text := actionLine(t, res.patch("grant-card"))
	if res.OK || class != "todo" || text != res.Message || pf.checks.Load() != 1 ||
		!strings.HasPrefix(text, "Still to do: step 1, “Consent to the provider app in your tenant”. The provider app "+testAppID+" is not present in tenant "+testTenant) {
		t.Fatalf("continue before consent: ok=%t %s %q, %d checks", res.OK, class, text, pf.checks.Load())
	}

	// Consented since, before the reconciler's next pass: step 1 is done
	// at once; the later steps were never reached, so not checked yet.
	pf.consent.Store(func() (control.Check, error) { return consented, nil })
	res = pf.press("continue")
	card := res.patch("grant-card")
	class, text = actionLine(t, card)
	want := "Step 1 is done: the provider app " + testAppID + " is present in tenant " + testTenant + ". " +
		"Not checked yet: step 2, “Create the custom role”, step 3, “Assign the role to the app on your VNet” and step 4, “Tag the VNet with the environment”."
	if res.OK || class != "todo" || !strings.HasPrefix(text, want) || strings.Contains(text, "peer now") {
		t.Fatalf("continue after consent:\n got %s %q\nwant todo %q…", class, text, want)
	}
	if !strings.Contains(card, `class="step done" id="step-1"`) || !strings.Contains(card, `class="step unknown" id="step-2"`) {
		t.Fatalf("grant steps after consent:\n%s", card)
	}

	// The reconciler's passes as the customer grants access: the line
	// follows the stored checklist, with no new check of the consent.
	for _, tc := range []struct {
		name   string
		checks []control.Check
		class  string
		want   string
	}{
		{"no role yet", []control.Check{consented, readDenied}, "todo",
			"Still to do: step 2, “Create the custom role” and step 3, “Assign the role to the app on your VNet”. Not checked yet: step 4, “Tag the VNet with the environment”. Each is ticked off here once Peerplane sees it done."},
		{"no tag yet", []control.Check{consented, vnetRead, untagged}, "todo",
			"Still to do: step 4, “Tag the VNet with the environment”. Each is ticked off here once Peerplane sees it done."},
		{"an overlap the grant does not fix", []control.Check{consented, vnetRead, tagged, overlap}, "bad",
			"Still failing: “" + overlap.Title + "” (ADDRESS_SPACE_OVERLAP)"},
		{"a deleted half", []control.Check{consented, vnetRead, tagged, spaceOK, regionOK, deleted}, "todo",
			"A half of the Azure peering was deleted: click Create connection to create both halves again."},
		{"nothing left", []control.Check{consented, vnetRead, tagged, spaceOK, regionOK, provHalf, custAwait}, "ok",
			"Nothing else is left to do: click Create connection to peer now."},
	} {
		pf.store(tc.checks...)
		class, text := pf.pageLine()
		if class != tc.class || !strings.Contains(text, tc.want) || !strings.HasPrefix(text, "Step 1 is done") {
			t.Errorf("%s:\n got %s %q\nwant %s …%q…", tc.name, class, text, tc.class, tc.want)
		}
	}
	if pf.checks.Load() != 2 {
		t.Fatalf("the consent was checked %d times, want 2 (one per Continue)", pf.checks.Load())
	}

	// Azure not answering: said so, nothing concluded.
	pf.consent.Store(func() (control.Check, error) { return control.Check{}, errors.New("connection refused") })
	if res := pf.press("continue"); res.OK || !strings.Contains(res.Message, "could not be checked") {
		t.Fatalf("continue without Azure: %t %q", res.OK, res.Message)
	}
}

// nextPatch waits on a live stream (openLive) for a patch of key
// satisfying ok and returns its HTML; the patches of key before it go to
// seen, when not nil.
func nextPatch(t *testing.T, events <-chan map[string]string, key, what string, ok func(html string) bool, seen func(html string)) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, open := <-events:
			if !open {
				t.Fatalf("the live stream ended before %s", what)
			}
			h, has := m[key]
			switch {
			case !has:
			case ok(h):
				return h
			case seen != nil:
				seen(h)
			}
		case <-deadline:
			t.Fatalf("the live stream did not send %s", what)
		}
	}
}

// TestCreateConnectionShowsPendingThenTheResult: "Create connection" reads
// Pending (never in a success colour) while the reconciler works, then the
// real result live: the check that failed, the grant step that fixes it,
// its code and short message; or Active, and then the grant card leaves
// the page, to come back when the peering fails again.
func TestCreateConnectionShowsPendingThenTheResult(t *testing.T) {
	pf := newPeeringFixture(t)
	failed := pf.store(consented, vnetRead, untagged)
	live := openLive(t, pf.fixture, pf.url+"/live")
	nextPatch(t, live, "grant-card", "the grant card", func(h string) bool { return strings.Contains(h, `id="grant"`) }, nil)

	res := pf.press("retry")
	class, text := actionLine(t, res.patch("grant-card"))
	if res.OK || class != "pending" || !strings.HasPrefix(text, "Pending: Peerplane is checking each step") ||
		!strings.Contains(res.patch("status"), "Pending") {
		t.Fatalf("create connection: ok=%t %s %q\n%s", res.OK, class, text, res.patch("status"))
	}
	noSuccess := func(h string) {
		if c, _ := actionLine(t, h); c == "ok" {
			t.Errorf("a success colour before success: %s", h)
		}
	}
	// The reconciler's pass fails at the tag.
	pf.setStatus(failed)
	got := nextPatch(t, live, "action", "the failure", func(h string) bool { c, _ := actionLine(t, h); return c == "bad" }, noSuccess)
	_, text = actionLine(t, got)
	if want := "Create connection failed at step 4, “Tag the VNet with the environment” (VNET_NOT_AUTHORIZED_FOR_ENVIRONMENT): " + untagged.Evidence; text != want {
		t.Fatalf("failure line:\n got %q\nwant %q", text, want)
	}

	// Again, and this time both halves connect.
	if _, text := actionLine(t, pf.press("retry").patch("grant-card")); !strings.HasPrefix(text, "Pending") {
		t.Fatalf("second create connection: %q", text)
	}
	pf.store(consented, vnetRead, tagged, spaceOK, regionOK, provHalf, custHalf)
	card := nextPatch(t, live, "grant-card", "the grant card leaving", func(h string) bool { return !strings.Contains(h, `id="grant"`) }, nil)
	if strings.Contains(card, "Create connection") {
		t.Fatalf("the grant card stays when Active:\n%s", card)
	}
	if _, body, _ := pf.get(pf.url); strings.Contains(body, `id="grant"`) || !strings.Contains(body, "Active") {
		t.Fatal("an Active peering's page shows the grant card")
	}

	// The customer deletes their half: the card comes back, live, without
	// a line about the Create connection that succeeded; pressed again,
	// it reads Pending.
	pf.store(consented, vnetRead, tagged, spaceOK, regionOK, deleted)
	card = nextPatch(t, live, "grant-card", "the grant card coming back", func(h string) bool { return strings.Contains(h, `id="grant"`) }, nil)
	if _, text := actionLine(t, card); text != "" {
		t.Fatalf("after a deleted half, the line of a finished action: %q", text)
	}

	// Without the page's script: a redirect back to the card, which shows
	// the line.
	st, _, loc := pf.post(pf.url+"/retry", url.Values{"csrf": {pf.tok}})
	if st != http.StatusSeeOther || loc != pf.url+"#grant" {
		t.Fatalf("create connection without script: %d %s", st, loc)
	}
	if class, text := pf.pageLine(); class != "pending" || !strings.HasPrefix(text, "Pending") {
		t.Fatalf("the page after create connection: %s %q", class, text)
	}
}

// TestLiveStreamCatchesUpAfterAnAction: an action's answer patches the
// page (Pending) behind the live stream's back; when the peering is back
// where the stream last saw it before the stream read it again (a pass
// that failed the same way within one poll), the stream still sends the
// status, so the page does not stay Pending.
func TestLiveStreamCatchesUpAfterAnAction(t *testing.T) {
	pf := newPeeringFixture(t)
	failed := pf.store(consented, vnetRead, untagged)
	live := openLive(t, pf.fixture, pf.url+"/live")
	nextPatch(t, live, "status", "the Error status", func(h string) bool { return strings.Contains(h, "Error") }, nil)

	res := pf.press("retry")
	if !strings.Contains(res.patch("status"), "Pending") {
		t.Fatalf("create connection's answer: %s", res.patch("status"))
	}
	pf.setStatus(failed) // at once: the stream most likely never reads Pending
	nextPatch(t, live, "status", "the Error status again after the answer's Pending", func(h string) bool { return strings.Contains(h, "Error") }, nil)
}

// TestChecklistDoesNotRepeatTheStatus: the status block shows the short
// message, the grant steps the commands, and the checklist points at the
// steps instead of repeating either.
func TestChecklistDoesNotRepeatTheStatus(t *testing.T) {
	pf := newPeeringFixture(t)
	pf.store(consented, readDenied)
	_, body, _ := pf.get(pf.url)
	body = html.UnescapeString(body)
	if n := strings.Count(body, readDenied.Evidence); n != 1 {
		t.Errorf("the short message appears %d times, want once (the status block)", n)
	}
	status := body[strings.Index(body, `data-live="status"`):strings.Index(body, `<dl class="props">`)]
	if strings.Contains(status, "az ") || !strings.Contains(status, readDenied.Evidence) {
		t.Errorf("the status block:\n%s", status)
	}
	if !strings.Contains(body, `<strong>Fix:</strong> <a href="#step-2">step 2</a> and <a href="#step-3">step 3</a> of Grant access above.`) {
		t.Errorf("the checklist does not point at steps 2 and 3:\n%s", body[strings.Index(body, `id="checklist"`):])
	}
	// A failure the grant does not fix keeps its fix in the checklist.
	pf.store(consented, vnetRead, tagged, overlap)
	_, body, _ = pf.get(pf.url)
	if !strings.Contains(body, "<div class=\"fix\"><strong>Fix:</strong><pre>"+overlap.Fix+"</pre>") {
		t.Errorf("the overlap's fix is not shown in the checklist")
	}
}

// TestConsentLinkComesBack: with a registered reply URL on the host the
// browser used, step 1 links to Entra's admin-consent endpoint with it as
// redirect_uri and the peering as state; the return
// checks the consent afresh and shows the peering. A state naming no
// peering is refused; a browser without a session sees nothing of it.
func TestConsentLinkComesBack(t *testing.T) {
	replies := []string{"http://127.0.0.1:8080" + console.ConsentReturnPath, "http://localhost:8080" + console.ConsentReturnPath}
	pf := newPeeringFixture(t, func(o *console.Options) {
		o.LoginURL, o.ConsentReturnURLs = "https://login.example:8443/", replies
	})
	pf.store(noConsent)
	state := pf.p.EnvironmentID + "/" + pf.p.ID
	link := func(host string) string {
		req, _ := http.NewRequest(http.MethodGet, pf.srv.URL+pf.url, nil)
		req.Host = host // as the browser named the console
		u, _ := url.Parse(pf.srv.URL + "/console/")
		for _, c := range pf.client.Jar.Cookies(u) {
			req.AddCookie(c)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`href="([^"]+)"[^>]*id="consent-link"`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("no consent link on %s: %d\n%s", host, resp.StatusCode, b)
		}
		return html.UnescapeString(string(m[1]))
	}
	for host, reply := range map[string]string{"127.0.0.1:8080": replies[0], "localhost:8080": replies[1]} {
		want := "https://login.example:8443/" + testTenant + "/v2.0/adminconsent?" +
			url.Values{"client_id": {testAppID}, "redirect_uri": {reply}, "state": {state}}.Encode()
		if got := link(host); got != want {
			t.Errorf("consent link on %s:\n got %s\nwant %s", host, got, want)
		}
	}
	// Reached under a name no reply URL has (a proxy's): the stored link,
	// not a way back to a host the browser may not reach.
	if got := link("console.example.com"); got != pf.fixes.ConsentURL {
		t.Errorf("consent link through a proxy: %s, want the stored %s", got, pf.fixes.ConsentURL)
	}

	// Back from the consent page: checked afresh, shown on the peering.
	pf.consent.Store(func() (control.Check, error) { return consented, nil })
	back := console.ConsentReturnPath + "?" + url.Values{"admin_consent": {"True"}, "tenant": {testTenant}, "state": {state}}.Encode()
	st, _, loc := pf.get(back)
	if st != http.StatusSeeOther || loc != pf.url+"#grant" || pf.checks.Load() != 1 {
		t.Fatalf("consent return: %d %s, %d checks", st, loc, pf.checks.Load())
	}
	if class, text := pf.pageLine(); class != "todo" || !strings.HasPrefix(text, "Step 1 is done") {
		t.Fatalf("after the return: %s %q", class, text)
	}
	// Declined: said so, and the fresh check still tells the truth.
	pf.consent.Store(func() (control.Check, error) { return noConsent, nil })
	pf.get(console.ConsentReturnPath + "?" + url.Values{"error": {"access_denied"}, "error_description": {"AADSTS65004: <b>declined</b>"}, "state": {state}}.Encode())
	if _, text := pf.pageLine(); !strings.HasPrefix(text, "The admin-consent page came back without consent (access_denied). Still to do: step 1") || strings.Contains(text, "AADSTS65004") {
		t.Fatalf("after a declined consent: %q", text)
	}

	for _, bad := range []string{"", "env-1", "https://evil.example/", "//evil.example", pf.p.EnvironmentID + "/" + pf.p.ID + "/../x",
		pf.p.EnvironmentID + "/peer-X", "../../login/" + pf.p.ID, pf.p.EnvironmentID + "/net-1"} {
		st, _, loc := pf.get(console.ConsentReturnPath + "?" + url.Values{"admin_consent": {"True"}, "state": {bad}}.Encode())
		if st != http.StatusBadRequest || loc != "" {
			t.Errorf("state %q: %d %s, want 400 and no redirect", bad, st, loc)
		}
	}
	if st, _, _ := pf.get(console.ConsentReturnPath + "?state=" + url.QueryEscape(pf.p.EnvironmentID+"/peer-zzzzzz")); st != http.StatusNotFound {
		t.Errorf("an unknown peering: %d, want 404", st)
	}

	// An administrator without a console session: a page that says where
	// to look, nothing of the peering, nothing checked.
	checks := pf.checks.Load()
	resp, err := http.Get(pf.srv.URL + back)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := html.UnescapeString(string(b))
	if resp.StatusCode != http.StatusOK || strings.Contains(page, "contoso") || strings.Contains(page, testVNet) || pf.checks.Load() != checks ||
		!strings.Contains(page, `href="/console/login?next=`+url.QueryEscape(back)+`"`) {
		t.Fatalf("return without a session: %d\n%s", resp.StatusCode, page)
	}

	// Without a registered reply URL, the stored link, as it is.
	plain := newPeeringFixture(t)
	plain.store(noConsent)
	_, body, _ := plain.get(plain.url)
	if !strings.Contains(html.UnescapeString(body), `href="`+plain.fixes.ConsentURL+`"`) {
		t.Fatal("without a reply URL the page does not link to the stored consent URL")
	}
}

// TestAzureCADownload: with the embedded Azure on Peerplane's private CA,
// the console serves the CA and explains how to trust it next to the
// consent link; with a certificate of the operator's own, neither.
func TestAzureCADownload(t *testing.T) {
	const pem = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
	pf := newPeeringFixture(t, func(o *console.Options) { o.AzureCA = []byte(pem) })
	pf.store(noConsent)
	resp, err := http.Get(pf.srv.URL + "/console/azure-ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-pem-file" || string(b) != pem {
		t.Fatalf("azure-ca.pem: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	_, body, _ := pf.get(pf.url)
	for _, want := range []string{`id="trust-ca"`, `href="/console/azure-ca.pem"`, "Manage certificates → Authorities → Import", "View Certificates → Authorities → Import",
		"security add-trusted-cert", "update-ca-certificates", "--azure-tls-cert"} {
		if !strings.Contains(html.UnescapeString(body), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Only while there is something to consent to: not on an Active peering.
	pf.store(consented, vnetRead, tagged, spaceOK, regionOK, provHalf, custHalf)
	if _, body, _ := pf.get(pf.url); strings.Contains(body, `id="trust-ca"`) {
		t.Error("an Active peering's page explains the CA")
	}

	own := newPeeringFixture(t)
	own.store(noConsent)
	if st, _, _ := own.get("/console/azure-ca.pem"); st != http.StatusNotFound {
		t.Errorf("azure-ca.pem without a private CA: %d, want 404", st)
	}
	if _, body, _ := own.get(own.url); strings.Contains(body, "trust-ca") || strings.Contains(body, "azure-ca.pem") {
		t.Error("the page explains a private CA the embedded Azure does not use")
	}
}
