package console_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/console"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/store"
)

// failOnError is a slog handler that fails the test on any error logged,
// such as a template that does not execute.
type failOnError struct {
	slog.Handler
	t *testing.T
}

func (h failOnError) Enabled(context.Context, slog.Level) bool { return true }

func (h failOnError) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.t.Errorf("console logged an error: %s", r.Message)
		r.Attrs(func(a slog.Attr) bool { h.t.Errorf("  %s", a); return true })
	}
	return nil
}

type fixture struct {
	t      *testing.T
	srv    *httptest.Server
	svc    *control.Service
	key    string
	secret string
	client *http.Client
}

// newFixture starts a console over a fresh store with one organization;
// configure, if given, adjusts the console's options.
func newFixture(t *testing.T, configure ...func(*console.Options, *control.Service, *control.Organization)) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := control.NewService(db.Control(), control.DefaultSettings())
	octx := control.NewOperatorContext(ctx)
	org := &control.Organization{DisplayName: "Acme"}
	if err := svc.CreateOrganization(octx, org); err != nil {
		t.Fatal(err)
	}
	key, secret, err := svc.CreateAPIKey(octx, org.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	opts := console.Options{Environments: svc, Networks: svc, Peerings: svc, Clusters: svc, Orgs: svc, Settings: svc.Settings,
		AppID: "f0955e3a-9013-4cf4-a1ea-21587621c9cc", PollInterval: 20 * time.Millisecond,
		Logger: slog.New(failOnError{slog.DiscardHandler, t})}
	for _, f := range configure {
		f(&opts, svc, org)
	}
	c := console.New(opts)
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	t.Cleanup(c.Close)
	jar, _ := cookiejar.New(nil)
	return &fixture{t: t, srv: srv, svc: svc, key: key.Key, secret: secret,
		client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get returns the status, the body and the Location of GET path.
func (f *fixture) get(path string) (int, string, string) {
	f.t.Helper()
	resp, err := f.client.Get(f.srv.URL + path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

func (f *fixture) post(path string, form url.Values) (int, string, string) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", f.srv.URL)
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

// csrf reads the CSRF token of a form on page path.
func (f *fixture) csrf(path string) string {
	f.t.Helper()
	_, body, _ := f.get(path)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		f.t.Fatalf("no csrf token on %s", path)
	}
	return m[1]
}

func (f *fixture) signIn(secret string) (int, string) {
	f.t.Helper()
	tok := f.csrf("/console/login")
	st, body, loc := f.post("/console/login", url.Values{"csrf": {tok}, "key": {f.key}, "secret": {secret}})
	return st, body + loc
}

func TestSignInAndCSRF(t *testing.T) {
	f := newFixture(t)
	if st, _, loc := f.get("/console/environments"); st != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/login") {
		t.Fatalf("without a session: %d %s", st, loc)
	}
	if st, body := f.signIn("wrong"); st != http.StatusUnauthorized || !strings.Contains(body, "do not match") {
		t.Fatalf("wrong secret: %d %s", st, body)
	}
	if st, _, _ := f.get("/console/environments"); st != http.StatusSeeOther {
		t.Fatalf("a wrong secret opened a session: %d", st)
	}
	// The sign-in form needs its own token too.
	if st, _, _ := f.post("/console/login", url.Values{"key": {f.key}, "secret": {f.secret}}); st != http.StatusForbidden {
		t.Fatalf("sign-in without the form's token: %d", st)
	}
	st, loc := f.signIn(f.secret)
	if st != http.StatusSeeOther || loc != "/console/environments" {
		t.Fatalf("sign in: %d %s", st, loc)
	}
	u, _ := url.Parse(f.srv.URL + "/console/")
	var session *http.Cookie
	for _, c := range f.client.Jar.Cookies(u) {
		if c.Name == "pp_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	tok := f.csrf("/console/environments")
	if st, _, _ := f.post("/console/environments", url.Values{"name": {"prod"}}); st != http.StatusForbidden {
		t.Fatalf("POST without the CSRF token: %d", st)
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/console/environments", strings.NewReader(url.Values{"csrf": {tok}, "name": {"prod"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := f.client.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST from another origin: %v %v", resp.Status, err)
	}
	if st, _, loc := f.post("/console/environments", url.Values{"csrf": {tok}, "name": {"prod"}}); st != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/environments/env-") {
		t.Fatalf("create environment: %d %s", st, loc)
	}
	// Sign out ends the session on the server.
	f.post("/console/logout", url.Values{"csrf": {tok}})
	f.client.Jar.SetCookies(u, []*http.Cookie{session})
	if st, _, _ := f.get("/console/environments"); st != http.StatusSeeOther {
		t.Fatalf("after sign-out the old cookie still works: %d", st)
	}
}

func TestPagesAndPeeringForm(t *testing.T) {
	f := newFixture(t)
	f.signIn(f.secret)
	tok := f.csrf("/console/environments")
	_, _, envURL := f.post("/console/environments", url.Values{"csrf": {tok}, "name": {"prod"}})
	if st, body, _ := f.post(envURL+"/networks", url.Values{"csrf": {tok}, "name": {"net"}, "region": {"eastus"}, "cidr": {"10.10.0.0/24"}}); st != http.StatusBadRequest || !strings.Contains(body, "must be a /16") {
		t.Fatalf("bad CIDR: %d", st)
	}
	_, _, netURL := f.post(envURL+"/networks", url.Values{"csrf": {tok}, "name": {"net"}, "region": {"eastus"}, "cidr": {"10.10.0.0/16"}})
	if st, body, _ := f.get(netURL); st != http.StatusOK || !strings.Contains(body, "0 of 25 peerings") || !strings.Contains(body, "10.10.0.0/16") {
		t.Fatalf("network page: %d\n%s", st, body)
	}
	if st, body, _ := f.get(netURL + "/peerings/new"); st != http.StatusOK || !strings.Contains(body, `<option value="eastus" selected>`) {
		t.Fatalf("peering form: %d", st)
	}

	bad := url.Values{"csrf": {tok}, "name": {"contoso"}, "tenant": {"nope"}, "subscription": {"6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02"},
		"resource_group": {"rg."}, "vnet": {"v"}, "region": {"mars"}}
	st, body, _ := f.post(netURL+"/peerings", bad)
	if st != http.StatusBadRequest {
		t.Fatalf("bad peering: %d", st)
	}
	for _, want := range []string{`Tenant ID &#34;nope&#34; must be a GUID`, `must not end in &#39;.&#39;`, `VNet name &#34;v&#34; must be 2 to 64`, `Region &#34;mars&#34; is not a supported`} {
		if !strings.Contains(body, want) {
			t.Errorf("bad peering page lacks %s", want)
		}
	}
	envID := envURL[strings.LastIndex(envURL, "/")+1:]
	ctx := control.NewContextWithOrganization(context.Background(), mustOrg(t, f))
	if ps, _, _ := f.svc.FindPeerings(ctx, control.PeeringFilter{EnvironmentID: envID}, control.Page{}); len(ps) != 0 {
		t.Fatalf("bad input created %d peerings", len(ps))
	}
	good := url.Values{"csrf": {tok}, "name": {"contoso"}, "tenant": {"5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01"}, "subscription": {"6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02"},
		"resource_group": {"contoso-network"}, "vnet": {"contoso-vnet"}, "region": {"eastus"}}
	if st, _, loc := f.post(netURL+"/peerings", good); st != http.StatusSeeOther || loc != netURL {
		t.Fatalf("add peering: %d %s", st, loc)
	}
	// The same VNet again: the API's conflict, next to the VNet name.
	if st, body, _ := f.post(netURL+"/peerings", good); st != http.StatusConflict || !strings.Contains(body, "already has peering") {
		t.Fatalf("duplicate peering: %d", st)
	}
	ps, _, _ := f.svc.FindPeerings(ctx, control.PeeringFilter{EnvironmentID: envID}, control.Page{})
	if len(ps) != 1 || ps[0].VNet != "/subscriptions/6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02/resourceGroups/contoso-network/providers/Microsoft.Network/virtualNetworks/contoso-vnet" {
		t.Fatalf("peerings: %+v", ps)
	}
	peerURL := envURL + "/peerings/" + ps[0].ID
	if st, body, _ := f.get(peerURL); st != http.StatusOK || !strings.Contains(body, "Pending") {
		t.Fatalf("peering page: %d", st)
	}

	// The live stream pushes the row when the phase changes.
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+netURL+"/live", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := f.client.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("live: %v %v", resp, err)
	}
	defer resp.Body.Close()
	events := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			events <- sc.Text()
		}
		close(events)
	}()
	p := ps[0]
	p.Status = control.PeeringStatus{Phase: control.PhaseFailed, ErrorCode: control.PeeringAppNotConsented, ErrorMessage: "No consent. Do it."}
	time.Sleep(100 * time.Millisecond)
	if _, err := f.svc.UpdatePeeringStatus(context.Background(), p.ID, p.Status); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case line := <-events:
			if strings.Contains(line, "APP_NOT_CONSENTED") && strings.Contains(line, "Error") {
				goto pushed
			}
		case <-deadline:
			t.Fatal("the live stream did not push the Error row")
		}
	}
pushed:
	// Clusters: within and past the network's budget.
	if st, _, _ := f.post(netURL+"/clusters", url.Values{"csrf": {tok}, "name": {"orders"}, "availability": {"SINGLE_ZONE"}, "cku": {"4"}}); st != http.StatusSeeOther {
		t.Fatalf("create cluster: %d", st)
	}
	if st, body, _ := f.post(netURL+"/clusters", url.Values{"csrf": {tok}, "name": {"big"}, "availability": {"SINGLE_ZONE"}, "cku": {"61"}}); st != http.StatusPaymentRequired || !strings.Contains(body, "dedicated_ckus_per_network") {
		t.Fatalf("cluster over budget: %d", st)
	}
	if _, body, _ := f.get(netURL); !strings.Contains(body, "<strong>4</strong> of 64 CKUs") {
		t.Fatal("the network page does not show the CKUs used")
	}
	// Delete needs the name typed.
	if st, _, _ := f.post(peerURL+"/delete", url.Values{"csrf": {tok}, "confirm": {"nope"}}); st != http.StatusBadRequest {
		t.Fatalf("delete without confirmation: %d", st)
	}
	if st, _, loc := f.post(peerURL+"/delete", url.Values{"csrf": {tok}, "confirm": {"contoso"}}); st != http.StatusSeeOther || loc != netURL {
		t.Fatalf("delete: %d %s", st, loc)
	}
	if st, _, _ := f.get("/console/nope"); st != http.StatusNotFound {
		t.Fatalf("unknown page: %d", st)
	}
}

func mustOrg(t *testing.T, f *fixture) *control.Organization {
	org, err := f.svc.Authenticate(context.Background(), f.key, f.secret)
	if err != nil {
		t.Fatal(err)
	}
	return org
}

// TestSignInThrottle: after ten failed sign-ins with one API key the form
// refuses that key (429 with Retry-After), even with the right secret.
func TestSignInThrottle(t *testing.T) {
	f := newFixture(t)
	tries := 0
	for st := 0; st != http.StatusTooManyRequests; tries++ {
		if tries == 15 {
			t.Fatalf("15 failed sign-ins and still no 429 (last %d)", st)
		}
		st, _ = f.signIn("wrong")
	}
	if tries < 11 {
		t.Fatalf("refused after %d tries, want 10 allowed", tries)
	}
	st, body := f.signIn(f.secret)
	if st != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed sign-ins") {
		t.Fatalf("right secret while throttled: %d %s", st, body)
	}
	if st, _, _ := f.get("/console/environments"); st != http.StatusSeeOther {
		t.Fatalf("a throttled sign-in opened a session: %d", st)
	}
}
