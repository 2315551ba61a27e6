package console

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/netcheck"
	"github.com/peerplane/peerplane/internal/reach"
)

// connectorBlock is one Dedicated cluster's part of the network page: its
// managed connectors with their status, and the "Add connector" form.
type connectorBlock struct {
	Env, Net string
	Cluster  *control.Cluster
	Items    []*connectorItem
	// Note says why the statuses are not known: no reachability checker,
	// or the check failed.
	Note string
	CSRF string
	Form *form
}

// ShowConnectors reports whether the page shows connectors.
func (v *networkView) ShowConnectors() bool { return v.Connectors != nil }

// connectorItem is one connector and its status.
type connectorItem struct {
	Env, Net, ClusterID string
	C                   *control.Connector
	Class, Type         string
	Hosts               []connectorHost
	// State is a netcheck state, or "" when it could not be evaluated.
	State string
	// Failures explain FAILED host by host; Trace is netcheck's text,
	// shown when the failures do not cover every host (or for
	// PROVISIONING).
	Failures  []hostFailure
	Trace     string
	ShowTrace bool
	// Run is what the connector runtime reports (counts, last error), nil
	// when it has not run the connector (or connectors are modelled).
	Run  *control.ConnectorRun
	CSRF string
	// DeleteError is shown next to the deletion's confirmation field.
	DeleteError string
}

// connectorHost is a host the connector's config names and, once
// checked, whether its cluster reaches it.
type connectorHost struct {
	Endpoint control.ConnectorEndpoint
	Verdict  string // a reach verdict, or "" when not checked
}

// hostFailure is why a connector's cluster cannot reach one of its hosts.
type hostFailure struct {
	Endpoint                     control.ConnectorEndpoint
	Code, Component, Detail, Fix string
}

// Key is the item's live key.
func (it *connectorItem) Key() string { return "connector:" + it.ClusterID + ":" + it.C.Name }

// URL is the path of the connector's actions.
func (it *connectorItem) URL() string {
	return networkURL(it.Env, it.Net) + "/clusters/" + it.ClusterID + "/connectors/" + it.C.Name
}

// connectorBadges are how connector states are shown.
var connectorBadges = map[string]badge{
	netcheck.StateRunning:      {"Running", "active"},
	netcheck.StateFailed:       {"Failed", "error"},
	netcheck.StateProvisioning: {"Provisioning", "pending"},
	netcheck.StatePaused:       {"Paused", "muted"},
}

// connectorBadge is how a connector state ("" when not evaluated) is
// shown.
func connectorBadge(state string) badge {
	if b, ok := connectorBadges[state]; ok {
		return b
	}
	return badge{"Not checked", "muted"}
}

// noChecker is the note shown when the console has no reachability
// checker.
const noChecker = "Reachability cannot be checked on this server, so the connectors' status is not known."

// connectorStatusEvery is how often a live network page evaluates a
// cluster's connectors again while neither they nor the cluster changed:
// each evaluation reads Azure's network state.
const connectorStatusEvery = time.Second

// statusCache keeps a live page's last evaluation per cluster. A nil
// cache evaluates every time.
type statusCache map[string]cachedStatus

type cachedStatus struct {
	key  string
	at   time.Time
	sts  []netcheck.ConnectorStatus
	note string
}

// loadConnectors fills v.Connectors with each cluster's connectors and,
// for each cluster that has some, their status from one
// ConnectorStatuses call (or from cache, see connectorStatusEvery). It
// does nothing without a connector service. v.CSRF must be set.
func (c *Console) loadConnectors(ctx context.Context, v *networkView, cache statusCache) error {
	if c.opts.Connectors == nil {
		return nil
	}
	v.Connectors = []*connectorBlock{}
	for _, cl := range v.Clusters {
		conns, err := c.opts.Connectors.FindConnectors(ctx, v.Env.ID, cl.ID)
		if control.ErrorCode(err) == control.ENOTFOUND {
			continue // deleted since the clusters were read
		}
		if err != nil {
			return err
		}
		b := &connectorBlock{Env: v.Env.ID, Net: v.Net.ID, Cluster: cl, CSRF: v.CSRF, Form: newForm(nil)}
		sts, note := c.connectorStatuses(ctx, v.Env.ID, cl, conns, cache)
		b.Note = note
		for i, k := range conns {
			b.Items = append(b.Items, newConnectorItem(b, k, sts[i]))
		}
		v.Connectors = append(v.Connectors, b)
	}
	return nil
}

// connectorStatuses evaluates conns of cluster cl, or says why it cannot.
func (c *Console) connectorStatuses(ctx context.Context, env string, cl *control.Cluster, conns []*control.Connector, cache statusCache) ([]netcheck.ConnectorStatus, string) {
	sts := make([]netcheck.ConnectorStatus, len(conns))
	if len(conns) == 0 {
		return sts, ""
	}
	if c.opts.Reachability == nil {
		for i, k := range conns {
			if k.Paused {
				sts[i].State = netcheck.StatePaused
			}
		}
		return sts, noChecker
	}
	key := fmt.Sprint(cl.Status.Phase, cl.Status.BootstrapEndpoint)
	for _, k := range conns {
		key += fmt.Sprint("|", k.Name, k.Paused, k.UpdatedAt.UnixNano())
	}
	if hit, ok := cache[cl.ID]; ok && hit.key == key && time.Since(hit.at) < connectorStatusEvery {
		return hit.sts, hit.note
	}
	note := ""
	got, err := c.opts.Reachability.ConnectorStatuses(ctx, env, cl, conns)
	if err == nil {
		sts = got
	} else if ctx.Err() == nil {
		note = "The connectors' status could not be checked: " + c.userMessage(err)
	}
	if cache != nil {
		cache[cl.ID] = cachedStatus{key: key, at: time.Now(), sts: sts, note: note}
	}
	return sts, note
}

func newConnectorItem(b *connectorBlock, k *control.Connector, st netcheck.ConnectorStatus) *connectorItem {
	it := &connectorItem{Env: b.Env, Net: b.Net, ClusterID: b.Cluster.ID, C: k, CSRF: b.CSRF,
		Class: k.Config["connector.class"], Type: control.ConnectorType(k.Config), State: st.State, Trace: st.Trace, Run: st.Run}
	eps, _ := control.ConnectorEndpoints(k.Config) // validated when stored
	verdicts := map[string]string{}
	for _, h := range st.Hosts {
		if h.Result == nil {
			continue
		}
		verdicts[h.Endpoint.Key+" "+h.Endpoint.String()] = h.Result.Verdict
		if h.Result.Verdict != reach.Reachable {
			it.Failures = append(it.Failures, newHostFailure(h))
		}
	}
	for _, ep := range eps {
		it.Hosts = append(it.Hosts, connectorHost{Endpoint: ep, Verdict: verdicts[ep.Key+" "+ep.String()]})
	}
	switch st.State {
	case netcheck.StateFailed:
		it.ShowTrace = len(it.Failures) == 0 || len(verdicts) < len(eps)
	case netcheck.StateProvisioning:
		it.ShowTrace = st.Trace != ""
	}
	return it
}

func newHostFailure(h netcheck.HostStatus) hostFailure {
	f := hostFailure{Endpoint: h.Endpoint, Code: h.Result.Verdict}
	if b := h.Result.BlockedBy; b != nil {
		f.Code, f.Component, f.Detail, f.Fix = b.Code, b.Component, b.Detail, b.Fix
		return f
	}
	for _, ch := range h.Result.Checks {
		if ch.Result == reach.Fail {
			f.Detail = ch.Detail
			break
		}
	}
	return f
}

// At is the blocking resource's short name, or "" when the blocker is
// not a resource (such as an address in no VNet).
func (f hostFailure) At() string {
	if !strings.HasPrefix(f.Component, "/subscriptions/") {
		return ""
	}
	return reach.ShortName(f.Component)
}

// --- actions ---

// connectorSubmission is a connector form that failed, to show again on
// the network page: the "Add connector" form of Cluster, or the deletion
// of connector Delete with its error.
type connectorSubmission struct {
	Cluster     string
	Form        *form
	Delete      string
	DeleteError string
}

// apply puts the submission in its cluster's block; a nil submission
// does nothing.
func (cs *connectorSubmission) apply(v *networkView) {
	if cs == nil {
		return
	}
	for _, b := range v.Connectors {
		if b.Cluster.ID != cs.Cluster {
			continue
		}
		if cs.Form != nil {
			b.Form = cs.Form
		}
		for _, it := range b.Items {
			if it.C.Name == cs.Delete {
				it.DeleteError = cs.DeleteError
			}
		}
	}
}

// connectorFields are the "Add connector" form's fields: the name, the
// connector class, the host URL (connection.url) and more config as
// key=value lines.
var connectorFields = []string{"name", "class", "url", "config"}

// blockURL is where an action on cluster's connectors returns to.
func blockURL(r *http.Request) string {
	return networkURL(r.PathValue("env"), r.PathValue("net")) + "#connectors-" + r.PathValue("cluster")
}

// pathCluster returns the path's cluster after checking it is in the
// path's network, or renders the error and returns nil.
func (c *Console) pathCluster(w http.ResponseWriter, r *http.Request, s *session) *control.Cluster {
	id, net := r.PathValue("cluster"), r.PathValue("net")
	cl, err := c.opts.Clusters.FindClusterByID(r.Context(), r.PathValue("env"), id)
	if err == nil && cl.NetworkID != net {
		err = control.Errorf(control.ENOTFOUND, "Kafka cluster %s is not in network %s.", id, net)
	}
	if err != nil {
		c.renderServiceError(w, r, s, err)
		return nil
	}
	return cl
}

func (c *Console) createConnector(w http.ResponseWriter, r *http.Request, s *session) {
	cl := c.pathCluster(w, r, s)
	if cl == nil {
		return
	}
	f := readForm(r, connectorFields...)
	k, ok := parseConnectorForm(f)
	status := http.StatusBadRequest
	if ok {
		err := c.opts.Connectors.CreateConnector(r.Context(), cl.EnvironmentID, cl.ID, k)
		switch code := control.ErrorCode(err); {
		case err == nil:
			s.setFlash(fmt.Sprintf("Connector %s added to cluster %s. Its status shows whether the cluster reaches every host it names.", k.Name, cl.DisplayName))
			http.Redirect(w, r, blockURL(r), http.StatusSeeOther)
			return
		case code == control.ENOTFOUND:
			c.renderServiceError(w, r, s, err)
			return
		case code == control.ECONFLICT:
			f.Errors["name"] = fmt.Sprintf("Cluster %s already has a connector named %s.", cl.DisplayName, k.Name)
		default:
			if name := connectorFormField(control.ErrorField(err)); name != "" {
				f.Errors[name] = c.userMessage(err)
			} else {
				f.General = c.userMessage(err)
			}
		}
		status = statusOf(err)
	}
	c.showNetwork(w, r, s, status, nil, &connectorSubmission{Cluster: cl.ID, Form: f})
}

// connectorFormField maps a control field error of a connector to the
// form field that shows it, or "" for an error above the form.
func connectorFormField(field string) string {
	switch {
	case field == "name":
		return "name"
	case field == "config.connector.class":
		return "class"
	case field == "config.connection.url" || field == "config.http.api.url":
		return "url"
	case field == "config" || strings.HasPrefix(field, "config."):
		return "config"
	}
	return ""
}

// urlKey is the config key the form's host URL field sets for class:
// http.api.url for an HttpSink, connection.url otherwise.
func urlKey(class string) string {
	if strings.TrimSpace(class) == control.ClassHttpSink {
		return "http.api.url"
	}
	return "connection.url"
}

// parseConnectorForm builds the connector from the form, recording each
// bad field's error so that all show at once; the service checks again.
func parseConnectorForm(f *form) (*control.Connector, bool) {
	v := f.Values
	config, err := parseConfigLines(v["config"])
	if err != "" {
		f.Errors["config"] = err
	}
	for name, key := range map[string]string{"class": "connector.class", "url": urlKey(v["class"])} {
		if v[name] == "" {
			continue
		}
		if _, dup := config[key]; dup {
			f.Errors["config"] = fmt.Sprintf("\u201c%s\u201d is set in the field above: remove its line here.", key)
		}
		config[key] = v[name]
	}
	k := &control.Connector{Name: v["name"], Config: config}
	check := func(name string, err error) {
		if err != nil && f.Errors[name] == "" {
			f.Errors[name] = control.ErrorMessage(err)
		}
	}
	check("name", control.ValidateConnector(&control.Connector{Name: k.Name, Config: map[string]string{"connector.class": "-"}}))
	if strings.TrimSpace(config["connector.class"]) == "" {
		f.Errors["class"] = "Connector class is required, e.g. PostgresSink or HttpSink."
	}
	if v["url"] != "" {
		_, err := control.ConnectorEndpoints(map[string]string{urlKey(v["class"]): v["url"]})
		check("url", err)
	}
	rest := make(map[string]string, len(config))
	for key, val := range config {
		if key != urlKey(v["class"]) || v["url"] == "" {
			rest[key] = val
		}
	}
	_, epErr := control.ConnectorEndpoints(rest)
	check("config", epErr)
	return k, !f.HasErrors()
}

// parseConfigLines reads "key=value" lines; blank lines and lines starting
// with '#' are skipped. It returns what is wrong, or "".
func parseConfigLines(text string) (map[string]string, string) {
	config := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return map[string]string{}, fmt.Sprintf("Line %d, \u201c%s\u201d, is not key=value.", i+1, line)
		}
		if _, dup := config[key]; dup {
			return map[string]string{}, fmt.Sprintf("Line %d sets \u201c%s\u201d again.", i+1, key)
		}
		config[key] = strings.TrimSpace(val)
	}
	return config, ""
}

func (c *Console) deleteConnector(w http.ResponseWriter, r *http.Request, s *session) {
	cl := c.pathCluster(w, r, s)
	if cl == nil {
		return
	}
	name := r.PathValue("name")
	k, err := c.opts.Connectors.FindConnector(r.Context(), cl.EnvironmentID, cl.ID, name)
	if err != nil {
		c.renderServiceError(w, r, s, err)
		return
	}
	if strings.TrimSpace(r.PostFormValue("confirm")) != k.Name {
		c.showNetwork(w, r, s, http.StatusBadRequest, nil, &connectorSubmission{Cluster: cl.ID, Delete: k.Name,
			DeleteError: fmt.Sprintf("Type the connector's name, %s, to confirm.", k.Name)})
		return
	}
	if err := c.opts.Connectors.DeleteConnector(r.Context(), cl.EnvironmentID, cl.ID, k.Name); err != nil {
		c.renderServiceError(w, r, s, err)
		return
	}
	s.setFlash(fmt.Sprintf("Connector %s deleted from cluster %s.", k.Name, cl.DisplayName))
	http.Redirect(w, r, blockURL(r), http.StatusSeeOther)
}

// pauseConnector returns the handler that pauses (or resumes) a connector.
func (c *Console) pauseConnector(paused bool) func(w http.ResponseWriter, r *http.Request, s *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		cl := c.pathCluster(w, r, s)
		if cl == nil {
			return
		}
		name := r.PathValue("name")
		if err := c.opts.Connectors.SetConnectorPaused(r.Context(), cl.EnvironmentID, cl.ID, name, paused); err != nil {
			c.renderServiceError(w, r, s, err)
			return
		}
		what := "paused: it stops until you resume it"
		if !paused {
			what = "resumed"
		}
		s.setFlash(fmt.Sprintf("Connector %s %s.", name, what))
		http.Redirect(w, r, blockURL(r), http.StatusSeeOther)
	}
}

// --- live ---

// connectorLive is what a network page's stream knows of the connectors
// it shows. The blocks (with their forms) and the lists (with the
// connectors' actions) are sent again only when clusters or connectors
// come or go, so that a form being filled in or a deletion being
// confirmed is not replaced; a connector's status is sent when it
// changes.
type connectorLive struct {
	cache    statusCache
	clusters string            // the clusters shown, once known
	names    map[string]string // the connectors shown, by cluster
	rows     differ
}

func newConnectorLive() *connectorLive {
	return &connectorLive{cache: statusCache{}, rows: differ{}}
}

// patches returns the changes of v's connectors since the last call.
func (l *connectorLive) patches(c *Console, v *networkView) []patch {
	if v.Connectors == nil {
		return nil
	}
	first := l.names == nil
	if first {
		l.names = map[string]string{}
	}
	var out []patch
	var ids []string
	for _, b := range v.Connectors {
		ids = append(ids, b.Cluster.ID)
	}
	sort.Strings(ids)
	all := !first && fmt.Sprint(ids) != l.clusters
	l.clusters = fmt.Sprint(ids)
	if all {
		out = append(out, patch{Key: "connector-clusters", HTML: c.fragment("connector-clusters", v)})
	}
	for _, b := range v.Connectors {
		var names []string
		for _, it := range b.Items {
			names = append(names, it.C.Name)
		}
		list := !first && !all && fmt.Sprint(names) != l.names[b.Cluster.ID]
		l.names[b.Cluster.ID] = fmt.Sprint(names)
		if list {
			out = append(out, patch{Key: "connectors:" + b.Cluster.ID, HTML: c.fragment("connector-list", b)})
		}
		for _, it := range b.Items {
			p := l.rows.changed([]patch{{Key: it.Key(), HTML: c.fragment("connector-status", it)}})
			if !all && !list {
				out = append(out, p...)
			}
		}
	}
	return out
}
