package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/dataplane"
	"github.com/peerplane/peerplane/internal/dataplane/dataplanetest"
)

// TestDataplaneCrash SIGKILLs `peerplane serve` (the built binary) with
// the data plane on, with a host running and right after changes through
// ARM, restarts it on the same data directory, and checks that the
// namespaces, links, routes and rules are rebuilt exactly as a clean
// start builds them from the stored state: the crashed run's leftovers
// (its host too) removed, nothing duplicated, traffic flowing again. A
// clean stop leaves nothing, and the host namespace is unchanged.
func TestDataplaneCrash(t *testing.T) {
	s, prefix := newNetnsServer(t)
	e := attachE2E(t, s)

	// Customer VNets: a and b peered (both halves), c with one Initiated
	// half to b; a's subnet has a security group.
	vnetA := e.createVNet("contoso-network", "crash-a", "eastus", "10.71.0.0/16")
	nsg := e.createNSG("contoso-network", "crash-nsg")
	e.createSubnet(vnetA, "apps", "10.71.1.0/24", nsg)
	vnetB := e.createVNet("contoso-network", "crash-b", "eastus", "10.72.0.0/16")
	e.createSubnet(vnetB, "apps", "10.72.1.0/24", "")
	vnetC := e.createVNet("contoso-network", "crash-c", "eastus", "10.73.0.0/16")
	e.peerVNets(vnetA, vnetB, "a-b")
	e.peerVNets(vnetB, vnetA, "b-a")
	e.peerVNets(vnetC, vnetB, "c-b")

	// What a clean start builds.
	s.stop()
	dataplanetest.NoNamespaces(t, prefix)
	s.start()
	want := describeNamespaces(t, prefix)
	if len(want.names) != 2 {
		t.Fatalf("a clean start made %v, want the namespaces of crash-a and crash-b", want.names)
	}

	// A host runs; SIGKILL: everything is left behind.
	host := e.vnetExec(vnetA, "10.71.1.4", "sleep")
	out, _ := host.StdoutPipe()
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Process.Kill(); host.Wait() })
	if b := make([]byte, 5); func() bool { n, _ := out.Read(b); return string(b[:n]) != "ready" }() {
		t.Fatal("the host did not start")
	}
	s.kill()
	left := describeNamespaces(t, prefix)
	if len(left.names) != 3 {
		t.Fatalf("after SIGKILL: %v, want the two VNets and the host left behind", left.names)
	}
	host.Process.Kill()
	host.Wait()
	s.start()
	describeNamespaces(t, prefix).equal(t, "the restart after a SIGKILL", want)

	// Changes through ARM, then SIGKILL at once: the restart builds what a
	// clean start builds from the same stored state.
	vnetD := e.createVNet("contoso-network", "crash-d", "eastus", "10.74.0.0/16")
	e.peerVNets(vnetB, vnetD, "b-d")
	e.peerVNets(vnetD, vnetB, "d-b")
	e.deleteCustomerHalf(vnetC, "c-b")
	s.kill()
	s.start()
	crashed := describeNamespaces(t, prefix)
	s.stop()
	s.start()
	clean := describeNamespaces(t, prefix)
	crashed.equal(t, "the restart after a SIGKILL during changes", clean)
	if len(clean.names) != 3 {
		t.Fatalf("after peering crash-d: %v, want crash-a, crash-b and crash-d", clean.names)
	}

	// Traffic flows again, as the rules say.
	e.listen(vnetB, "10.72.1.10", 8080)
	if !e.dials(vnetA, "10.71.1.5", "10.72.1.10:8080") {
		t.Fatal("after the restarts, crash-a does not reach crash-b")
	}
	if e.dials(vnetD, "10.74.0.5", "10.71.1.10:8080") {
		t.Fatal("crash-d reaches crash-a through crash-b")
	}
	s.stop()
	dataplanetest.NoNamespaces(t, prefix)
}

// newNetnsServer starts the built binary as a server with the data plane
// on (SIGKILLed when the test ends, its leftovers cleaned up), and checks
// then that it left no namespace and changed nothing on the host. It
// returns the server and its namespaces' prefix.
func newNetnsServer(t *testing.T) (*serveProcess, string) {
	t.Helper()
	dataplanetest.Require(t)
	before := dataplanetest.Capture(t)
	s := newCrashServer(t, peerplaneBinary(t), "")
	s.args[len(s.args)-1] = dataplaneNetns
	prefix := dataplane.Prefix(s.dir)
	t.Cleanup(func() {
		s.kill()
		if err := dataplane.Cleanup(s.dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		dataplanetest.NoNamespaces(t, prefix)
		dataplanetest.Unchanged(t, before)
	})
	s.start()
	return s, prefix
}

// attachE2E returns the end-to-end clients for a server started as a
// process.
func attachE2E(t *testing.T, s *serveProcess) *e2e {
	e := &e2e{t: t, dir: s.dir}
	readJSONFile(t, filepath.Join(s.dir, "credentials.json"), &e.r.Credentials)
	readJSONFile(t, filepath.Join(s.dir, "provider.json"), &e.r.Provider)
	var eps struct {
		APIURL string `json:"api_url"`
		URL    string `json:"url"`
		CAFile string `json:"ca_file"`
	}
	readJSONFile(t, filepath.Join(s.dir, "endpoints.json"), &eps)
	e.r.APIURL, e.r.AzureURL, e.r.CAFile = eps.APIURL, eps.URL, eps.CAFile
	e.connect()
	return e
}

// nsState is what the namespaces named with a prefix hold: their names
// and, for each, its interfaces, routes (next hops, which are numbered
// in the order namespaces were made, as "R") and nftables ruleset.
type nsState struct {
	names []string
	state map[string]string
}

var routerAddrRE = regexp.MustCompile(`169\.254\.\d+\.\d+`)

func describeNamespaces(t *testing.T, prefix string) nsState {
	t.Helper()
	ents, _ := os.ReadDir("/run/netns")
	st := nsState{state: map[string]string{}}
	for _, en := range ents {
		if !strings.HasPrefix(en.Name(), prefix+"-") {
			continue
		}
		ns := en.Name()
		st.names = append(st.names, ns)
		var b strings.Builder
		for _, args := range [][]string{{"ip", "-n", ns, "-br", "link"}, {"ip", "-n", ns, "route"}, {"ip", "netns", "exec", ns, "nft", "list", "ruleset"}} {
			out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
			}
			lines := strings.Split(routerAddrRE.ReplaceAllString(string(out), "R"), "\n")
			for i, l := range lines {
				if f := strings.Fields(l); len(f) > 2 && args[3] == "-br" {
					name, _, _ := strings.Cut(f[0], "@") // not the peer's index, nor the random MAC
					lines[i] = name + " " + f[1]
				}
			}
			slices.Sort(lines)
			b.WriteString(strings.Join(lines, "\n") + "\n")
		}
		st.state[ns] = b.String()
	}
	slices.Sort(st.names)
	return st
}

func (s nsState) equal(t *testing.T, what string, want nsState) {
	t.Helper()
	if !slices.Equal(s.names, want.names) {
		t.Fatalf("%s: namespaces %v, want %v", what, s.names, want.names)
	}
	for _, n := range s.names {
		if s.state[n] != want.state[n] {
			t.Fatalf("%s: namespace %s holds\n%s\nwant\n%s", what, n, s.state[n], want.state[n])
		}
	}
}
