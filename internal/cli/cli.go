// Package cli is Peerplane's client commands, shaped like the Confluent
// CLI so that its documentation carries over: `peerplane login`,
// `peerplane environment …`, `peerplane network …`, `peerplane network
// peering …` and `peerplane kafka cluster …` against the control-plane API,
// and the customer side of the embedded Azure under `peerplane azure …`,
// shaped like az.
//
// The Confluent routes go through Confluent's own Go SDK (as the confluent
// CLI does); Peerplane's extras under /peerplane/v1 through net/http.
// Output is -o human (tables and key/value blocks), json (the API object)
// or yaml. Every API error is shown as the API's detail and the field it
// names, never as a raw body.
package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// AddCommands adds the client commands to root: login, environment,
// network, kafka, connect, and the customer-side azure subcommands (to root's
// existing "azure" command when there is one). getenv reads the
// environment (os.Getenv, or a map in tests).
func AddCommands(root *cobra.Command, getenv func(string) string) {
	a := &app{getenv: getenv}
	root.AddCommand(a.newLoginCmd(), a.newLogoutCmd(), a.newEnvironmentCmd(), a.newNetworkCmd(), a.newKafkaCmd(), a.newConnectCmd(), a.newVNetCmd(), a.newAPIKeyCmd())
	az := findCommand(root, "azure")
	if az == nil {
		az = &cobra.Command{Use: "azure", Short: "Act as the customer on the embedded Azure (az-shaped commands)"}
		root.AddCommand(az)
	}
	a.addAzureCommands(az)
	root.SetFlagErrorFunc(flagError)
}

func findCommand(root *cobra.Command, name string) *cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

// flagError turns a flag parsing error into a usage error that names the
// flag and the command's help.
func flagError(cmd *cobra.Command, err error) error {
	return usageError(cmd, "%v", err)
}

// usageError is an error about the command line, with a pointer to --help.
func usageError(cmd *cobra.Command, format string, args ...any) error {
	return fmt.Errorf("%s\nRun '%s --help' for usage.", fmt.Sprintf(format, args...), cmd.CommandPath())
}

// app holds what every client command shares: the environment and the
// connection flags.
type app struct {
	getenv func(string) string

	// Connection flags, persistent on each top-level command.
	url, apiKey, apiSecret, dataDir string
}

// addConnFlags registers the connection flags on cmd as persistent flags.
func (a *app) addConnFlags(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&a.url, "url", "", "control-plane API URL ($PEERPLANE_URL; default from the config file, then http://127.0.0.1:8080)")
	fs.StringVar(&a.apiKey, "api-key", "", "Cloud API key ($PEERPLANE_API_KEY)")
	fs.StringVar(&a.apiSecret, "api-secret", "", "Cloud API secret ($PEERPLANE_API_SECRET)")
}

// exactArgs is cobra.ExactArgs with a message naming the argument.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == len(names) {
			return nil
		}
		if len(args) < len(names) {
			return usageError(cmd, "missing argument %s", strings.ToUpper(names[len(args)]))
		}
		return usageError(cmd, "too many arguments: want %d (%s), got %d", len(names), strings.ToUpper(strings.Join(names, " ")), len(args))
	}
}

// maxArgs accepts up to len(names) arguments.
func maxArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > len(names) {
			return usageError(cmd, "too many arguments: want at most %d (%s), got %d", len(names), strings.ToUpper(strings.Join(names, " ")), len(args))
		}
		return nil
	}
}
