package cli

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/api"
	"github.com/peerplane/peerplane/internal/reach"
	"github.com/peerplane/peerplane/internal/reach/reachtest"
)

// reachServer is the real API over SQLite answering reachability from
// reachtest's world, and the client environment that talks to it.
func reachServer(t *testing.T) (*reachtest.World, map[string]string) {
	t.Helper()
	svc, org, key, secret := reachtest.Service(t)
	w := reachtest.New(t, svc, org)
	srv := httptest.NewServer(api.New(api.Options{Environments: svc, Networks: svc, Peerings: svc, Clusters: svc, Orgs: svc, Reachability: w.Checker}))
	t.Cleanup(srv.Close)
	return w, map[string]string{"PEERPLANE_URL": srv.URL, "PEERPLANE_API_KEY": key, "PEERPLANE_API_SECRET": secret}
}

func TestNetworkReach(t *testing.T) {
	w, env := reachServer(t)

	// REACHABLE: exit 0, the path through the one peering, the checks.
	out, _, err := run(t, env, "network", "reach", "--environment", w.Env, "--source", reachtest.ContosoVM, "--destination", w.Cluster)
	if err != nil {
		t.Fatalf("reachable: %v\n%s", err, out)
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "REACHABLE: 10.1.0.4 (VNet contoso-vnet) → "+w.Cluster+" 10.200.1.10 (VNet "+w.Network+"), TCP port 9092") {
		t.Errorf("first line: %q", lines[0])
	}
	for _, want := range []string{
		"Path: contoso-vnet → peering contoso-to-provider (Connected/Connected) → " + w.Network + "\n",
		"\nChecks:\n", " Check ", " Component ", " Result ", " Detail", "| contoso-nsg ", "| PASS ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("reachable output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Blocked by") || strings.Contains(out, "/subscriptions/") {
		t.Errorf("reachable output:\n%s", out)
	}

	// UNREACHABLE across two peerings: the report, the cause and the fix,
	// exit 2 and no error text of its own.
	out, _, err = run(t, env, "network", "reach", "--environment", w.Env, "--source", reachtest.SpokeVM, "--destination", w.Cluster, "--port", "9092")
	if ExitCode(err) != ExitUnreachable {
		t.Fatalf("unreachable: err = %v, want exit %d\n%s", err, ExitUnreachable, out)
	}
	if !strings.HasPrefix(out, "UNREACHABLE: 10.2.0.4 (VNet spoke-vnet) → ") {
		t.Errorf("first line:\n%s", out)
	}
	for _, want := range []string{
		"Path: spoke-vnet → peering spoke-to-contoso (Connected/Connected) → contoso-vnet → peering contoso-to-provider (Connected/Connected) → " + w.Network,
		"| FAIL ", "\nBlocked by: TRANSITIVE_PEERING_NOT_SUPPORTED — ", "\nComponent: " + reachtest.VNetID("contoso-vnet") + "\n", "\nFix: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("unreachable output lacks %q:\n%s", want, out)
		}
	}

	// -o json is the API's object, and the exit status still says UNREACHABLE.
	out, _, err = run(t, env, "network", "reach", "--environment", w.Env, "--source", reachtest.SpokeVM, "--destination", reachtest.ClusterIP,
		"--port", "9092", "--protocol", "udp", "-o", "json")
	if ExitCode(err) != ExitUnreachable {
		t.Fatalf("json: err = %v", err)
	}
	var res reach.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	if res.Verdict != reach.Unreachable || res.Protocol != "UDP" || res.Port != 9092 || res.BlockedBy == nil ||
		res.BlockedBy.Code != reach.CodeTransitivePeering || len(res.Hops) != 5 || len(res.Checks) == 0 {
		t.Errorf("json: %+v", res)
	}
	out, _, err = run(t, env, "network", "reach", "--environment", w.Env, "--source", reachtest.ContosoVM, "--destination", w.Cluster, "-o", "yaml")
	if err != nil || !strings.Contains(out, "\nverdict: REACHABLE\n") || !strings.Contains(out, "\nhops:\n") {
		t.Errorf("yaml: %v\n%s", err, out)
	}

	// AMBIGUOUS: a second VNet with spoke-vnet's address space; exit 3.
	dup := reachtest.VNetID("spoke-copy")
	w.Snapshot.VirtualNetworks = append(w.Snapshot.VirtualNetworks, reach.VNet{ID: dup, Name: "spoke-copy", AddressPrefixes: []string{"10.2.0.0/16"}})
	w.Snapshot.Peerings = append(w.Snapshot.Peerings,
		reach.Peering{ID: dup + "/virtualNetworkPeerings/p", Name: "p", VNetID: dup, RemoteVNetID: w.ProviderVNet, PeeringState: reach.PeeringConnected, AllowVirtualNetworkAccess: true},
		reach.Peering{ID: w.ProviderVNet + "/virtualNetworkPeerings/p", Name: "p", VNetID: w.ProviderVNet, RemoteVNetID: dup, PeeringState: reach.PeeringConnected, AllowVirtualNetworkAccess: true})
	out, _, err = run(t, env, "network", "reach", "--environment", w.Env, "--source", reachtest.SpokeVM, "--destination", w.Cluster)
	if ExitCode(err) != ExitAmbiguous || !strings.HasPrefix(out, "AMBIGUOUS: ") || !strings.Contains(out, "spoke-copy") {
		t.Errorf("ambiguous: %v\n%s", err, out)
	}

	// An NSG rule that denies the port: the rule is named.
	w.Snapshot.NSGs[0].SecurityRules = []reach.SecurityRule{{Name: "DenyKafka", Priority: 100, Direction: "Outbound", Access: "Deny", Protocol: "Tcp",
		SourceAddressPrefixes: []string{"*"}, DestinationAddressPrefixes: []string{"10.200.0.0/16"}, SourcePortRanges: []string{"*"}, DestinationPortRanges: []string{"9092"}}}
	out, _, err = run(t, env, "network", "reach", "--environment", w.Env, "--source", reachtest.ContosoVM, "--destination", w.Cluster)
	if ExitCode(err) != ExitUnreachable || !strings.Contains(out, "Blocked by: NSG_DENY — ") || !strings.Contains(out, "DenyKafka") {
		t.Errorf("nsg: %v\n%s", err, out)
	}
}

func TestNetworkReachErrors(t *testing.T) {
	w, env := reachServer(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		// The API's 400 names the parameter.
		{[]string{"--source", "my-vm", "--destination", w.Cluster}, `Source "my-vm" is not an IP address. (field source; 400 invalid_parameter)`},
		{[]string{"--source", "10.1.0.4", "--destination", "lkc-nope00"}, "field destination"},
		{[]string{"--source", "10.1.0.4", "--destination", reachtest.ClusterIP}, "field port"},
		{[]string{"--source", "10.1.0.4", "--destination", w.Cluster, "--protocol", "sctp"}, "field protocol"},
		// Flags.
		{[]string{"--destination", w.Cluster}, `"source"`},
		{[]string{"--source", "10.1.0.4", "--destination", w.Cluster, "--port", "http"}, `"--port"`},
	} {
		out, _, err := run(t, env, append([]string{"network", "reach", "--environment", w.Env}, tc.args...)...)
		if err == nil || ExitCode(err) != ExitError || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %s", tc.args, err, tc.want)
		}
		if out != "" {
			t.Errorf("%v printed %q", tc.args, out)
		}
	}
	// An environment of another organization, or none, is the API's field error too.
	_, _, err := run(t, env, "network", "reach", "--environment", "env-nope00", "--source", "10.1.0.4", "--destination", w.Cluster)
	if err == nil || !strings.Contains(err.Error(), "field environment") {
		t.Errorf("unknown environment: %v", err)
	}
}
