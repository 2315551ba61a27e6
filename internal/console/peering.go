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
	// DeleteError is shown next to the confirmation field.
	DeleteError string
}

// ShowGrant reports whether the grant-access steps are worth showing.
func (v *peeringView) ShowGrant() bool {
	return v.P.Status.Phase != control.PhaseDeprovisioning
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
	v := &peeringView{Env: env, Net: n, P: p, VNet: splitVNet(p.VNet), History: c.history.get(p.ID), AppID: c.opts.AppID}
	c.setChecks(v, p.Status.Checklist.AllChecks(), p.Status.Checklist.Fixes)
	return v, nil
}

// setChecks fills the checklist, the grant steps and the halves.
func (c *Console) setChecks(v *peeringView, list []control.Check, fixes control.GrantFixes) {
	v.Checks, v.Fixes = list, fixes
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
			Link: fixes.ConsentURL, Command: fixes.CreateServicePrincipal, Note: "Or, as that administrator, with the az CLI:"},
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
	v, err := c.loadPeering(r.Context(), r.PathValue("env"), r.PathValue("id"))
	if err != nil {
		c.renderServiceError(w, r, s, err)
		return
	}
	v.CSRF, v.DeleteError = s.csrf, deleteErr
	c.render(w, r, status, "peering", page{Title: v.P.DisplayName, Session: s,
		Crumbs: []crumb{{"Environments", Prefix + "environments"}, {v.Env.DisplayName, envURL(v.Env.ID)}, {v.Net.DisplayName, networkURL(v.Env.ID, v.Net.ID)}},
		Data:   v})
}

// respond answers an action: JSON for the page's script, otherwise a flash
// message and a redirect back to the peering.
func (c *Console) respond(w http.ResponseWriter, r *http.Request, s *session, res actionResult) {
	if isFragment(r) {
		writeJSON(w, http.StatusOK, res)
		return
	}
	s.setFlash(res.Message)
	http.Redirect(w, r, peeringURL(r.PathValue("env"), r.PathValue("id")), http.StatusSeeOther)
}

// continuePeering is "Continue": is the provider app present in the
// customer tenant? It checks the consent step alone against Azure (one
// token request) and tells which steps are still undone, from the stored
// checklist and that fresh answer.
func (c *Console) continuePeering(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := c.loadPeering(r.Context(), r.PathValue("env"), r.PathValue("id"))
	if err != nil {
		c.renderServiceError(w, r, s, err)
		return
	}
	res := actionResult{}
	if c.opts.CheckConsent == nil {
		res.Message = "The consent cannot be checked on this server."
		c.respond(w, r, s, res)
		return
	}
	consent, err := c.opts.CheckConsent(r.Context(), v.P)
	if err != nil {
		c.opts.Logger.Warn("check consent", "peering", v.P.ID, "err", err)
		res.Message = "The consent could not be checked: Azure did not answer. Try again in a moment."
		c.respond(w, r, s, res)
		return
	}
	// The fresh consent check replaces the stored one; without consent,
	// nothing after it can hold.
	checks := append([]control.Check(nil), v.Checks...)
	for i, ch := range checks {
		switch {
		case ch.Step == control.StepConsent:
			checks[i] = consent
		case consent.Status != control.CheckPass:
			checks[i] = control.SkippedCheck(ch.Step)
		}
	}
	c.setChecks(v, checks, v.Fixes)
	switch {
	case consent.Status == control.CheckPass:
		res.OK = true
		res.Message = fmt.Sprintf("The provider app %s is present in tenant %s. %s", c.opts.AppID, v.P.Tenant, undoneSteps(v.Steps))
	case consent.ErrorCode == control.PeeringAppNotConsented:
		res.Message = fmt.Sprintf("The provider app %s is not present in tenant %s yet: a Global Administrator must open the consent link (step 1) and accept.", c.opts.AppID, v.P.Tenant)
	default:
		res.Message = consent.Evidence
	}
	res.Patches = c.peeringPatches(v)
	c.respond(w, r, s, res)
}

// undoneSteps says which grant steps remain after the consent.
func undoneSteps(steps []grantStep) string {
	var todo, unknown []string
	for _, st := range steps {
		name := fmt.Sprintf("%d (%s)", st.N, strings.ToLower(st.Title[:1])+st.Title[1:])
		switch st.State {
		case "todo":
			todo = append(todo, name)
		case "unknown":
			unknown = append(unknown, name)
		}
	}
	var b strings.Builder
	if len(todo) > 0 {
		b.WriteString("Still to do: step " + strings.Join(todo, ", step ") + ". ")
	}
	if len(unknown) > 0 {
		b.WriteString("Not checked yet: step " + strings.Join(unknown, ", step ") + ". ")
	}
	if b.Len() == 0 {
		return "Click Create connection to peer now."
	}
	b.WriteString("Click Create connection once they are done.")
	return b.String()
}

// retryPeering is "Create connection": reconcile the peering now.
func (c *Console) retryPeering(w http.ResponseWriter, r *http.Request, s *session) {
	p, err := c.opts.Peerings.RetryPeering(r.Context(), r.PathValue("env"), r.PathValue("id"))
	if err != nil {
		if isFragment(r) {
			writeJSON(w, statusOf(err), actionResult{Message: c.userMessage(err)})
			return
		}
		c.renderServiceError(w, r, s, err)
		return
	}
	c.history.observe(p)
	msg := "Creating the connection: both halves of the Azure peering are being created. The status updates here."
	if p.Status.Phase == control.PhaseReady {
		msg = "The connection is already active."
	}
	c.respond(w, r, s, actionResult{OK: true, Message: msg})
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

// peeringPatches renders the live parts of the peering page.
func (c *Console) peeringPatches(v *peeringView) []patch {
	return []patch{
		{Key: "status", HTML: c.fragment("peering-status", v)},
		{Key: "history", HTML: c.fragment("history", v)},
		{Key: "grant", HTML: c.fragment("grant", v)},
		{Key: "checks", HTML: c.fragment("checks", v)},
	}
}
