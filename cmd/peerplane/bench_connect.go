package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/peerplane/peerplane/internal/dataplane"
)

// runConnectBench measures managed connectors end to end: a DatagenSource
// writing ORDERS records in the network's provider VNet and an HttpSink
// posting each one (batch.max.size 1) to an API in a peered customer VNet.
// A record's latency is from its Kafka timestamp (set when the source
// produced it) to the API receiving it; both clocks are this process's.
func runConnectBench(ctx context.Context, bc benchConfig, out io.Writer) error {
	if bc.Records < 10 || bc.Records > 100000 {
		return errors.New("--connect-records must be between 10 and 100000")
	}
	if err := dataplane.Available(); err != nil {
		return fmt.Errorf("--connect needs the data plane: %w", err)
	}
	bn, stop, err := benchNetworkServe(ctx, "bench-connect", "10.200.0.0/16")
	if err != nil {
		return err
	}
	defer stop()
	plane, api, cust, env, nw, provVNet, sp, role := bn.r.Dataplane, bn.api, bn.cust, bn.env, bn.network, bn.provVNet, bn.sp, bn.role
	vnet, err := cust.createVNet(ctx, "connect-bench", "10.10.0.0/16", env)
	if err != nil {
		return err
	}
	if err := cust.assignRole(ctx, vnet, role, sp); err != nil {
		return err
	}
	peering, _, err := benchCreatePeering(ctx, api, env, nw, benchTenant, vnet, "connect-bench")
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		p, _, err := benchGetPeering(ctx, api, env, peering.ID)
		if err == nil && p.Status.Phase == "READY" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("peering %s is %s %s (%v)", peering.ID, p.Status.Phase, p.Status.ErrorCode, err)
		}
	}
	var cluster struct{ ID string }
	if _, err := api.do(ctx, http.MethodPost, "/cmk/v2/clusters", map[string]any{"spec": map[string]any{
		"display_name": "bench", "availability": "SINGLE_ZONE", "cloud": "AZURE", "region": "eastus",
		"config": map[string]any{"kind": "Dedicated", "cku": 1}, "environment": map[string]string{"id": env},
		"network": map[string]string{"id": nw}}}, &cluster); err != nil {
		return err
	}
	// The server's own Kafka endpoint for the cluster, once it runs.
	var brokers []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if brokers, err = bn.r.Kafka.Bootstrap(ctx, cluster.ID); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster %s's Kafka endpoint: %w", cluster.ID, err)
		}
	}

	// The sink's API, in the customer's VNet.
	sinkHost, err := plane.Claim(ctx, dataplane.ClaimSpec{VNetID: vnet, Owner: "bench sink"})
	if err != nil {
		return err
	}
	defer sinkHost.Release()
	ln, err := sinkHost.Listen(ctx, "tcp", ":8080")
	if err != nil {
		return err
	}
	var mu sync.Mutex
	got := map[int64]time.Time{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		var o struct {
			OrderID int64 `json:"orderid"`
		}
		if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		if _, seen := got[o.OrderID]; !seen {
			got[o.OrderID] = now
		}
		mu.Unlock()
	})}
	go srv.Serve(ln)
	defer srv.Close()

	prefix := "/connect/v1/environments/" + env + "/clusters/" + cluster.ID + "/connectors"
	for _, c := range []map[string]any{
		{"name": "bench-source", "config": map[string]string{"connector.class": "DatagenSource", "kafka.topic": "orders", "quickstart": "ORDERS",
			"max.interval": fmt.Sprint(bc.Interval.Milliseconds()), "iterations": fmt.Sprint(bc.Records)}},
		{"name": "bench-sink", "config": map[string]string{"connector.class": "HttpSink", "topics": "orders",
			"http.api.url": "http://" + sinkHost.Addr.String() + ":8080/orders", "batch.max.size": "1"}},
	} {
		if _, err := api.do(ctx, http.MethodPost, prefix, c, nil); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "bench: DatagenSource → HttpSink, %d records, max.interval %s, sink API at %s in the customer's VNet\n",
		bc.Records, bc.Interval, sinkHost.Addr)
	start := time.Now()
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= bc.Records {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the sink's API received %d of %d records within 5 minutes", n, bc.Records)
		}
	}
	elapsed := time.Since(start)

	// Each record's produce time, read back from Kafka from the provider VNet.
	reader, err := plane.Claim(ctx, dataplane.ClaimSpec{VNetID: provVNet, Owner: "bench reader"})
	if err != nil {
		return err
	}
	defer reader.Release()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			return reader.DialContext(ctx, nil, network, host)
		}))
	if err != nil {
		return err
	}
	defer cl.Close()
	var lat []time.Duration
	seen := map[int64]bool{}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for len(seen) < bc.Records && rctx.Err() == nil {
		for _, rec := range cl.PollFetches(rctx).Records() {
			var o struct {
				OrderID int64 `json:"orderid"`
			}
			if json.Unmarshal(rec.Value, &o) != nil || seen[o.OrderID] {
				continue
			}
			seen[o.OrderID] = true
			mu.Lock()
			at, ok := got[o.OrderID]
			mu.Unlock()
			if ok {
				lat = append(lat, at.Sub(rec.Timestamp))
			}
		}
	}
	if len(lat) < bc.Records {
		return fmt.Errorf("read %d of %d records back from Kafka", len(lat), bc.Records)
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "measure\tvalue\n")
	fmt.Fprintf(tw, "DatagenSource → HttpSink latency p50 (%d records)\t%s\n", len(lat), ms(benchPercentile(lat, 0.5)))
	fmt.Fprintf(tw, "DatagenSource → HttpSink latency p99\t%s\n", ms(benchPercentile(lat, 0.99)))
	fmt.Fprintf(tw, "records delivered per second\t%.0f\n", float64(bc.Records)/elapsed.Seconds())
	tw.Flush()
	fmt.Fprintln(out, "Latency is from the record's Kafka timestamp (the source producing it) to the sink's API receiving it, through the peering.")
	return nil
}
