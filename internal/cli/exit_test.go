package cli

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("404 not found"), ExitError},
		{context.Canceled, ExitError},
		{&ExitStatus{Code: ExitUnreachable}, ExitUnreachable},
		{&FailedError{What: "peering", ID: "peer-1", Phase: "FAILED"}, ExitFailed},
		{fmt.Errorf("wait: %w", &FailedError{Phase: "DISCONNECTED"}), ExitFailed},
		{&TimedOutError{What: "network", ID: "n-1"}, ExitTimedOut},
	} {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
