package control

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The peering checklist: the reconciler's steps (SPEC.md, "The flow"), in
// order. Each step's check passes, fails with one of the Peering… error
// codes, is pending (done next) or skipped (an earlier step failed). The
// reconciler stores the checklist of its last pass with the peering's
// status, so the API, the console and the CLI read it without asking Azure.
const (
	StepConsent      = "consent"       // a token for the customer tenant: the app is consented there
	StepReadVNet     = "read_vnet"     // the app reads the customer VNet
	StepTag          = "tag"           // the VNet's ConfluentEnvIDs tag lists the environment
	StepAddressSpace = "address_space" // private, overlapping neither the network nor its other peers
	StepRegion       = "region"        // the network's region, or an allowed pair
	StepProviderHalf = "provider_half" // provider VNet → customer VNet
	StepCustomerHalf = "customer_half" // customer VNet → provider VNet
)

// PeeringSteps are the steps in the reconciler's order.
var PeeringSteps = []string{StepConsent, StepReadVNet, StepTag, StepAddressSpace, StepRegion, StepProviderHalf, StepCustomerHalf}

var stepTitles = map[string]string{
	StepConsent:      "The provider app is present in the customer tenant (admin consent)",
	StepReadVNet:     "The app can read the customer VNet",
	StepTag:          "The VNet's " + EnvTag + " tag lists the environment",
	StepAddressSpace: "The VNet's address space is private and does not overlap",
	StepRegion:       "The customer region is the network's region, or the pair is allowed",
	StepProviderHalf: "Provider VNet → customer VNet peering",
	StepCustomerHalf: "Customer VNet → provider VNet peering",
}

// StepTitle returns the title of step, or step itself if it is unknown.
func StepTitle(step string) string {
	if t, ok := stepTitles[step]; ok {
		return t
	}
	return step
}

// Check statuses.
const (
	CheckPass    = "PASS"
	CheckFail    = "FAIL"
	CheckPending = "PENDING" // not done yet: the reconciler does it next
	CheckSkipped = "SKIPPED" // an earlier step failed
)

// Check is one step of a peering's checklist.
type Check struct {
	Step      string // one of the Step… names
	Title     string
	Status    string // one of the Check… statuses
	ErrorCode string // a Peering… code when Status is FAIL
	// Evidence is what the reconciler observed. For a failed check it is
	// the peering's error_message: at most two sentences naming what is
	// missing and where (tenant, principal, action, scope, prefixes),
	// without commands.
	Evidence string
	// Fix is how to fix a failed check: the steps and the commands,
	// pre-filled with the customer's ids. Empty unless Status is FAIL.
	Fix string
}

// PassCheck returns step passed, with what was observed.
func PassCheck(step, evidence string) Check {
	return Check{Step: step, Title: StepTitle(step), Status: CheckPass, Evidence: evidence}
}

// FailCheck returns step failed with code: evidence is the short message
// (what is missing and where), fix the way out.
func FailCheck(step, code, evidence, fix string) Check {
	return Check{Step: step, Title: StepTitle(step), Status: CheckFail, ErrorCode: code, Evidence: evidence, Fix: fix}
}

// SkippedCheck returns step skipped: an earlier step failed.
func SkippedCheck(step string) Check {
	return Check{Step: step, Title: StepTitle(step), Status: CheckSkipped}
}

// PendingCheck returns step not done yet, with why.
func PendingCheck(step, evidence string) Check {
	return Check{Step: step, Title: StepTitle(step), Status: CheckPending, Evidence: evidence}
}

// Checklist is the outcome of the reconciler's last pass over a peering:
// one check per step, the commands that grant the provider app access to
// the VNet, and when the pass ran. The zero Checklist means the peering
// has not been checked yet.
type Checklist struct {
	Checks []Check
	Fixes  GrantFixes
	// CheckedAt is when the pass that produced this checklist ran. A later
	// pass that finds the same checklist writes nothing, so CheckedAt is
	// when the checklist last changed.
	CheckedAt time.Time
}

// notChecked is the evidence of the steps of a peering never checked.
const notChecked = "Not checked yet: the reconciler checks it next."

// IsZero reports whether the peering was never checked.
func (l Checklist) IsZero() bool { return len(l.Checks) == 0 && l.CheckedAt.IsZero() }

// Check returns the check of step, PENDING when the checklist lacks it.
func (l Checklist) Check(step string) Check {
	for _, c := range l.Checks {
		if c.Step == step {
			return c
		}
	}
	return PendingCheck(step, notChecked)
}

// AllChecks returns one check per step, in order: the stored ones, and
// PENDING for the steps the checklist lacks (all of them when the peering
// was never checked).
func (l Checklist) AllChecks() []Check {
	out := make([]Check, len(PeeringSteps))
	for i, step := range PeeringSteps {
		out[i] = l.Check(step)
	}
	return out
}

// Failed returns the first failed check, if any.
func (l Checklist) Failed() (Check, bool) {
	for _, c := range l.Checks {
		if c.Status == CheckFail {
			return c, true
		}
	}
	return Check{}, false
}

// Equal reports whether l and o hold the same checks and fixes; CheckedAt
// is not compared, so a pass that found nothing new need not be written.
func (l Checklist) Equal(o Checklist) bool {
	return slices.Equal(l.Checks, o.Checks) && l.Fixes == o.Fixes
}

// Equal reports whether s and o are the same status, checklists compared
// with Checklist.Equal.
func (s PeeringStatus) Equal(o PeeringStatus) bool {
	return s.Phase == o.Phase && s.ErrorCode == o.ErrorCode && s.ErrorMessage == o.ErrorMessage && s.Checklist.Equal(o.Checklist)
}

// PeeringStatusOf returns the status a checklist leads to, carrying it:
// DISCONNECTED when a check failed with PeeringDisconnected, FAILED with
// the first failed check's code and evidence, READY when every step
// passed, PROVISIONING otherwise (a step is still pending).
func PeeringStatusOf(l Checklist) PeeringStatus {
	if c, ok := l.Failed(); ok {
		phase := PhaseFailed
		if c.ErrorCode == PeeringDisconnected {
			phase = PhaseDisconnected
		}
		return PeeringStatus{Phase: phase, ErrorCode: c.ErrorCode, ErrorMessage: c.Evidence, Checklist: l}
	}
	for _, step := range PeeringSteps {
		if l.Check(step).Status != CheckPass {
			return PeeringStatus{Phase: PhaseProvisioning, Checklist: l}
		}
	}
	return PeeringStatus{Phase: PhaseReady, Checklist: l}
}

// The grant: what the customer gives the provider app on their VNet.
const (
	// PeeringCreatorRole is the custom role the customer creates and
	// assigns to the provider app's service principal on their VNet.
	PeeringCreatorRole = "Confluent Cloud Peering Creator"
	// EnvTag is the VNet tag listing the environments allowed to peer
	// with it, comma-separated.
	EnvTag = "ConfluentEnvIDs"
)

// PeeringCreatorActions are the role's actions, each needed by one step.
var PeeringCreatorActions = []string{
	ActionVNetRead,
	ActionPeeringRead,
	ActionPeeringWrite,
	ActionPeeringDelete,
	ActionPeer,
}

// The role's actions.
const (
	ActionVNetRead      = "Microsoft.Network/virtualNetworks/read"
	ActionPeeringRead   = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read"
	ActionPeeringWrite  = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write"
	ActionPeeringDelete = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete"
	ActionPeer          = "Microsoft.Network/virtualNetworks/peer/action"
)

// PeeringRoleAdvice is how the role is managed, in one text for the
// reconciler's fixes, the console and the CLI: role names are unique in a
// tenant, so the role is created once and extended, never created again.
const PeeringRoleAdvice = `Create the role "` + PeeringCreatorRole + `" once per tenant: role names are unique in a tenant. ` +
	`List every subscription whose VNets you peer in its AssignableScopes, add a subscription later with az role definition update, ` +
	`and assign the role on each VNet.`

// ProviderApp is the provider's multi-tenant app as customers see it.
type ProviderApp struct {
	// AppID is the client id customers consent to.
	AppID string
	// LoginURL is the Entra ID authority host of the consent link, such
	// as https://login.microsoftonline.com.
	LoginURL string
}

// GrantFixes are the links and az commands that grant the provider app
// access to one customer VNet, pre-filled with the customer's ids.
type GrantFixes struct {
	ConsentURL             string // admin consent, opened by a Global Administrator
	CreateServicePrincipal string // or: create the app's service principal
	RoleDefinitionList     string // does the role exist in the tenant?
	RoleDefinitionCreate   string // create the role, if it does not exist
	RoleDefinitionUpdate   string // add the VNet's subscription to an existing role
	RoleAssignmentCreate   string // assign the role to the app on the VNet
	Tag                    string // add the environment to the VNet's tag
}

// NewGrantFixes returns the fixes for peering p's VNet with p's
// environment. They name nothing of the VNet but what the peering names:
// the tag command reads the tag's current value in the customer's shell
// and extends it, so that the environments of others that peer with the
// VNet are kept, and never shown.
func NewGrantFixes(app ProviderApp, p *Peering) GrantFixes {
	sub := VNetSubscription(p.VNet)
	role, _ := json.Marshal(map[string]any{
		"Name":             PeeringCreatorRole,
		"Description":      "Perform cross-tenant network peering.",
		"Actions":          PeeringCreatorActions,
		"AssignableScopes": []string{"/subscriptions/" + sub},
	})
	list := fmt.Sprintf("az role definition list --custom-role-only true --name %q", PeeringCreatorRole)
	return GrantFixes{
		ConsentURL:             fmt.Sprintf("%s/%s/oauth2/authorize?client_id=%s&response_type=code", strings.TrimRight(app.LoginURL, "/"), p.Tenant, app.AppID),
		CreateServicePrincipal: "az ad sp create --id " + app.AppID,
		RoleDefinitionList:     list + ` --query "[].assignableScopes"`,
		RoleDefinitionCreate:   fmt.Sprintf("az role definition create --output none --role-definition '%s'", role),
		RoleDefinitionUpdate: list + ` --query "[0]" --output json > peering-role.json` + "\n" +
			fmt.Sprintf(`# add "/subscriptions/%s" to "assignableScopes" in peering-role.json, then:`, sub) + "\n" +
			"az role definition update --role-definition @peering-role.json",
		RoleAssignmentCreate: fmt.Sprintf(`az role assignment create --role %q --assignee "$(az ad sp list --filter "appId eq '%s'" --output tsv --query '[0].id')" --scope %q`,
			PeeringCreatorRole, app.AppID, p.VNet),
		Tag: fmt.Sprintf(`TAG="$(az resource show --ids %q --query "tags.%s" --output tsv)"`, p.VNet, EnvTag) + "\n" +
			fmt.Sprintf(`az resource tag --is-incremental --ids %q --tags "%s=${TAG:+$TAG,}%s"`, p.VNet, EnvTag, p.EnvironmentID),
	}
}

// RoleFix is the fix for a check that needs action on the VNet: make sure
// the role exists with the action and the VNet's subscription, without
// creating it twice, then assign it on the VNet.
func (f GrantFixes) RoleFix(action string) string {
	return fmt.Sprintf("The role %q must grant %s and be assigned to the app on the VNet.\n", PeeringCreatorRole, action) +
		"1. Does the role exist in the tenant? " + f.RoleDefinitionList + "\n" +
		"2. If it prints nothing, create it:\n" + f.RoleDefinitionCreate + "\n" +
		"   If it exists without the action or the VNet's subscription, add them:\n" + f.RoleDefinitionUpdate + "\n" +
		"3. Assign it on the VNet (skip if already assigned):\n" + f.RoleAssignmentCreate + "\n" +
		PeeringRoleAdvice
}

// TagHas reports whether the comma-separated tag value lists envID.
func TagHas(tag, envID string) bool {
	for _, v := range strings.Split(tag, ",") {
		if strings.EqualFold(strings.TrimSpace(v), envID) {
			return true
		}
	}
	return false
}

// VNetSubscription returns the subscription id of a VNet resource id, or
// "" if id is not one.
func VNetSubscription(id string) string {
	v, err := ParseVNetID("", id)
	if err != nil {
		return ""
	}
	return v.SubscriptionID
}

// VNetRef names a VNet resource id in messages: "rg/name in subscription
// sub", or id itself if it is not a VNet resource id.
func VNetRef(id string) string {
	v, err := ParseVNetID("", id)
	if err != nil {
		return id
	}
	return v.ResourceGroup + "/" + v.Name + " in subscription " + v.SubscriptionID
}
