package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	connectv1 "github.com/confluentinc/ccloud-sdk-go-v2/connect/v1"

	"github.com/peerplane/peerplane/internal/api"
	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/netcheck"
	"github.com/peerplane/peerplane/internal/reach"
)

// TestConnectorRunStatus: with connectors running (the checker has the
// runs), a status carries the run's state, its counts (metrics), last
// error and source address; a FAILED one's trace is the real error
// followed by the model's reason; the Connect SDK reads both; the expanded
// list carries the same.
func TestConnectorRunStatus(t *testing.T) {
	h := newReachHarness(t)
	h.srv.Close()
	h.srv = httptest.NewServer(api.New(api.Options{Environments: h.svc, Networks: h.svc, Peerings: h.svc, Clusters: h.svc, Orgs: h.svc, Connectors: h.svc,
		Reachability: &netcheck.Checker{Environments: h.svc, Networks: h.svc, Clusters: h.svc, Peerings: h.svc, Runs: h.svc,
			Snapshot: func(context.Context, reach.World) (*reach.Snapshot, error) { s := h.snap; return &s, nil }}}))
	t.Cleanup(h.srv.Close)
	ctx := control.NewContextWithOrganization(context.Background(), h.org)
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for name, run := range map[string]control.ConnectorRun{
		// vnet-b (10.1.0.0/16) is peered with the network; vnet-a only with vnet-b.
		"near-sink": {State: control.ConnectorRunning, RecordsIn: 120, RecordsOut: 118, RecordsDLQ: 2,
			LastError: "2 record(s) sent to dead-letter topic dlq-lcc-x: POST http://10.1.0.4:8080/in: the API answered 400 Bad Request: bad", LastErrorAt: at},
		"far-sink": {State: control.ConnectorFailed, RecordsIn: 10,
			LastError: `Post "http://10.2.0.4:8080/in": dial tcp 10.2.0.4:8080: i/o timeout (after 2 retries)`, LastErrorAt: at},
	} {
		ip := "10.1.0.4"
		if name == "far-sink" {
			ip = "10.2.0.4"
		}
		k := &control.Connector{Name: name, Config: map[string]string{"connector.class": "HttpSink", "http.api.url": "http://" + ip + ":8080/in", "topics": "orders"}}
		if err := h.svc.CreateConnector(ctx, h.env, h.cluster, k); err != nil {
			t.Fatal(err)
		}
		run.ClusterID, run.Name, run.Generation, run.ConfigAt, run.Since, run.Address = h.cluster, name, k.CreatedAt, k.UpdatedAt, at, "10.200.0.4"
		if err := h.svc.PutConnectorRun(context.Background(), &run); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"near-sink", "far-sink"} {
		t.Run(name, func(t *testing.T) {
			r := h.do("GET", "/connect/v1/environments/"+h.env+"/clusters/"+h.cluster+"/connectors/"+name+"/status", nil)
			if r.status != http.StatusOK {
				t.Fatalf("status: %d %s", r.status, r.body)
			}
			golden(t, r)
		})
	}
	cfg := connectv1.NewConfiguration()
	cfg.Servers = connectv1.ServerConfigurations{{URL: h.srv.URL}}
	sdk := connectv1.NewAPIClient(cfg)
	sctx := context.WithValue(context.Background(), connectv1.ContextBasicAuth, connectv1.BasicAuth{UserName: h.key, Password: h.secret})
	st, _, err := sdk.StatusConnectV1Api.ReadConnectv1ConnectorStatus(sctx, "far-sink", h.env, h.cluster).Execute()
	if err != nil || st.Connector.State != "FAILED" || st.Connector.GetTrace() == "" {
		t.Fatalf("the SDK's status: %+v %v", st, err)
	}
	exp, _, err := sdk.ConnectorsConnectV1Api.ListConnectv1ConnectorsWithExpansions(sctx, h.env, h.cluster).Expand("status").Execute()
	if err != nil || exp["near-sink"].Status == nil || exp["near-sink"].Status.Connector.State != "RUNNING" {
		t.Fatalf("the SDK's expanded list: %+v %v", exp, err)
	}
	list := h.do("GET", "/connect/v1/environments/"+h.env+"/clusters/"+h.cluster+"/connectors?expand=status", nil).json(t)
	m, _ := list["near-sink"].(map[string]any)["status"].(map[string]any)["metrics"].(map[string]any)
	if m["sent_records"] != float64(118) || m["dead_letter_queue_records"] != float64(2) {
		t.Fatalf("expanded list metrics: %v", m)
	}
}
