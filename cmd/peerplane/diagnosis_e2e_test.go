package main

// End-to-end tests of the diagnoses: against the real server and the
// embedded Azure, each failure gets the code and the message that point
// at the actual cause, and following the fix works.

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/google/uuid"

	"github.com/peerplane/peerplane/internal/control"
)

// addSubscription seeds one more Contoso subscription (its admin becomes
// Owner) with resource group rg.
func (e *e2e) addSubscription(rg string) string {
	e.t.Helper()
	sub := addSubscription(e.t, e.r)
	c, err := armresources.NewResourceGroupsClient(sub, e.admin, e.armOpts)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := c.CreateOrUpdate(e.t.Context(), rg, armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); err != nil {
		e.t.Fatalf("create resource group: %v", err)
	}
	return sub
}

// armCode is the ARM error code of err, or "".
func armCode(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

var sentenceEnd = regexp.MustCompile(`[.!?]["')\]]?(\s|$)`)

// wantShort fails unless msg is one or two sentences without a command.
func wantShort(t *testing.T, msg string) {
	t.Helper()
	if n := len(sentenceEnd.FindAllString(msg, -1)); n < 1 || n > 2 || strings.Contains(msg, "az ") || strings.Contains(msg, "\n") {
		t.Fatalf("error_message is not one or two sentences without commands:\n%s", msg)
	}
}

// checkOf returns the diagnosis's check of step.
func checkOf(t *testing.T, d e2eDiagnosis, step string) (c struct {
	Step, Title, Status, Evidence, Fix string
	ErrorCode                          string `json:"error_code"`
}) {
	t.Helper()
	for _, c := range d.Checks {
		if c.Step == step {
			return c
		}
	}
	t.Fatalf("diagnosis has no step %s: %+v", step, d)
	return
}

// TestE2EDiagnosesNeverMislead: a tenant that does not exist is
// TENANT_NOT_FOUND, not a consent to give; a mistyped VNet name, with the
// role assigned on the real VNet, says the VNet may not exist and does
// not send the customer to create a role that exists.
func TestE2EDiagnosesNeverMislead(t *testing.T) {
	e := startE2E(t, "")
	env := e.createEnv("prod")
	n := e.createNetwork(env, "prod-net", "eastus", "10.10.0.0/16")

	// A valid GUID, but no tenant at all.
	ghost := uuid.NewString()
	id := e.createPeeringIn(env, n.GetId(), "ghost", ghost, vnetIDOf("contoso-network", "ghost-vnet"), "eastus")
	msg := e.waitFailed(env, id, control.PeeringTenantNotFound)
	wantShort(t, msg)
	if !strings.Contains(msg, "Tenant "+ghost+" does not exist") || strings.Contains(strings.ToLower(msg), "consent") {
		t.Fatalf("TENANT_NOT_FOUND message:\n%s", msg)
	}
	c := checkOf(t, e.diagnose(env, id), control.StepConsent)
	if c.Status != "FAIL" || c.ErrorCode != control.PeeringTenantNotFound || !strings.Contains(c.Fix, "az account show --subscription "+demoSubscription+" --query tenantId") {
		t.Fatalf("consent check of an unknown tenant: %+v", c)
	}

	// Everything granted on the real VNet; the peering names another.
	e.grantDemoVNet(env)
	typo := vnetIDOf("contoso-network", "contoso-vnte")
	id = e.createPeering(env, n.GetId(), "typo", typo, "eastus")
	msg = e.waitFailed(env, id, control.PeeringPermissionDenied)
	wantShort(t, msg)
	for _, want := range []string{"Either VNet contoso-network/contoso-vnte in subscription " + demoSubscription + " does not exist",
		"service principal " + e.spID + " in tenant " + demoTenant, "lacks Microsoft.Network/virtualNetworks/read"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("the message does not say %q:\n%s", want, msg)
		}
	}
	d := e.diagnose(env, id)
	c = checkOf(t, d, control.StepReadVNet)
	list, create := strings.Index(c.Fix, "az role definition list --custom-role-only true --name"), strings.Index(c.Fix, "az role definition create")
	if !strings.Contains(c.Fix, `az network vnet show --ids "`+typo+`"`) || list < 0 || create < list ||
		!strings.Contains(c.Fix[list:create], "If it prints nothing") {
		t.Fatalf("read_vnet fix does not check the names first and the role's existence before creating it:\n%s", c.Fix)
	}
	// The fix's first step tells the causes apart: the admin reading that
	// VNet hears ResourceNotFound.
	_, err := e.vnets(e.admin, demoSubscription).Get(t.Context(), "contoso-network", "contoso-vnte", nil)
	if code := armCode(err); code != "ResourceNotFound" {
		t.Fatalf("the admin reading the mistyped VNet: %v, want ResourceNotFound", err)
	}
	// And re-creating the role, the old advice, fails: it exists.
	e.roleID = ""
	if err := e.tryPutRole([]string{demoSubscription}, e2eRoleActions...); armCode(err) != "RoleDefinitionWithSameNameExists" {
		t.Fatalf("creating the role again: %v, want RoleDefinitionWithSameNameExists", err)
	}

	// With the right name, the same grants peer.
	e.waitPeering(env, e.createPeering(env, n.GetId(), "right", demoVNetID, "eastus"), "READY")
}

// TestE2EMultiSubscriptionRole: VNets of two subscriptions of one tenant
// peer through one role, created once and extended to the second
// subscription as the advice says.
func TestE2EMultiSubscriptionRole(t *testing.T) {
	e := startE2E(t, "")
	env := e.createEnv("prod")
	n := e.createNetwork(env, "prod-net", "eastus", "10.10.0.0/16")
	e.grantDemoVNet(env)
	e.waitPeering(env, e.createPeering(env, n.GetId(), "first", demoVNetID, "eastus"), "READY")

	// A VNet in a second subscription: the role is not assignable there.
	sub2 := e.addSubscription("apps")
	vnet2 := e.createVNetIn(sub2, "apps", "apps-vnet", "eastus", "10.60.0.0/16")
	e.tag(vnet2, env)
	if _, err := e.tryAssign(vnet2); err == nil {
		t.Fatal("the role was assigned outside its AssignableScopes")
	}
	id := e.createPeering(env, n.GetId(), "second", vnet2, "eastus")
	msg := e.waitFailed(env, id, control.PeeringPermissionDenied)
	wantShort(t, msg)
	d := e.diagnose(env, id)
	c := checkOf(t, d, control.StepReadVNet)
	update, _ := d.Fixes["role_definition_update_command"].(string)
	if !strings.Contains(c.Fix, control.PeeringRoleAdvice) || !strings.Contains(update, `"/subscriptions/`+sub2+`" to "assignableScopes"`) ||
		!strings.Contains(update, "az role definition update") {
		t.Fatalf("the fix does not advise extending the role to %s:\n%s\nupdate: %s", sub2, c.Fix, update)
	}

	// Creating the role again for the second subscription fails ...
	first := e.roleID
	e.roleID = ""
	if err := e.tryPutRole([]string{sub2}, e2eRoleActions...); armCode(err) != "RoleDefinitionWithSameNameExists" {
		t.Fatalf("a second role of the same name: %v, want RoleDefinitionWithSameNameExists", err)
	}
	// ... updating it with both subscriptions and assigning it on the
	// second VNet peers it, the first peering untouched.
	e.roleID = first
	e.putRoleIn([]string{demoSubscription, sub2}, e2eRoleActions...)
	e.assign(vnet2)
	e.waitPeering(env, id, "READY")
	if p, _ := e.getPeering(env, id); phaseOf(p) != "READY" {
		t.Fatalf("second peering %s", phaseOf(p))
	}
}
