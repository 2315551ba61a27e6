package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestBenchRuns runs `peerplane bench` with tiny counts so that the command
// keeps working; it asserts the table, never the timings.
func TestBenchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	var out bytes.Buffer
	cmd := newRootCmd(func(string) string { return "" })
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"bench", "--peerings", "2", "--read-clients", "2", "--read-duration", "200ms"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	for _, want := range []string{"convergence median (2 peerings)", "convergence p99", "API reads (2 clients", "bare net/http", "API / bare"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench output lacks %q:\n%s", want, out.String())
		}
	}
}
