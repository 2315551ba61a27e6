package kafka

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/peerplane/peerplane/internal/control"
)

// restServer is a cluster's Kafka REST v3 endpoint: the subset
// Confluent's Terraform provider (confluent_kafka_topic) and CLI use for
// topics, and producing a record. Every request needs one of the
// cluster's API keys (HTTP Basic); the calls go to the cluster's brokers
// through client.
type restServer struct {
	clusterID string
	client    *kgo.Client
	keys      KeyAuthenticator
	log       *slog.Logger
	rr        atomic.Uint32 // round-robin partition of records without key or partition
	mux       *http.ServeMux
}

// newRESTServer returns cluster clusterID's REST endpoint over client.
func newRESTServer(clusterID string, client *kgo.Client, keys KeyAuthenticator, log *slog.Logger) *restServer {
	s := &restServer{clusterID: clusterID, client: client, keys: keys, log: log, mux: http.NewServeMux()}
	route := func(pattern string, h func(*http.Request) (int, any, error)) {
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			status, body, err := h(r)
			s.write(w, r, status, body, err)
		})
	}
	route("GET /kafka/v3/clusters/{cluster_id}", s.getCluster)
	route("GET /kafka/v3/clusters/{cluster_id}/topics", s.listTopics)
	route("POST /kafka/v3/clusters/{cluster_id}/topics", s.createTopic)
	route("GET /kafka/v3/clusters/{cluster_id}/topics/{topic}", s.getTopic)
	route("PATCH /kafka/v3/clusters/{cluster_id}/topics/{topic}", s.updatePartitions)
	route("DELETE /kafka/v3/clusters/{cluster_id}/topics/{topic}", s.deleteTopic)
	route("GET /kafka/v3/clusters/{cluster_id}/topics/{topic}/configs", s.listTopicConfigs)
	route("POST /kafka/v3/clusters/{cluster_id}/topics/{topic}/configs:alter", s.alterTopicConfigs)
	route("POST /kafka/v3/clusters/{cluster_id}/topics/{topic}/records", s.produce)
	route("/", func(r *http.Request) (int, any, error) {
		return 0, nil, restErrorf(http.StatusNotFound, codeNotFound, "HTTP 404 Not Found")
	})
	return s
}

// restError is Kafka REST's error body.
type restError struct {
	Status    int    `json:"-"`
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

func (e *restError) Error() string { return e.Message }

func restErrorf(status, code int, format string, args ...any) *restError {
	return &restError{Status: status, ErrorCode: code, Message: fmt.Sprintf(format, args...)}
}

// Kafka REST's error codes (Confluent's REST Proxy).
const (
	codeUnauthenticated = 40101
	codeBadRequest      = 400
	codeTopicExists     = 40002
	codeUnknownTopic    = 40403
	codeNotFound        = 404
	codeUnprocessable   = 42206
	codeServerError     = 50003 // retriable Kafka error
)

var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func (s *restServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, secret, ok := r.BasicAuth()
	if !ok {
		s.write(w, r, 0, nil, restErrorf(http.StatusUnauthorized, codeUnauthenticated, "Authentication failed"))
		return
	}
	if _, err := s.keys.AuthenticateClusterKey(r.Context(), s.clusterID, key, secret); err != nil {
		if control.ErrorCode(err) != control.EUNAUTHORIZED {
			s.log.Warn("authenticate a cluster API key", "err", err)
		}
		s.write(w, r, 0, nil, restErrorf(http.StatusUnauthorized, codeUnauthenticated, "Authentication failed"))
		return
	}
	if id := clusterInPath(r.URL.Path); id != "" && id != s.clusterID {
		s.write(w, r, 0, nil, restErrorf(http.StatusNotFound, codeNotFound, "Cluster %s not found.", id))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// clusterInPath returns the {cluster_id} of a /kafka/v3/clusters/… path.
func clusterInPath(p string) string {
	rest, ok := strings.CutPrefix(p, "/kafka/v3/clusters/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}

func (s *restServer) write(w http.ResponseWriter, r *http.Request, status int, body any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		var re *restError
		if !errors.As(err, &re) {
			s.log.Warn("kafka rest", "method", r.Method, "path", r.URL.Path, "err", err)
			re = restErrorf(http.StatusInternalServerError, codeServerError, "Internal Server Error")
		}
		if re.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="Kafka REST"`)
		}
		w.WriteHeader(re.Status)
		json.NewEncoder(w).Encode(re)
		return
	}
	if body == nil {
		w.WriteHeader(status)
		return
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// --- wire shapes (kafkarest/v3) ---

type resourceMeta struct {
	Self         string `json:"self"`
	ResourceName string `json:"resource_name,omitempty"`
}

type collectionMeta struct {
	Self string  `json:"self"`
	Next *string `json:"next"`
}

type related struct {
	Related string `json:"related"`
}

type topicData struct {
	Kind                   string       `json:"kind"`
	Metadata               resourceMeta `json:"metadata"`
	ClusterID              string       `json:"cluster_id"`
	TopicName              string       `json:"topic_name"`
	IsInternal             bool         `json:"is_internal"`
	ReplicationFactor      int          `json:"replication_factor"`
	PartitionsCount        int          `json:"partitions_count"`
	Partitions             related      `json:"partitions"`
	Configs                related      `json:"configs"`
	PartitionReassignments related      `json:"partition_reassignments"`
	AuthorizedOperations   []string     `json:"authorized_operations"`
}

type configSynonym struct {
	Name   string  `json:"name"`
	Value  *string `json:"value"`
	Source string  `json:"source"`
}

type topicConfigData struct {
	Kind        string          `json:"kind"`
	Metadata    resourceMeta    `json:"metadata"`
	ClusterID   string          `json:"cluster_id"`
	TopicName   string          `json:"topic_name"`
	Name        string          `json:"name"`
	Value       *string         `json:"value"`
	IsDefault   bool            `json:"is_default"`
	IsReadOnly  bool            `json:"is_read_only"`
	IsSensitive bool            `json:"is_sensitive"`
	Source      string          `json:"source"`
	Synonyms    []configSynonym `json:"synonyms"`
}

type list[T any] struct {
	Kind     string         `json:"kind"`
	Metadata collectionMeta `json:"metadata"`
	Data     []T            `json:"data"`
}

func base(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

func (s *restServer) topicURL(r *http.Request, topic string) string {
	return base(r) + "/kafka/v3/clusters/" + s.clusterID + "/topics/" + topic
}

func (s *restServer) encodeTopic(r *http.Request, t kmsg.MetadataResponseTopic) topicData {
	name := *t.Topic
	u := s.topicURL(r, name)
	rf := 0
	if len(t.Partitions) > 0 {
		rf = len(t.Partitions[0].Replicas)
	}
	return topicData{Kind: "KafkaTopic", Metadata: resourceMeta{Self: u, ResourceName: "crn:///kafka=" + s.clusterID + "/topic=" + name},
		ClusterID: s.clusterID, TopicName: name, IsInternal: t.IsInternal, ReplicationFactor: rf, PartitionsCount: len(t.Partitions),
		Partitions: related{u + "/partitions"}, Configs: related{u + "/configs"}, PartitionReassignments: related{u + "/partitions/-/reassignment"},
		AuthorizedOperations: []string{}}
}

// --- handlers ---

func (s *restServer) getCluster(r *http.Request) (int, any, error) {
	u := base(r) + "/kafka/v3/clusters/" + s.clusterID
	return http.StatusOK, map[string]any{
		"kind": "KafkaCluster", "metadata": resourceMeta{Self: u, ResourceName: "crn:///kafka=" + s.clusterID},
		"cluster_id": s.clusterID, "topics": related{u + "/topics"},
	}, nil
}

// metadata returns the topics' metadata (every topic when none is named).
func (s *restServer) metadata(ctx context.Context, topics ...string) ([]kmsg.MetadataResponseTopic, error) {
	req := kmsg.NewPtrMetadataRequest()
	if len(topics) > 0 {
		for _, t := range topics {
			mt := kmsg.NewMetadataRequestTopic()
			mt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, mt)
		}
	} else {
		req.Topics = nil // all
	}
	resp, err := req.RequestWith(ctx, s.client)
	if err != nil {
		return nil, kafkaUnavailable(err)
	}
	return resp.Topics, nil
}

func kafkaUnavailable(err error) error {
	return fmt.Errorf("kafka: %w", err)
}

func (s *restServer) listTopics(r *http.Request) (int, any, error) {
	ts, err := s.metadata(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := list[topicData]{Kind: "KafkaTopicList", Metadata: collectionMeta{Self: base(r) + "/kafka/v3/clusters/" + s.clusterID + "/topics"}, Data: []topicData{}}
	sort.Slice(ts, func(i, j int) bool { return *ts[i].Topic < *ts[j].Topic })
	for _, t := range ts {
		if t.ErrorCode == 0 && t.Topic != nil {
			out.Data = append(out.Data, s.encodeTopic(r, t))
		}
	}
	return http.StatusOK, out, nil
}

// topic returns one topic's metadata, or Kafka REST's 404.
func (s *restServer) topic(ctx context.Context, name string) (kmsg.MetadataResponseTopic, error) {
	if !topicName.MatchString(name) {
		return kmsg.MetadataResponseTopic{}, restErrorf(http.StatusNotFound, codeUnknownTopic, "This server does not host this topic-partition.")
	}
	ts, err := s.metadata(ctx, name)
	if err != nil {
		return kmsg.MetadataResponseTopic{}, err
	}
	for _, t := range ts {
		if t.Topic != nil && *t.Topic == name && t.ErrorCode == 0 {
			return t, nil
		}
	}
	return kmsg.MetadataResponseTopic{}, restErrorf(http.StatusNotFound, codeUnknownTopic, "This server does not host this topic-partition.")
}

func (s *restServer) getTopic(r *http.Request) (int, any, error) {
	t, err := s.topic(r.Context(), r.PathValue("topic"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.encodeTopic(r, t), nil
}

// decode reads a JSON body into v, refusing unknown fields as Kafka REST's
// Jackson does for wrong types (a 400 naming the problem).
func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return restErrorf(http.StatusBadRequest, codeBadRequest, "Could not read the request body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return restErrorf(http.StatusBadRequest, codeBadRequest, "Request body is empty. Data is required.")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return restErrorf(http.StatusBadRequest, codeBadRequest, "Cannot deserialize the request body: %v", err)
	}
	return nil
}

type configEntry struct {
	Name  string  `json:"name"`
	Value *string `json:"value"`
}

func (s *restServer) createTopic(r *http.Request) (int, any, error) {
	var req struct {
		TopicName         string        `json:"topic_name"`
		PartitionsCount   *int32        `json:"partitions_count"`
		ReplicationFactor *int16        `json:"replication_factor"`
		Configs           []configEntry `json:"configs"`
		ValidateOnly      bool          `json:"validate_only"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if !topicName.MatchString(req.TopicName) {
		return 0, nil, restErrorf(http.StatusBadRequest, codeBadRequest, "topic_name %q is not a valid topic name: 1 to 249 of a-z, A-Z, 0-9, '.', '_' and '-'.", req.TopicName)
	}
	kreq := kmsg.NewPtrCreateTopicsRequest()
	kreq.ValidateOnly = req.ValidateOnly
	kreq.TimeoutMillis = 15000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic = req.TopicName
	t.NumPartitions, t.ReplicationFactor = -1, -1
	if req.PartitionsCount != nil {
		if *req.PartitionsCount < 1 {
			return 0, nil, restErrorf(http.StatusBadRequest, codeBadRequest, "partitions_count must be at least 1, not %d.", *req.PartitionsCount)
		}
		t.NumPartitions = *req.PartitionsCount
	}
	if req.ReplicationFactor != nil {
		t.ReplicationFactor = *req.ReplicationFactor
	}
	for _, c := range req.Configs {
		tc := kmsg.NewCreateTopicsRequestTopicConfig()
		tc.Name, tc.Value = c.Name, c.Value
		t.Configs = append(t.Configs, tc)
	}
	kreq.Topics = append(kreq.Topics, t)
	resp, err := kreq.RequestWith(r.Context(), s.client)
	if err != nil {
		return 0, nil, kafkaUnavailable(err)
	}
	if len(resp.Topics) != 1 {
		return 0, nil, errors.New("create topics: no topic in the answer")
	}
	if err := topicError(resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, req.TopicName); err != nil {
		return 0, nil, err
	}
	if req.ValidateOnly {
		return http.StatusOK, nil, nil
	}
	got, err := s.topic(r.Context(), req.TopicName)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, s.encodeTopic(r, got), nil
}

// topicError turns a Kafka error code of a topic into Kafka REST's answer.
func topicError(code int16, msg *string, topic string) error {
	if code == 0 {
		return nil
	}
	kerrErr := kerr.ErrorForCode(code)
	text := kerrErr.Error()
	if msg != nil && *msg != "" {
		text = *msg
	}
	switch {
	case errors.Is(kerrErr, kerr.TopicAlreadyExists):
		return restErrorf(http.StatusBadRequest, codeTopicExists, "Topic '%s' already exists.", topic)
	case errors.Is(kerrErr, kerr.UnknownTopicOrPartition):
		return restErrorf(http.StatusNotFound, codeUnknownTopic, "This server does not host this topic-partition.")
	case errors.Is(kerrErr, kerr.InvalidPartitions), errors.Is(kerrErr, kerr.InvalidReplicationFactor), errors.Is(kerrErr, kerr.InvalidConfig),
		errors.Is(kerrErr, kerr.InvalidTopicException), errors.Is(kerrErr, kerr.InvalidRequest), errors.Is(kerrErr, kerr.PolicyViolation),
		errors.Is(kerrErr, kerr.InvalidReplicaAssignment):
		return restErrorf(http.StatusBadRequest, codeBadRequest, "%s", text)
	}
	if ke, ok := kerrErr.(*kerr.Error); ok && ke.Retriable {
		return restErrorf(http.StatusServiceUnavailable, codeServerError, "%s", text)
	}
	return restErrorf(http.StatusBadRequest, codeBadRequest, "%s", text)
}

func (s *restServer) deleteTopic(r *http.Request) (int, any, error) {
	name := r.PathValue("topic")
	if _, err := s.topic(r.Context(), name); err != nil {
		return 0, nil, err
	}
	kreq := kmsg.NewPtrDeleteTopicsRequest()
	kreq.TimeoutMillis = 15000
	t := kmsg.NewDeleteTopicsRequestTopic()
	t.Topic = kmsg.StringPtr(name)
	kreq.Topics = append(kreq.Topics, t)
	kreq.TopicNames = append(kreq.TopicNames, name)
	resp, err := kreq.RequestWith(r.Context(), s.client)
	if err != nil {
		return 0, nil, kafkaUnavailable(err)
	}
	for _, t := range resp.Topics {
		if err := topicError(t.ErrorCode, t.ErrorMessage, name); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusNoContent, nil, nil
}

func (s *restServer) updatePartitions(r *http.Request) (int, any, error) {
	name := r.PathValue("topic")
	var req struct {
		PartitionsCount int32 `json:"partitions_count"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	t, err := s.topic(r.Context(), name)
	if err != nil {
		return 0, nil, err
	}
	if int(req.PartitionsCount) <= len(t.Partitions) {
		return 0, nil, restErrorf(http.StatusBadRequest, codeBadRequest, "Topic currently has %d partitions, which is higher than the requested %d.", len(t.Partitions), req.PartitionsCount)
	}
	kreq := kmsg.NewPtrCreatePartitionsRequest()
	kreq.TimeoutMillis = 15000
	ct := kmsg.NewCreatePartitionsRequestTopic()
	ct.Topic, ct.Count = name, req.PartitionsCount
	kreq.Topics = append(kreq.Topics, ct)
	resp, err := kreq.RequestWith(r.Context(), s.client)
	if err != nil {
		return 0, nil, kafkaUnavailable(err)
	}
	for _, rt := range resp.Topics {
		if err := topicError(rt.ErrorCode, rt.ErrorMessage, name); err != nil {
			return 0, nil, err
		}
	}
	if t, err = s.topic(r.Context(), name); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.encodeTopic(r, t), nil
}

func (s *restServer) listTopicConfigs(r *http.Request) (int, any, error) {
	name := r.PathValue("topic")
	if _, err := s.topic(r.Context(), name); err != nil {
		return 0, nil, err
	}
	kreq := kmsg.NewPtrDescribeConfigsRequest()
	kreq.IncludeSynonyms = true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, name
	kreq.Resources = append(kreq.Resources, rr)
	resp, err := kreq.RequestWith(r.Context(), s.client)
	if err != nil {
		return 0, nil, kafkaUnavailable(err)
	}
	u := s.topicURL(r, name) + "/configs"
	out := list[topicConfigData]{Kind: "KafkaTopicConfigList", Metadata: collectionMeta{Self: u}, Data: []topicConfigData{}}
	for _, res := range resp.Resources {
		if err := topicError(res.ErrorCode, res.ErrorMessage, name); err != nil {
			return 0, nil, err
		}
		for _, c := range res.Configs {
			d := topicConfigData{Kind: "KafkaTopicConfig", Metadata: resourceMeta{Self: u + "/" + c.Name,
				ResourceName: "crn:///kafka=" + s.clusterID + "/topic=" + name + "/config=" + c.Name},
				ClusterID: s.clusterID, TopicName: name, Name: c.Name, Value: c.Value, IsDefault: c.IsDefault,
				IsReadOnly: c.ReadOnly, IsSensitive: c.IsSensitive, Source: c.Source.String(), Synonyms: []configSynonym{}}
			if c.Source == kmsg.ConfigSourceDefaultConfig {
				d.IsDefault = true
			}
			for _, syn := range c.ConfigSynonyms {
				d.Synonyms = append(d.Synonyms, configSynonym{Name: syn.Name, Value: syn.Value, Source: syn.Source.String()})
			}
			out.Data = append(out.Data, d)
		}
	}
	sort.Slice(out.Data, func(i, j int) bool { return out.Data[i].Name < out.Data[j].Name })
	return http.StatusOK, out, nil
}

func (s *restServer) alterTopicConfigs(r *http.Request) (int, any, error) {
	name := r.PathValue("topic")
	var req struct {
		Data []struct {
			Name      string  `json:"name"`
			Value     *string `json:"value"`
			Operation string  `json:"operation"`
		} `json:"data"`
		ValidateOnly bool `json:"validate_only"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if _, err := s.topic(r.Context(), name); err != nil {
		return 0, nil, err
	}
	kreq := kmsg.NewPtrIncrementalAlterConfigsRequest()
	kreq.ValidateOnly = req.ValidateOnly
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, name
	for i, d := range req.Data {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = d.Name, d.Value
		switch strings.ToUpper(d.Operation) {
		case "", "SET":
			c.Op = kmsg.IncrementalAlterConfigOpSet
		case "DELETE":
			c.Op = kmsg.IncrementalAlterConfigOpDelete
		default:
			return 0, nil, restErrorf(http.StatusBadRequest, codeBadRequest, "data[%d].operation %q: want SET or DELETE.", i, d.Operation)
		}
		if d.Name == "" {
			return 0, nil, restErrorf(http.StatusBadRequest, codeBadRequest, "data[%d].name is required.", i)
		}
		rr.Configs = append(rr.Configs, c)
	}
	kreq.Resources = append(kreq.Resources, rr)
	resp, err := kreq.RequestWith(r.Context(), s.client)
	if err != nil {
		return 0, nil, kafkaUnavailable(err)
	}
	for _, res := range resp.Resources {
		if err := topicError(res.ErrorCode, res.ErrorMessage, name); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusNoContent, nil, nil
}

// produceData is a record's key or value: {"type": "BINARY"|"JSON"|"STRING", "data": …}.
type produceData struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// bytes returns the data's bytes and its type, or a 400 naming what.
func (d *produceData) bytes(what string) ([]byte, string, error) {
	if d == nil {
		return nil, "", nil
	}
	typ := strings.ToUpper(d.Type)
	raw := bytes.TrimSpace(d.Data)
	if len(raw) == 0 || string(raw) == "null" {
		if typ == "" {
			typ = "JSON"
		}
		return nil, typ, nil
	}
	switch typ {
	case "BINARY":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, "", restErrorf(http.StatusBadRequest, codeBadRequest, "Bad Request: %s.data=%s is not a base64 string.", what, raw)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, "", restErrorf(http.StatusBadRequest, codeBadRequest, "Bad Request: %s.data=%s is not a base64 string.", what, raw)
		}
		return b, typ, nil
	case "STRING":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, "", restErrorf(http.StatusBadRequest, codeBadRequest, "Bad Request: %s.data=%s is not a string.", what, raw)
		}
		return []byte(s), typ, nil
	case "", "JSON":
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			return nil, "", restErrorf(http.StatusBadRequest, codeBadRequest, "Bad Request: %s.data is not JSON.", what)
		}
		return compact.Bytes(), "JSON", nil
	}
	return nil, "", restErrorf(http.StatusBadRequest, codeBadRequest, "Bad Request: %s.type %q is not supported: BINARY, JSON or STRING (schemas are not).", what, d.Type)
}

type sizeType struct {
	Type string `json:"type"`
	Size int    `json:"size"`
}

func (s *restServer) produce(r *http.Request) (int, any, error) {
	name := r.PathValue("topic")
	var req struct {
		PartitionID *int32 `json:"partition_id"`
		Headers     []struct {
			Name  string  `json:"name"`
			Value *string `json:"value"`
		} `json:"headers"`
		Key       *produceData `json:"key"`
		Value     *produceData `json:"value"`
		Timestamp *time.Time   `json:"timestamp"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	t, err := s.topic(r.Context(), name)
	if err != nil {
		return 0, nil, err
	}
	rec := &kgo.Record{Topic: name}
	var keyType, valueType string
	if rec.Key, keyType, err = req.Key.bytes("key"); err != nil {
		return 0, nil, err
	}
	if rec.Value, valueType, err = req.Value.bytes("value"); err != nil {
		return 0, nil, err
	}
	for i, h := range req.Headers {
		hv := []byte(nil)
		if h.Value != nil {
			if hv, err = base64.StdEncoding.DecodeString(*h.Value); err != nil {
				return 0, nil, restErrorf(http.StatusBadRequest, codeBadRequest, "Bad Request: headers[%d].value is not a base64 string.", i)
			}
		}
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Name, Value: hv})
	}
	if req.Timestamp != nil {
		rec.Timestamp = *req.Timestamp
	}
	n := len(t.Partitions)
	switch {
	case req.PartitionID != nil:
		if *req.PartitionID < 0 || int(*req.PartitionID) >= n {
			return 0, nil, restErrorf(http.StatusNotFound, codeUnknownTopic, "This server does not host this topic-partition.")
		}
		rec.Partition = *req.PartitionID
	case len(rec.Key) > 0:
		rec.Partition = int32(kgo.StickyKeyPartitioner(nil).ForTopic(name).Partition(rec, n))
	default:
		rec.Partition = int32(int(s.rr.Add(1)) % n)
	}
	res := s.client.ProduceSync(r.Context(), rec)
	if err := res.FirstErr(); err != nil {
		var ke *kerr.Error
		if errors.As(err, &ke) {
			return http.StatusOK, restErrorf(0, codeUnprocessable, "%s", ke.Message), nil
		}
		return 0, nil, kafkaUnavailable(err)
	}
	out := map[string]any{"error_code": 200, "cluster_id": s.clusterID, "topic_name": name, "partition_id": rec.Partition,
		"offset": rec.Offset, "timestamp": rec.Timestamp.UTC().Format(time.RFC3339Nano)}
	if req.Key != nil {
		out["key"] = sizeType{Type: keyType, Size: len(rec.Key)}
	}
	if req.Value != nil {
		out["value"] = sizeType{Type: valueType, Size: len(rec.Value)}
	}
	return http.StatusOK, out, nil
}
