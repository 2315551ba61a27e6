package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// azShimDir is scripts/az-shim, the directory the README and the shim's
// header put on PYTHONPATH.
func azShimDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "scripts", "az-shim"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sitecustomize.py")); err != nil {
		t.Fatalf("the shim: %v", err)
	}
	return dir
}

// TestAzShimPaths runs Debian's az through both ways of loading the shim,
// against a running server: `eval "$(peerplane azure az-env --shim)"` with
// the built binary, and `peerplane azure az-env` with
// PYTHONPATH=scripts/az-shim (a symbolic link to the same file). Through
// each, az creates a custom role and assigns it to the provider app's
// service principal on the VNet, the two commands Debian's az cannot run
// without the shim; and, as a control, without it az does fail.
func TestAzShimPaths(t *testing.T) {
	requireAz(t)
	if testing.Short() {
		t.Skip("runs the az CLI for about a minute; skipped with -short")
	}
	dataDir, ready := startDemoServe(t)
	bin := peerplaneBinary(t)
	home := t.TempDir()
	env := append(isolatedEnv(home), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"DATA="+dataDir, "APP="+ready.Provider.ClientID, "VNET="+demoVNetID, "SUB="+demoSubscription)
	// sh runs script in bash -euo pipefail after signing in to az as
	// Contoso's admin, with az prepared by setup; it returns stdout.
	sh := func(t *testing.T, setup, script string) string {
		t.Helper()
		full := setup + "\naz login --username " + demoAdmin + " --password " + demoAdminPass + " --output none\n" + script
		out, stderr, code := runProcess(t, 4*azTimeout, home, env, "bash", "-euo", "pipefail", "-c", full)
		if code != 0 {
			t.Fatalf("bash exited %d:\n%s\nstderr:\n%s\nstdout:\n%s", code, full, stderr, out)
		}
		return out
	}
	withShim := `eval "$(peerplane azure az-env --shim --data-dir "$DATA" --config-dir "$HOME/az-shim")"`
	withPath := `eval "$(peerplane azure az-env --data-dir "$DATA" --config-dir "$HOME/az-path")"` + "\n" +
		"export PYTHONPATH=" + azShimDir(t) + `"${PYTHONPATH:+:$PYTHONPATH}"`

	if out := sh(t, withShim, `az ad sp create --id "$APP" --query appId --output tsv`); !strings.EqualFold(strings.TrimSpace(out), ready.Provider.ClientID) {
		t.Fatalf("az ad sp create: %q", out)
	}
	for _, tc := range []struct{ name, setup string }{{"az-env --shim", withShim}, {"PYTHONPATH=scripts/az-shim", withPath}} {
		t.Run(tc.name, func(t *testing.T) {
			role := "Peering Creator via " + tc.name
			def, _ := json.Marshal(map[string]any{"Name": role, "Description": "Lets the provider peer with this VNet.",
				"Actions": peeringActions, "AssignableScopes": []string{"/subscriptions/" + demoSubscription}})
			out := sh(t, tc.setup, `
az role definition create --output none --role-definition '`+string(def)+`'
SP=$(az ad sp list --filter "appId eq '$APP'" --output tsv --query '[0].id')
az role assignment create --role "`+role+`" --assignee "$SP" --scope "$VNET" --output json`)
			var ra roleAssignmentJSON
			if err := json.Unmarshal([]byte(out), &ra); err != nil {
				t.Fatalf("az role assignment create printed no JSON (%v):\n%s", err, out)
			}
			if ra.PrincipalID == "" || !strings.EqualFold(ra.Scope, demoVNetID) || ra.RoleDefinitionName != "" && ra.RoleDefinitionName != role {
				t.Fatalf("az role assignment create: %+v, want the service principal at %s", ra, demoVNetID)
			}
			var listed []roleAssignmentJSON
			if err := json.Unmarshal([]byte(sh(t, tc.setup, `az role assignment list --scope "$VNET" --output json`)), &listed); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, l := range listed {
				found = found || l.ID == ra.ID && l.RoleDefinitionName == role
			}
			if !found {
				t.Fatalf("az role assignment list --scope VNet: %+v, want %s of %q", listed, ra.ID, role)
			}
		})
	}

	t.Run("without the shim", func(t *testing.T) {
		version, _, _ := runProcess(t, azTimeout, home, env, "az", "version", "--query", `"azure-cli"`, "--output", "tsv")
		if !strings.HasPrefix(strings.TrimSpace(version), "2.45.") {
			t.Skipf("az %s is not Debian's 2.45, which needs the shim", strings.TrimSpace(version))
		}
		setup := `eval "$(peerplane azure az-env --data-dir "$DATA" --config-dir "$HOME/az-none")"`
		full := setup + "\naz login --username " + demoAdmin + " --password " + demoAdminPass + " --output none\n" +
			`az role assignment list --scope "$VNET" --output json`
		_, stderr, code := runProcess(t, 4*azTimeout, home, env, "bash", "-euo", "pipefail", "-c", full)
		if code == 0 || !strings.Contains(stderr, "'config'") {
			t.Fatalf("az role assignment list without the shim: exit %d, want the AttributeError about 'config' the shim fixes:\n%s", code, stderr)
		}
	})
}

// TestAzShimRunsTheShadowedSitecustomizeOnce starts Python with the shim on
// PYTHONPATH twice, through scripts/az-shim's symbolic link and as the copy
// `az-env --shim` writes, ahead of another sitecustomize: Python starts (no
// RecursionError), and the sitecustomize the shim shadows runs exactly once.
func TestAzShimRunsTheShadowedSitecustomizeOnce(t *testing.T) {
	python := requireTool(t, "python3", "python3")
	copyDir, hookDir, home := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(copyDir, "sitecustomize.py"), []byte(azShimSource), 0o644); err != nil {
		t.Fatal(err)
	}
	ran := filepath.Join(home, "ran")
	hook := "with open(" + pyQuote(ran) + ", 'a') as f:\n    f.write('ran\\n')\n"
	if err := os.WriteFile(filepath.Join(hookDir, "sitecustomize.py"), []byte(hook), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range [][]string{
		{azShimDir(t), hookDir},
		{copyDir, azShimDir(t), hookDir},
		{azShimDir(t), copyDir, hookDir},
	} {
		os.Remove(ran)
		env := append(isolatedEnv(home), "PYTHONPATH="+strings.Join(path, string(os.PathListSeparator)))
		out, stderr, code := runProcess(t, time.Minute, home, env, python, "-c",
			"import sys; print(sum(getattr(f, '_peerplane_shim', False) for f in sys.meta_path))")
		if code != 0 || stderr != "" {
			t.Fatalf("PYTHONPATH=%s: python exited %d:\n%s", path, code, stderr)
		}
		if strings.TrimSpace(out) != "1" {
			t.Errorf("PYTHONPATH=%s: %s shim finders on sys.meta_path, want 1", path, strings.TrimSpace(out))
		}
		if b, _ := os.ReadFile(ran); string(b) != "ran\n" {
			t.Errorf("PYTHONPATH=%s: the shadowed sitecustomize ran %d times, want once", path, strings.Count(string(b), "ran"))
		}
	}
}

// pyQuote is s as a Python string literal.
func pyQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
