package api

import (
	"errors"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/netcheck"
)

// connect/v1: managed connectors in a Dedicated cluster, the subset of
// Confluent's Connect API that create, read, list, update, pause, resume
// and delete them and read their status. Errors use Connect's own body,
// {"error":{"code":<status>,"message":…}}, not the Failure body of the
// other APIs.
//
// A connector's status comes from netcheck: with the data plane on, what
// the connector runtime reports of its run (FAILED with the real error and
// the reachability model's explanation in connector.trace), with its
// record counts and last error in Peerplane's additions to the status
// object (metrics, last_error, source_address; Confluent's SDKs ignore
// them); with it off, the model's verdict on each read.

const connectPrefix = "/connect/v1/environments/{env}/clusters/{cluster}/connectors"

func (s *Server) connectRoutes() {
	s.handleConnect("GET "+connectPrefix, s.listConnectors)
	s.handleConnect("POST "+connectPrefix, s.createConnector)
	s.handleConnect("GET "+connectPrefix+"/{name}", s.getConnector)
	s.handleConnect("DELETE "+connectPrefix+"/{name}", s.deleteConnector)
	s.handleConnect("GET "+connectPrefix+"/{name}/config", s.getConnectorConfig)
	s.handleConnect("PUT "+connectPrefix+"/{name}/config", s.putConnectorConfig)
	s.handleConnect("GET "+connectPrefix+"/{name}/status", s.getConnectorStatus)
	s.handleConnect("GET "+connectPrefix+"/{name}/tasks", s.getConnectorTasks)
	s.handleConnect("PUT "+connectPrefix+"/{name}/pause", s.pauseConnector(true))
	s.handleConnect("PUT "+connectPrefix+"/{name}/resume", s.pauseConnector(false))
}

// connectError is Connect's error body.
type connectError struct {
	Error connectErrorItem `json:"error"`
}

type connectErrorItem struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// writeConnectError writes err as Connect's error body. Invalid input is
// 400 (Connect has no 422); the message names the field.
func (s *Server) writeConnectError(w http.ResponseWriter, r *http.Request, err error) {
	code := control.ErrorCode(err)
	shape, ok := errorShapes[code]
	if !ok {
		shape = errorShapes[control.EINTERNAL]
	}
	status := shape.status
	if code == control.EINVALID {
		status = http.StatusBadRequest
	}
	if errors.As(err, new(errMediaType)) {
		status = http.StatusUnsupportedMediaType
	}
	msg := control.ErrorMessage(err)
	if status == http.StatusInternalServerError {
		s.logInternal(r, err)
	}
	if f := control.ErrorField(err); f != "" && code == control.EINVALID && !strings.Contains(msg, f) {
		msg = f + ": " + msg
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="peerplane"`)
	}
	writeJSON(w, status, connectError{Error: connectErrorItem{Code: status, Message: msg}})
}

// connectorWire is connect.v1.Connector.
type connectorWire struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
	Tasks  []taskID          `json:"tasks"`
	Type   string            `json:"type"`
}

type taskID struct {
	Connector string `json:"connector"`
	Task      int    `json:"task"`
}

// connectorStatusWire is the status object.
type connectorStatusWire struct {
	Name      string          `json:"name"`
	Connector connectorState  `json:"connector"`
	Tasks     []taskStateWire `json:"tasks"`
	Type      string          `json:"type"`

	// Peerplane's additions, once the connector runtime has run the
	// connector.
	Metrics       *connectorMetrics   `json:"metrics,omitempty"`
	LastError     *connectorLastError `json:"last_error,omitempty"`
	SourceAddress string              `json:"source_address,omitempty"`
}

// connectorMetrics are a run's record counts, named as Confluent's
// metrics API names them.
type connectorMetrics struct {
	ReceivedRecords        int64 `json:"received_records"`
	SentRecords            int64 `json:"sent_records"`
	DeadLetterQueueRecords int64 `json:"dead_letter_queue_records"`
}

type connectorLastError struct {
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
}

type connectorState struct {
	State    string `json:"state"`
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace"`
}

type taskStateWire struct {
	ID       int    `json:"id"`
	State    string `json:"state"`
	WorkerID string `json:"worker_id"`
	Msg      string `json:"msg,omitempty"`
}

// redacted marks configuration values never echoed.
const redacted = "****************"

// secretConfig reports whether a config key holds a secret.
func secretConfig(key string) bool {
	k := strings.ToLower(key)
	if k == "kafka.api.key" {
		return true
	}
	for _, s := range []string{"secret", "password", "credentials", "token", "private.key"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// configCRN is the config key under which a connector's CRN is shown, as
// Confluent adds it to a managed connector's config. The server sets it on
// every config it returns and drops it from every config it is sent.
const configCRN = "connector.crn"

// wireConfig returns c's config as the API shows it: secrets redacted,
// with the connector's CRN under configCRN.
func wireConfig(c *control.Connector) map[string]string {
	out := make(map[string]string, len(c.Config)+1)
	for k, v := range c.Config {
		if secretConfig(k) {
			v = redacted
		}
		out[k] = v
	}
	out[configCRN] = control.ConnectorCRN(c.OrgID, c.EnvironmentID, c.ClusterID, c.Name)
	return out
}

// withoutServerConfig returns config without the keys the server sets.
func withoutServerConfig(config map[string]string) map[string]string {
	if _, ok := config[configCRN]; ok {
		config = maps.Clone(config)
		delete(config, configCRN)
	}
	return config
}

func taskCount(c *control.Connector) int {
	n, err := strconv.Atoi(c.Config["tasks.max"])
	if err != nil || n < 1 {
		return 1
	}
	return min(n, 100)
}

func toConnectorWire(c *control.Connector) connectorWire {
	w := connectorWire{Name: c.Name, Config: wireConfig(c), Type: control.ConnectorType(c.Config), Tasks: []taskID{}}
	for i := range taskCount(c) {
		w.Tasks = append(w.Tasks, taskID{Connector: c.Name, Task: i})
	}
	return w
}

func toStatusWire(c *control.Connector, st netcheck.ConnectorStatus) connectorStatusWire {
	w := connectorStatusWire{Name: c.Name, Type: control.ConnectorType(c.Config), Tasks: []taskStateWire{},
		Connector: connectorState{State: st.State, WorkerID: c.Name, Trace: st.Trace}}
	if r := st.Run; r != nil {
		w.Metrics = &connectorMetrics{ReceivedRecords: r.RecordsIn, SentRecords: r.RecordsOut, DeadLetterQueueRecords: r.RecordsDLQ}
		w.SourceAddress = r.Address
		if r.LastError != "" {
			w.LastError = &connectorLastError{Message: r.LastError, Time: r.LastErrorAt.UTC()}
		}
	}
	if st.State == netcheck.StateProvisioning {
		return w
	}
	for i := range taskCount(c) {
		w.Tasks = append(w.Tasks, taskStateWire{ID: i, State: st.State, WorkerID: c.Name, Msg: st.Trace})
	}
	return w
}

// connectorID is a stable lcc- id derived from the cluster and name.
func connectorID(c *control.Connector) string { return control.ConnectorID(c.ClusterID, c.Name) }

func connectPath(r *http.Request) (env, cluster string) {
	return r.PathValue("env"), r.PathValue("cluster")
}

// statuses evaluates conns of the request's cluster.
func (s *Server) statuses(r *http.Request, conns []*control.Connector) ([]netcheck.ConnectorStatus, error) {
	env, clusterID := connectPath(r)
	cluster, err := s.opts.Clusters.FindClusterByID(r.Context(), env, clusterID)
	if err != nil {
		return nil, err
	}
	if s.opts.Reachability == nil {
		out := make([]netcheck.ConnectorStatus, len(conns))
		for i := range out {
			out[i] = netcheck.ConnectorStatus{State: netcheck.StateFailed, Trace: "Reachability is not available on this server, so the connector's hosts cannot be checked."}
		}
		return out, nil
	}
	return s.opts.Reachability.ConnectorStatuses(r.Context(), env, cluster, conns)
}

func (s *Server) listConnectors(w http.ResponseWriter, r *http.Request) error {
	env, cluster := connectPath(r)
	conns, err := s.opts.Connectors.FindConnectors(r.Context(), env, cluster)
	if err != nil {
		return err
	}
	expand := map[string]bool{}
	for _, v := range r.URL.Query()["expand"] {
		for _, e := range strings.Split(v, ",") {
			switch e = strings.TrimSpace(e); e {
			case "id", "info", "status":
				expand[e] = true
			case "":
			default:
				return control.FieldErrorf(control.EINVALID, "expand", "expand %q is not one of id, info, status.", e)
			}
		}
	}
	if len(expand) == 0 {
		names := make([]string, 0, len(conns))
		for _, c := range conns {
			names = append(names, c.Name)
		}
		writeJSON(w, http.StatusOK, names)
		return nil
	}
	var sts []netcheck.ConnectorStatus
	if expand["status"] {
		if sts, err = s.statuses(r, conns); err != nil {
			return err
		}
	}
	out := make(map[string]map[string]any, len(conns))
	for i, c := range conns {
		m := map[string]any{}
		if expand["id"] {
			m["id"] = map[string]string{"id": connectorID(c), "id_type": "ID"}
		}
		if expand["info"] {
			info := toConnectorWire(c)
			m["info"] = map[string]any{"name": info.Name, "config": info.Config, "type": info.Type}
		}
		if expand["status"] {
			m["status"] = toStatusWire(c, sts[i])
		}
		out[c.Name] = m
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) createConnector(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Name   string            `json:"name"`
		Config map[string]string `json:"config"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if body.Name == "" {
		body.Name = body.Config["name"]
	}
	env, cluster := connectPath(r)
	c := &control.Connector{Name: body.Name, Config: withoutServerConfig(body.Config)}
	if err := s.opts.Connectors.CreateConnector(r.Context(), env, cluster, c); err != nil {
		if control.ErrorCode(err) == control.ECONFLICT {
			return control.Errorf(control.ECONFLICT, "Connector %s already exists in Kafka cluster %s.", c.Name, cluster)
		}
		return err
	}
	writeJSON(w, http.StatusCreated, toConnectorWire(c))
	return nil
}

func (s *Server) findConnector(r *http.Request) (*control.Connector, error) {
	env, cluster := connectPath(r)
	c, err := s.opts.Connectors.FindConnector(r.Context(), env, cluster, r.PathValue("name"))
	return c, connectorErr(r, err)
}

// connectorErr names the cluster in a missing connector's 404 (a missing
// cluster's names its field already).
func connectorErr(r *http.Request, err error) error {
	if control.ErrorCode(err) == control.ENOTFOUND && control.ErrorField(err) == "" {
		_, cluster := connectPath(r)
		return control.Errorf(control.ENOTFOUND, "Connector %s was not found in Kafka cluster %s.", r.PathValue("name"), cluster)
	}
	return err
}

func (s *Server) getConnector(w http.ResponseWriter, r *http.Request) error {
	c, err := s.findConnector(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toConnectorWire(c))
	return nil
}

func (s *Server) getConnectorConfig(w http.ResponseWriter, r *http.Request) error {
	c, err := s.findConnector(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireConfig(c))
	return nil
}

func (s *Server) putConnectorConfig(w http.ResponseWriter, r *http.Request) error {
	var config map[string]string
	if err := decode(r, &config); err != nil {
		return err
	}
	if config == nil {
		return control.FieldErrorf(control.EINVALID, "config", "The request body must be the connector's config, a JSON object of strings.")
	}
	env, cluster := connectPath(r)
	c, _, err := s.opts.Connectors.PutConnectorConfig(r.Context(), env, cluster, r.PathValue("name"), withoutServerConfig(config))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toConnectorWire(c))
	return nil
}

func (s *Server) deleteConnector(w http.ResponseWriter, r *http.Request) error {
	env, cluster := connectPath(r)
	if err := s.opts.Connectors.DeleteConnector(r.Context(), env, cluster, r.PathValue("name")); err != nil {
		return connectorErr(r, err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"error": nil})
	return nil
}

func (s *Server) getConnectorStatus(w http.ResponseWriter, r *http.Request) error {
	c, err := s.findConnector(r)
	if err != nil {
		return err
	}
	sts, err := s.statuses(r, []*control.Connector{c})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toStatusWire(c, sts[0]))
	return nil
}

func (s *Server) getConnectorTasks(w http.ResponseWriter, r *http.Request) error {
	c, err := s.findConnector(r)
	if err != nil {
		return err
	}
	type task struct {
		ID     taskID            `json:"id"`
		Config map[string]string `json:"config"`
	}
	out := []task{}
	for _, t := range toConnectorWire(c).Tasks {
		out = append(out, task{ID: t, Config: wireConfig(c)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) pauseConnector(paused bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		env, cluster := connectPath(r)
		if err := s.opts.Connectors.SetConnectorPaused(r.Context(), env, cluster, r.PathValue("name"), paused); err != nil {
			return connectorErr(r, err)
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
}
