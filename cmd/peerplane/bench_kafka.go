package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/peerplane/peerplane/internal/dataplane"
)

// `peerplane bench --kafka` measures a cluster's Kafka endpoint: the same
// franz-go client produces --kafka-records records of 1 KiB (acks=all,
// idempotent) and consumes them back, once from a host in a customer VNet
// peered with the cluster's network (through the peering, to the
// brokers' private addresses) and once from a host in the network's own
// provider VNet (the same brokers without the peering: the limit). The
// records are random bytes sent uncompressed, so MB/s are bytes on the
// wire; the two sides take turns for three rounds and each figure is the
// median round.

const benchRecordSize = 1024

type kafkaRun struct {
	Produce, Consume time.Duration
}

type kafkaBench struct {
	Records         int
	Customer, Limit kafkaRun // median rounds
}

const benchKafkaRounds = 3

func runKafkaBench(ctx context.Context, bc benchConfig, out io.Writer) error {
	if err := dataplane.Available(); err != nil {
		return fmt.Errorf("--kafka: the Kafka endpoints run on the data plane: %w", err)
	}
	w, stop, err := benchNetworkServe(ctx, "bench-kafka", "10.200.0.0/16")
	if err != nil {
		return err
	}
	defer stop()
	if w.r.KafkaManager == nil {
		return errors.New("the server started without its Kafka endpoints")
	}
	r, api, cust, env, nw, provVNet := w.r, w.api, w.cust, w.env, w.network, w.provVNet
	vnet, err := cust.createVNet(ctx, "kafka-bench", "10.10.0.0/16", env)
	if err != nil {
		return err
	}
	if err := cust.assignRole(ctx, vnet, w.role, w.sp); err != nil {
		return err
	}
	peering, _, err := benchCreatePeering(ctx, api, env, nw, benchTenant, vnet, "kafka-bench")
	if err != nil {
		return err
	}
	var cluster struct{ ID string }
	if _, err := api.do(ctx, http.MethodPost, "/cmk/v2/clusters", map[string]any{"spec": map[string]any{
		"display_name": "bench", "availability": "MULTI_ZONE", "cloud": "AZURE", "region": "eastus",
		"config": map[string]any{"kind": "Dedicated", "cku": 2}, "environment": map[string]string{"id": env},
		"network": map[string]string{"id": nw}}}, &cluster); err != nil {
		return fmt.Errorf("create a cluster: %w", err)
	}
	var brokers []string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		p, _, perr := benchGetPeering(ctx, api, env, peering.ID)
		brokers, err = r.Kafka.Bootstrap(ctx, cluster.ID)
		if perr == nil && p.Status.Phase == "READY" && err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the peering is %q (%v) and the cluster's brokers: %v", p.Status.Phase, perr, err)
		}
	}
	fmt.Fprintf(out, "bench: cluster %s's brokers %v, peering READY\n", cluster.ID, brokers)

	res := kafkaBench{Records: bc.KafkaRecords}
	var runs [2][]kafkaRun
	sides := []struct{ what, vnet string }{
		{"a customer VNet host, through the peering", vnet},
		{"a provider VNet host (the limit)", provVNet},
	}
	for round := range benchKafkaRounds {
		for i, side := range sides {
			host, err := r.Dataplane.Claim(ctx, dataplane.ClaimSpec{VNetID: side.vnet, Owner: "bench"})
			if err != nil {
				return fmt.Errorf("claim a host in %s: %w", side.vnet, err)
			}
			run, err := benchKafkaClient(ctx, host, brokers, fmt.Sprintf("bench-%d-%d", i, round), bc.KafkaRecords)
			host.Release()
			if err != nil {
				return fmt.Errorf("from %s: %w", side.what, err)
			}
			runs[i] = append(runs[i], run)
			fmt.Fprintf(out, "bench: round %d: %d records produced in %v and consumed in %v from %s\n", round+1, bc.KafkaRecords,
				run.Produce.Round(time.Millisecond), run.Consume.Round(time.Millisecond), side.what)
		}
	}
	median := func(rs []kafkaRun) kafkaRun {
		var p, c []time.Duration
		for _, r := range rs {
			p, c = append(p, r.Produce), append(c, r.Consume)
		}
		return kafkaRun{Produce: benchPercentile(p, 0.5), Consume: benchPercentile(c, 0.5)}
	}
	res.Customer, res.Limit = median(runs[0]), median(runs[1])
	printKafkaBench(out, &res)
	return nil
}

// benchKafkaClient creates topic (6 partitions), produces n records of 1
// KiB from host and reads them back, and returns how long each took.
func benchKafkaClient(ctx context.Context, host *dataplane.Host, brokers []string, topic string, n int) (kafkaRun, error) {
	var run kafkaRun
	dial := kgo.Dialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
		return host.DialContext(ctx, &net.Dialer{Timeout: 5 * time.Second}, network, addr)
	})
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), dial, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		return run, err
	}
	defer prod.Close()
	if err := createKafkaTopic(ctx, prod, topic, 6); err != nil {
		return run, err
	}
	values := make([]byte, benchRecordSize*1024) // 1,024 random values, reused
	rand.Read(values)
	errc := make(chan error, 1)
	start := time.Now()
	for i := range n {
		v := values[(i%1024)*benchRecordSize : (i%1024+1)*benchRecordSize]
		prod.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		return run, err
	}
	run.Produce = time.Since(start)
	select {
	case err := <-errc:
		return run, fmt.Errorf("produce: %w", err)
	default:
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), dial, kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(16<<20))
	if err != nil {
		return run, err
	}
	defer cons.Close()
	start = time.Now()
	for got := 0; got < n; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			return run, fmt.Errorf("consumed %d of %d records: %w", got, n, ctx.Err())
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return run, fmt.Errorf("consume: %w", errs[0].Err)
		}
		got += fs.NumRecords()
	}
	run.Consume = time.Since(start)
	return run, nil
}

func printKafkaBench(out io.Writer, res *kafkaBench) {
	mb := float64(res.Records*benchRecordSize) / 1e6
	rate := func(d time.Duration) (float64, float64) { return mb / d.Seconds(), float64(res.Records) / d.Seconds() }
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "measure (%d records of 1 KiB)\tcustomer VNet, through the peering\tprovider VNet (limit)\tratio\ttarget\tresult\n", res.Records)
	for _, row := range []struct {
		what      string
		cust, lim time.Duration
	}{{"produce (acks=all)", res.Customer.Produce, res.Limit.Produce}, {"consume", res.Customer.Consume, res.Limit.Consume}} {
		cmb, crec := rate(row.cust)
		lmb, lrec := rate(row.lim)
		ratio := cmb / lmb
		fmt.Fprintf(tw, "%s\t%.1f MB/s, %.0f records/s\t%.1f MB/s, %.0f records/s\t%.0f%%\t≥ 70%%\t%s\n", row.what, cmb, crec, lmb, lrec, ratio*100, verdict(ratio >= 0.7))
	}
	tw.Flush()
	fmt.Fprintln(out, "The brokers fsync every produced batch before acknowledging it (kfake SyncWrites): produce throughput includes the disk.")
}

// createKafkaTopic creates topic with partitions partitions (and the
// cluster's replication factor) through cl; a topic that exists is not an
// error.
func createKafkaTopic(ctx context.Context, cl *kgo.Client, topic string, partitions int32) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, -1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		if err = kerr.ErrorForCode(resp.Topics[0].ErrorCode); errors.Is(err, kerr.TopicAlreadyExists) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}
