package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"

	"github.com/peerplane/peerplane/internal/dataplane"
	"github.com/peerplane/peerplane/internal/dataplane/dataplanetest"
	"github.com/peerplane/peerplane/internal/reach"
)

// Real processes in the data plane's namespaces: `peerplane vnet exec`
// (the built binary) runs this test binary as a helper (TestVNetHelper):
// "listen" answers "hi" on each port given, "dial" connects once and
// exits 0 when it read "hi", 3 when it could not connect.

const helperEnv = "PEERPLANE_TEST_VNET_HELPER"

// TestVNetHelper is not a test: it is the program vnet exec runs.
func TestVNetHelper(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("the helper process of the data plane's end-to-end tests")
	}
	verb, arg, _ := strings.Cut(mode, " ")
	switch verb {
	case "listen":
		for _, port := range strings.Fields(arg) {
			ln, err := net.Listen("tcp", net.JoinHostPort(os.Getenv("PEERPLANE_VNET_IP"), port))
			if err != nil {
				fmt.Println("listen:", err)
				os.Exit(2)
			}
			go dataplanetest.Answer(ln)
		}
		fmt.Println("listening on", os.Getenv("PEERPLANE_VNET_IP"))
		select {}
	case "dial":
		c, err := net.DialTimeout("tcp", arg, 2*time.Second)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(3)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil || string(b) != dataplanetest.Greeting {
			fmt.Printf("read %q: %v\n", b, err)
			os.Exit(2)
		}
		fmt.Println("connected from", os.Getenv("PEERPLANE_VNET_IP"))
		os.Exit(0)
	case "sleep":
		fmt.Println("ready", os.Getenv("PEERPLANE_VNET_IP"), os.Getenv("PEERPLANE_VNET_CLAIM_FD"))
		select {}
	case "httpsink":
		httpSinkHelper(arg)
	default:
		kafkaHelper(verb, arg) // kafka_e2e_test.go; exits when it knows verb
	}
	os.Exit(2)
}

// startDataplaneE2E starts Serve with the data plane on (its
// configuration changed by each of with), and checks when the test ends
// that it left no namespace and changed nothing on the host.
func startDataplaneE2E(t *testing.T, with ...func(*ServeConfig)) *e2e {
	t.Helper()
	dataplanetest.Require(t)
	before := dataplanetest.Capture(t)
	dir := t.TempDir()
	t.Cleanup(func() {
		dataplanetest.NoNamespaces(t, dataplane.Prefix(dir))
		dataplanetest.Unchanged(t, before)
	})
	return startE2E(t, dir, append([]func(*ServeConfig){func(c *ServeConfig) { c.Dataplane = dataplaneNetns }}, with...)...)
}

// vnetExec is `peerplane vnet exec --vnet vnet [--ip ip] -- <helper>`.
func (e *e2e) vnetExec(vnet, ip, helper string, extra ...string) *exec.Cmd {
	args := []string{"vnet", "exec", "--vnet", vnet}
	if ip != "" {
		args = append(args, "--ip", ip)
	}
	args = append(args, extra...)
	args = append(args, "--", os.Args[0], "-test.run=^TestVNetHelper$")
	cmd := exec.Command(peerplaneBinary(e.t), args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+helper, "PEERPLANE_URL="+e.r.APIURL,
		"PEERPLANE_API_KEY="+e.r.Credentials.APIKey, "PEERPLANE_API_SECRET="+e.r.Credentials.APISecret, "PEERPLANE_CONFIG="+filepath.Join(e.dir, "no-config.json"))
	return cmd
}

// dials reports whether a host at ip in vnet connects to target.
func (e *e2e) dials(vnet, ip, target string) bool {
	e.t.Helper()
	out, err := e.vnetExec(vnet, ip, "dial "+target).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true
	case errors.As(err, &ee) && ee.ExitCode() == 3:
		return false
	}
	e.t.Fatalf("vnet exec --vnet %s --ip %s dial %s: %v\n%s", vnet, ip, target, err, out)
	return false
}

// listen starts a host at ip in vnet answering on ports, until the test
// ends (the process is killed: its host must go with it).
func (e *e2e) listen(vnet, ip string, ports ...int) *exec.Cmd {
	e.t.Helper()
	var ps []string
	for _, p := range ports {
		ps = append(ps, fmt.Sprint(p))
	}
	cmd := e.vnetExec(vnet, ip, "listen "+strings.Join(ps, " "))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if !strings.HasPrefix(line, "listening on "+ip) {
		e.t.Fatalf("vnet exec listen at %s in %s: %q", ip, vnet, line)
	}
	return cmd
}

// probe asks the reachability route with probe=true; the probe syncs the
// data plane with Azure's state first, and must agree with the verdict.
func (e *e2e) probe(env, src, dst string, port int) reach.Result {
	e.t.Helper()
	q := url.Values{"environment": {env}, "source": {src}, "destination": {dst}, "port": {fmt.Sprint(port)}, "probe": {"true"}}
	var res reach.Result
	if code := e.peerplane("GET", "/peerplane/v1/reachability?"+q.Encode(), nil, &res); code != http.StatusOK {
		e.t.Fatalf("reachability %s → %s probe: %d %+v", src, dst, code, res)
	}
	if res.Probe == nil || res.Probe.Agrees == nil || !*res.Probe.Agrees {
		e.t.Fatalf("%s → %s:%d: the probe does not agree with the verdict %s (%+v): %+v", src, dst, port, res.Verdict, res.BlockedBy, res.Probe)
	}
	return res
}

// TestE2EDataplane follows a peering's lifecycle with real connections
// from a host in the customer's VNet to a host in the provider network's
// VNet: none before READY, one once READY, none once the customer deletes
// their half (DISCONNECTED), one after the retry, none after the peering
// is deleted. A VNet peered only with the customer's (forwarded traffic
// and gateway transit on) reaches neither the network nor through it, and
// an inbound deny rule on the destination subnet blocks its port until it
// is removed. Every step is also asked with probe=true.
func TestE2EDataplane(t *testing.T) {
	e := startDataplaneE2E(t)
	env := e.createEnv("dataplane")
	n := e.createNetwork(env, "dp-net", "eastus", "10.40.0.0/16")
	network := n.GetId()
	e.consent()
	e.putRole(e2eRoleActions...)
	vnetA := e.grantVNet("dp-a", "eastus", env, "10.41.0.0/16")
	nsg := e.createNSG("contoso-network", "dp-apps-nsg")
	e.createSubnet(vnetA, "apps", "10.41.1.0/24", nsg)
	vnetB := e.createVNet("contoso-network", "dp-b", "eastus", "10.42.0.0/16")
	e.tag(vnetB, env)
	e.createSubnet(vnetB, "default", "10.42.0.0/24", "")

	const provHost, custHost, custServer, transitHost = "10.40.1.10", "10.41.1.4", "10.41.1.20", "10.42.0.4"
	kafka := provHost + ":9092"
	e.listen(network, provHost, 9092)
	e.listen(vnetA, custServer, 8443)

	// Before the peering: no path.
	if e.dials(vnetA, custHost, kafka) {
		t.Fatal("the customer VNet reaches the network before any peering")
	}
	id := e.createPeering(env, network, "dp", vnetA, "eastus")
	e.waitPeering(env, id, "READY")
	if res := e.probe(env, custHost, provHost, 9092); res.Verdict != reach.Reachable || res.Probe.Outcome != reach.ProbeConnected {
		t.Fatalf("READY: %s, probe %+v", res.Verdict, res.Probe)
	}
	if !e.dials(vnetA, custHost, kafka) {
		t.Fatal("READY: the customer VNet does not reach the network")
	}
	// The CLI shows the probe next to the verdict.
	cli := exec.Command(peerplaneBinary(t), "network", "reach", "--environment", env, "--source", custHost, "--destination", provHost, "--port", "9092", "--probe")
	cli.Env = e.vnetExec("", "", "").Env
	if out, err := cli.CombinedOutput(); err != nil || !strings.Contains(string(out), "Probe: CONNECTED") || !strings.Contains(string(out), "agrees with the verdict") {
		t.Fatalf("peerplane network reach --probe: %v\n%s", err, out)
	}

	// A VNet peered only with the customer's: no transit, whatever the
	// flags say.
	e.peerVNets(vnetA, vnetB, "a-to-b")
	e.peerVNets(vnetB, vnetA, "b-to-a")
	res := e.probe(env, transitHost, provHost, 9092)
	wantBlocked(t, res, reach.CodeTransitivePeering, "dp-a")
	if res.Probe.Reached {
		t.Fatalf("transitive: the probe got through: %+v", res.Probe)
	}
	if e.dials(vnetB, transitHost, kafka) {
		t.Fatal("a VNet peered only with the customer's reaches the network through it")
	}
	if !e.dials(vnetB, transitHost, custServer+":8443") {
		t.Fatal("the VNet peered with the customer's does not reach it")
	}

	// An inbound deny rule on the destination subnet, above the default
	// rules, blocks its port; its removal restores it.
	if !e.dials(network, "10.40.1.11", custServer+":8443") {
		t.Fatal("the network does not reach the customer's server")
	}
	e.putRule(nsg, "deny-8443", armnetwork.SecurityRulePropertiesFormat{
		Priority: to.Ptr[int32](100), Direction: to.Ptr(armnetwork.SecurityRuleDirectionInbound),
		Access: to.Ptr(armnetwork.SecurityRuleAccessDeny), Protocol: to.Ptr(armnetwork.SecurityRuleProtocolTCP),
		SourceAddressPrefix: to.Ptr("*"), SourcePortRange: to.Ptr("*"),
		DestinationAddressPrefix: to.Ptr("*"), DestinationPortRange: to.Ptr("8443"),
	})
	wantBlocked(t, e.probe(env, "10.40.1.11", custServer, 8443), reach.CodeNSGDeny, "deny-8443")
	if e.dials(network, "10.40.1.11", custServer+":8443") {
		t.Fatal("the inbound deny rule does not block the port")
	}
	e.deleteRule(nsg, "deny-8443")
	if res := e.probe(env, "10.40.1.11", custServer, 8443); res.Verdict != reach.Reachable {
		t.Fatalf("after deleting the rule: %s %+v", res.Verdict, res.BlockedBy)
	}
	if !e.dials(network, "10.40.1.11", custServer+":8443") {
		t.Fatal("the port stays blocked after the rule is deleted")
	}

	// The customer deletes their half: DISCONNECTED, no path; the retry
	// restores it.
	e.deleteCustomerHalf(vnetA, id)
	e.waitPeering(env, id, "DISCONNECTED")
	if res := e.probe(env, custHost, provHost, 9092); res.Verdict != reach.Unreachable {
		t.Fatalf("DISCONNECTED: %s", res.Verdict)
	}
	if e.dials(vnetA, custHost, kafka) {
		t.Fatal("DISCONNECTED: the customer VNet still reaches the network")
	}
	e.retry(env, id)
	e.waitPeering(env, id, "READY")
	e.probe(env, custHost, provHost, 9092)
	if !e.dials(vnetA, custHost, kafka) {
		t.Fatal("READY again: the customer VNet does not reach the network")
	}

	// Deleted: no path. The customer's VNet is no longer the
	// environment's to see, so the model does not place it and nothing is
	// probed.
	e.deletePeering(env, id)
	e.waitPeering(env, id, "404")
	var gone reach.Result
	e.peerplane("GET", "/peerplane/v1/reachability?"+url.Values{"environment": {env}, "source": {custHost}, "destination": {provHost},
		"port": {"9092"}, "probe": {"true"}}.Encode(), nil, &gone)
	if gone.Verdict != reach.Unreachable || gone.Probe == nil || gone.Probe.Outcome != reach.ProbeSkipped {
		t.Fatalf("deleted: %s, probe %+v", gone.Verdict, gone.Probe)
	}
	if e.dials(vnetA, custHost, kafka) {
		t.Fatal("the customer VNet reaches the network after the peering was deleted")
	}
}

// TestE2EVNetExec checks `peerplane vnet exec` as a user runs it: the
// command gets its address and exit status; its host is gone when it
// exits, or when it (the peerplane process, which it became) is
// SIGKILLed; bad requests are 4xx naming the field; an organization
// places hosts only where it may.
func TestE2EVNetExec(t *testing.T) {
	e := startDataplaneE2E(t)
	prefix := dataplane.Prefix(e.dir)
	hostNS := func(ip string) bool {
		ents, _ := os.ReadDir("/run/netns")
		for _, en := range ents {
			if strings.HasPrefix(en.Name(), prefix+"-h-"+ip+"-") {
				return true
			}
		}
		return false
	}
	waitGone := func(ip string) {
		t.Helper()
		for deadline := time.Now().Add(e2eWait); hostNS(ip); {
			if time.Now().After(deadline) {
				t.Fatalf("the host %s outlived its command", ip)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	const vnet = "contoso-network/contoso-vnet"

	// Its address, and its exit status.
	cmd := e.vnetExec(vnet, "", "sleep")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "ready" || f[1] != "10.1.0.4" {
		t.Fatalf("vnet exec without --ip: %q, want the first free address 10.1.0.4", line)
	}
	if !hostNS("10.1.0.4") {
		t.Fatal("no namespace for the running host")
	}
	// SIGKILL: the claim's connection closes with the process.
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	waitGone("10.1.0.4")

	c := e.vnetExec(vnet, "10.1.1.9", "dial 10.1.1.9:1")
	err := c.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("vnet exec's exit status is not the command's: %v", err)
	}
	waitGone("10.1.1.9")

	// Bad requests: 4xx naming the field, nothing made.
	for _, bad := range []struct {
		vnet, ip, want string
	}{
		{vnet, "10.1.0.3", "reserves"},
		{vnet, "10.1.9.9", "no subnet"},
		{vnet, "10.1.0.x", "field /ip"},
		{"contoso-network/no-such-vnet", "", "field /vnet"},
		{"n-nope", "", "field /vnet"},
	} {
		out, err := e.vnetExec(bad.vnet, bad.ip, "dial 10.1.0.4:1").CombinedOutput()
		if err == nil || !strings.Contains(string(out), bad.want) {
			t.Errorf("vnet exec --vnet %s --ip %s: %v, want an error with %q:\n%s", bad.vnet, bad.ip, err, bad.want, out)
		}
	}
	// A taken address is a conflict.
	e.listen(vnet, "10.1.0.10", 80)
	if out, err := e.vnetExec(vnet, "10.1.0.10", "dial 10.1.0.10:80").CombinedOutput(); err == nil || !strings.Contains(string(out), "already in use") {
		t.Errorf("a taken address: %v\n%s", err, out)
	}

	// Another organization may place hosts only in its own networks'
	// VNets and in VNets tagged with its environments.
	var org struct{ ID string }
	if code := e.peerplane("POST", "/peerplane/v1/organizations", map[string]string{"display_name": "other"}, &org); code != http.StatusCreated {
		t.Fatalf("create organization: %d", code)
	}
	var key struct{ ID, Secret string }
	if code := e.peerplane("POST", "/peerplane/v1/organizations/"+org.ID+"/api-keys", map[string]string{}, &key); code != http.StatusCreated || key.Secret == "" {
		t.Fatalf("create api key: %d", code)
	}
	other := *e
	other.r.Credentials.APIKey, other.r.Credentials.APISecret = key.ID, key.Secret
	if out, err := other.vnetExec(vnet, "", "dial 10.1.0.4:1").CombinedOutput(); err == nil || !strings.Contains(string(out), "may place hosts in") {
		t.Fatalf("another organization placed a host in an untagged customer VNet: %v\n%s", err, out)
	}
	// Its own network's provider VNet is its to use; once the customer
	// tags their VNet with its environment, that VNet too.
	oenv := other.createEnv("other-env")
	on := other.createNetwork(oenv, "other-net", "eastus", "10.60.0.0/16")
	other.listen(on.GetId(), "10.60.1.10", 80)
	e.tag(vnetIDOf("contoso-network", "contoso-vnet"), oenv)
	if !other.dials(vnet, "", "10.1.0.10:80") {
		t.Fatal("a host of the other organization in the tagged VNet does not reach a host of the same subnet")
	}
}
