package console

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/reach"
)

// pageTemplate is one page: the layout, the shared partials and the page's
// own "content".
type pageTemplate struct{ t *template.Template }

var pageNames = []string{"login", "error", "environments", "environment", "network", "peering-new", "peering", "consent-return"}

func parseTemplates() map[string]*pageTemplate {
	root := template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/connectors.html"))
	pages := map[string]*pageTemplate{}
	for _, name := range pageNames {
		t := template.Must(template.Must(root.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
		pages[name] = &pageTemplate{t: t}
	}
	pages[""] = &pageTemplate{t: root} // partials only
	return pages
}

// page is what every page template gets.
type page struct {
	Title   string
	Session *session
	Crumbs  []crumb
	Notice  string
	Error   string
	Data    any
}

type crumb struct{ Label, URL string }

func (p page) CSRF() string {
	if p.Session == nil {
		return ""
	}
	return p.Session.csrf
}

// Org is the signed-in organization, or nil.
func (p page) Org() *control.Organization {
	if p.Session == nil {
		return nil
	}
	return p.Session.organization()
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if p.Session != nil && p.Notice == "" {
		p.Notice = p.Session.takeFlash()
	}
	var buf bytes.Buffer
	if err := c.pages[name].t.ExecuteTemplate(&buf, "layout", p); err != nil {
		c.opts.Logger.Error("render console page", "page", name, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fragment renders the partial template name with data.
func (c *Console) fragment(name string, data any) string {
	var buf bytes.Buffer
	if err := c.pages[""].t.ExecuteTemplate(&buf, name, data); err != nil {
		c.opts.Logger.Error("render console fragment", "fragment", name, "err", err)
		return ""
	}
	return buf.String()
}

func (c *Console) renderError(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	if isFragment(r) {
		writeJSON(w, status, actionResult{Message: msg})
		return
	}
	c.render(w, r, status, "error", page{Title: http.StatusText(status), Session: s, Error: msg})
}

// renderServiceError shows a service error: not found as 404, anything
// internal as a generic message (logged).
func (c *Console) renderServiceError(w http.ResponseWriter, r *http.Request, s *session, err error) {
	c.renderError(w, r, s, statusOf(err), c.userMessage(err))
}

func (c *Console) userMessage(err error) string {
	if control.ErrorCode(err) == control.EINTERNAL {
		c.opts.Logger.Error("console", "err", err)
	}
	return control.ErrorMessage(err)
}

func statusOf(err error) int {
	switch control.ErrorCode(err) {
	case control.EINVALID:
		return http.StatusBadRequest
	case control.ENOTFOUND:
		return http.StatusNotFound
	case control.ECONFLICT:
		return http.StatusConflict
	case control.EQUOTA:
		return http.StatusPaymentRequired
	case control.EFORBIDDEN:
		return http.StatusForbidden
	case control.EUNAUTHORIZED:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

type actionResult struct {
	OK      bool    `json:"ok"`
	Message string  `json:"message"`
	Patches []patch `json:"patches,omitempty"`
}

// patch replaces the element marked data-live=Key with HTML (or removes
// it when HTML is empty and Remove is set).
type patch struct {
	Key    string `json:"key"`
	HTML   string `json:"html,omitempty"`
	Parent string `json:"parent,omitempty"` // where a new element goes
	Remove bool   `json:"remove,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// badge is how a phase is shown.
type badge struct{ Label, Class string }

func peeringBadge(phase string) badge {
	switch phase {
	case control.PhaseProvisioning, control.PhasePendingAccept:
		return badge{"Pending", "pending"}
	case control.PhaseReady:
		return badge{"Active", "active"}
	case control.PhaseFailed:
		return badge{"Error", "error"}
	case control.PhaseDisconnected:
		return badge{"Disconnected", "disconnected"}
	case control.PhaseDeprovisioning:
		return badge{"Deleting", "deleting"}
	}
	return badge{phase, "pending"}
}

func networkBadge(phase string) badge {
	switch phase {
	case control.PhaseProvisioning:
		return badge{"Provisioning", "pending"}
	case control.PhaseReady:
		return badge{"Ready", "active"}
	case control.PhaseFailed:
		return badge{"Failed", "error"}
	case control.PhaseDeprovisioning:
		return badge{"Deleting", "deleting"}
	}
	return badge{phase, "pending"}
}

func clusterBadge(phase string) badge {
	switch phase {
	case control.ClusterPhaseProvisioned:
		return badge{"Running", "active"}
	case control.ClusterPhaseFailed:
		return badge{"Failed", "error"}
	}
	return badge{"Provisioning", "pending"}
}

// vnetParts splits a VNet resource id for display.
type vnetParts struct{ Subscription, ResourceGroup, Name string }

func splitVNet(id string) vnetParts {
	v, err := control.ParseVNetID("", id)
	if err != nil {
		return vnetParts{Name: id}
	}
	return vnetParts{v.SubscriptionID, v.ResourceGroup, v.Name}
}

// firstSentence returns s up to the end of its first sentence.
func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 {
		return s[:i+1]
	}
	return s
}

var funcs = template.FuncMap{
	"peeringBadge":  peeringBadge,
	"networkBadge":  networkBadge,
	"clusterBadge":  clusterBadge,
	"vnet":          splitVNet,
	"firstSentence": firstSentence,
	"checkMark":     checkMark,
	"shortName":     reach.ShortName,
	"time":          func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"clock":         func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000 UTC") },
	"percent": func(n, of int) int {
		if of <= 0 {
			return 0
		}
		p := n * 100 / of
		return min(p, 100)
	},
	"row":            func(env string, p *control.Peering) peeringRow { return peeringRow{Env: env, P: p} },
	"endpointsArgs":  endpointsArgs,
	"fieldArgs":      fieldArgs,
	"in":             inForm,
	"connectorBadge": connectorBadge,
	"confirmArgs": func(id, name, err string) confirmView {
		return confirmView{ID: id, Name: name, Error: err}
	},
	"selectArgs": selectArgs,
	"protocols": func() []option {
		return []option{{"tcp", "TCP"}, {"udp", "UDP"}, {"icmp", "ICMP"}}
	},
	"availabilities": func() []option {
		return []option{{control.AvailabilitySingleZone, "Single zone"}, {control.AvailabilityMultiZone, "Multi-zone"}}
	},
}

// fieldView is what the "field", "select" and "textarea" partials get.
type fieldView struct {
	Form                                       *form
	Name, Label, Type, Help, Placeholder, Rule string
	Options                                    []option
	// IDPrefix keeps the element ids of a form unique on a page that
	// repeats it (one "Add connector" form per cluster).
	IDPrefix string
}

// ID is the input's element id.
func (v fieldView) ID() string { return v.IDPrefix + "f-" + v.Name }

// inForm sets the field's IDPrefix.
func inForm(prefix string, v fieldView) fieldView {
	v.IDPrefix = prefix
	return v
}

type option struct{ Value, Label string }

// confirmView is what the "confirm-field" partial gets: the field where
// a deletion is confirmed by typing Name.
type confirmView struct{ ID, Name, Error string }

func fieldArgs(f *form, name, label, typ, help, placeholder, rule string) fieldView {
	return fieldView{Form: f, Name: name, Label: label, Type: typ, Help: help, Placeholder: placeholder, Rule: rule}
}

// selectArgs takes the options as []string (value and label alike) or
// []option.
func selectArgs(f *form, name, label, help string, opts any) fieldView {
	v := fieldView{Form: f, Name: name, Label: label, Help: help}
	switch o := opts.(type) {
	case []string:
		for _, s := range o {
			v.Options = append(v.Options, option{s, s})
		}
	case []option:
		v.Options = o
	}
	return v
}

// endpointsView is a cluster's endpoints block: its endpoints, and the
// command that lists its brokers from each VNet of an Active peering of
// its network (or from a placeholder VNet when none is).
type endpointsView struct {
	Cluster  *control.Cluster
	Commands []string
	Active   bool
}

func endpointsArgs(c *control.Cluster, peerings []*control.Peering) endpointsView {
	v := endpointsView{Cluster: c}
	cmd := func(vnet string) string {
		return "peerplane vnet exec --vnet " + vnet + " -- kcat -b " + c.Status.BootstrapEndpoint + " -L"
	}
	for _, p := range peerings {
		if p.Status.Phase != control.PhaseReady {
			continue
		}
		parts := splitVNet(p.VNet)
		v.Commands = append(v.Commands, cmd(parts.ResourceGroup+"/"+parts.Name))
		v.Active = true
	}
	if !v.Active {
		v.Commands = []string{cmd("<resource-group>/<vnet>")}
	}
	return v
}
