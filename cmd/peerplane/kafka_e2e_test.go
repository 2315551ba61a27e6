package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	kafkarestv3 "github.com/confluentinc/ccloud-sdk-go-v2/kafkarest/v3"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/peerplane/peerplane/internal/dataplane"
	"github.com/peerplane/peerplane/internal/dataplane/dataplanetest"
	"github.com/peerplane/peerplane/internal/kafka"
)

// The Kafka endpoints end to end: the built binary as the server, real
// clients (kcat from Debian; franz-go and Confluent's Kafka REST client in
// this test binary, run as helpers through `peerplane vnet exec`) in real
// namespaces, addressing the cluster by its private name.

// kafkaWait bounds the Kafka tests' waits (a restart, a consumer reading
// 10,000 records on a shared machine); it only turns a hang into a
// failure.
const kafkaWait = 90 * time.Second

// kafkaHelper runs the Kafka helper modes of TestVNetHelper; it returns
// false for a mode it does not know.
//
//	produce BOOTSTRAP TOPIC FROM TO   creates TOPIC (6 partitions) unless it
//	                                  exists, then produces records FROM..TO-1
//	                                  (value: the number) in acknowledged
//	                                  batches of 500, printing "acked N" after
//	                                  each; exit 4 if a batch fails
//	consume BOOTSTRAP TOPIC GROUP N   reads TOPIC in consumer GROUP until N
//	                                  distinct records, printing "r V" for each
//	                                  record read, commits, exits 0; exit 5 if
//	                                  they do not come
//	rest URL CLUSTER KEY SECRET CA    drives Kafka REST v3 with Confluent's
//	                                  client: create, read, configs, produce,
//	                                  delete; exit 3 on a connection error
func kafkaHelper(verb, arg string) bool {
	f := strings.Fields(arg)
	switch verb {
	case "produce":
		from, _ := strconv.Atoi(f[2])
		to, _ := strconv.Atoi(f[3])
		os.Exit(helperProduce(f[0], f[1], from, to))
	case "consume":
		n, _ := strconv.Atoi(f[3])
		os.Exit(helperConsume(f[0], f[1], f[2], n))
	case "rest":
		os.Exit(helperREST(f[0], f[1], f[2], f[3], f[4]))
	}
	return false
}

func helperProduce(bootstrap, topic string, from, to int) int {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic(topic), kgo.RecordDeliveryTimeout(30*time.Second))
	if err != nil {
		fmt.Println("client:", err)
		return 2
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaWait)
	defer cancel()
	if err := createKafkaTopic(ctx, cl, topic, 6); err != nil {
		fmt.Println(err)
		return 4
	}
	for i := from; i < to; i += 500 {
		var recs []*kgo.Record
		for j := i; j < min(i+500, to); j++ {
			recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(j % 97)), Value: []byte(strconv.Itoa(j))})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			fmt.Println("produce:", err)
			return 4
		}
		fmt.Println("acked", min(i+500, to))
	}
	return 0
}

func helperConsume(bootstrap, topic, group string, n int) int {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		fmt.Println("client:", err)
		return 2
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaWait)
	defer cancel()
	seen := map[string]bool{}
	out := bufio.NewWriter(os.Stdout)
	for len(seen) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			out.Flush()
			fmt.Printf("timeout: %d distinct records of %d\n", len(seen), n)
			return 5
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)] = true
			fmt.Fprintln(out, "r", string(r.Value))
		})
	}
	out.Flush()
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		fmt.Println("commit:", err)
		return 6
	}
	return 0
}

func helperREST(endpoint, cluster, key, secret, caFile string) int {
	pem, err := os.ReadFile(caFile)
	pool := x509.NewCertPool()
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		fmt.Println("CA:", err)
		return 2
	}
	cfg := kafkarestv3.NewConfiguration()
	cfg.Servers = kafkarestv3.ServerConfigurations{{URL: endpoint}}
	cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	api := kafkarestv3.NewAPIClient(cfg)
	ctx := context.WithValue(context.Background(), kafkarestv3.ContextBasicAuth, kafkarestv3.BasicAuth{UserName: key, Password: secret})
	fail := func(what string, resp *http.Response, err error) int {
		var ue *url.Error
		if errors.As(err, &ue) {
			fmt.Printf("%s: connection error: %v\n", what, err)
			return 3
		}
		status := "no answer"
		if resp != nil {
			status = resp.Status
		}
		fmt.Printf("%s: %s: %v\n", what, status, err)
		return 4
	}
	parts := int32(3)
	if _, resp, err := api.TopicV3Api.CreateKafkaTopic(ctx, cluster).CreateTopicRequestData(kafkarestv3.CreateTopicRequestData{TopicName: "tf-topic", PartitionsCount: &parts}).Execute(); err != nil {
		return fail("create topic", resp, err)
	}
	t, resp, err := api.TopicV3Api.GetKafkaTopic(ctx, cluster, "tf-topic").Execute()
	if err != nil || t.PartitionsCount != 3 {
		return fail("get topic", resp, err)
	}
	if _, resp, err := api.ConfigsV3Api.ListKafkaTopicConfigs(ctx, cluster, "tf-topic").Execute(); err != nil {
		return fail("list configs", resp, err)
	}
	typ := "STRING"
	pr, resp, err := api.RecordsV3Api.ProduceRecord(ctx, cluster, "tf-topic").ProduceRequest(kafkarestv3.ProduceRequest{
		Value: *kafkarestv3.NewNullableProduceRequestData(&kafkarestv3.ProduceRequestData{Type: &typ, Data: "from the VNet"}),
	}).Execute()
	if err != nil || pr.ErrorCode != 200 {
		return fail("produce", resp, err)
	}
	if resp, err := api.TopicV3Api.DeleteKafkaTopic(ctx, cluster, "tf-topic").Execute(); err != nil {
		return fail("delete topic", resp, err)
	}
	fmt.Println("rest ok")
	return 0
}

// runHelper runs a helper of TestVNetHelper through vnet exec and
// returns its exit code and output.
func (e *e2e) runHelper(vnet, helper string) (int, string) {
	e.t.Helper()
	return e.exitOf(e.vnetExec(vnet, "", helper))
}

// exitOf runs cmd and returns its exit code and output; a command that
// cannot run fails the test.
func (e *e2e) exitOf(cmd *exec.Cmd) (int, string) {
	e.t.Helper()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	e.t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	return 0, ""
}

// kcatBrokers returns the brokers `kcat -L` lists, or an error.
func (e *e2e) kcatBrokers(vnet, bootstrap string) ([]string, error) {
	e.t.Helper()
	code, out := e.runHelperCmd(vnet, "kcat", "-b", bootstrap, "-L", "-m", "5")
	if code != 0 {
		return nil, fmt.Errorf("kcat exit %d: %s", code, out)
	}
	var brokers []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 4 && f[0] == "broker" && f[2] == "at" {
			brokers = append(brokers, f[3])
		}
	}
	return brokers, nil
}

func requireKcat(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		if os.Getenv("PEERPLANE_TEST_REQUIRE_NETNS") == "1" {
			t.Fatal("kcat is not installed (scripts/test-deps.sh installs it)")
		}
		t.Skip("kcat is not installed")
	}
}

// TestE2EKafka: a MULTI_ZONE cluster's three brokers, reached by the
// cluster's private name from the customer's VNet.
//
//   - The name resolves in the VNet before any peering, but `kcat -L`
//     fails; once the peering is READY it lists the three brokers at their
//     private addresses.
//   - A franz-go producer in the VNet writes 10,000 records; serve is
//     SIGKILLed in the middle and restarted; the producer resumes after
//     its last acknowledged batch. A consumer group reads some records and
//     commits before the crash and the rest after. No record is lost; a
//     record is duplicated only inside the one batch in flight at the
//     crash (at-least-once: the producer that died could not learn
//     whether it was written), and the group resumes at its committed
//     offsets (nothing it committed is read again).
//   - From a VNet peered only with the customer's, kcat and Kafka REST
//     fail to connect.
//   - Kafka REST v3 at http_endpoint works from the customer VNet with a
//     cluster API key made through /iam/v2/api-keys (over TLS, trusting
//     the data directory's CA).
//   - Deleting the cluster stops its brokers and removes their data.
func TestE2EKafka(t *testing.T) {
	dataplanetest.Require(t)
	requireKcat(t)
	s, prefix := newNetnsServer(t)
	e := attachE2E(t, s)

	env := e.createEnv("kafka")
	n := e.createNetwork(env, "kafka-net", "eastus", "10.50.0.0/16")
	network := n.GetId()
	e.consent()
	e.putRole(e2eRoleActions...)
	vnetA := e.grantVNet("kafka-a", "eastus", env, "10.51.0.0/16")
	e.createSubnet(vnetA, "default", "10.51.0.0/24", "")
	vnetB := e.createVNet("contoso-network", "kafka-b", "eastus", "10.52.0.0/16")
	e.tag(vnetB, env)
	e.createSubnet(vnetB, "default", "10.52.0.0/24", "")
	e.peerVNets(vnetA, vnetB, "a-to-b")
	e.peerVNets(vnetB, vnetA, "b-to-a")

	c := e.createCluster(env, network, "orders", 2)
	bootstrap := c.Spec.GetKafkaBootstrapEndpoint()
	name, _, _ := net.SplitHostPort(bootstrap)
	if !strings.HasSuffix(name, ".eastus.azure.private.confluent.cloud") || !strings.HasPrefix(name, c.GetId()+"-") {
		t.Fatalf("bootstrap endpoint %q is not the private name", bootstrap)
	}
	var status struct {
		Spec struct {
			HTTPEndpoint string `json:"http_endpoint"`
		} `json:"spec"`
	}
	e.peerplane("GET", "/cmk/v2/clusters/"+c.GetId()+"?environment="+env, nil, &status)
	restURL := status.Spec.HTTPEndpoint

	// The name resolves in the VNet before any peering; the brokers are
	// not reachable.
	if code, out := e.runHelperCmd(vnetA, "getent", "hosts", name); code != 0 || strings.Count(out, "10.50.") != 3 {
		t.Fatalf("getent hosts %s in the customer VNet: %d\n%s", name, code, out)
	}
	if brokers, err := e.kcatBrokers(vnetA, bootstrap); err == nil {
		t.Fatalf("kcat -L reached the cluster before any peering: %v", brokers)
	}

	id := e.createPeering(env, network, "kafka", vnetA, "eastus")
	e.waitPeering(env, id, "READY")
	brokers := e.waitKcat(vnetA, bootstrap)
	if len(brokers) != 3 {
		t.Fatalf("kcat -L lists %v, want the 3 brokers of a MULTI_ZONE cluster", brokers)
	}
	for _, b := range brokers {
		if !strings.HasPrefix(b, "10.50.") || !strings.HasSuffix(b, ":9092") {
			t.Fatalf("broker %s is not a private address of the network", b)
		}
	}

	// Produce; crash the server in the middle; produce the rest.
	producer := e.vnetExec(vnetA, "", "produce "+bootstrap+" orders 0 10000")
	stdout, _ := producer.StdoutPipe()
	producer.Stderr = os.Stderr
	if err := producer.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { producer.Process.Kill(); producer.Wait() })
	acked := 0
	lines := bufio.NewScanner(stdout)
	for acked < 3000 && lines.Scan() {
		if n, ok := strings.CutPrefix(lines.Text(), "acked "); ok {
			acked, _ = strconv.Atoi(n)
		} else {
			t.Logf("producer: %s", lines.Text())
		}
	}
	if acked < 3000 {
		producer.Wait()
		t.Fatalf("the producer stopped after %d records", acked)
	}
	// A consumer group reads and commits 1,000 records first.
	code, out := e.runHelper(vnetA, "consume "+bootstrap+" orders g1 1000")
	if code != 0 {
		t.Fatalf("first consumer: exit %d\n%s", code, tail(out))
	}
	first := records(out)
	s.kill()
	// What the producer saw acknowledged before the server died: it
	// prints a batch's line once the batch is acknowledged.
	producer.Process.Signal(syscall.SIGKILL)
	for lines.Scan() {
		if n, ok := strings.CutPrefix(lines.Text(), "acked "); ok {
			acked, _ = strconv.Atoi(n)
		}
	}
	producer.Wait()
	lastAcked := acked
	t.Logf("SIGKILLed serve with %d records acknowledged", lastAcked)
	s.start()
	e = attachE2E(t, s)
	e.waitKcat(vnetA, bootstrap)
	if code, out := e.runHelper(vnetA, fmt.Sprintf("produce %s orders %d 10000", bootstrap, lastAcked)); code != 0 {
		t.Fatalf("producer after the restart: exit %d\n%s", code, tail(out))
	}
	code, out = e.runHelper(vnetA, fmt.Sprintf("consume %s orders g1 %d", bootstrap, 10000-distinct(first)))
	if code != 0 {
		t.Fatalf("consumer after the restart: exit %d\n%s", code, tail(out))
	}
	second := records(out)
	count := map[int]int{}
	for _, v := range append(first, second...) {
		count[v]++
	}
	for i := range 10000 {
		switch n := count[i]; {
		case n == 0:
			t.Fatalf("record %d was lost", i)
		case n > 1 && (i < lastAcked || i >= lastAcked+500):
			t.Fatalf("record %d was read %d times; only the batch in flight at the crash (%d..%d) may be duplicated", i, n, lastAcked, lastAcked+499)
		}
	}
	for _, v := range first {
		for _, w := range second {
			if v == w && (v < lastAcked || v >= lastAcked+500) {
				t.Fatalf("record %d, committed by the group before the crash, was read again after it", v)
			}
		}
	}

	// Not transitive.
	if brokers, err := e.kcatBrokers(vnetB, bootstrap); err == nil {
		t.Fatalf("kcat -L from a VNet peered only with the customer's reached the cluster: %v", brokers)
	}

	// Kafka REST with a cluster API key: from the customer VNet, yes; from
	// the transitive VNet, a connection error.
	var key struct {
		ID   string
		Spec struct{ Secret string }
	}
	if code := e.peerplane("POST", "/iam/v2/api-keys", map[string]any{"spec": map[string]any{
		"display_name": "terraform", "owner": map[string]any{"id": "sa-tf0001", "kind": "ServiceAccount"},
		"resource": map[string]any{"id": c.GetId(), "kind": "Cluster", "api_version": "cmk/v2"}}}, &key); code != http.StatusAccepted || key.Spec.Secret == "" {
		t.Fatalf("create a cluster API key: %d", code)
	}
	restArgs := fmt.Sprintf("rest %s %s %s %s %s", restURL, c.GetId(), key.ID, key.Spec.Secret, s.dir+"/azure-ca.pem")
	if code, out := e.runHelper(vnetA, restArgs); code != 0 || !strings.Contains(out, "rest ok") {
		t.Fatalf("Kafka REST from the customer VNet: exit %d\n%s", code, out)
	}
	if code, out := e.runHelper(vnetB, restArgs); code != 3 {
		t.Fatalf("Kafka REST from the transitive VNet: exit %d, want a connection error (3)\n%s", code, out)
	}
	cloud := fmt.Sprintf("rest %s %s %s %s %s", restURL, c.GetId(), e.r.Credentials.APIKey, e.r.Credentials.APISecret, s.dir+"/azure-ca.pem")
	if code, out := e.runHelper(vnetA, cloud); code != 4 || !strings.Contains(out, "401") {
		t.Fatalf("Kafka REST with a Cloud API key: exit %d, want 401\n%s", code, out)
	}

	// Deleting the cluster stops its brokers and removes their data.
	dataDir := filepath.Join(s.dir, "kafka", c.GetId())
	if _, err := os.Stat(dataDir); err != nil {
		t.Fatalf("the cluster's data: %v", err)
	}
	if resp, err := e.cmk.ClustersCmkV2Api.DeleteCmkV2Cluster(e.ctx(), c.GetId()).Environment(env).Execute(); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete the cluster: %v %v", resp, err)
	}
	for deadline := time.Now().Add(kafkaWait); ; time.Sleep(50 * time.Millisecond) {
		_, err := os.Stat(dataDir)
		if errors.Is(err, os.ErrNotExist) && !brokerNamespaces(prefix, brokers) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deleted cluster's data (%v) or broker hosts are still there", err)
		}
	}
	if brokers, err := e.kcatBrokers(vnetA, bootstrap); err == nil {
		t.Fatalf("kcat -L reached a deleted cluster: %v", brokers)
	}
	s.stop()
}

// runHelperCmd runs any command through vnet exec.
func (e *e2e) runHelperCmd(vnet string, args ...string) (int, string) {
	e.t.Helper()
	cmd := exec.Command(peerplaneBinary(e.t), append([]string{"vnet", "exec", "--vnet", vnet, "--"}, args...)...)
	cmd.Env = e.vnetExec("", "", "").Env
	return e.exitOf(cmd)
}

// waitKcat waits until `kcat -L` from vnet lists brokers.
func (e *e2e) waitKcat(vnet, bootstrap string) []string {
	e.t.Helper()
	deadline := time.Now().Add(kafkaWait)
	for {
		brokers, err := e.kcatBrokers(vnet, bootstrap)
		if err == nil && len(brokers) > 0 {
			return brokers
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("kcat -L from %s: %v", vnet, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// brokerNamespaces reports whether a host namespace of a broker is left.
func brokerNamespaces(prefix string, brokers []string) bool {
	ents, _ := os.ReadDir("/run/netns")
	for _, en := range ents {
		for _, b := range brokers {
			ip, _, _ := net.SplitHostPort(b)
			if strings.HasPrefix(en.Name(), prefix+"-h-"+ip+"-") {
				return true
			}
		}
	}
	return false
}

// records returns the values of a consumer helper's "r V" lines.
func records(out string) []int {
	var vs []int
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "r "); ok {
			n, _ := strconv.Atoi(v)
			vs = append(vs, n)
		}
	}
	return vs
}

func distinct(vs []int) int {
	m := map[int]bool{}
	for _, v := range vs {
		m[v] = true
	}
	return len(m)
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// TestE2EKafkaEnvironmentDelete: deleting an environment deletes its
// clusters at once, and with them their brokers and data; Bootstrap says
// why a cluster has none at each step. vnet exec's resolver changes no
// mount of the host.
func TestE2EKafkaEnvironmentDelete(t *testing.T) {
	mountsBefore := hostMounts(t)
	e := startDataplaneE2E(t)
	env := e.createEnv("kafka-envdelete")
	n := e.createNetwork(env, "kafka-net", "eastus", "10.55.0.0/16")
	c, resp, err := e.postCluster(env, n.GetId(), "gone-soon", 2)
	wantHTTP(t, "create cluster", resp, err, http.StatusAccepted)
	if _, err := e.r.Kafka.Bootstrap(t.Context(), c.GetId()); !errors.Is(err, kafka.ErrNotProvisioned) && !errors.Is(err, kafka.ErrNotRunning) {
		t.Fatalf("Bootstrap of a new cluster: %v", err)
	}
	c = e.waitCluster(env, c)
	var brokers []string
	for deadline := time.Now().Add(kafkaWait); ; time.Sleep(20 * time.Millisecond) {
		if brokers, err = e.r.Kafka.Bootstrap(t.Context(), c.GetId()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Bootstrap: %v", err)
		}
	}
	if len(brokers) != 3 {
		t.Fatalf("Bootstrap: %v, want 3 brokers", brokers)
	}
	// The name resolves from a host in the provider VNet too (every VNet).
	name, _, _ := net.SplitHostPort(c.Spec.GetKafkaBootstrapEndpoint())
	if code, out := e.runHelperCmd(n.GetId(), "getent", "hosts", name); code != 0 || strings.Count(out, "10.55.") != 3 {
		t.Fatalf("getent hosts %s in the provider VNet: %d\n%s", name, code, out)
	}
	dataDir := filepath.Join(e.dir, "kafka", c.GetId())
	if _, err := os.Stat(dataDir); err != nil {
		t.Fatalf("the cluster's data: %v", err)
	}
	if resp, err := e.orgs.EnvironmentsOrgV2Api.DeleteOrgV2Environment(e.ctx(), env).Execute(); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete the environment: %v %v", resp, err)
	}
	for deadline := time.Now().Add(kafkaWait); ; time.Sleep(20 * time.Millisecond) {
		_, serr := os.Stat(dataDir)
		_, berr := e.r.Kafka.Bootstrap(t.Context(), c.GetId())
		if errors.Is(serr, os.ErrNotExist) && errors.Is(berr, kafka.ErrNotFound) && !brokerNamespaces(dataplane.Prefix(e.dir), brokers) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the environment's delete: data %v, Bootstrap %v", serr, berr)
		}
	}
	if after := hostMounts(t); after != mountsBefore {
		t.Fatalf("the host's mounts changed:\nbefore\n%s\nafter\n%s", mountsBefore, after)
	}
}

// hostMounts is the test process's mount table, without the data plane's
// namespace files (which come and go with namespaces).
func hostMounts(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && !strings.HasPrefix(f[4], "/run/netns") {
			keep = append(keep, strings.Join(append(f[3:5:5], f[6:]...), " ")) // no mount ids
		}
	}
	return strings.Join(keep, "\n")
}
