package main

import (
	"strings"
	"testing"
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
