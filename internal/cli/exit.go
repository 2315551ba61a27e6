package cli

import "errors"

// Exit statuses, for scripts. A command exits 0 when it did what was asked
// (--wait: the object reached its goal; network reach: REACHABLE), and
// ExitError when it could not.
const (
	// ExitError: the command could not do what was asked: a bad flag, an
	// API error (the message names the field), the API unreachable.
	ExitError = 1
	// ExitUnreachable: network reach answered UNREACHABLE.
	ExitUnreachable = 2
	// ExitAmbiguous: network reach answered AMBIGUOUS.
	ExitAmbiguous = 3
	// ExitFailed: --wait saw the object end in a failure phase (FAILED;
	// for a peering also DISCONNECTED).
	ExitFailed = 4
	// ExitTimedOut: --wait gave up when --timeout passed.
	ExitTimedOut = 5
)

// ExitStatusHelp is the table of exit statuses for --help.
const ExitStatusHelp = `Exit status, for scripts:
  0  done: --wait saw READY (PROVISIONED, or gone); network reach: REACHABLE
  1  the command could not do it: a bad flag, an API error naming the field,
     the API unreachable
  2  network reach: UNREACHABLE
  3  network reach: AMBIGUOUS (the addresses do not pin one path)
  4  --wait: the object ended FAILED (a peering also DISCONNECTED)
  5  --wait: --timeout passed first`

// ExitStatus ends the process with Code after a command has printed its
// whole answer: main exits with Code and prints nothing more.
type ExitStatus struct {
	Code   int
	Reason string
}

func (e *ExitStatus) Error() string { return e.Reason }

// ExitCode is the exit status for err, the error a command returned: 0 for
// nil, the code of an *ExitStatus, ExitFailed for a *FailedError,
// ExitTimedOut for a *TimedOutError, and ExitError for any other error.
func ExitCode(err error) int {
	var (
		es *ExitStatus
		fe *FailedError
		te *TimedOutError
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &es):
		return es.Code
	case errors.As(err, &fe):
		return ExitFailed
	case errors.As(err, &te):
		return ExitTimedOut
	}
	return ExitError
}
