package console

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/peerplane/peerplane/internal/control"
)

// grantStep is one step of "Grant access", checked off from the checklist.
type grantStep struct {
	N       int
	Title   string
	State   string // done, todo or unknown (an earlier check failed)
	Text    string
	Link    string
	Command string
	Note    string
}

// half is one Azure half of the peering, from the checklist.
type half struct {
	Title, Status, Evidence string
}

// peeringView is what the peering page shows. The checklist is the one the
// reconciler stored with the peering's status: rendering it asks nothing
// of Azure.
type peeringView struct {
	Env     *control.Environment
	Net     *control.Network
	P       *control.Peering
	VNet    vnetParts
	Checks  []control.Check // every step, PENDING until the reconciler checks it
	Fixes   control.GrantFixes
	Steps   []grantStep
	Halves  []half
	History []historyEntry
	CSRF    string
	AppID   string
	// ConsentLink is step 1's link: Entra's admin-consent endpoint with
	// this console as redirect_uri when it is a registered reply URL,
	// otherwise the stored checklist's link.
	ConsentLink string
	// TrustCA says the embedded Azure's certificate comes from
	// Peerplane's private CA, which the console offers for download.
	TrustCA bool
	// Action is the result line of the session's last "Continue" or
	// "Create connection" on this peering.
	Action actionView
	// DeleteError is shown next to the confirmation field.
	DeleteError string
}

// ShowGrant reports whether the grant-access card belongs on the page:
// not once the peering is Active (it comes back if the peering fails
// again) nor while it is being deleted.
func (v *peeringView) ShowGrant() bool {
	return v.P.Status.Phase != control.PhaseReady && v.P.Status.Phase != control.PhaseDeprovisioning
}

// FixSteps returns the numbers of the grant steps that fix check, when it
// failed and the grant card is shown: the checklist then points at them
// rather than repeating their commands.
func (v *peeringView) FixSteps(ch control.Check) []int {
	if ch.Status != control.CheckFail || !v.ShowGrant() {
		return nil
	}
	return grantStepsFor(ch)
}

// grantStepsFor returns the grant steps that fix a failed check: the
// consent, the role (its creation and assignment), the tag; none for a
// check the grant does not fix (a wrong VNet, an overlap, a region, a
// deleted half).
func grantStepsFor(ch control.Check) []int {
	switch {
	case ch.Step == control.StepConsent && ch.ErrorCode == control.PeeringAppNotConsented:
		return []int{1}
	case ch.Step == control.StepReadVNet && ch.ErrorCode == control.PeeringPermissionDenied:
		return []int{2, 3}
	case ch.Step == control.StepTag:
		return []int{4}
	case (ch.Step == control.StepProviderHalf || ch.Step == control.StepCustomerHalf) && ch.ErrorCode == control.PeeringPermissionDenied:
		return []int{2}
	}
	return nil
}

func (c *Console) loadPeering(ctx context.Context, envID, id string) (*peeringView, error) {
	env, err := c.opts.Environments.FindEnvironmentByID(ctx, envID)
	if err != nil {
		return nil, err
	}
	p, err := c.opts.Peerings.FindPeeringByID(ctx, envID, id)
	if err != nil {
		return nil, err
	}
	n, err := c.opts.Networks.FindNetworkByID(ctx, envID, p.NetworkID)
	if err != nil {
		return nil, err
	}
	c.history.observe(p)
	v := &peeringView{Env: env, Net: n, P: p, VNet: splitVNet(p.VNet), History: c.history.get(p.ID), AppID: c.opts.AppID,
		TrustCA: len(c.opts.AzureCA) > 0}
	c.setChecks(v, p.Status.Checklist.AllChecks(), p.Status.Checklist.Fixes)
	return v, nil
}

// sessionPeering is loadPeering for session s's request r: with the CSRF
// token, step 1's link back to this console, and the result line of the
// session's last action, whose fresh consent check counts over a stored
// one it is newer than. An Active peering ends the action: the card and
// its line go, and when the peering fails again the card comes back
// without a line about an action that is over.
func (c *Console) sessionPeering(ctx context.Context, r *http.Request, s *session, envID, id string) (*peeringView, error) {
	v, err := c.loadPeering(ctx, envID, id)
	if err != nil {
		return nil, err
	}
	v.CSRF = s.csrf
	v.ConsentLink = c.adminConsentLink(r, v.P)
	if v.P.Status.Phase == control.PhaseReady {
		s.forgetAction(id)
	}
	checks := v.Checks
	a, ok := s.action(id)
	if ok {
		checks = a.merge(v.P.Status.Checklist, checks)
	}
	c.setChecks(v, checks, v.Fixes)
	if ok {
		v.Action = c.actionLine(v, a)
	}
	return v, nil
}

// setChecks fills the checklist, the grant steps and the halves. Step 1
// links to v.ConsentLink, or to the stored link when that is empty.
func (c *Console) setChecks(v *peeringView, list []control.Check, fixes control.GrantFixes) {
	v.Checks, v.Fixes = list, fixes
	if v.ConsentLink == "" {
		v.ConsentLink = fixes.ConsentURL
	}
	checks := map[string]control.Check{}
	permissionDenied := false
	for _, ch := range list {
		checks[ch.Step] = ch
		if ch.ErrorCode == control.PeeringPermissionDenied {
			permissionDenied = true
		}
	}
	ready := v.P.Status.Phase == control.PhaseReady
	state := func(done bool, dependsOn string) string {
		switch {
		case done || ready:
			return "done"
		case checks[dependsOn].Status == control.CheckSkipped || checks[dependsOn].Status == control.CheckPending:
			return "unknown"
		}
		return "todo"
	}
	read := checks[control.StepReadVNet].Status == control.CheckPass
	v.Steps = []grantStep{
		{N: 1, Title: "Consent to the provider app in your tenant", State: state(checks[control.StepConsent].Status == control.CheckPass, control.StepConsent),
			Text: fmt.Sprintf("A Global Administrator of tenant %s opens this link, signs in and accepts. This adds the app %s to the tenant.", v.P.Tenant, c.opts.AppID),
			Link: v.ConsentLink, Command: fixes.CreateServicePrincipal, Note: "Or, as that administrator, with the az CLI:"},
		{N: 2, Title: "Create the custom role", State: state(read && !permissionDenied, control.StepReadVNet),
			Text:    "Create the role \u201c" + control.PeeringCreatorRole + "\u201d with the five network actions peering needs, assignable in the VNet's subscription:",
			Command: fixes.RoleDefinitionCreate,
			Note:    control.PeeringRoleAdvice},
		{N: 3, Title: "Assign the role to the app on your VNet", State: state(read, control.StepReadVNet),
			Text: "Assign the role to the app's service principal, scoped to the VNet only:", Command: fixes.RoleAssignmentCreate},
		{N: 4, Title: "Tag the VNet with the environment", State: state(checks[control.StepTag].Status == control.CheckPass, control.StepTag),
			Text:    fmt.Sprintf("The %s tag lists the environments allowed to peer with the VNet (comma-separated); add %s:", control.EnvTag, v.P.EnvironmentID),
			Command: fixes.Tag},
	}
	v.Halves = []half{
		{Title: "Provider VNet → your VNet", Status: checks[control.StepProviderHalf].Status, Evidence: checks[control.StepProviderHalf].Evidence},
		{Title: "Your VNet → provider VNet", Status: checks[control.StepCustomerHalf].Status, Evidence: checks[control.StepCustomerHalf].Evidence},
	}
}

func (c *Console) peeringPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showPeering(w, r, s, http.StatusOK, "")
}

func (c *Console) showPeering(w http.ResponseWriter, r *http.Request, s *session, status int, deleteErr string) {
	v, err := c.sessionPeering(r.Context(), r, s, r.PathValue("env"), r.PathValue("id"))
	if err != nil {
		c.renderServiceError(w, r, s, err)
		return
	}
	v.DeleteError = deleteErr
	c.render(w, r, status, "peering", page{Title: v.P.DisplayName, Session: s,
		Crumbs: []crumb{{"Environments", Prefix + "environments"}, {v.Env.DisplayName, envURL(v.Env.ID)}, {v.Net.DisplayName, networkURL(v.Env.ID, v.Net.ID)}},
		Data:   v})
}

func (c *Console) deletePeering(w http.ResponseWriter, r *http.Request, s *session) {
	env, id := r.PathValue("env"), r.PathValue("id")
	p, err := c.opts.Peerings.FindPeeringByID(r.Context(), env, id)
	if err != nil {
		c.renderServiceError(w, r, s, err)
		return
	}
	if strings.TrimSpace(r.PostFormValue("confirm")) != p.DisplayName {
		c.showPeering(w, r, s, http.StatusBadRequest, fmt.Sprintf("Type the peering's name, %s, to confirm.", p.DisplayName))
		return
	}
	if err := c.opts.Peerings.DeletePeering(r.Context(), env, id); err != nil {
		c.renderServiceError(w, r, s, err)
		return
	}
	s.setFlash(fmt.Sprintf("Peering %s (%s) is being deleted: both halves are removed from Azure, then it disappears.", p.DisplayName, p.ID))
	http.Redirect(w, r, networkURL(env, p.NetworkID), http.StatusSeeOther)
}

// peeringPatches renders the parts of the peering page an action or a
// change replaces: the status, the history, the grant card (its steps,
// buttons and the action's result line) and the checklist.
func (c *Console) peeringPatches(v *peeringView) []patch {
	return []patch{
		{Key: "status", HTML: c.fragment("peering-status", v)},
		{Key: "history", HTML: c.fragment("history", v)},
		{Key: "grant-card", HTML: c.fragment("grant-card", v)},
		{Key: "checks", HTML: c.fragment("checks", v)},
	}
}
