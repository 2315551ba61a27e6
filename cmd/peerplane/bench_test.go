package main

import (
	"os"
	"regexp"
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

// TestBenchScaleRuns runs `peerplane bench --scale 20` (the built binary,
// which runs serve as its child) and checks that every row of the table is
// there with a value that parses and a verdict where there is a target;
// never the figures themselves. It also checks --scale's bounds and that
// the bench leaves no server process behind.
func TestBenchScaleRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	r := newCLIRunner(t, t.TempDir())
	out := r.run(t, "bench", "--scale", "20", "--idle", "2s")
	rows := map[string]*regexp.Regexp{
		"setup: grants of N VNets":                           regexp.MustCompile(`^\d+\.\d\d s$`),
		"server CPU during the grants":                       regexp.MustCompile(`^\d+\.\d\d s \(\d+ % of one core\)$`),
		"server CPU from first create to all READY":          regexp.MustCompile(`^\d+\.\d\d s \(\d+ % of one core\)$`),
		"setup: N peering creates":                           regexp.MustCompile(`^\d+\.\d\d s$`),
		"N new peerings converge (first create → all READY)": regexp.MustCompile(`^\d+\.\d\d s$`),
		"convergence (last create → all READY)":              regexp.MustCompile(`^\d+\.\d\d s$`),
		"server RSS after convergence":                       regexp.MustCompile(`^\d+\.\d MiB$`),
		"server idle CPU over 2s":                            regexp.MustCompile(`^\d+\.\d\d %$`),
		"list page p50 (page_size=100)":                      regexp.MustCompile(`^\d+\.\d\d ms$`),
		"list page p99":                                      regexp.MustCompile(`^\d+\.\d\d ms$`),
		"page through all N (1 pages)":                       regexp.MustCompile(`^\d+\.\d\d ms$`),
		"ARM write p50 (tag PATCH, 1 customer VNets)":        regexp.MustCompile(`^\d+\.\d\d ms$`),
		"ARM write p50 (tag PATCH, 21 customer VNets)":       regexp.MustCompile(`^\d+\.\d\d ms$`),
		"restart: SIGTERM → exit":                            regexp.MustCompile(`^\d+\.\d\d s$`),
		"restart: start → API answering":                     regexp.MustCompile(`^\d+\.\d\d s$`),
		"restart: start → full resync":                       regexp.MustCompile(`^\d+\.\d\d s$`),
	}
	withTarget := map[string]bool{"N new peerings converge (first create → all READY)": true, "server RSS after convergence": true,
		"server idle CPU over 2s": true, "list page p50 (page_size=100)": true, "ARM write p50 (tag PATCH, 21 customer VNets)": true,
		"restart: start → full resync": true}
	if !strings.Contains(out, "measure (N = 20, 1 networks, 4 tenants)") {
		t.Errorf("bench --scale output lacks its table's header:\n%s", out)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		cols := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1)
		value, ok := rows[cols[0]]
		if !ok {
			continue
		}
		seen[cols[0]] = true
		if len(cols) < 2 || !value.MatchString(cols[1]) {
			t.Errorf("row %q: value does not parse: %q", cols[0], line)
			continue
		}
		if withTarget[cols[0]] && (len(cols) != 4 || cols[3] != "PASS" && cols[3] != "FAIL") {
			t.Errorf("row %q: want a target and PASS or FAIL: %q", cols[0], line)
		}
	}
	for name := range rows {
		if !seen[name] {
			t.Errorf("bench --scale output lacks the row %q:\n%s", name, out)
		}
	}
	// The first server and the restarted one are gone, and so is the
	// temporary directory.
	pids := regexp.MustCompile(`server pid (\d+)`).FindAllStringSubmatch(out, -1)
	if len(pids) != 2 {
		t.Fatalf("bench --scale names %d server pids, want 2:\n%s", len(pids), out)
	}
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + pid[1]); err == nil {
			t.Errorf("the server (pid %s) outlived the bench", pid[1])
		}
	}
	dir := regexp.MustCompile(`SQLite in (\S+)`).FindStringSubmatch(out)
	if dir == nil {
		t.Fatalf("bench --scale names no data directory:\n%s", out)
	}
	if _, err := os.Stat(dir[1]); !os.IsNotExist(err) {
		t.Errorf("the bench left %s behind: %v", dir[1], err)
	}
	if _, msg := r.fail(t, 1, "bench", "--store", "postgres://x"); !strings.Contains(msg, "--store goes with --scale") {
		t.Errorf("bench --store without --scale: %q", msg)
	}
	for _, bad := range []string{"0", "100001", "-3"} {
		if _, msg := r.fail(t, 1, "bench", "--scale", bad); !strings.Contains(msg, "--scale must be between 1 and 100000") {
			t.Errorf("bench --scale %s: %q", bad, msg)
		}
	}
}
