// Command peerplane is Peerplane's one binary: `peerplane serve` runs the
// control plane and the embedded Azure; every other subcommand is a client.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/peerplane/peerplane/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd(os.Getenv).ExecuteContext(ctx); err != nil {
		// A command that printed its whole answer (network reach: UNREACHABLE)
		// chooses the exit status and adds nothing.
		var es *cli.ExitStatus
		if !errors.As(err, &es) {
			fmt.Fprintln(os.Stderr, "Error:", err)
		}
		os.Exit(cli.ExitCode(err))
	}
}

func newRootCmd(getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:   "peerplane",
		Short: "VNet peering with a provider network on Azure, with an embedded Azure",
		Long: `peerplane serve runs the control plane and the embedded Azure; every other
command is a client of them.

` + cli.ExitStatusHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(getenv))
	root.AddCommand(newAzureCmd(getenv))
	root.AddCommand(newBenchCmd())
	cli.AddCommands(root, getenv)
	return root
}
