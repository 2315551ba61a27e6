package control_test

import (
	"strings"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/control"
)

func passed(steps ...string) []control.Check {
	var out []control.Check
	for _, s := range steps {
		out = append(out, control.PassCheck(s, "ok"))
	}
	return out
}

func TestPeeringStatusOf(t *testing.T) {
	all := passed(control.PeeringSteps...)
	failAt := func(i int, code string) []control.Check {
		out := append(passed(control.PeeringSteps[:i]...), control.FailCheck(control.PeeringSteps[i], code, "What is missing, and where.", "The fix."))
		for _, s := range control.PeeringSteps[i+1:] {
			out = append(out, control.SkippedCheck(s))
		}
		return out
	}
	pending := append(passed(control.PeeringSteps[:6]...), control.PendingCheck(control.StepCustomerHalf, "Initiated."))
	for _, tt := range []struct {
		name   string
		checks []control.Check
		phase  string
		code   string
	}{
		{"never checked", nil, control.PhaseProvisioning, ""},
		{"all pass", all, control.PhaseReady, ""},
		{"a half pending", pending, control.PhaseProvisioning, ""},
		{"tag", failAt(2, control.PeeringVNetNotAuthorizedForEnvironment), control.PhaseFailed, control.PeeringVNetNotAuthorizedForEnvironment},
		{"disconnected", failAt(5, control.PeeringDisconnected), control.PhaseDisconnected, control.PeeringDisconnected},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := control.Checklist{Checks: tt.checks}
			st := control.PeeringStatusOf(l)
			if st.Phase != tt.phase || st.ErrorCode != tt.code || !st.Checklist.Equal(l) {
				t.Fatalf("status %+v, want %s %q", st, tt.phase, tt.code)
			}
			msg := ""
			if tt.code != "" {
				msg = "What is missing, and where."
			}
			if st.ErrorMessage != msg {
				t.Fatalf("error_message %q, want the failed check's evidence %q", st.ErrorMessage, msg)
			}
		})
	}
}

func TestChecklistEqualIgnoresCheckedAt(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	a := control.Checklist{Checks: passed(control.PeeringSteps...), CheckedAt: at}
	b := control.Checklist{Checks: passed(control.PeeringSteps...), CheckedAt: at.Add(time.Hour)}
	if !a.Equal(b) || !control.PeeringStatusOf(a).Equal(control.PeeringStatusOf(b)) {
		t.Fatal("checklists differing only in CheckedAt are not Equal")
	}
	b.Checks[3].Evidence = "other"
	if a.Equal(b) {
		t.Fatal("a changed check is Equal")
	}
	b = a
	b.Fixes.Tag = "az resource tag …"
	if a.Equal(b) {
		t.Fatal("changed fixes are Equal")
	}
}

func TestAllChecksOfANeverCheckedPeering(t *testing.T) {
	var l control.Checklist
	if !l.IsZero() {
		t.Fatal("zero checklist not IsZero")
	}
	cs := l.AllChecks()
	if len(cs) != len(control.PeeringSteps) {
		t.Fatalf("%d checks", len(cs))
	}
	for i, c := range cs {
		if c.Step != control.PeeringSteps[i] || c.Status != control.CheckPending || c.Title == "" || c.Title == c.Step {
			t.Fatalf("check %d: %+v", i, c)
		}
	}
}

func TestNewGrantFixes(t *testing.T) {
	const sub = "0a1b2c3d-2222-4e5f-8a9b-abcdefabcdef"
	p := &control.Peering{Tenant: "5f1c2e3d-1111-4a2b-9c3d-0123456789ab", EnvironmentID: "env-abc123",
		VNet: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet"}
	app := control.ProviderApp{AppID: "f0955e3a-9013-4cf4-a1ea-21587621c9cc", LoginURL: "https://login.microsoftonline.com/"}
	f := control.NewGrantFixes(app, p)
	if f.ConsentURL != "https://login.microsoftonline.com/"+p.Tenant+"/oauth2/authorize?client_id="+app.AppID+"&response_type=code" {
		t.Fatalf("consent URL %q", f.ConsentURL)
	}
	for what, got := range map[string]string{
		"create":  f.RoleDefinitionCreate,
		"update":  f.RoleDefinitionUpdate,
		"assign":  f.RoleAssignmentCreate,
		"tag":     f.Tag,
		"list":    f.RoleDefinitionList,
		"sp":      f.CreateServicePrincipal,
		"advice":  control.PeeringRoleAdvice,
		"rolefix": f.RoleFix(control.ActionPeer),
	} {
		want := map[string][]string{
			"create":  {`"AssignableScopes":["/subscriptions/` + sub + `"]`, control.ActionPeer, control.ActionVNetRead},
			"update":  {`"/subscriptions/` + sub + `" to "assignableScopes"`, "az role definition update --role-definition @peering-role.json"},
			"assign":  {"--scope \"" + p.VNet + "\"", "appId eq '" + app.AppID + "'"},
			"tag":     {`az resource show --ids "` + p.VNet + `" --query "tags.ConfluentEnvIDs"`, `--tags "ConfluentEnvIDs=${TAG:+$TAG,}env-abc123"`, "--is-incremental"},
			"list":    {`az role definition list --custom-role-only true --name "Confluent Cloud Peering Creator"`},
			"sp":      {"az ad sp create --id " + app.AppID},
			"advice":  {"once per tenant", "AssignableScopes", "az role definition update", "on each VNet"},
			"rolefix": {control.ActionPeer, f.RoleDefinitionList, f.RoleDefinitionUpdate, f.RoleDefinitionCreate, f.RoleAssignmentCreate, control.PeeringRoleAdvice},
		}[what]
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s %q lacks %q", what, got, w)
			}
		}
	}
	// The role is created only when the existence check finds none.
	rf := f.RoleFix(control.ActionPeer)
	if strings.Index(rf, f.RoleDefinitionList) > strings.Index(rf, f.RoleDefinitionCreate) {
		t.Errorf("RoleFix creates the role before checking it exists:\n%s", rf)
	}
	if got := control.VNetRef(p.VNet); got != "rg/vnet in subscription "+sub {
		t.Errorf("VNetRef = %q", got)
	}
}
