package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	cmkv2 "github.com/confluentinc/ccloud-sdk-go-v2/cmk/v2"
	networkingv1 "github.com/confluentinc/ccloud-sdk-go-v2/networking/v1"
	orgv2 "github.com/confluentinc/ccloud-sdk-go-v2/org/v2"

	"github.com/peerplane/peerplane/internal/api"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const (
	// Not version 4, so normalize keeps them.
	tenantID = "5f1c2e3d-1111-1a2b-9c3d-0123456789ab"
	subID    = "0a1b2c3d-2222-1e5f-8a9b-abcdefabcdef"
)

func vnetID(rg, name string) string {
	return "/subscriptions/" + subID + "/resourceGroups/" + rg + "/providers/Microsoft.Network/virtualNetworks/" + name
}

// harness is an API server over real SQLite, with one organization.
type harness struct {
	t      *testing.T
	srv    *httptest.Server
	svc    *control.Service
	org    *control.Organization
	key    string
	secret string

	networking *networkingv1.APIClient
	cmk        *cmkv2.APIClient
	orgs       *orgv2.APIClient
}

// newHarness starts the server; each wire function sets up the service
// before the server starts (e.g. its Provider).
func newHarness(t *testing.T, wire ...func(*control.Service)) *harness {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "peerplane.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := control.NewService(db.Control(), control.DefaultSettings())
	for _, f := range wire {
		f(svc)
	}
	srv := httptest.NewServer(api.New(api.Options{Environments: svc, Networks: svc, Peerings: svc, Clusters: svc, Orgs: svc, Settings: svc, Connectors: svc, ClusterKeys: svc}))
	t.Cleanup(srv.Close)
	h := &harness{t: t, srv: srv, svc: svc}
	h.org, h.key, h.secret = h.newOrg("acme", true)

	ncfg := networkingv1.NewConfiguration()
	ncfg.Servers = networkingv1.ServerConfigurations{{URL: srv.URL}}
	h.networking = networkingv1.NewAPIClient(ncfg)
	ccfg := cmkv2.NewConfiguration()
	ccfg.Servers = cmkv2.ServerConfigurations{{URL: srv.URL}}
	h.cmk = cmkv2.NewAPIClient(ccfg)
	ocfg := orgv2.NewConfiguration()
	ocfg.Servers = orgv2.ServerConfigurations{{URL: srv.URL}}
	h.orgs = orgv2.NewAPIClient(ocfg)
	return h
}

// newOrg creates an organization (an operator one if operator) and a key.
func (h *harness) newOrg(name string, operator bool) (*control.Organization, string, string) {
	h.t.Helper()
	org := &control.Organization{DisplayName: name, Operator: operator}
	ctx := control.NewOperatorContext(context.Background())
	if err := h.svc.CreateOrganization(ctx, org); err != nil {
		h.t.Fatal(err)
	}
	k, secret, err := h.svc.CreateAPIKey(ctx, org.ID, "test")
	if err != nil {
		h.t.Fatal(err)
	}
	return org, k.Key, secret
}

// ctx returns a context carrying the harness's credentials for the SDKs.
func (h *harness) ctx() context.Context {
	ctx := context.Background()
	ctx = context.WithValue(ctx, networkingv1.ContextBasicAuth, networkingv1.BasicAuth{UserName: h.key, Password: h.secret})
	ctx = context.WithValue(ctx, cmkv2.ContextBasicAuth, cmkv2.BasicAuth{UserName: h.key, Password: h.secret})
	ctx = context.WithValue(ctx, orgv2.ContextBasicAuth, orgv2.BasicAuth{UserName: h.key, Password: h.secret})
	return ctx
}

// response is a raw HTTP exchange's result.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with the harness's key, or with auth ("key:secret",
// "" for none) when given.
func (h *harness) do(method, path string, body any, auth ...string) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	cred := h.key + ":" + h.secret
	if len(auth) > 0 {
		cred = auth[0]
	}
	if cred != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	}
	return h.send(req)
}

// send sends req and reads the whole response.
func (h *harness) send(req *http.Request) response {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// decode parses the response body into a generic map.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", r.status, err, r.body)
	}
	return m
}

// wantError checks the status and the Failure body's code and source.
func (r response) wantError(t *testing.T, status int, code, source string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d\n%s", r.status, status, r.body)
	}
	var f struct {
		Errors []struct {
			ID, Status, Code, Title, Detail string
			Source                          *struct{ Pointer, Parameter string }
		}
	}
	if err := json.Unmarshal(r.body, &f); err != nil || len(f.Errors) != 1 {
		t.Fatalf("not a Failure body (%v): %s", err, r.body)
	}
	e := f.Errors[0]
	if e.ID == "" || e.Status != fmt.Sprint(status) || e.Title == "" || e.Detail == "" {
		t.Fatalf("incomplete error: %s", r.body)
	}
	if e.Code != code {
		t.Fatalf("code %q, want %q: %s", e.Code, code, r.body)
	}
	got := ""
	if e.Source != nil {
		got = e.Source.Pointer + e.Source.Parameter
	}
	if got != source {
		t.Fatalf("source %q, want %q: %s", got, source, r.body)
	}
}

var (
	reTime   = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	reUUID   = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`)
	reIDs    = regexp.MustCompile(`\b(env|n|peer|lkc)-[a-z0-9]{6}\b`)
	reHost   = regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
	reToken  = regexp.MustCompile(`page_token=[A-Za-z0-9_-]+`)
	reSecret = regexp.MustCompile(`"secret":\s*"[A-Za-z0-9]{64}"`)
	reKey    = regexp.MustCompile(`\b[A-Z0-9]{16}\b`)
	// A cluster's private name ends its id with its network's suffix.
	rePrivate = regexp.MustCompile(`\b(lkc-[a-z0-9]{6})-[a-z0-9]{6}\.`)
)

// normalize replaces what changes from run to run (ids, times, the host)
// with stable placeholders, numbering ids by first appearance.
func normalize(body []byte) []byte {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return body
	}
	// List order follows random ids: sort items by display name.
	if m, ok := v.(map[string]any); ok {
		if data, ok := m["data"].([]any); ok {
			name := func(x any) string {
				o, _ := x.(map[string]any)
				if spec, ok := o["spec"].(map[string]any); ok {
					o = spec
				}
				s, _ := o["display_name"].(string)
				return s
			}
			sort.SliceStable(data, func(i, j int) bool { return name(data[i]) < name(data[j]) })
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(v)
	s := strings.TrimSuffix(buf.String(), "\n")
	s = reHost.ReplaceAllString(s, "https://api.test")
	s = reTime.ReplaceAllString(s, "2030-01-01T00:00:00Z")
	s = reToken.ReplaceAllString(s, "page_token=TOKEN")
	s = reSecret.ReplaceAllString(s, `"secret": "SECRET"`)
	s = rePrivate.ReplaceAllString(s, "$1-NETWRK.")
	seen := map[string]string{}
	number := func(re *regexp.Regexp, f func(m string, n int) string) {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			if r, ok := seen[m]; ok {
				return r
			}
			seen[m] = f(m, len(seen)+1)
			return seen[m]
		})
	}
	number(reUUID, func(m string, n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) })
	number(reIDs, func(m string, n int) string { return m[:strings.IndexByte(m, '-')+1] + fmt.Sprintf("%06d", n) })
	number(reKey, func(m string, n int) string { return fmt.Sprintf("KEY%013d", n) })
	return []byte(s + "\n")
}

// golden compares the normalized body with testdata/<test>.json (rewritten
// with -update). The status is asserted separately by the caller, so a
// blindly regenerated golden cannot hide a status regression.
func golden(t *testing.T, r response) {
	t.Helper()
	path := filepath.Join("testdata", filepath.FromSlash(t.Name())+".json")
	got := normalize(r.body)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the response:\n got %s\nwant %s", path, got, want)
	}
}
