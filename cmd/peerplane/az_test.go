package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/azureid"
	"github.com/peerplane/peerplane/internal/control"
)

// The demo world's ids (internal/world/demo.yaml).
const (
	demoTenant       = "5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01"
	demoSubscription = "6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02"
	demoAdmin        = "admin@contoso.example"
	demoAdminPass    = "Contoso-demo-pass1"
	demoDev          = "dev@contoso.example"
	demoDevPass      = "Contoso-demo-pass2"
	demoVNetID       = "/subscriptions/" + demoSubscription + "/resourceGroups/contoso-network/providers/Microsoft.Network/virtualNetworks/contoso-vnet"
	peeringRole      = "Confluent Cloud Peering Creator"
)

// azTimeout bounds one az invocation; az itself takes 1–3 s.
const azTimeout = 90 * time.Second

// requireAz returns the az executable, or skips — unless
// PEERPLANE_TEST_REQUIRE_AZ=1 (CI), where a missing az fails the test.
func requireAz(t *testing.T) string {
	t.Helper()
	return requireTool(t, "az", "azure-cli")
}

// requireTool returns the path of the executable name, which scripts/test-deps.sh
// installs from the Debian package pkg, or skips — unless
// PEERPLANE_TEST_REQUIRE_AZ=1 (CI), where a missing tool fails the test.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("PEERPLANE_TEST_REQUIRE_AZ") == "1" {
		t.Fatalf("%s is not on PATH and PEERPLANE_TEST_REQUIRE_AZ=1: run scripts/test-deps.sh (installs Debian's %s)", name, pkg)
	}
	t.Skipf("%s is not on PATH: run scripts/test-deps.sh to install Debian's %s (CI sets PEERPLANE_TEST_REQUIRE_AZ=1 and fails instead)", name, pkg)
	return ""
}

// startDemoServe starts the demo server in-process (startE2E, each of opts
// changing its configuration) for tests that drive it from outside, and
// returns its data directory and addresses.
func startDemoServe(t *testing.T, opts ...func(*ServeConfig)) (string, Ready) {
	t.Helper()
	e := startE2E(t, "", opts...)
	return e.dir, e.r
}

// azCLI runs the real az in an isolated HOME and AZURE_CONFIG_DIR.
type azCLI struct {
	az  string
	env []string
}

// newAzCLI prepares an az configuration directory for the server behind
// dataDir with `peerplane azure az-env --shim` and returns a runner.
func newAzCLI(t *testing.T, az, dataDir, name string) *azCLI {
	t.Helper()
	home := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	base := isolatedEnv(home)
	ctx, cancel := context.WithTimeout(t.Context(), 2*azTimeout)
	defer cancel()
	vars, err := AzEnv(ctx, AzEnvConfig{DataDir: dataDir, ConfigDir: filepath.Join(home, "az"), Shim: true, Az: az, Env: base})
	if err != nil {
		t.Fatalf("az-env: %v", err)
	}
	return &azCLI{az: az, env: AzCommandEnv(base, vars)}
}

// exec runs az with args and returns its stdout and stderr.
func (a *azCLI) exec(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), azTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.az, args...)
	cmd.Env = a.env
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err = cmd.Run()
	t.Logf("az %s (%.1fs)", strings.Join(args, " "), time.Since(start).Seconds())
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	return out.String(), errb.String(), err
}

// sh runs script, commands as a customer pastes them, in a shell with
// az's environment in dir (a temporary one when empty), and returns its
// stdout; it fails the test if the script fails.
func (a *azCLI) sh(t *testing.T, dir, script string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(t.Context(), azTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Env, cmd.Dir, cmd.WaitDelay = a.env, dir, 5*time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("sh -c %q: %v\nstderr:\n%s\nstdout:\n%s", script, err, errb.String(), out.String())
	}
	return out.String()
}

// addSubscription seeds one more Contoso subscription (the admin its
// Owner) through the operator route and returns its id.
func addSubscription(t *testing.T, ready Ready) string {
	t.Helper()
	c, err := benchAzureHTTP(ready.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	sub := uuid.NewString()
	body, _ := json.Marshal(map[string]string{"id": sub, "displayName": "Contoso apps"})
	resp, err := c.Post(ready.AzureURL+"/_emulator/tenants/"+demoTenant+"/subscriptions", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("add subscription: %s %s", resp.Status, b)
	}
	return sub
}

// run runs az and fails the test, showing az's stderr, if az fails.
func (a *azCLI) run(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := a.exec(t, args...)
	if err != nil {
		t.Fatalf("az %s: %v\nstderr:\n%s\nstdout:\n%s", strings.Join(args, " "), err, stderr, out)
	}
	return out
}

// runJSON runs az with -o json and decodes its output into v.
func (a *azCLI) runJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := a.run(t, append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("az %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestAzCLI runs the real az CLI through the seed document's commands
// against the embedded Azure: sign-in, VNets and their tag, the provider
// app's service principal, the custom role and its assignment, peerings,
// and a non-admin refused as Azure refuses it.
func TestAzCLI(t *testing.T) {
	az := requireAz(t)
	if testing.Short() {
		t.Skip("runs the az CLI for about a minute; skipped with -short")
	}
	started := time.Now()
	t.Cleanup(func() { t.Logf("az test took %s", time.Since(started).Round(time.Second)) })
	dataDir, ready := startDemoServe(t)
	admin := newAzCLI(t, az, dataDir, "admin")
	appID := ready.Provider.ClientID
	if appID == "" {
		appID = azureemu.DefaultProviderAppID
	}

	var spID string // the provider app's service principal in Contoso
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"login", func(t *testing.T) {
			var subs []azSubscription
			admin.runJSON(t, &subs, "login", "--username", demoAdmin, "--password", demoAdminPass)
			i := slices.IndexFunc(subs, func(s azSubscription) bool { return s.ID == demoSubscription })
			if i < 0 {
				t.Fatalf("az login listed %+v, want subscription %s", subs, demoSubscription)
			}
			if s := subs[i]; s.TenantID != demoTenant || s.State != "Enabled" || !strings.EqualFold(s.User.Name, demoAdmin) || s.User.Type != "user" {
				t.Fatalf("az login: subscription %+v, want tenant %s, Enabled, user %s", s, demoTenant, demoAdmin)
			}
		}},
		{"account show", func(t *testing.T) {
			var acct struct {
				ID, TenantID, EnvironmentName string
				User                          struct{ Name string }
			}
			admin.runJSON(t, &acct, "account", "show")
			if acct.ID != demoSubscription || acct.TenantID != demoTenant || acct.EnvironmentName != "Peerplane" || !strings.EqualFold(acct.User.Name, demoAdmin) {
				t.Fatalf("az account show = %+v", acct)
			}
		}},
		{"vnet create", func(t *testing.T) {
			var res struct {
				NewVNet vnetJSON `json:"newVNet"`
			}
			admin.runJSON(t, &res, "network", "vnet", "create", "-g", "contoso-network", "-n", "vnet2", "--address-prefixes", "10.2.0.0/16")
			v := res.NewVNet
			if v.Name != "vnet2" || !slices.Equal(v.AddressSpace.AddressPrefixes, []string{"10.2.0.0/16"}) || v.Location != "eastus" || v.ProvisioningState != "Succeeded" {
				t.Fatalf("az network vnet create: newVNet = %+v", v)
			}
		}},
		{"vnet list", func(t *testing.T) {
			var vnets []vnetJSON
			admin.runJSON(t, &vnets, "network", "vnet", "list", "-g", "contoso-network")
			var names []string
			for _, v := range vnets {
				names = append(names, v.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, []string{"contoso-vnet", "vnet2"}) {
				t.Fatalf("az network vnet list: names %v, want contoso-vnet and vnet2", names)
			}
		}},
		{"vnet tag", func(t *testing.T) {
			// Debian's az cannot run `az network vnet update` under the
			// 2020-09-01-hybrid profile (its SDK lacks network 2018-11-01),
			// so tag the VNet the generic way: GET it, PUT it back with
			// the tag merged in.
			var v struct {
				ID   string
				Tags map[string]string
			}
			admin.runJSON(t, &v, "resource", "tag", "--ids", demoVNetID, "--is-incremental", "--tags", "ConfluentEnvIDs=env-abc")
			if v.Tags["ConfluentEnvIDs"] != "env-abc" || !strings.EqualFold(v.ID, demoVNetID) {
				t.Fatalf("az resource tag: %+v, want tag ConfluentEnvIDs=env-abc on %s", v, demoVNetID)
			}
			var shown vnetJSON
			admin.runJSON(t, &shown, "network", "vnet", "show", "-g", "contoso-network", "-n", "contoso-vnet")
			if shown.Tags["ConfluentEnvIDs"] != "env-abc" || len(shown.Subnets) != 2 || !slices.Equal(shown.AddressSpace.AddressPrefixes, []string{"10.1.0.0/16"}) {
				t.Fatalf("az network vnet show after the tag: %+v, want the tag, both subnets and 10.1.0.0/16", shown)
			}
		}},
		{"vnet tag, as the fixes say", func(t *testing.T) {
			// The diagnosis's tag command, pasted into a shell, adds the
			// environment to what the tag lists (env-abc, from the step
			// before) without the diagnosis ever telling that value.
			p := &control.Peering{Tenant: demoTenant, EnvironmentID: "env-fix1", VNet: demoVNetID}
			fixes := control.NewGrantFixes(control.ProviderApp{AppID: appID, LoginURL: ready.AzureURL}, p)
			if strings.Contains(fixes.Tag, "env-abc") {
				t.Fatalf("the tag fix names another environment:\n%s", fixes.Tag)
			}
			admin.sh(t, "", fixes.Tag)
			var shown vnetJSON
			admin.runJSON(t, &shown, "network", "vnet", "show", "-g", "contoso-network", "-n", "contoso-vnet")
			if got := shown.Tags["ConfluentEnvIDs"]; got != "env-abc,env-fix1" {
				t.Fatalf("ConfluentEnvIDs after the tag fix = %q, want env-abc,env-fix1", got)
			}
			admin.run(t, "resource", "tag", "--ids", demoVNetID, "--is-incremental", "--tags", "ConfluentEnvIDs=env-abc")
		}},
		{"ad sp create", func(t *testing.T) {
			var sp struct{ ID, AppID string }
			admin.runJSON(t, &sp, "ad", "sp", "create", "--id", appID)
			if !strings.EqualFold(sp.AppID, appID) || !azureid.IsGUID(sp.ID) {
				t.Fatalf("az ad sp create: %+v, want appId %s and an object id", sp, appID)
			}
			spID = sp.ID
		}},
		{"ad sp list", func(t *testing.T) {
			out := admin.run(t, "ad", "sp", "list", "--filter", "appId eq '"+appID+"'", "--output", "tsv", "--query", "[0].id")
			if got := strings.TrimSpace(out); got != spID {
				t.Fatalf("az ad sp list --query [0].id = %q, want %s (from az ad sp create)", got, spID)
			}
			var shown struct{ ID, AppID, AppOwnerOrganizationID string }
			admin.runJSON(t, &shown, "ad", "sp", "show", "--id", appID)
			if shown.ID != spID || !strings.EqualFold(shown.AppID, appID) || !strings.EqualFold(shown.AppOwnerOrganizationID, ready.Provider.TenantID) {
				t.Fatalf("az ad sp show: %+v, want id %s owned by the provider tenant", shown, spID)
			}
		}},
		{"role definition create", func(t *testing.T) {
			def, _ := json.Marshal(map[string]any{
				"Name":             peeringRole,
				"Description":      "Lets Confluent Cloud peer its network with this VNet.",
				"Actions":          peeringActions,
				"AssignableScopes": []string{"/subscriptions/" + demoSubscription},
			})
			if out := admin.run(t, "role", "definition", "create", "--output", "none", "--role-definition", string(def)); strings.TrimSpace(out) != "" {
				t.Fatalf("az role definition create --output none printed %q", out)
			}
			var defs []roleDefJSON
			admin.runJSON(t, &defs, "role", "definition", "list", "--name", peeringRole, "--scope", demoVNetID)
			if len(defs) != 1 {
				t.Fatalf("az role definition list --name at the VNet: %d definitions, want 1: %+v", len(defs), defs)
			}
			d := defs[0]
			if d.RoleName != peeringRole || d.RoleType != "CustomRole" || len(d.Permissions) != 1 || !sameSet(d.Permissions[0].Actions, peeringActions) ||
				!slices.Equal(d.AssignableScopes, []string{"/subscriptions/" + demoSubscription}) {
				t.Fatalf("az role definition list: %+v", d)
			}
		}},
		{"role assignment create", func(t *testing.T) {
			var ra roleAssignmentJSON
			admin.runJSON(t, &ra, "role", "assignment", "create", "--role", peeringRole, "--assignee", spID, "--scope", demoVNetID)
			if ra.PrincipalID != spID || !strings.EqualFold(ra.Scope, demoVNetID) || !strings.Contains(strings.ToLower(ra.RoleDefinitionID), "/providers/microsoft.authorization/roledefinitions/") {
				t.Fatalf("az role assignment create: %+v, want principal %s at %s", ra, spID, demoVNetID)
			}
			// Again: Azure answers 409 RoleAssignmentExists, which az turns
			// into the existing assignment.
			var again roleAssignmentJSON
			admin.runJSON(t, &again, "role", "assignment", "create", "--role", peeringRole, "--assignee", spID, "--scope", demoVNetID)
			if again.ID != ra.ID {
				t.Fatalf("second az role assignment create = %+v, want the existing %s", again, ra.ID)
			}
		}},
		{"role assignment list", func(t *testing.T) {
			var ras []roleAssignmentJSON
			admin.runJSON(t, &ras, "role", "assignment", "list", "--scope", demoVNetID)
			i := slices.IndexFunc(ras, func(r roleAssignmentJSON) bool { return r.PrincipalID == spID })
			if i < 0 {
				t.Fatalf("az role assignment list --scope VNet: %+v, want one for %s", ras, spID)
			}
			// az names the role from the role definitions at the scope and
			// the principal from Graph's directoryObjects/getByIds (a
			// service principal's name is its first servicePrincipalName,
			// the appId). The 2015-07-01 API has no principalType.
			r := ras[i]
			if r.RoleDefinitionName != peeringRole || !strings.EqualFold(r.Scope, demoVNetID) || !strings.EqualFold(r.PrincipalName, appID) ||
				(r.PrincipalType != "" && r.PrincipalType != "ServicePrincipal") {
				t.Fatalf("az role assignment list: %+v, want %q at %s for principal %s", r, peeringRole, demoVNetID, appID)
			}
		}},
		{"role definition update, as the fixes say", func(t *testing.T) {
			// A VNet of a second subscription: the customer extends the
			// role with the diagnosis's own commands, pasted into a shell.
			sub2 := addSubscription(t, ready)
			p := &control.Peering{Tenant: demoTenant, EnvironmentID: "env-abc123",
				VNet: "/subscriptions/" + sub2 + "/resourceGroups/apps/providers/Microsoft.Network/virtualNetworks/apps-vnet"}
			fixes := control.NewGrantFixes(control.ProviderApp{AppID: appID, LoginURL: ready.AzureURL}, p)
			var scopes [][]string
			if err := json.Unmarshal([]byte(admin.sh(t, "", fixes.RoleDefinitionList)), &scopes); err != nil ||
				len(scopes) != 1 || !slices.Equal(scopes[0], []string{"/subscriptions/" + demoSubscription}) {
				t.Fatalf("the role's existence check: %v, %v", scopes, err)
			}
			lines := strings.Split(fixes.RoleDefinitionUpdate, "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[1], "# ") {
				t.Fatalf("the update fix is not list, comment, update:\n%s", fixes.RoleDefinitionUpdate)
			}
			dir := t.TempDir()
			admin.sh(t, dir, lines[0])
			// What the comment asks: add the subscription.
			file := filepath.Join(dir, "peering-role.json")
			var role map[string]any
			b, err := os.ReadFile(file)
			if err != nil || json.Unmarshal(b, &role) != nil {
				t.Fatalf("%s: %v\n%s", file, err, b)
			}
			role["assignableScopes"] = append(role["assignableScopes"].([]any), "/subscriptions/"+sub2)
			b, _ = json.Marshal(role)
			if err := os.WriteFile(file, b, 0o600); err != nil {
				t.Fatal(err)
			}
			admin.sh(t, dir, lines[2])
			var defs []roleDefJSON
			admin.runJSON(t, &defs, "role", "definition", "list", "--name", peeringRole, "--custom-role-only", "true", "--scope", "/subscriptions/"+sub2)
			if len(defs) != 1 || !slices.Equal(defs[0].AssignableScopes, []string{"/subscriptions/" + demoSubscription, "/subscriptions/" + sub2}) ||
				!sameSet(defs[0].Permissions[0].Actions, peeringActions) {
				t.Fatalf("the role after the update: %+v", defs)
			}
		}},
		{"vnet peering list", func(t *testing.T) {
			var peerings []json.RawMessage
			admin.runJSON(t, &peerings, "network", "vnet", "peering", "list", "-g", "contoso-network", "--vnet-name", "contoso-vnet")
			if len(peerings) != 0 {
				t.Fatalf("az network vnet peering list: %d peerings, want none yet", len(peerings))
			}
		}},
		{"reader is refused vnet create", func(t *testing.T) {
			// A Reader on the subscription sees it, so az can sign in to it,
			// but may not write a VNet.
			var ra roleAssignmentJSON
			admin.runJSON(t, &ra, "role", "assignment", "create", "--role", "Reader", "--assignee", demoDev, "--scope", "/subscriptions/"+demoSubscription)
			if ra.PrincipalType != "" && ra.PrincipalType != "User" {
				t.Fatalf("az role assignment create for %s: %+v", demoDev, ra)
			}
			dev := newAzCLI(t, az, dataDir, "dev")
			var subs []azSubscription
			dev.runJSON(t, &subs, "login", "--username", demoDev, "--password", demoDevPass, "--tenant", demoTenant)
			if len(subs) != 1 || subs[0].ID != demoSubscription || subs[0].TenantID != demoTenant {
				t.Fatalf("az login as %s: %+v", demoDev, subs)
			}
			out, stderr, err := dev.exec(t, "network", "vnet", "create", "-g", "contoso-network", "-n", "vnet3", "--address-prefixes", "10.3.0.0/16")
			if err == nil {
				t.Fatalf("az network vnet create as a Reader succeeded:\n%s", out)
			}
			t.Logf("az's refusal:\n%s", stderr)
			for _, want := range []string{"(AuthorizationFailed)", "does not have authorization to perform action 'Microsoft.Network/virtualNetworks/write'", "/resourceGroups/contoso-network/providers/Microsoft.Network/virtualNetworks/vnet3"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("az's error lacks %q:\n%s", want, stderr)
				}
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return // later steps build on this one
		}
	}
}

var peeringActions = []string{
	"Microsoft.Network/virtualNetworks/read",
	"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read",
	"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write",
	"Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete",
	"Microsoft.Network/virtualNetworks/peer/action",
}

// azSubscription is an account az login lists.
type azSubscription struct {
	ID, TenantID, State string
	IsDefault           bool
	User                struct{ Name, Type string }
}

// vnetJSON is az's flattened view of a virtual network.
type vnetJSON struct {
	ID, Name, Location, ProvisioningState string
	AddressSpace                          struct{ AddressPrefixes []string }
	Subnets                               []struct{ Name, AddressPrefix string }
	Tags                                  map[string]string
}

// roleDefJSON is az's flattened view of a role definition.
type roleDefJSON struct {
	ID, Name, RoleName, RoleType string
	Permissions                  []struct{ Actions, NotActions []string }
	AssignableScopes             []string
}

// roleAssignmentJSON is az's view of a role assignment: flat with the
// latest API profile, under "properties" with the 2015-07-01 API that the
// 2020-09-01-hybrid profile uses. UnmarshalJSON flattens the latter.
type roleAssignmentJSON struct {
	ID, Name, PrincipalID, PrincipalName, PrincipalType, RoleDefinitionID, RoleDefinitionName, Scope string
}

func (r *roleAssignmentJSON) UnmarshalJSON(b []byte) error {
	type flat roleAssignmentJSON
	var v struct {
		flat
		Properties *flat
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = roleAssignmentJSON(v.flat)
	if p := v.Properties; p != nil {
		for _, f := range []struct {
			dst *string
			src string
		}{
			{&r.PrincipalID, p.PrincipalID}, {&r.PrincipalName, p.PrincipalName}, {&r.PrincipalType, p.PrincipalType},
			{&r.RoleDefinitionID, p.RoleDefinitionID}, {&r.RoleDefinitionName, p.RoleDefinitionName}, {&r.Scope, p.Scope},
		} {
			if *f.dst == "" {
				*f.dst = f.src
			}
		}
	}
	return nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestAzEnvErrorsNameTheCulprit(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	badJSON := t.TempDir()
	if err := os.WriteFile(filepath.Join(badJSON, "endpoints.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	httpJSON := t.TempDir()
	if err := os.WriteFile(filepath.Join(httpJSON, "endpoints.json"), []byte(`{"url":"http://127.0.0.1:1","ca_file":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    AzEnvConfig
		want string
	}{
		{"no endpoints.json", AzEnvConfig{DataDir: filepath.Join(dir, "nope")}, filepath.Join(dir, "nope", "endpoints.json")},
		{"bad endpoints.json", AzEnvConfig{DataDir: badJSON}, filepath.Join(badJSON, "endpoints.json")},
		{"http url in endpoints.json", AzEnvConfig{DataDir: httpJSON}, "endpoints.json: url"},
		{"url without ca", AzEnvConfig{AzureURL: "https://127.0.0.1:8443"}, "--ca-file"},
		{"ca without url", AzEnvConfig{CAFile: notPEM}, "--azure-url"},
		{"http url", AzEnvConfig{AzureURL: "http://127.0.0.1:8443", CAFile: notPEM}, "--azure-url"},
		{"url with path", AzEnvConfig{AzureURL: "https://127.0.0.1:8443/adfs", CAFile: notPEM}, "--azure-url"},
		{"ca not PEM", AzEnvConfig{AzureURL: "https://127.0.0.1:8443", CAFile: notPEM}, notPEM},
		{"ca missing", AzEnvConfig{AzureURL: "https://127.0.0.1:8443", CAFile: filepath.Join(dir, "missing.pem")}, "missing.pem"},
		{"bad cloud name", AzEnvConfig{CloudName: "no spaces", AzureURL: "https://127.0.0.1:8443", CAFile: notPEM}, "--cloud-name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := AzEnv(t.Context(), tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("AzEnv() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestAzEnvExports(t *testing.T) {
	vars := []AzEnvVar{{"AZURE_CONFIG_DIR", "/d/my az"}, {"REQUESTS_CA_BUNDLE", "/d/ca.pem"}, {"PYTHONPATH", "/d/shim"}}
	got := formatExports(vars, true)
	for _, want := range []string{
		"export AZURE_CONFIG_DIR='/d/my az'\n",
		"export REQUESTS_CA_BUNDLE=/d/ca.pem\n",
		`export PYTHONPATH=/d/shim"${PYTHONPATH:+:$PYTHONPATH}"` + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("exports lack %q:\n%s", want, got)
		}
	}
	env := AzCommandEnv([]string{"PATH=/bin", "PYTHONPATH=/old", "AZURE_CONFIG_DIR=/home/.azure"}, vars)
	for _, want := range []string{"PATH=/bin", "PYTHONPATH=/d/shim:/old", "AZURE_CONFIG_DIR=/d/my az", "REQUESTS_CA_BUNDLE=/d/ca.pem"} {
		if !slices.Contains(env, want) {
			t.Errorf("AzCommandEnv lacks %q: %q", want, env)
		}
	}
	if slices.Contains(env, "AZURE_CONFIG_DIR=/home/.azure") {
		t.Errorf("AzCommandEnv kept the old AZURE_CONFIG_DIR: %q", env)
	}
}
