package cli

import (
	"context"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
)

// envResource is what the describe and delete commands need of a kind of
// environment-scoped resource (network, peering, Kafka cluster).
type envResource struct {
	what   string // "network", as messages name it
	get    func(c *client, ctx context.Context, env, id string) ([]byte, error)
	fields func(raw []byte) func() [][2]string
	phase  func(raw []byte) (phase, code, message string)
	del    func(c *client, ctx context.Context, env, id string) (*http.Response, error)
	// gone waits until the deleted resource is gone; nil polls get until
	// it answers 404.
	gone func(cmd *cobra.Command, c *client, wf waitFlags, env, id string) error
	// footer, when set, is text describe prints after the human output's
	// table ("" for none).
	footer func(raw []byte) string
}

// describeCmd is `… describe ID`.
func (a *app) describeCmd(r envResource, short string) *cobra.Command {
	var out, env string
	cmd := &cobra.Command{
		Use:   "describe ID",
		Short: short,
		Args:  exactArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, c, err := a.start(cmd, out, env)
			if err != nil {
				return err
			}
			raw, err := r.get(c, cmd.Context(), env, args[0])
			if err != nil {
				return err
			}
			if err := printObject(cmd.OutOrStdout(), out, raw, r.fields(raw)); err != nil {
				return err
			}
			if out == outHuman && r.footer != nil {
				if s := r.footer(raw); s != "" {
					fmt.Fprint(cmd.OutOrStdout(), s)
				}
			}
			return nil
		},
	}
	addEnvFlag(cmd, &env)
	addOutputFlag(cmd, &out)
	return cmd
}

// deleteCmd is `… delete ID [--wait]`; waitWhat ends the --wait help.
func (a *app) deleteCmd(r envResource, short, waitWhat string) *cobra.Command {
	var env string
	var wf waitFlags
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: short,
		Args:  exactArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, c, err := a.start(cmd, outHuman, env)
			if err != nil {
				return err
			}
			id := args[0]
			if _, err := c.result(r.del(c, c.auth(cmd.Context()), env, id)); err != nil {
				return err
			}
			if !wf.wait {
				fmt.Fprintf(cmd.OutOrStdout(), "Requested to delete %s %q.\n", r.what, id)
				return nil
			}
			gone := r.gone
			if gone == nil {
				gone = func(cmd *cobra.Command, c *client, wf waitFlags, env, id string) error {
					_, err := waitFor(cmd.Context(), cmd.ErrOrStderr(), wf.timeout, r.what, id,
						getState(func(ctx context.Context) ([]byte, error) { return r.get(c, ctx, env, id) }, r.phase), untilGone)
					return err
				}
			}
			if err := gone(cmd, c, wf, env, id); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s %q.\n", r.what, id)
			return nil
		},
	}
	addEnvFlag(cmd, &env)
	addWaitFlags(cmd, &wf, waitWhat, "")
	return cmd
}

// renameCmd is `… update ID --name NAME`: rename sends the update.
func (a *app) renameCmd(r envResource, rename func(c *client, ctx context.Context, env, id, name string) (*http.Response, error)) *cobra.Command {
	var out, env, name string
	cmd := &cobra.Command{
		Use:   "update ID --name NAME",
		Short: "Rename a " + r.what,
		Args:  exactArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, c, err := a.start(cmd, out, env)
			if err != nil {
				return err
			}
			raw, err := c.result(rename(c, c.auth(cmd.Context()), env, args[0], name))
			if err != nil {
				return err
			}
			return printObject(cmd.OutOrStdout(), out, raw, r.fields(raw))
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "new name of the "+r.what)
	_ = cmd.MarkFlagRequired("name")
	addEnvFlag(cmd, &env)
	addOutputFlag(cmd, &out)
	return cmd
}

// listCmd is `… list [--network N]`: every page of the environment's
// objects (page fetches one; token "" is the first, network "" means all
// networks), as a table of row(item) under header, or the raw objects.
func listCmd[T any](a *app, short, networkHelp string, header []string,
	page func(c *client, ctx context.Context, env, network, token string) (*http.Response, error), row func(*T) []string) *cobra.Command {
	var out, env, network string
	cmd := &cobra.Command{
		Use:   "list",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, c, err := a.start(cmd, out, env)
			if err != nil {
				return err
			}
			items, err := collect(func(token string) ([]byte, error) {
				return c.result(page(c, c.auth(cmd.Context()), env, network, token))
			})
			if err != nil {
				return err
			}
			if out != outHuman {
				return printList(cmd.OutOrStdout(), out, items)
			}
			var rows [][]string
			for _, it := range items {
				v, err := decodeAs[T](it)
				if err != nil {
					return err
				}
				rows = append(rows, row(v))
			}
			printTable(cmd.OutOrStdout(), header, rows)
			return nil
		},
	}
	if networkHelp != "" {
		cmd.Flags().StringVar(&network, "network", "", networkHelp)
	}
	addEnvFlag(cmd, &env)
	addOutputFlag(cmd, &out)
	return cmd
}

// listRequest is an SDK list request filtered by network (V is its page).
type listRequest[R any, V any] interface {
	SpecNetwork(specNetwork []string) R
	PageToken(pageToken string) R
	Execute() (V, *http.Response, error)
}

// networkPage runs req for one page, of network's objects when network is
// set, at token when it is set.
func networkPage[V any, R listRequest[R, V]](req R, network, token string) (*http.Response, error) {
	if network != "" {
		req = req.SpecNetwork([]string{network})
	}
	if token != "" {
		req = req.PageToken(token)
	}
	_, resp, err := req.Execute()
	return resp, err
}
