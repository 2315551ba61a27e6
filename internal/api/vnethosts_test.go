package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/api"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/netcheck"
	"github.com/peerplane/peerplane/internal/reach"
)

// TestReachabilityProbe checks probe=true: without a data plane the probe
// says NOT_PROBED; with one, agrees compares its outcome with the verdict;
// a bad value is a 400 naming it.
func TestReachabilityProbe(t *testing.T) {
	h := newReachHarness(t)
	r := h.reach("environment", h.env, "source", "10.1.0.4", "destination", h.cluster, "probe", "true")
	m := r.json(t)
	p, _ := m["probe"].(map[string]any)
	if r.status != 200 || p["outcome"] != "NOT_PROBED" || p["agrees"] != nil {
		t.Fatalf("no data plane: %d %s", r.status, r.body)
	}
	h.reach("environment", h.env, "source", "10.1.0.4", "destination", h.cluster, "probe", "maybe").wantError(t, 400, "invalid_parameter", "probe")
	if m := h.reach("environment", h.env, "source", "10.1.0.4", "destination", h.cluster).json(t); m["probe"] != nil {
		t.Fatalf("a probe without probe=true: %v", m["probe"])
	}

	var asked reach.Query
	h.srv = httptest.NewServer(api.New(api.Options{Environments: h.svc, Networks: h.svc, Peerings: h.svc, Clusters: h.svc, Orgs: h.svc,
		Reachability: &netcheck.Checker{Environments: h.svc, Networks: h.svc, Clusters: h.svc, Peerings: h.svc,
			Snapshot: func(context.Context, reach.World) (*reach.Snapshot, error) { s := h.snap; return &s, nil }},
		Probe: func(ctx context.Context, q reach.Query, res *reach.Result) *reach.Probe {
			asked = q
			return &reach.Probe{Outcome: reach.ProbeConnected, Reached: true, Detail: "connected"}
		}}))
	t.Cleanup(h.srv.Close)
	for _, tt := range []struct {
		source string
		agrees bool
	}{{"10.1.0.4", true}, {"10.2.0.4", false}} {
		m := h.reach("environment", h.env, "source", tt.source, "destination", h.cluster, "probe", "1").json(t)
		p, _ := m["probe"].(map[string]any)
		if p["outcome"] != "CONNECTED" || p["agrees"] != tt.agrees {
			t.Fatalf("%s (%v): probe %v", tt.source, m["verdict"], p)
		}
	}
	if asked.Source.String() != "10.2.0.4" || asked.Cluster != h.cluster {
		t.Fatalf("the prober got %+v", asked)
	}
}

// fakeHosts hands out one host per claim and records releases.
type fakeHosts struct {
	done     chan struct{}
	released chan string
	err      error
}

func (f *fakeHosts) ClaimHost(ctx context.Context, req api.HostRequest) (*api.HostClaim, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &api.HostClaim{IP: req.IP, VNet: req.VNet, VNetName: "v", NetNS: "/run/netns/x", Done: f.done,
		Err: func() error { return errors.New("VNet v was deleted") }, Release: func() { f.released <- req.IP }}, nil
}

// TestVNetHosts checks the claim stream: 404 without a data plane, 400
// naming vnet, the claim's error as is; the host as the first line, held
// until the client hangs up (then released), or ended by the server with
// a released line.
func TestVNetHosts(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/peerplane/v1/vnet-hosts", map[string]string{"vnet": "rg/v"}).wantError(t, 404, "not_found", "")

	f := &fakeHosts{done: make(chan struct{}), released: make(chan string, 4)}
	h.srv = httptest.NewServer(api.New(api.Options{Environments: h.svc, Networks: h.svc, Peerings: h.svc, Clusters: h.svc, Orgs: h.svc, VNetHosts: f}))
	t.Cleanup(h.srv.Close)
	h.do("POST", "/peerplane/v1/vnet-hosts", map[string]string{"ip": "10.1.0.4"}).wantError(t, 422, "invalid_configuration", "/vnet")
	f.err = control.FieldErrorf(control.ECONFLICT, "/ip", "10.1.0.4 is already in use.")
	h.do("POST", "/peerplane/v1/vnet-hosts", map[string]string{"vnet": "rg/v", "ip": "10.1.0.4"}).wantError(t, 409, "resource_already_exists", "/ip")
	f.err = nil

	claim := func(ip string) (*http.Response, *bufio.Reader, context.CancelFunc) {
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, "POST", h.srv.URL+"/peerplane/v1/vnet-hosts", strings.NewReader(`{"vnet":"rg/v","ip":"`+ip+`"}`))
		req.SetBasicAuth(h.key, h.secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("claim: %v %v", err, resp)
		}
		rd := bufio.NewReader(resp.Body)
		var host struct{ IP, NetNS string }
		line, _ := rd.ReadBytes('\n')
		if json.Unmarshal(line, &host) != nil || host.IP != ip || host.NetNS != "/run/netns/x" {
			t.Fatalf("first line: %s", line)
		}
		return resp, rd, cancel
	}
	// The client hangs up: the host is released.
	resp, _, cancel := claim("10.1.0.4")
	select {
	case ip := <-f.released:
		t.Fatalf("released %s while the client holds it", ip)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	resp.Body.Close()
	select {
	case ip := <-f.released:
		if ip != "10.1.0.4" {
			t.Fatalf("released %s", ip)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the host outlived its request")
	}
	// The server ends it.
	resp, rd, cancel := claim("10.1.0.5")
	defer cancel()
	defer resp.Body.Close()
	close(f.done)
	line, _ := rd.ReadBytes('\n')
	if !strings.Contains(string(line), `"released":"VNet v was deleted"`) {
		t.Fatalf("last line: %s", line)
	}
	if ip := <-f.released; ip != "10.1.0.5" {
		t.Fatalf("released %s", ip)
	}
}
