package main

import (
	"strings"
	"testing"

	"github.com/peerplane/peerplane/internal/dataplane/dataplanetest"
)

// TestBenchRuns runs `peerplane bench` with tiny counts so that the command
// keeps working; it asserts the table, never the timings.
func TestBenchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	r := newCLIRunner(t, t.TempDir())
	out := r.run(t, "bench", "--peerings", "2", "--read-clients", "2", "--read-duration", "200ms")
	for _, want := range []string{"convergence median (2 peerings)", "convergence p99", "API reads (2 clients", "bare net/http", "API / bare"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
}

// TestBenchKafkaRuns runs `peerplane bench --kafka` (the built binary)
// with a few records so that the command keeps working; it asserts the
// table, never the figures.
func TestBenchKafkaRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dataplanetest.Require(t)
	r := newCLIRunner(t, t.TempDir())
	out := r.run(t, "bench", "--kafka", "--kafka-records", "300", "--connect-records", "20", "--connect-interval", "5ms")
	for _, want := range []string{"produce (acks=all)", "consume", "customer VNet, through the peering", "provider VNet (limit)", "MB/s", "records/s", "≥ 70%",
		"DatagenSource → HttpSink latency p50 (20 records)", "DatagenSource → HttpSink latency p99"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench --kafka output lacks %q:\n%s", want, out)
		}
	}
	if _, msg := r.fail(t, 1, "bench", "--kafka", "--kafka-records", "0"); !strings.Contains(msg, "--kafka-records") {
		t.Errorf("bench --kafka-records 0: %q", msg)
	}
}

// TestBenchConnectRuns runs `peerplane bench --connect` with few records
// (data plane required), asserting the table, never the timings.
func TestBenchConnectRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dataplanetest.Require(t)
	r := newCLIRunner(t, t.TempDir())
	out := r.run(t, "bench", "--connect", "--connect-records", "20", "--connect-interval", "5ms")
	for _, want := range []string{"DatagenSource → HttpSink latency p50 (20 records)", "DatagenSource → HttpSink latency p99", "records delivered per second"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench --connect output lacks %q:\n%s", want, out)
		}
	}
}
