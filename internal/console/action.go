package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/peerplane/peerplane/internal/control"
)

// The result line of the grant card tells what the session's last
// "Continue" or "Create connection" on a peering found. It is computed
// each time the page or its live stream renders, from that action and the
// peering as stored now, so it never goes stale: the steps a Continue
// listed tick off as the reconciler sees them done, and a Create
// connection reads Pending until the reconciler's pass has a result.

// ConsentReturnPath is where the admin-consent page sends the
// administrator back: serve registers it, as an absolute URL, as a reply
// URL of the provider app (Options.ConsentReturnURLs).
const ConsentReturnPath = Prefix + "consent-return"

const (
	actionContinue = "continue"
	actionRetry    = "retry"
)

// peeringAction is the last action a session took on a peering.
type peeringAction struct {
	kind string // actionContinue or actionRetry
	at   time.Time
	// Continue: the fresh consent check; nil when it could not be made
	// (unchecked says why).
	consent   *control.Check
	unchecked string
	// declined is the OAuth error code the admin-consent page came back
	// with (access_denied when the administrator cancelled), if any.
	declined string
}

// merge returns checks with a's fresh consent check in place of the stored
// one when it is newer than the stored checklist; without consent nothing
// after it can hold, so the later steps then read SKIPPED. Otherwise it
// returns checks as they are.
func (a peeringAction) merge(stored control.Checklist, checks []control.Check) []control.Check {
	if a.consent == nil || !stored.CheckedAt.Before(a.at) {
		return checks
	}
	out := append([]control.Check(nil), checks...)
	for i, ch := range out {
		switch {
		case ch.Step == control.StepConsent:
			out[i] = *a.consent
		case a.consent.Status != control.CheckPass:
			out[i] = control.SkippedCheck(ch.Step)
		}
	}
	return out
}

// maxActions bounds the peerings a session remembers an action for.
const maxActions = 64

// action returns the session's last action on peering id.
func (s *session) action(id string) (peeringAction, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.actions[id]
	return a, ok
}

// setAction records a as the session's last action on peering id,
// forgetting the oldest one when the session holds maxActions.
func (s *session) setAction(id string, a peeringAction) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.actions == nil {
		s.actions = map[string]peeringAction{}
	}
	if _, ok := s.actions[id]; !ok && len(s.actions) >= maxActions {
		oldest := ""
		for k, o := range s.actions {
			if oldest == "" || o.at.Before(s.actions[oldest].at) {
				oldest = k
			}
		}
		delete(s.actions, oldest)
	}
	s.actions[id] = a
}

// forgetAction forgets the session's last action on peering id.
func (s *session) forgetAction(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.actions, id)
}

// actionView is the grant card's result line. Class is ok only for what
// has succeeded: todo (something is left to do), pending (under way) or
// bad (it failed) otherwise.
type actionView struct{ Class, Message string }

// actionLine returns the result line of action a on v, whose checks and
// steps already hold a's fresh consent check (sessionPeering).
func (c *Console) actionLine(v *peeringView, a peeringAction) actionView {
	if a.kind == actionRetry {
		return retryLine(v)
	}
	return c.continueLine(v, a)
}

// continueLine says what "Continue" found: whether the provider app is in
// the customer tenant, then exactly the grant steps still to do and those
// not checked yet, by the numbers and titles the card shows, and any
// other check still failing. Only when nothing is left does it invite
// Create connection to peer now.
func (c *Console) continueLine(v *peeringView, a peeringAction) actionView {
	if a.consent == nil {
		return actionView{"bad", a.unchecked}
	}
	var b strings.Builder
	if a.declined != "" {
		fmt.Fprintf(&b, "The admin-consent page came back without consent (%s). ", a.declined)
	}
	consent := checkOf(v.Checks, control.StepConsent)
	switch {
	case consent.Status == control.CheckFail && consent.ErrorCode == control.PeeringAppNotConsented:
		fmt.Fprintf(&b, "Still to do: %s. The provider app %s is not present in tenant %s yet: a Global Administrator of the tenant opens the admin-consent page and accepts.",
			stepNames(v.Steps, []int{1}), c.opts.AppID, v.P.Tenant)
		return actionView{"todo", b.String()}
	case consent.Status != control.CheckPass:
		fmt.Fprintf(&b, "Step 1 failed: %s", consent.Evidence)
		return actionView{"bad", b.String()}
	}
	fmt.Fprintf(&b, "Step 1 is done: the provider app %s is present in tenant %s.", c.opts.AppID, v.P.Tenant)
	var todo, unknown []int
	for _, st := range v.Steps[1:] {
		switch st.State {
		case "todo":
			todo = append(todo, st.N)
		case "unknown":
			unknown = append(unknown, st.N)
		}
	}
	if len(todo) > 0 {
		fmt.Fprintf(&b, " Still to do: %s.", stepNames(v.Steps, todo))
	}
	if len(unknown) > 0 {
		fmt.Fprintf(&b, " Not checked yet: %s.", stepNames(v.Steps, unknown))
	}
	failed, failing := firstFailed(v.Checks)
	failing = failing && len(grantStepsFor(failed)) == 0
	switch {
	case failing && failed.ErrorCode == control.PeeringDisconnected:
		b.WriteString(" A half of the Azure peering was deleted: click Create connection to create both halves again.")
		return actionView{"todo", b.String()}
	case failing:
		fmt.Fprintf(&b, " Still failing: %s (%s); the status above says why and the checklist how to fix it.", quote(failed.Title), failed.ErrorCode)
		return actionView{"bad", b.String()}
	case len(todo) > 0:
		b.WriteString(" Each is ticked off here once Peerplane sees it done.")
		return actionView{"todo", b.String()}
	case len(unknown) > 0:
		b.WriteString(" Peerplane checks them in order once the steps before them are done; when you have done them, click Create connection to check them and peer.")
		return actionView{"todo", b.String()}
	}
	b.WriteString(" Nothing else is left to do: click Create connection to peer now.")
	return actionView{"ok", b.String()}
}

// retryLine says how "Create connection" is going: Pending while the
// reconciler works, then Active, or the check that failed (with the grant
// steps that fix it), its code and its short message.
func retryLine(v *peeringView) actionView {
	st := v.P.Status
	switch st.Phase {
	case control.PhaseReady:
		return actionView{"ok", "Create connection succeeded: the peering is Active, both halves of the Azure peering are Connected."}
	case control.PhaseFailed, control.PhaseDisconnected:
		where := "a check"
		if failed, ok := firstFailed(st.Checklist.Checks); ok {
			where = quote(failed.Title)
			if steps := grantStepsFor(failed); len(steps) > 0 {
				where = stepNames(v.Steps, steps)
			}
		}
		return actionView{"bad", fmt.Sprintf("Create connection failed at %s (%s): %s", where, st.ErrorCode, st.ErrorMessage)}
	case control.PhaseDeprovisioning:
		return actionView{"", "The peering is being deleted."}
	}
	return actionView{"pending", "Pending: Peerplane is checking each step and creating both halves of the Azure peering. The result shows here."}
}

func checkOf(checks []control.Check, step string) control.Check {
	for _, ch := range checks {
		if ch.Step == step {
			return ch
		}
	}
	return control.PendingCheck(step, "")
}

func firstFailed(checks []control.Check) (control.Check, bool) {
	for _, ch := range checks {
		if ch.Status == control.CheckFail {
			return ch, true
		}
	}
	return control.Check{}, false
}

func quote(s string) string { return "\u201c" + s + "\u201d" }

// stepNames names grant steps as the card shows them: step 2,
// “Create the custom role”, and step 3, “…”.
func stepNames(steps []grantStep, nums []int) string {
	var names []string
	for _, n := range nums {
		for _, st := range steps {
			if st.N == n {
				names = append(names, fmt.Sprintf("step %d, %s", n, quote(st.Title)))
			}
		}
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// checkConsent is Continue's check: the consent step alone, against Azure.
func (c *Console) checkConsent(ctx context.Context, p *control.Peering) peeringAction {
	a := peeringAction{kind: actionContinue, at: c.opts.Now()}
	if c.opts.CheckConsent == nil {
		a.unchecked = "The consent cannot be checked on this server."
		return a
	}
	ch, err := c.opts.CheckConsent(ctx, p)
	if err != nil {
		c.opts.Logger.Warn("check consent", "peering", p.ID, "err", err)
		a.unchecked = "The consent could not be checked: Azure did not answer. Try again in a moment."
		return a
	}
	a.consent = &ch
	return a
}

// continuePeering is "Continue": is the provider app present in the
// customer tenant? It checks the consent step alone against Azure (one
// token request); the result line then tells which steps are still
// undone, from the stored checklist and that fresh answer.
func (c *Console) continuePeering(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := c.loadPeering(r.Context(), r.PathValue("env"), r.PathValue("id"))
	if err != nil {
		c.renderServiceError(w, r, s, err)
		return
	}
	c.recordAction(w, r, s, c.checkConsent(r.Context(), v.P))
}

// retryPeering is "Create connection": reconcile the peering now. The
// result line reads Pending until the reconciler has a result.
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
	c.recordAction(w, r, s, peeringAction{kind: actionRetry, at: c.opts.Now()})
}

// recordAction keeps a as the session's last action on the request's
// peering and answers: the page's parts as patches for its script, else a
// redirect back to the peering's grant card.
func (c *Console) recordAction(w http.ResponseWriter, r *http.Request, s *session, a peeringAction) {
	env, id := r.PathValue("env"), r.PathValue("id")
	s.setAction(id, a)
	if !isFragment(r) {
		http.Redirect(w, r, peeringURL(env, id)+"#grant", http.StatusSeeOther)
		return
	}
	v, err := c.sessionPeering(r.Context(), r, s, env, id)
	if err != nil {
		writeJSON(w, statusOf(err), actionResult{Message: c.userMessage(err)})
		return
	}
	s.mu.Lock()
	s.answered++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, actionResult{OK: v.Action.Class == "ok", Message: v.Action.Message, Patches: c.peeringPatches(v)})
}

// adminConsentLink returns step 1's link as Entra ID's admin-consent
// endpoint, /{tenant}/v2.0/adminconsent?client_id=…&redirect_uri=…&state=…,
// with this console's registered reply URL on the host the browser used
// and the peering as state, so that the consent page sends the
// administrator back to the peering; "" when no registered reply URL is on
// that host (a console reached through a proxy under another name): a
// way back to another host would lead nowhere.
func (c *Console) adminConsentLink(r *http.Request, p *control.Peering) string {
	if c.opts.LoginURL == "" {
		return ""
	}
	ret := ""
	for _, u := range c.opts.ConsentReturnURLs {
		if pu, err := url.Parse(u); err == nil && strings.EqualFold(pu.Host, r.Host) {
			ret = u
			break
		}
	}
	if ret == "" {
		return ""
	}
	q := url.Values{"client_id": {c.opts.AppID}, "redirect_uri": {ret}, "state": {p.EnvironmentID + "/" + p.ID}}
	return strings.TrimRight(c.opts.LoginURL, "/") + "/" + url.PathEscape(p.Tenant) + "/v2.0/adminconsent?" + q.Encode()
}

// parseConsentState returns the environment and peering ids of an
// admin-consent state, "env-…/peer-…"; ok is false for anything else.
func parseConsentState(state string) (env, id string, ok bool) {
	env, id, _ = strings.Cut(state, "/")
	return env, id, control.HasIDPrefix(env, control.PrefixEnvironment) && control.HasIDPrefix(id, control.PrefixPeering)
}

var oauthErrorRE = regexp.MustCompile(`^[a-z_]{1,40}$`)

// consentReturnData is what the page for a browser without a session gets.
type consentReturnData struct {
	Declined string
	SignIn   string
}

// consentReturn is where the admin-consent page sends the administrator
// back, with Entra's answer: admin_consent=True&tenant=…&state=…, or
// error=…&error_description=…&state=…. The state names the peering;
// nothing else of the query is believed: with a session, the consent is
// checked afresh as Continue does and the peering's page shows the
// result; without one (an administrator who is not a console user), a
// page says where to look and shows nothing of the peering.
func (c *Console) consentReturn(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	env, id, ok := parseConsentState(q.Get("state"))
	s := c.currentSession(r)
	if !ok {
		c.renderError(w, r, s, http.StatusBadRequest, "This link does not name a peering: its state parameter must be the environment and peering ids, env-…/peer-….")
		return
	}
	declined := ""
	if e := q.Get("error"); e != "" {
		declined = "an error"
		if oauthErrorRE.MatchString(e) {
			declined = e
		}
	}
	if s == nil {
		c.render(w, r, http.StatusOK, "consent-return", page{Title: "Admin consent",
			Data: consentReturnData{Declined: declined, SignIn: Prefix + "login?next=" + urlQueryEscape(r.URL.RequestURI())}})
		return
	}
	ctx := control.NewContextWithOrganization(r.Context(), s.organization())
	v, err := c.loadPeering(ctx, env, id)
	if err != nil {
		c.renderServiceError(w, r, s, err)
		return
	}
	a := c.checkConsent(ctx, v.P)
	a.declined = declined
	s.setAction(id, a)
	http.Redirect(w, r, peeringURL(env, id)+"#grant", http.StatusSeeOther)
}

// azureCA serves the private CA's certificate for browsers to trust.
func (c *Console) azureCA(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/x-pem-file")
	h.Set("Content-Disposition", `attachment; filename="azure-ca.pem"`)
	h.Set("Cache-Control", "no-cache")
	w.Write(c.opts.AzureCA)
}
