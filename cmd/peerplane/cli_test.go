package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/cli"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/reconcile"
)

// The peerplane binary the CLI tests run, built once per test process
// from this package: what the tests run is what users run (a test binary
// behaves differently: azcore, for one, allows sub-second polling only
// inside one).
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// TestMain removes the binary after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// peerplaneBinary builds cmd/peerplane on first use and returns its path.
func peerplaneBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "peerplane-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "peerplane")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/peerplane: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// isolatedEnv is the environment of a command the tests run as a user
// would: PATH, a HOME of its own, and a dead proxy for everything but
// loopback, so that a client that tries to reach the internet (az's
// telemetry, discovery) fails at once instead of leaking. Nothing else of
// the test's environment (no PEERPLANE_*) gets through.
func isolatedEnv(home string) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LC_ALL=C.UTF-8", "TMPDIR=" + os.TempDir(),
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1,localhost"}
}

// cliRunner runs the peerplane binary as a process, as a user would in a
// shell, with an isolated HOME and config file.
type cliRunner struct {
	bin, home string
	env       map[string]string // on top of isolatedEnv(home)
}

func newCLIRunner(t *testing.T, dataDir string) *cliRunner {
	home := t.TempDir()
	return &cliRunner{bin: peerplaneBinary(t), home: home, env: map[string]string{
		"PEERPLANE_CONFIG":   filepath.Join(home, "peerplane", "config.json"),
		"PEERPLANE_DATA_DIR": dataDir,
	}}
}

// exec runs `peerplane args...` and returns its stdout, stderr and exit
// status. A process that cannot start, or runs past two minutes, fails t.
func (r *cliRunner) exec(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	env := isolatedEnv(r.home)
	for k, v := range r.env {
		env = append(env, k+"="+v)
	}
	return runProcess(t, 2*time.Minute, "", env, r.bin, args...)
}

// runProcess runs name with args in dir ("" for the test's) with env and
// returns its stdout, stderr and exit status. A process that cannot start,
// or runs past limit, fails t.
func runProcess(t *testing.T, limit time.Duration, dir string, env []string, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	what := filepath.Base(name) + " " + strings.Join(args, " ")
	if i := strings.IndexByte(what, '\n'); i >= 0 {
		what = what[:i] + " …" // a script given with -c: its first line
	}
	t.Logf("%s (%.2fs)", what, time.Since(start).Seconds())
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", what, ctx.Err(), &out, &errb)
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", what, err)
	}
	return out.String(), errb.String(), 0
}

// run runs a command that must exit 0 and returns its stdout.
func (r *cliRunner) run(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, code := r.exec(t, args...)
	if code != 0 {
		t.Fatalf("peerplane %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, stderr)
	}
	return out
}

// runJSON runs a command with -o json and decodes its stdout.
func (r *cliRunner) runJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := r.run(t, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("peerplane %s -o json: not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// fail runs a command that must exit with status code and returns its
// stdout and its error text (stderr).
func (r *cliRunner) fail(t *testing.T, code int, args ...string) (stdout, errText string) {
	t.Helper()
	out, stderr, got := r.exec(t, args...)
	if got != code {
		t.Fatalf("peerplane %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, out, stderr)
	}
	return out, stderr
}

type cliObj struct {
	ID   string `json:"id"`
	Spec struct {
		DisplayName string `json:"display_name"`
	} `json:"spec"`
	Status struct {
		Phase     string `json:"phase"`
		ErrorCode string `json:"error_code"`
	} `json:"status"`
}

// TestCLISeedFlow runs the seed flow with the peerplane commands alone
// against a real server with the demo world: network READY, a peering that
// FAILs with APP_NOT_CONSENTED, access granted with `peerplane azure …`,
// retry → READY, diagnose, a cluster, and deletion.
func TestCLISeedFlow(t *testing.T) {
	dir, _ := startDemoServe(t)
	r := newCLIRunner(t, dir)

	out := r.run(t, "login", "--data-dir", dir)
	if !strings.Contains(out, "Logged in to http://127.0.0.1:") {
		t.Fatalf("login: %s", out)
	}

	// Environment, made current.
	var env struct {
		ID          string `json:"id"`
		DisplayName string `json:"display_name"`
	}
	r.runJSON(t, &env, "environment", "create", "prod")
	if !strings.HasPrefix(env.ID, "env-") || env.DisplayName != "prod" {
		t.Fatalf("environment create: %+v", env)
	}
	r.run(t, "environment", "use", env.ID)
	if out := r.run(t, "environment", "list"); !strings.Contains(out, env.ID) || !strings.Contains(out, "*") {
		t.Fatalf("environment list does not mark the current one:\n%s", out)
	}

	// Network → READY.
	var n cliObj
	r.runJSON(t, &n, "network", "create", "prod-net", "--cloud", "azure", "--region", "eastus", "--cidr", "10.10.0.0/16",
		"--connection-types", "peering", "--wait")
	if !strings.HasPrefix(n.ID, "n-") || n.Status.Phase != "READY" {
		t.Fatalf("network create --wait: %+v", n)
	}
	if out := r.run(t, "network", "describe", n.ID); !strings.Contains(out, "| Phase ") || !strings.Contains(out, "READY") {
		t.Fatalf("network describe:\n%s", out)
	}
	if out := r.run(t, "network", "update", n.ID, "--name", "prod-net-2"); !strings.Contains(out, "prod-net-2") {
		t.Fatalf("network update:\n%s", out)
	}

	// Bad input: the API's error names the field, exit non-zero.
	_, msg := r.fail(t, cli.ExitError, "network", "peering", "create", "bad", "--network", n.ID, "--cloud", "azure",
		"--cloud-account", "not-a-guid", "--virtual-network", demoVNetID, "--customer-region", "eastus")
	if !strings.HasPrefix(msg, "Error: ") || !strings.Contains(msg, "/spec/cloud/tenant") || strings.Contains(msg, `"errors"`) {
		t.Fatalf("invalid tenant: error %q, want the API's detail naming /spec/cloud/tenant", msg)
	}
	_, msg = r.fail(t, cli.ExitError, "network", "peering", "create", "--network", n.ID, "--cloud", "azure")
	if !strings.Contains(msg, "cloud-account") {
		t.Fatalf("missing flags: %q", msg)
	}
	_, msg = r.fail(t, cli.ExitError, "network", "describe", n.ID, "-o", "xml")
	if !strings.Contains(msg, "--output") {
		t.Fatalf("bad -o: %q", msg)
	}
	_, msg = r.fail(t, cli.ExitError, "network", "describe", "n-nope00")
	if !strings.Contains(msg, "404") {
		t.Fatalf("describe of a missing network: %q", msg)
	}

	// Peering → FAILED APP_NOT_CONSENTED: --wait shows it and exits 4.
	out, msg = r.fail(t, cli.ExitFailed, "network", "peering", "create", "contoso", "--network", n.ID, "--cloud", "azure",
		"--cloud-account", demoTenant, "--virtual-network", demoVNetID, "--customer-region", "eastus", "--wait", "-o", "json")
	if !strings.Contains(msg, "APP_NOT_CONSENTED") {
		t.Fatalf("peering create --wait: error %q, want APP_NOT_CONSENTED", msg)
	}
	var p cliObj
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.Status.Phase != "FAILED" || p.Status.ErrorCode != "APP_NOT_CONSENTED" {
		t.Fatalf("peering create --wait printed %+v (%v):\n%s", p, err, out)
	}

	diag := r.run(t, "network", "peering", "diagnose", p.ID)
	for _, want := range []string{"FAIL", "APP_NOT_CONSENTED", "/oauth2/authorize?client_id=" + azureemu.DefaultProviderAppID, "az role definition create",
		`az role definition list --custom-role-only true --name "Confluent Cloud Peering Creator"`, "az role definition update", control.PeeringRoleAdvice,
		"is FAILED (checked "} {
		if !strings.Contains(diag, want) {
			t.Fatalf("diagnose lacks %q:\n%s", want, diag)
		}
	}
	t.Logf("diagnose:\n%s", diag)

	// The customer grants access with the az-shaped commands.
	r.run(t, "azure", "login", "--username", demoAdmin, "--password", demoAdminPass)
	var sp struct {
		ID    string `json:"id"`
		AppID string `json:"appId"`
	}
	r.runJSON(t, &sp, "azure", "consent", "--tenant", demoTenant)
	if !strings.EqualFold(sp.AppID, azureemu.DefaultProviderAppID) || sp.ID == "" {
		t.Fatalf("azure consent: %+v", sp)
	}
	roleDef, _ := json.Marshal(map[string]any{
		"Name": peeringRole, "Description": "Perform cross-tenant network peering.",
		"Actions": []string{
			"Microsoft.Network/virtualNetworks/read",
			"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read",
			"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write",
			"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete",
			"Microsoft.Network/virtualNetworks/peer/action",
		},
		"AssignableScopes": []string{"/subscriptions/" + demoSubscription},
	})
	r.run(t, "azure", "role", "definition", "create", "--role-definition", string(roleDef))
	r.run(t, "azure", "role", "assignment", "create", "--role", peeringRole, "--assignee", azureemu.DefaultProviderAppID, "--scope", demoVNetID)
	var vnet struct {
		Tags map[string]string `json:"tags"`
	}
	r.runJSON(t, &vnet, "azure", "vnet", "tag", "--ids", demoVNetID, "--tags", "ConfluentEnvIDs="+env.ID, "--is-incremental")
	if vnet.Tags["ConfluentEnvIDs"] != env.ID {
		t.Fatalf("vnet tag: %+v", vnet)
	}

	// The other az-shaped commands: vnet create (a long-running operation)
	// and show, the latter signing in afresh from $PEERPLANE_AZURE_PASSWORD.
	var created struct {
		ID         string `json:"id"`
		Properties struct {
			AddressSpace struct {
				AddressPrefixes []string `json:"addressPrefixes"`
			} `json:"addressSpace"`
		} `json:"properties"`
	}
	r.runJSON(t, &created, "azure", "vnet", "create", "-g", "contoso-network", "-n", "apps-vnet", "--address-prefixes", "10.20.0.0/16")
	if !strings.HasSuffix(created.ID, "/virtualNetworks/apps-vnet") || len(created.Properties.AddressSpace.AddressPrefixes) != 1 {
		t.Fatalf("azure vnet create: %+v", created)
	}
	r.env["PEERPLANE_AZURE_PASSWORD"] = demoAdminPass
	r.runJSON(t, &vnet, "azure", "vnet", "show", "--ids", demoVNetID)
	delete(r.env, "PEERPLANE_AZURE_PASSWORD")
	if vnet.Tags["ConfluentEnvIDs"] != env.ID {
		t.Fatalf("vnet show: %+v", vnet)
	}

	// Retry → READY.
	r.runJSON(t, &p, "network", "peering", "retry", p.ID, "--wait")
	if p.Status.Phase != "READY" {
		t.Fatalf("peering retry --wait: %+v", p)
	}
	diag = r.run(t, "network", "peering", "diagnose", p.ID)
	if strings.Contains(diag, "FAIL") || !strings.Contains(diag, "PASS") {
		t.Fatalf("diagnose of a READY peering:\n%s", diag)
	}
	var d struct {
		Checks []struct{ Step, Status string } `json:"checks"`
	}
	r.runJSON(t, &d, "network", "peering", "diagnose", p.ID)
	if len(d.Checks) == 0 {
		t.Fatalf("diagnose -o json has no checks")
	}

	// -o yaml parses; lists.
	y := r.run(t, "network", "peering", "describe", p.ID, "-o", "yaml")
	var py cliObj
	if err := yaml.Unmarshal([]byte(y), &py); err != nil || py.ID != p.ID || py.Status.Phase != "READY" {
		t.Fatalf("describe -o yaml: %+v %v\n%s", py, err, y)
	}
	var list []cliObj
	r.runJSON(t, &list, "network", "peering", "list", "--network", n.ID)
	if len(list) != 1 || list[0].ID != p.ID {
		t.Fatalf("peering list: %+v", list)
	}
	if out := r.run(t, "network", "peering", "list"); !strings.Contains(out, p.ID) || !strings.Contains(out, "READY") {
		t.Fatalf("peering list (human):\n%s", out)
	}
	r.run(t, "network", "peering", "update", p.ID, "--name", "contoso-renamed")

	// The customer widens the VNet's address space; the peering syncs it
	// and stays READY.
	r.env["PEERPLANE_AZURE_PASSWORD"] = demoAdminPass
	r.runJSON(t, &created, "azure", "vnet", "update", "--ids", demoVNetID, "--address-prefixes", "10.1.0.0/16,10.3.0.0/16")
	delete(r.env, "PEERPLANE_AZURE_PASSWORD")
	if got := strings.Join(created.Properties.AddressSpace.AddressPrefixes, ","); got != "10.1.0.0/16,10.3.0.0/16" {
		t.Fatalf("azure vnet update: %s", got)
	}
	r.runJSON(t, &p, "network", "peering", "retry", p.ID, "--wait")
	if p.Status.Phase != "READY" {
		t.Fatalf("peering after the address space grew: %+v", p)
	}

	// A Dedicated cluster in the network.
	var k cliObj
	r.runJSON(t, &k, "kafka", "cluster", "create", "orders", "--type", "dedicated", "--cku", "2", "--network", n.ID,
		"--cloud", "azure", "--region", "eastus", "--wait")
	if !strings.HasPrefix(k.ID, "lkc-") || k.Status.Phase != "PROVISIONED" {
		t.Fatalf("kafka cluster create --wait: %+v", k)
	}
	if out := r.run(t, "kafka", "cluster", "list"); !strings.Contains(out, k.ID) {
		t.Fatalf("kafka cluster list:\n%s", out)
	}
	r.run(t, "kafka", "cluster", "delete", k.ID, "--wait")

	// Delete → gone.
	if out := r.run(t, "network", "peering", "delete", p.ID, "--wait"); !strings.Contains(out, "Deleted peering") {
		t.Fatalf("peering delete --wait: %s", out)
	}
	_, msg = r.fail(t, cli.ExitError, "network", "peering", "describe", p.ID)
	if !strings.Contains(msg, "404") {
		t.Fatalf("describe after delete: %q", msg)
	}
	r.run(t, "network", "delete", n.ID, "--wait")
	r.run(t, "environment", "delete", env.ID)

	// No credentials: a clear error, not a stack.
	r2 := newCLIRunner(t, t.TempDir())
	if _, msg := r2.fail(t, cli.ExitError, "environment", "list"); !strings.Contains(msg, "peerplane login") {
		t.Fatalf("no credentials: %q", msg)
	}
}

// TestCLIWaitExitStatus runs --wait through the binary to each of its ends,
// against a server whose reconciler the test holds at the peering's first
// step: while held, the peering stays PROVISIONING and --wait gives up at
// --timeout (exit 5, the last state printed); released, it ends FAILED
// (exit 4, the error code shown); a wait on a peering that does not exist
// cannot start (exit 1); a delete waits until it is gone (exit 0).
func TestCLIWaitExitStatus(t *testing.T) {
	gate := make(chan struct{})
	dir, _ := startDemoServe(t, func(c *ServeConfig) {
		c.WrapAzure = func(az reconcile.Azure) reconcile.Azure { return &gatedAzure{Azure: az, gate: gate} }
	})
	r := newCLIRunner(t, dir)
	r.run(t, "login", "--data-dir", dir)
	var env cliObj
	r.runJSON(t, &env, "environment", "create", "waits")
	r.env["PEERPLANE_ENVIRONMENT"] = env.ID
	var n cliObj
	r.runJSON(t, &n, "network", "create", "waits-net", "--cloud", "azure", "--region", "eastus", "--cidr", "10.30.0.0/16", "--wait")
	if n.Status.Phase != "READY" {
		t.Fatalf("network create --wait exited 0 with %+v", n)
	}
	create := []string{"network", "peering", "create", "contoso", "--network", n.ID, "--cloud", "azure",
		"--cloud-account", demoTenant, "--virtual-network", demoVNetID, "--customer-region", "eastus", "--wait", "-o", "json"}

	out, msg := r.fail(t, cli.ExitTimedOut, append(create, "--timeout", "1s")...)
	var p cliObj
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.Status.Phase != "PROVISIONING" {
		t.Fatalf("timed-out wait printed %+v (%v):\n%s", p, err, out)
	}
	if !strings.Contains(msg, "timed out after 1s waiting for peering "+p.ID) || !strings.Contains(msg, "--timeout") {
		t.Fatalf("timed-out wait: %q", msg)
	}

	close(gate)
	out, msg = r.fail(t, cli.ExitFailed, "network", "peering", "retry", p.ID, "--wait", "-o", "json")
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.Status.Phase != "FAILED" || p.Status.ErrorCode != "APP_NOT_CONSENTED" {
		t.Fatalf("failed wait printed %+v (%v):\n%s", p, err, out)
	}
	if !strings.Contains(msg, "APP_NOT_CONSENTED") {
		t.Fatalf("failed wait: %q", msg)
	}

	if _, msg := r.fail(t, cli.ExitError, "network", "peering", "retry", "peer-nope00", "--wait"); !strings.Contains(msg, "404") {
		t.Fatalf("wait on a missing peering: %q", msg)
	}
	if out := r.run(t, "network", "peering", "delete", p.ID, "--wait"); !strings.Contains(out, "Deleted peering") {
		t.Fatalf("delete --wait: %s", out)
	}
}
