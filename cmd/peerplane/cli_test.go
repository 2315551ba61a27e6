package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/control"
)

// cliRunner runs the peerplane commands in-process, as a user would in a
// shell, with an isolated config file.
type cliRunner struct {
	env map[string]string
}

func newCLIRunner(t *testing.T, dataDir string) *cliRunner {
	home := t.TempDir()
	return &cliRunner{env: map[string]string{
		"HOME":               home,
		"PEERPLANE_CONFIG":   filepath.Join(home, "peerplane", "config.json"),
		"PEERPLANE_DATA_DIR": dataDir,
	}}
}

// exec runs `peerplane args...` and returns its stdout, stderr and error.
func (r *cliRunner) exec(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd(func(k string) string { return r.env[k] })
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	err := root.ExecuteContext(ctx)
	t.Logf("peerplane %s (%.2fs)", strings.Join(args, " "), time.Since(start).Seconds())
	return out.String(), errb.String(), err
}

// run runs a command that must succeed and returns its stdout.
func (r *cliRunner) run(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := r.exec(t, args...)
	if err != nil {
		t.Fatalf("peerplane %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr)
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

// fail runs a command that must fail and returns its error text.
func (r *cliRunner) fail(t *testing.T, args ...string) (stdout, errText string) {
	t.Helper()
	out, stderr, err := r.exec(t, args...)
	if err == nil {
		t.Fatalf("peerplane %s succeeded, want an error\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), out, stderr)
	}
	return out, err.Error()
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
	_, msg := r.fail(t, "network", "peering", "create", "bad", "--network", n.ID, "--cloud", "azure",
		"--cloud-account", "not-a-guid", "--virtual-network", demoVNetID, "--customer-region", "eastus")
	if !strings.Contains(msg, "/spec/cloud/tenant") || strings.Contains(msg, `"errors"`) {
		t.Fatalf("invalid tenant: error %q, want the API's detail naming /spec/cloud/tenant", msg)
	}
	_, msg = r.fail(t, "network", "peering", "create", "--network", n.ID, "--cloud", "azure")
	if !strings.Contains(msg, "cloud-account") {
		t.Fatalf("missing flags: %q", msg)
	}
	_, msg = r.fail(t, "network", "describe", n.ID, "-o", "xml")
	if !strings.Contains(msg, "--output") {
		t.Fatalf("bad -o: %q", msg)
	}
	_, msg = r.fail(t, "network", "describe", "n-nope00")
	if !strings.Contains(msg, "404") {
		t.Fatalf("describe of a missing network: %q", msg)
	}

	// Peering → FAILED APP_NOT_CONSENTED, exit non-zero.
	out, msg = r.fail(t, "network", "peering", "create", "contoso", "--network", n.ID, "--cloud", "azure",
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
	_, msg = r.fail(t, "network", "peering", "describe", p.ID)
	if !strings.Contains(msg, "404") {
		t.Fatalf("describe after delete: %q", msg)
	}
	r.run(t, "network", "delete", n.ID, "--wait")
	r.run(t, "environment", "delete", env.ID)

	// No credentials: a clear error, not a stack.
	r2 := newCLIRunner(t, t.TempDir())
	if _, msg := r2.fail(t, "environment", "list"); !strings.Contains(msg, "peerplane login") {
		t.Fatalf("no credentials: %q", msg)
	}
}
