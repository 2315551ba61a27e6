package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

// waitFlags are --wait and --timeout.
type waitFlags struct {
	wait    bool
	timeout time.Duration
}

// addWaitFlags registers --wait and --timeout on cmd. goal says what ends
// the wait well ("the network is READY"), failed the failure phases that
// end it badly ("FAILED"; "" when there are none).
func addWaitFlags(cmd *cobra.Command, w *waitFlags, goal, failed string) {
	usage := fmt.Sprintf("wait until %s, showing the progress; exit 0 then", goal)
	if failed != "" {
		usage += fmt.Sprintf(", %d if it ends %s", ExitFailed, failed)
	}
	usage += fmt.Sprintf(", %d if --timeout passes first", ExitTimedOut)
	cmd.Flags().BoolVar(&w.wait, "wait", false, usage)
	cmd.Flags().DurationVar(&w.timeout, "timeout", 10*time.Minute, "with --wait: how long to wait")
}

// pollInterval is how often --wait reads the object.
var pollInterval = 250 * time.Millisecond

// state is what --wait shows of an object.
type state struct {
	Phase        string
	ErrorCode    string
	ErrorMessage string
	Gone         bool // 404
	Raw          []byte
}

// FailedError is a wait that ended in a failure phase; the process exits
// ExitFailed.
type FailedError struct {
	What, ID, Phase, Code, Message string
}

func (e *FailedError) Error() string {
	s := fmt.Sprintf("%s %s is %s", e.What, e.ID, e.Phase)
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Message != "" {
		s += "\n" + e.Message
	}
	return s
}

// TimedOutError is a wait that gave up when its timeout passed; the process
// exits ExitTimedOut.
type TimedOutError struct {
	What, ID, Phase string
	After           time.Duration
}

func (e *TimedOutError) Error() string {
	last := "not read yet"
	if e.Phase != "" {
		last = "last phase " + e.Phase
	}
	return fmt.Sprintf("timed out after %s waiting for %s %s (%s); raise --timeout", e.After, e.What, e.ID, last)
}

// progress is one live status line: rewritten with \r on a terminal,
// one line per change otherwise.
type progress struct {
	w    io.Writer
	tty  bool
	last string
	n    int // width of the last line on a terminal
}

func newProgress(w io.Writer) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
	}
	return &progress{w: w, tty: tty}
}

// show displays line; key is the part whose change makes a new line when
// not on a terminal.
func (p *progress) show(key, line string) {
	if p.tty {
		fmt.Fprintf(p.w, "\r%s", pad(line, p.n))
		p.n = width(line)
		return
	}
	if key != p.last {
		fmt.Fprintln(p.w, line)
	}
	p.last = key
}

// done ends the line on a terminal.
func (p *progress) done() {
	if p.tty && p.n > 0 {
		fmt.Fprintln(p.w)
		p.n = 0
	}
}

// waitFor polls get until done says the state is final (ok or failed), or
// until timeout. It shows the progress on w. It returns the last state; a
// *FailedError when the object ended in a failure phase, a *TimedOutError
// when timeout passed first, another error when it could not read the
// object or ctx ended.
func waitFor(ctx context.Context, w io.Writer, timeout time.Duration, what, id string, get func(context.Context) (state, error), final func(state) (done, failed bool)) (state, error) {
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p := newProgress(w)
	defer p.done()
	start := time.Now()
	var st state
	for {
		var err error
		st, err = get(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return st, err
		}
		label := st.Phase
		if st.Gone {
			label = "deleted"
		}
		line := fmt.Sprintf("Waiting for %s %s: %s", what, id, label)
		if st.ErrorCode != "" && !st.Gone {
			line += " (" + st.ErrorCode + ")"
		}
		p.show(line, fmt.Sprintf("%s [%s]", line, time.Since(start).Round(time.Second)))
		done, failed := final(st)
		if failed {
			return st, &FailedError{What: what, ID: id, Phase: st.Phase, Code: st.ErrorCode, Message: st.ErrorMessage}
		}
		if done {
			return st, nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(pollInterval):
			continue
		}
		break
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return st, &TimedOutError{What: what, ID: id, Phase: st.Phase, After: timeout}
	}
	return st, ctx.Err()
}

// untilPhase is final at one of the ready phases, failed at one of the
// failed ones.
func untilPhase(ready []string, failed ...string) func(state) (bool, bool) {
	return func(s state) (bool, bool) {
		for _, f := range failed {
			if s.Phase == f {
				return true, true
			}
		}
		for _, r := range ready {
			if s.Phase == r {
				return true, false
			}
		}
		return false, false
	}
}

// untilGone is final on 404.
func untilGone(s state) (bool, bool) { return s.Gone, false }

// getState adapts a getter of raw JSON into a state getter, 404 being gone.
func getState(get func(context.Context) ([]byte, error), phase func([]byte) (string, string, string)) func(context.Context) (state, error) {
	return func(ctx context.Context) (state, error) {
		raw, err := get(ctx)
		if IsNotFound(err) {
			return state{Gone: true}, nil
		}
		if err != nil {
			return state{}, err
		}
		s := state{Raw: raw}
		s.Phase, s.ErrorCode, s.ErrorMessage = phase(raw)
		return s, nil
	}
}
