package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	orgv2 "github.com/confluentinc/ccloud-sdk-go-v2/org/v2"
	"github.com/spf13/cobra"
)

// client returns an API client with the resolved credentials.
func (a *app) client() (*client, error) {
	creds, err := a.credentials()
	if err != nil {
		return nil, err
	}
	return newClient(creds), nil
}

// start begins a command that prints -o out in environment env (the
// flag's value, resolved): it checks -o and returns the environment and
// the API client.
func (a *app) start(cmd *cobra.Command, out, env string) (string, *client, error) {
	if err := checkOutput(cmd, out); err != nil {
		return "", nil, err
	}
	env, err := a.environment(env)
	if err != nil {
		return "", nil, err
	}
	c, err := a.client()
	return env, c, err
}

// environment resolves --environment, then $PEERPLANE_ENVIRONMENT, then
// the config file's current environment (`peerplane environment use`).
func (a *app) environment(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if e := a.getenv("PEERPLANE_ENVIRONMENT"); e != "" {
		return e, nil
	}
	cfg, _, err := a.loadConfig()
	if err != nil {
		return "", err
	}
	if cfg.Environment != "" {
		return cfg.Environment, nil
	}
	return "", errors.New("no environment: pass --environment env-…, or run `peerplane environment use env-…`")
}

// addEnvFlag registers --environment on cmd.
func addEnvFlag(cmd *cobra.Command, env *string) {
	cmd.Flags().StringVar(env, "environment", "", "environment ID (default: the one set by 'peerplane environment use', or $PEERPLANE_ENVIRONMENT)")
}

func (c *client) listEnvironments(ctx context.Context) ([]json.RawMessage, error) {
	return collect(func(token string) ([]byte, error) {
		req := c.org.EnvironmentsOrgV2Api.ListOrgV2Environments(c.auth(ctx)).PageSize(listPageSize)
		if token != "" {
			req = req.PageToken(token)
		}
		_, resp, err := req.Execute()
		return c.result(resp, err)
	})
}

func (c *client) getEnvironment(ctx context.Context, id string) ([]byte, error) {
	_, resp, err := c.org.EnvironmentsOrgV2Api.GetOrgV2Environment(c.auth(ctx), id).Execute()
	return c.result(resp, err)
}

func environmentFields(raw []byte) func() [][2]string {
	return func() [][2]string {
		e, err := decodeAs[environmentObj](raw)
		if err != nil {
			return [][2]string{{"Error", err.Error()}}
		}
		return [][2]string{{"ID", e.ID}, {"Name", e.DisplayName}, {"Created At", e.Metadata.CreatedAt}, {"Updated At", e.Metadata.UpdatedAt}}
	}
}

func (a *app) newEnvironmentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "environment",
		Aliases: []string{"env"},
		Short:   "Manage environments",
	}
	a.addConnFlags(cmd)

	var out string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an environment",
		Args:  exactArgs("name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, out); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			_, resp, err := c.org.EnvironmentsOrgV2Api.CreateOrgV2Environment(c.auth(cmd.Context())).
				OrgV2Environment(orgv2.OrgV2Environment{DisplayName: &args[0]}).Execute()
			raw, err := c.result(resp, err)
			if err != nil {
				return err
			}
			return printObject(cmd.OutOrStdout(), out, raw, environmentFields(raw))
		},
	}
	addOutputFlag(create, &out)

	list := &cobra.Command{
		Use:   "list",
		Short: "List environments",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, out); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			items, err := c.listEnvironments(cmd.Context())
			if err != nil {
				return err
			}
			if out != outHuman {
				return printList(cmd.OutOrStdout(), out, items)
			}
			current, _ := a.environment("")
			var rows [][]string
			for _, it := range items {
				e, err := decodeAs[environmentObj](it)
				if err != nil {
					return err
				}
				mark := ""
				if e.ID == current {
					mark = "*"
				}
				rows = append(rows, []string{mark, e.ID, e.DisplayName})
			}
			printTable(cmd.OutOrStdout(), []string{"Current", "ID", "Name"}, rows)
			return nil
		},
	}
	addOutputFlag(list, &out)

	describe := &cobra.Command{
		Use:   "describe [ID]",
		Short: "Describe an environment (default: the current one)",
		Args:  maxArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, out); err != nil {
				return err
			}
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			id, err := a.environment(id)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			raw, err := c.getEnvironment(cmd.Context(), id)
			if err != nil {
				return err
			}
			return printObject(cmd.OutOrStdout(), out, raw, environmentFields(raw))
		},
	}
	addOutputFlag(describe, &out)

	var name string
	update := &cobra.Command{
		Use:   "update ID --name NAME",
		Short: "Rename an environment",
		Args:  exactArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, out); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			_, resp, err := c.org.EnvironmentsOrgV2Api.UpdateOrgV2Environment(c.auth(cmd.Context()), args[0]).
				OrgV2Environment(orgv2.OrgV2Environment{DisplayName: &name}).Execute()
			raw, err := c.result(resp, err)
			if err != nil {
				return err
			}
			return printObject(cmd.OutOrStdout(), out, raw, environmentFields(raw))
		},
	}
	update.Flags().StringVar(&name, "name", "", "new name of the environment")
	_ = update.MarkFlagRequired("name")
	addOutputFlag(update, &out)

	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an environment",
		Args:  exactArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			resp, err := c.org.EnvironmentsOrgV2Api.DeleteOrgV2Environment(c.auth(cmd.Context()), args[0]).Execute()
			if _, err := c.result(resp, err); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted environment %q.\n", args[0])
			return nil
		},
	}

	use := &cobra.Command{
		Use:   "use ID",
		Short: "Make an environment the current one for the other commands",
		Args:  exactArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if _, err := c.getEnvironment(cmd.Context(), args[0]); err != nil {
				return err
			}
			if _, err := a.updateConfig(func(cfg *Config) { cfg.Environment = args[0] }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Using environment %q.\n", args[0])
			return nil
		},
	}

	cmd.AddCommand(create, list, describe, update, del, use)
	return cmd
}
