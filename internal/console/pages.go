package console

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/peerplane/peerplane/internal/azureid"
	"github.com/peerplane/peerplane/internal/control"
)

// form is a submitted form: its values, and the errors to show next to
// each field (by field name) or above the form (General).
type form struct {
	Values  map[string]string
	Errors  map[string]string
	General string
}

func newForm(values map[string]string) *form {
	if values == nil {
		values = map[string]string{}
	}
	return &form{Values: values, Errors: map[string]string{}}
}

func (f *form) HasErrors() bool { return len(f.Errors) > 0 || f.General != "" }

// fail records err on the form field its JSON pointer maps to, or as a
// general error.
func (f *form) fail(c *Console, err error, fields map[string]string) {
	msg := c.userMessage(err)
	if name, ok := fields[control.ErrorField(err)]; ok {
		if _, taken := f.Errors[name]; !taken {
			f.Errors[name] = msg
		}
		return
	}
	f.General = msg
}

func readForm(r *http.Request, names ...string) *form {
	f := newForm(nil)
	for _, n := range names {
		f.Values[n] = strings.TrimSpace(r.PostFormValue(n))
	}
	return f
}

func envURL(env string) string          { return Prefix + "environments/" + env }
func networkURL(env, net string) string { return envURL(env) + "/networks/" + net }
func peeringURL(env, id string) string  { return envURL(env) + "/peerings/" + id }

// --- environments ---

type environmentsData struct {
	Environments []*control.Environment
	Form         *form
}

func (c *Console) environmentsPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showEnvironments(w, r, s, http.StatusOK, newForm(nil))
}

func (c *Console) showEnvironments(w http.ResponseWriter, r *http.Request, s *session, status int, f *form) {
	envs, err := control.All(control.MaxEnvironmentPageSize, func(p control.Page) ([]*control.Environment, string, error) {
		return c.opts.Environments.FindEnvironments(r.Context(), p)
	})
	if err != nil {
		c.renderServiceError(w, r, s, err)
		return
	}
	c.render(w, r, status, "environments", page{Title: "Environments", Session: s,
		Data: environmentsData{Environments: envs, Form: f}})
}

func (c *Console) createEnvironment(w http.ResponseWriter, r *http.Request, s *session) {
	f := readForm(r, "name")
	env := &control.Environment{DisplayName: f.Values["name"]}
	if err := c.opts.Environments.CreateEnvironment(r.Context(), env); err != nil {
		f.fail(c, err, map[string]string{"/display_name": "name"})
		c.showEnvironments(w, r, s, statusOf(err), f)
		return
	}
	s.setFlash(fmt.Sprintf("Environment %s (%s) created.", env.DisplayName, env.ID))
	http.Redirect(w, r, envURL(env.ID), http.StatusSeeOther)
}

// --- one environment: its networks ---

type environmentData struct {
	Env      *control.Environment
	Networks []*control.Network
	Regions  []string
	Form     *form
}

func (c *Console) environmentPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showEnvironment(w, r, s, http.StatusOK, newForm(map[string]string{"region": "eastus"}))
}

func (c *Console) showEnvironment(w http.ResponseWriter, r *http.Request, s *session, status int, f *form) {
	env, err := c.opts.Environments.FindEnvironmentByID(r.Context(), r.PathValue("env"))
	if err != nil {
		c.renderServiceError(w, r, s, err)
		return
	}
	nets, err := control.All(control.MaxPageSize, func(p control.Page) ([]*control.Network, string, error) {
		return c.opts.Networks.FindNetworks(r.Context(), control.NetworkFilter{EnvironmentID: env.ID}, p)
	})
	if err != nil {
		c.renderServiceError(w, r, s, err)
		return
	}
	c.render(w, r, status, "environment", page{Title: env.DisplayName, Session: s,
		Crumbs: []crumb{{"Environments", Prefix + "environments"}},
		Data:   environmentData{Env: env, Networks: nets, Regions: c.opts.Settings().AzureRegions, Form: f}})
}

func (c *Console) createNetwork(w http.ResponseWriter, r *http.Request, s *session) {
	env := r.PathValue("env")
	f := readForm(r, "name", "region", "cidr")
	n := &control.Network{EnvironmentID: env, DisplayName: f.Values["name"], Cloud: control.CloudAzure, Region: f.Values["region"],
		CIDR: f.Values["cidr"], ConnectionTypes: []string{control.ConnectionTypePeering}}
	if f.Values["name"] == "" {
		f.Errors["name"] = "Name is required."
	}
	if _, err := c.opts.Settings().ValidateNetworkCIDR(n.CIDR); err != nil {
		f.fail(c, err, map[string]string{"/spec/cidr": "cidr"})
	}
	status := http.StatusBadRequest
	if !f.HasErrors() {
		err := c.opts.Networks.CreateNetwork(r.Context(), n)
		if err == nil {
			s.setFlash(fmt.Sprintf("Network %s (%s) created; its provider VNet is being provisioned.", n.DisplayName, n.ID))
			http.Redirect(w, r, networkURL(env, n.ID), http.StatusSeeOther)
			return
		}
		if control.ErrorCode(err) == control.ENOTFOUND && control.ErrorField(err) == "/spec/environment/id" {
			c.renderServiceError(w, r, s, err)
			return
		}
		status = statusOf(err)
		f.fail(c, err, map[string]string{"/spec/display_name": "name", "/spec/region": "region", "/spec/cidr": "cidr"})
	}
	c.showEnvironment(w, r, s, status, f)
}

// --- a network ---

// networkView is everything the network page shows, also rendered piece
// by piece by the live stream.
type networkView struct {
	Env      *control.Environment
	Net      *control.Network
	Peerings []*control.Peering
	Clusters []*control.Cluster
	Settings control.Settings
	CKUs     int
	CSRF     string
	// Connectors are each cluster's connectors (loadConnectors); nil
	// when the console has no connector service.
	Connectors []*connectorBlock
}

func (c *Console) loadNetwork(ctx context.Context, envID, netID string) (*networkView, error) {
	env, err := c.opts.Environments.FindEnvironmentByID(ctx, envID)
	if err != nil {
		return nil, err
	}
	n, err := c.opts.Networks.FindNetworkByID(ctx, envID, netID)
	if err != nil {
		return nil, err
	}
	ps, err := control.All(control.MaxPageSize, func(p control.Page) ([]*control.Peering, string, error) {
		return c.opts.Peerings.FindPeerings(ctx, control.PeeringFilter{EnvironmentID: envID, NetworkIDs: []string{netID}}, p)
	})
	if err != nil {
		return nil, err
	}
	cs, err := control.All(control.MaxClusterPageSize, func(p control.Page) ([]*control.Cluster, string, error) {
		return c.opts.Clusters.FindClusters(ctx, control.ClusterFilter{EnvironmentID: envID, NetworkIDs: []string{netID}}, p)
	})
	if err != nil {
		return nil, err
	}
	v := &networkView{Env: env, Net: n, Peerings: ps, Clusters: cs, Settings: c.opts.Settings()}
	for _, cl := range cs {
		v.CKUs += cl.CKU
	}
	for _, p := range ps {
		c.history.observe(p)
	}
	return v, nil
}

type networkData struct {
	*networkView
	View        *networkView // the same, for the partials
	ClusterForm *form
	// Reach is the "Test connectivity" form and its answer; nil hides it.
	Reach *reachView
}

func (c *Console) networkPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showNetwork(w, r, s, http.StatusOK, nil, nil)
}

// showNetwork renders the network page with the cluster form f (a fresh
// one when nil) and, when cs is set, a connector form's submission.
func (c *Console) showNetwork(w http.ResponseWriter, r *http.Request, s *session, status int, f *form, cs *connectorSubmission) {
	if f == nil {
		f = newForm(map[string]string{"cku": "2", "availability": control.AvailabilitySingleZone})
	}
	v, err := c.loadNetwork(r.Context(), r.PathValue("env"), r.PathValue("net"))
	if err != nil {
		c.renderServiceError(w, r, s, err)
		return
	}
	v.CSRF = s.csrf
	if err := c.loadConnectors(r.Context(), v, nil); err != nil {
		c.renderServiceError(w, r, s, err)
		return
	}
	cs.apply(v)
	rv := c.reachForm(r, v)
	if rv != nil && status == http.StatusOK {
		status = rv.Status
	}
	c.render(w, r, status, "network", page{Title: v.Net.DisplayName, Session: s,
		Crumbs: []crumb{{"Environments", Prefix + "environments"}, {v.Env.DisplayName, envURL(v.Env.ID)}},
		Data:   networkData{networkView: v, View: v, ClusterForm: f, Reach: rv}})
}

func (c *Console) createCluster(w http.ResponseWriter, r *http.Request, s *session) {
	env, net := r.PathValue("env"), r.PathValue("net")
	f := readForm(r, "name", "cku", "availability")
	cku, err := strconv.Atoi(f.Values["cku"])
	if err != nil {
		f.Errors["cku"] = "CKUs must be a whole number."
	}
	if f.Values["name"] == "" {
		f.Errors["name"] = "Name is required."
	}
	status := http.StatusBadRequest
	if !f.HasErrors() {
		cl := &control.Cluster{EnvironmentID: env, NetworkID: net, DisplayName: f.Values["name"], CKU: cku, Availability: f.Values["availability"]}
		err := c.opts.Clusters.CreateCluster(r.Context(), cl)
		if err == nil {
			s.setFlash(fmt.Sprintf("Dedicated cluster %s (%s) created with %d CKUs.", cl.DisplayName, cl.ID, cl.CKU))
			http.Redirect(w, r, networkURL(env, net)+"#clusters", http.StatusSeeOther)
			return
		}
		if control.ErrorCode(err) == control.ENOTFOUND {
			c.renderServiceError(w, r, s, err)
			return
		}
		status = statusOf(err)
		f.fail(c, err, map[string]string{"/spec/display_name": "name", "/spec/config/cku": "cku", "/spec/availability": "availability"})
	}
	c.showNetwork(w, r, s, status, f, nil)
}

// --- the peering form ---

// peeringFields are the form's fields: the seed's five and the region.
var peeringFields = []string{"name", "tenant", "subscription", "resource_group", "vnet", "region"}

type peeringFormData struct {
	Env     *control.Environment
	Net     *control.Network
	Regions []string
	Form    *form
	Count   int
	Quota   int
}

func (c *Console) newPeeringPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showPeeringForm(w, r, s, http.StatusOK, nil)
}

func (c *Console) showPeeringForm(w http.ResponseWriter, r *http.Request, s *session, status int, f *form) {
	v, err := c.loadNetwork(r.Context(), r.PathValue("env"), r.PathValue("net"))
	if err != nil {
		c.renderServiceError(w, r, s, err)
		return
	}
	if f == nil {
		f = newForm(map[string]string{"region": v.Net.Region})
	}
	c.render(w, r, status, "peering-new", page{Title: "Add a VNet peering", Session: s,
		Crumbs: []crumb{{"Environments", Prefix + "environments"}, {v.Env.DisplayName, envURL(v.Env.ID)}, {v.Net.DisplayName, networkURL(v.Env.ID, v.Net.ID)}},
		Data:   peeringFormData{Env: v.Env, Net: v.Net, Regions: v.Settings.AzureRegions, Form: f, Count: len(v.Peerings), Quota: v.Settings.PeeringsPerNetwork}})
}

// validatePeeringForm applies the API's rules to each field, so that every
// bad field is shown at once, and builds the VNet resource id.
func (c *Console) validatePeeringForm(f *form) string {
	v := f.Values
	check := func(name string, err error) {
		if err != nil {
			f.Errors[name] = control.ErrorMessage(err)
		}
	}
	if v["name"] == "" {
		f.Errors["name"] = "Name is required."
	} else {
		check("name", control.ValidateDisplayName("name", v["name"]))
	}
	required := map[string]string{"tenant": "Azure tenant ID", "subscription": "Azure subscription ID", "resource_group": "Azure VNet resource group name", "vnet": "Azure VNet name"}
	for name, what := range required {
		if v[name] == "" {
			f.Errors[name] = what + " is required."
		}
	}
	if v["tenant"] != "" {
		check("tenant", control.ValidateGUID("tenant", "Tenant ID", v["tenant"]))
	}
	if v["subscription"] != "" {
		check("subscription", control.ValidateGUID("subscription", "Subscription ID", v["subscription"]))
	}
	if v["resource_group"] != "" {
		check("resource_group", control.ValidateResourceGroupName("resource_group", v["resource_group"]))
	}
	if v["vnet"] != "" {
		check("vnet", control.ValidateVNetName("vnet", v["vnet"]))
	}
	check("region", c.opts.Settings().ValidateRegion("region", v["region"]))
	return azureid.VNetID(v["subscription"], v["resource_group"], v["vnet"])
}

func (c *Console) createPeering(w http.ResponseWriter, r *http.Request, s *session) {
	env, net := r.PathValue("env"), r.PathValue("net")
	f := readForm(r, peeringFields...)
	vnet := c.validatePeeringForm(f)
	status := http.StatusBadRequest
	if !f.HasErrors() {
		p := &control.Peering{EnvironmentID: env, NetworkID: net, DisplayName: f.Values["name"], Cloud: control.CloudAzure,
			Tenant: f.Values["tenant"], VNet: vnet, CustomerRegion: f.Values["region"]}
		err := c.opts.Peerings.CreatePeering(r.Context(), p)
		if err == nil {
			c.history.observe(p)
			s.setFlash(fmt.Sprintf("Peering %s (%s) added. It is Pending while Peerplane tries to peer; grant access from its page if it shows Error.", p.DisplayName, p.ID))
			http.Redirect(w, r, networkURL(env, net), http.StatusSeeOther)
			return
		}
		if control.ErrorCode(err) == control.ENOTFOUND {
			c.renderServiceError(w, r, s, err)
			return
		}
		status = statusOf(err)
		f.fail(c, err, map[string]string{"/spec/display_name": "name", "/spec/cloud/tenant": "tenant", "/spec/cloud/vnet": "vnet", "/spec/cloud/customer_region": "region"})
	}
	c.showPeeringForm(w, r, s, status, f)
}
