package kafka_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	kafkarestv3 "github.com/confluentinc/ccloud-sdk-go-v2/kafkarest/v3"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/kafka"
	"github.com/peerplane/peerplane/internal/tlsca"
)

// TestREST drives a cluster's Kafka REST v3 endpoint with Confluent's own
// client (kafkarest/v3, what the Terraform provider's confluent_kafka_topic
// uses), over TLS with a certificate from the data directory's CA: create
// a topic with a config, read it and its configs as the provider does
// (only DYNAMIC_TOPIC_CONFIG values are the user's), alter a config, add
// partitions, produce a record, list, delete; errors in Kafka REST's shape
// (401 without the cluster's key, 404 for a missing topic, 400 for a topic
// that exists or a bad body).
func TestREST(t *testing.T) {
	ca, err := tlsca.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, dir: t.TempDir(), plane: &fakePlane{held: map[netip.Addr]*fakeHost{}, vnets: map[string]bool{vnet: true}},
		source: &fakeSource{clusters: map[string]control.ClusterPlacement{}}}
	w.m = kafka.New(kafka.Options{Source: w.source, Hosts: w.plane, Keys: keys{"KEY": "SECRET"}, Dir: w.dir, Resync: time.Hour,
		Certificate: ca.ServerCertificate})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	c := testCluster("lkc-rest01", 5, 3)
	w.source.put(c, vnet)
	w.sync()

	httpc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}, Timeout: wait}
	cfg := kafkarestv3.NewConfiguration()
	cfg.Servers = kafkarestv3.ServerConfigurations{{URL: "https://127.91.5.2:443"}}
	cfg.HTTPClient = httpc
	api := kafkarestv3.NewAPIClient(cfg)
	auth := context.WithValue(context.Background(), kafkarestv3.ContextBasicAuth, kafkarestv3.BasicAuth{UserName: "KEY", Password: "SECRET"})
	status := func(resp *http.Response) int {
		if resp == nil {
			return 0
		}
		return resp.StatusCode
	}
	restErr := func(err error) (code int, msg string) {
		var ge kafkarestv3.GenericOpenAPIError
		if errors.As(err, &ge) {
			var e struct {
				ErrorCode int    `json:"error_code"`
				Message   string `json:"message"`
			}
			json.Unmarshal(ge.Body(), &e)
			return e.ErrorCode, e.Message
		}
		return 0, err.Error()
	}

	// Create, as confluent_kafka_topic does.
	parts := int32(4)
	retention := "600000"
	created, resp, err := api.TopicV3Api.CreateKafkaTopic(auth, c.ID).CreateTopicRequestData(kafkarestv3.CreateTopicRequestData{
		TopicName: "orders", PartitionsCount: &parts,
		Configs: &[]kafkarestv3.CreateTopicRequestDataConfigs{{Name: "retention.ms", Value: *kafkarestv3.NewNullableString(&retention)}},
	}).Execute()
	if err != nil || status(resp) != http.StatusCreated || created.TopicName != "orders" || created.PartitionsCount != 4 || created.ClusterId != c.ID {
		t.Fatalf("create: %d %+v %v", status(resp), created, err)
	}
	got, resp, err := api.TopicV3Api.GetKafkaTopic(auth, c.ID, "orders").Execute()
	if err != nil || got.PartitionsCount != 4 || !strings.HasSuffix(got.Metadata.Self, "/kafka/v3/clusters/"+c.ID+"/topics/orders") {
		t.Fatalf("get: %d %+v %v", status(resp), got, err)
	}
	userConfigs := func() map[string]string {
		t.Helper()
		list, resp, err := api.ConfigsV3Api.ListKafkaTopicConfigs(auth, c.ID, "orders").Execute()
		if err != nil {
			t.Fatalf("configs: %d %v", status(resp), err)
		}
		out := map[string]string{}
		for _, cfg := range list.Data {
			if cfg.Source == "DYNAMIC_TOPIC_CONFIG" && cfg.Value.IsSet() {
				out[cfg.Name] = *cfg.Value.Get()
			}
		}
		if len(list.Data) < 2 {
			t.Fatalf("configs: only %d, want the topic's defaults too", len(list.Data))
		}
		return out
	}
	if cfgs := userConfigs(); len(cfgs) != 1 || cfgs["retention.ms"] != "600000" {
		t.Fatalf("user configs after create: %v", cfgs)
	}
	cleanup := "compact"
	if resp, err := api.ConfigsV3Api.UpdateKafkaTopicConfigBatch(auth, c.ID, "orders").AlterConfigBatchRequestData(kafkarestv3.AlterConfigBatchRequestData{
		Data: []kafkarestv3.AlterConfigBatchRequestDataData{{Name: "cleanup.policy", Value: *kafkarestv3.NewNullableString(&cleanup)}},
	}).Execute(); err != nil || status(resp) != http.StatusNoContent {
		t.Fatalf("alter configs: %d %v", status(resp), err)
	}
	if cfgs := userConfigs(); cfgs["cleanup.policy"] != "compact" || cfgs["retention.ms"] != "600000" {
		t.Fatalf("user configs after alter: %v", cfgs)
	}
	more, resp, err := api.TopicV3Api.UpdatePartitionCountKafkaTopic(auth, c.ID, "orders").
		UpdatePartitionCountRequestData(kafkarestv3.UpdatePartitionCountRequestData{PartitionsCount: 6}).Execute()
	if err != nil || more.PartitionsCount != 6 {
		t.Fatalf("add partitions: %d %+v %v", status(resp), more, err)
	}

	// Produce one record; a Kafka client reads it back.
	typ := "STRING"
	pr, resp, err := api.RecordsV3Api.ProduceRecord(auth, c.ID, "orders").ProduceRequest(kafkarestv3.ProduceRequest{
		Key:   *kafkarestv3.NewNullableProduceRequestData(&kafkarestv3.ProduceRequestData{Type: &typ, Data: "k1"}),
		Value: *kafkarestv3.NewNullableProduceRequestData(&kafkarestv3.ProduceRequestData{Type: &typ, Data: "hello"}),
	}).Execute()
	if err != nil || pr.ErrorCode != 200 || pr.Offset == nil || *pr.Offset != 0 || pr.PartitionId == nil {
		t.Fatalf("produce: %d %+v %v", status(resp), pr, err)
	}
	if vals := consume(t, w.bootstrap(c.ID), "orders", 1); vals[0] != "hello" {
		t.Fatalf("read back %q", vals)
	}

	list, _, err := api.TopicV3Api.ListKafkaTopics(auth, c.ID).Execute()
	if err != nil || len(list.Data) != 1 || list.Data[0].TopicName != "orders" {
		t.Fatalf("list: %+v %v", list.Data, err)
	}

	// Errors, in Kafka REST's shape.
	_, resp, err = api.TopicV3Api.CreateKafkaTopic(auth, c.ID).CreateTopicRequestData(kafkarestv3.CreateTopicRequestData{TopicName: "orders"}).Execute()
	if code, _ := restErr(err); status(resp) != http.StatusBadRequest || code != 40002 {
		t.Fatalf("create an existing topic: %d %d %v", status(resp), code, err)
	}
	_, resp, err = api.TopicV3Api.GetKafkaTopic(auth, c.ID, "nope").Execute()
	if code, _ := restErr(err); status(resp) != http.StatusNotFound || code != 40403 {
		t.Fatalf("get a missing topic: %d %d %v", status(resp), code, err)
	}
	for _, bad := range []context.Context{
		context.Background(), // no key
		context.WithValue(context.Background(), kafkarestv3.ContextBasicAuth, kafkarestv3.BasicAuth{UserName: "KEY", Password: "wrong"}),
		context.WithValue(context.Background(), kafkarestv3.ContextBasicAuth, kafkarestv3.BasicAuth{UserName: "CLOUDKEY", Password: "x"}),
	} {
		_, resp, err := api.TopicV3Api.ListKafkaTopics(bad, c.ID).Execute()
		if code, msg := restErr(err); status(resp) != http.StatusUnauthorized || code != 40101 || msg != "Authentication failed" {
			t.Fatalf("without the cluster's key: %d %d %q", status(resp), code, msg)
		}
	}
	_, resp, err = api.TopicV3Api.ListKafkaTopics(auth, "lkc-other1").Execute()
	if status(resp) != http.StatusNotFound {
		t.Fatalf("another cluster's path: %d %v", status(resp), err)
	}
	for _, body := range []string{``, `{`, `{"topic_name":"has space"}`, `{"topic_name":"x","partitions_count":0}`} {
		req, _ := http.NewRequest("POST", "https://127.91.5.1:443/kafka/v3/clusters/"+c.ID+"/topics", strings.NewReader(body))
		req.SetBasicAuth("KEY", "SECRET")
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"error_code":400`) {
			t.Fatalf("create with body %q: %d %s", body, resp.StatusCode, b)
		}
	}

	if resp, err := api.TopicV3Api.DeleteKafkaTopic(auth, c.ID, "orders").Execute(); err != nil || status(resp) != http.StatusNoContent {
		t.Fatalf("delete: %d %v", status(resp), err)
	}
	if _, resp, _ := api.TopicV3Api.GetKafkaTopic(auth, c.ID, "orders").Execute(); status(resp) != http.StatusNotFound {
		t.Fatalf("get after delete: %d", status(resp))
	}
}
