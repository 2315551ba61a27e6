package console

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/reconcile"
)

// grantStep is one step of "Grant access", checked off from the diagnosis.
type grantStep struct {
	N       int
	Title   string
	State   string // done, todo or unknown (an earlier check failed)
	Text    string
	Link    string
	Command string
	Note    string
}

// half is one Azure half of the peering, from the diagnosis.
type half struct {
	Title, Status, Evidence string
}

// peeringView is what the peering page shows.
type peeringView struct {
	Env     *control.Environment
	Net     *control.Network
	P       *control.Peering
	VNet    vnetParts
	Diag    *reconcile.Diagnosis
	DiagErr string
	Steps   []grantStep
	Halves  []half
	History []historyEntry
	CSRF    string
	AppID   string
	// DeleteError is shown next to the confirmation field.
	DeleteError string
}

func (v *peeringView) Checks() []reconcile.Check {
	if v.Diag == nil {
		return nil
	}
	return v.Diag.Checks
}

// ShowGrant reports whether the grant-access steps are worth showing.
func (v *peeringView) ShowGrant() bool {
	return v.Diag != nil && v.P.Status.Phase != control.PhaseDeprovisioning
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
	return &peeringView{Env: env, Net: n, P: p, VNet: splitVNet(p.VNet), History: c.history.get(p.ID), AppID: c.opts.AppID}, nil
}

// diagnose fills the checklist, the grant steps and the halves.
func (c *Console) diagnose(ctx context.Context, v *peeringView) {
	if c.opts.Diagnose == nil {
		return
	}
	d, err := c.opts.Diagnose(ctx, v.P)
	if err != nil {
		v.DiagErr = "The checklist is not available right now: " + c.userMessage(err)
		return
	}
	v.Diag = d
	checks := map[string]reconcile.Check{}
	permissionDenied := false
	for _, ch := range d.Checks {
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
		case checks[dependsOn].Status == reconcile.CheckSkipped || checks[dependsOn].Status == reconcile.CheckPending:
			return "unknown"
		}
		return "todo"
	}
	read := checks["read_vnet"].Status == reconcile.CheckPass
	v.Steps = []grantStep{
		{N: 1, Title: "Consent to the provider app in your tenant", State: state(checks["consent"].Status == reconcile.CheckPass, "consent"),
			Text: fmt.Sprintf("A Global Administrator of tenant %s opens this link, signs in and accepts. This adds the app %s to the tenant.", v.P.Tenant, c.opts.AppID),
			Link: d.Fixes.ConsentURL, Command: d.Fixes.CreateSPCommand, Note: "Or, as that administrator, with the az CLI:"},
		{N: 2, Title: "Create the custom role", State: state(read && !permissionDenied, "read_vnet"),
			Text:    "Create the role \u201c" + reconcile.PeeringCreatorRole + "\u201d with the five network actions peering needs, assignable in the VNet's subscription:",
			Command: d.Fixes.RoleDefinitionCreate,
			Note:    "Role names are unique in a tenant: when VNets in several subscriptions peer, create the role once and list every subscription under AssignableScopes (\"/subscriptions/<id1>\", \"/subscriptions/<id2>\"), or add one with az role definition update."},
		{N: 3, Title: "Assign the role to the app on your VNet", State: state(read, "read_vnet"),
			Text: "Assign the role to the app's service principal, scoped to the VNet only:", Command: d.Fixes.RoleAssignmentCreate},
		{N: 4, Title: "Tag the VNet with the environment", State: state(checks["tag"].Status == reconcile.CheckPass, "tag"),
			Text:    fmt.Sprintf("The %s tag lists the environments allowed to peer with the VNet (comma-separated); add %s:", reconcile.EnvTag, v.P.EnvironmentID),
			Command: d.Fixes.TagCommand},
	}
	v.Halves = []half{
		{Title: "Provider VNet → your VNet", Status: checks["provider_half"].Status, Evidence: checks["provider_half"].Evidence},
		{Title: "Your VNet → provider VNet", Status: checks["customer_half"].Status, Evidence: checks["customer_half"].Evidence},
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
	c.diagnose(r.Context(), v)
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
// customer tenant (the diagnosis's consent check)?
func (c *Console) continuePeering(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := c.loadPeering(r.Context(), r.PathValue("env"), r.PathValue("id"))
	if err != nil {
		c.renderServiceError(w, r, s, err)
		return
	}
	c.diagnose(r.Context(), v)
	res := actionResult{}
	switch {
	case v.Diag == nil:
		res.Message = v.DiagErr
	case len(v.Diag.Checks) > 0 && v.Diag.Checks[0].Step == "consent" && v.Diag.Checks[0].Status == reconcile.CheckPass:
		res.OK = true
		res.Message = fmt.Sprintf("The provider app %s is present in tenant %s. Click Create connection to peer now.", c.opts.AppID, v.P.Tenant)
	case len(v.Diag.Checks) > 0 && v.Diag.Checks[0].Step == "consent" && v.Diag.Checks[0].Status == reconcile.CheckFail:
		res.Message = fmt.Sprintf("The provider app %s is not present in tenant %s yet: a Global Administrator must open the consent link (step 1) and accept.", c.opts.AppID, v.P.Tenant)
	default:
		res.Message = "The consent could not be checked yet: " + firstSentence(v.Diag.Checks[0].Evidence)
	}
	res.Patches = c.peeringPatches(v)
	c.respond(w, r, s, res)
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
	ps := []patch{
		{Key: "status", HTML: c.fragment("peering-status", v)},
		{Key: "history", HTML: c.fragment("history", v)},
	}
	if v.Diag != nil || v.DiagErr != "" {
		ps = append(ps, patch{Key: "grant", HTML: c.fragment("grant", v)}, patch{Key: "checks", HTML: c.fragment("checks", v)})
	}
	return ps
}
