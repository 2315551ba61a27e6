package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

// apiKeyObj is an iam/v2 ApiKey, for the human output.
type apiKeyObj struct {
	ID       string `json:"id"`
	Metadata meta   `json:"metadata"`
	Spec     struct {
		Secret      string `json:"secret"`
		DisplayName string `json:"display_name"`
		Description string `json:"description"`
		Owner       *struct {
			ID   string `json:"id"`
			Kind string `json:"kind"`
		} `json:"owner"`
		Resource *struct {
			ID          string `json:"id"`
			Kind        string `json:"kind"`
			Environment string `json:"environment"`
		} `json:"resource"`
	} `json:"spec"`
}

func (k *apiKeyObj) owner() string {
	if k.Spec.Owner == nil {
		return ""
	}
	return k.Spec.Owner.ID
}

func (k *apiKeyObj) resource() string {
	if k.Spec.Resource == nil {
		return ""
	}
	return k.Spec.Resource.ID
}

func apiKeyFields(raw []byte) func() [][2]string {
	return func() [][2]string {
		k, err := decodeAs[apiKeyObj](raw)
		if err != nil {
			return [][2]string{{"Error", err.Error()}}
		}
		return [][2]string{{"API Key", k.ID}, {"API Secret", k.Spec.Secret}, {"Name", k.Spec.DisplayName},
			{"Description", k.Spec.Description}, {"Owner", k.owner()}, {"Resource", k.resource()}, {"Created At", k.Metadata.CreatedAt}}
	}
}

// newAPIKeyCmd is `peerplane api-key`: the cluster API keys (iam/v2), in
// the confluent CLI's shape.
func (a *app) newAPIKeyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "api-key", Short: "Manage Kafka cluster API keys (for the cluster's REST endpoint)"}
	a.addConnFlags(cmd)

	var out, resource, serviceAccount, description, name string
	create := &cobra.Command{
		Use:   "create --resource lkc-…",
		Short: "Create an API key for a Kafka cluster",
		Long: `Create an API key for a Kafka cluster: HTTP Basic credentials for the
cluster's Kafka REST endpoint (its http_endpoint, reachable from the VNets
peered with its network). The secret is shown once; store it now.`,
		Example: `  peerplane api-key create --resource lkc-abc123 --service-account sa-123456 --description "orders app"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if resource == "" {
				return usageError(cmd, "--resource is required: the Kafka cluster (lkc-…) the key is for")
			}
			c, err := a.clientFor(cmd, out)
			if err != nil {
				return err
			}
			spec := map[string]any{"resource": map[string]string{"id": resource, "kind": "Cluster", "api_version": "cmk/v2"}}
			if serviceAccount != "" {
				spec["owner"] = map[string]string{"id": serviceAccount}
			}
			if description != "" {
				spec["description"] = description
			}
			if name != "" {
				spec["display_name"] = name
			}
			raw, err := c.do(cmd.Context(), "POST", "/iam/v2/api-keys", nil, map[string]any{"spec": spec})
			if err != nil {
				return err
			}
			if err := printObject(cmd.OutOrStdout(), out, raw, apiKeyFields(raw)); err != nil {
				return err
			}
			if out == outHuman {
				cmd.PrintErrln("It may take a moment for the key to be usable. Save the secret: it is not shown again.")
			}
			return nil
		},
	}
	create.Flags().StringVar(&resource, "resource", "", "the Kafka cluster (lkc-…) the key is for")
	create.Flags().StringVar(&serviceAccount, "service-account", "", "the service account (sa-…) or user (u-…) that owns the key, recorded as given")
	create.Flags().StringVar(&description, "description", "", "description of the key")
	create.Flags().StringVar(&name, "name", "", "name of the key")
	addOutputFlag(create, &out)

	list := &cobra.Command{
		Use:   "list [--resource lkc-…]",
		Short: "List Kafka cluster API keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.clientFor(cmd, out)
			if err != nil {
				return err
			}
			q := url.Values{"page_size": {"100"}}
			if resource != "" {
				q.Set("spec.resource", resource)
			}
			if serviceAccount != "" {
				q.Set("spec.owner", serviceAccount)
			}
			items, err := collect(func(token string) ([]byte, error) {
				if token != "" {
					q.Set("page_token", token)
				}
				return c.do(cmd.Context(), "GET", "/iam/v2/api-keys", q, nil)
			})
			if err != nil {
				return err
			}
			if out != outHuman {
				return printList(cmd.OutOrStdout(), out, items)
			}
			var rows [][]string
			for _, it := range items {
				var k apiKeyObj
				if err := json.Unmarshal(it, &k); err != nil {
					return err
				}
				rows = append(rows, []string{k.ID, k.Spec.DisplayName, k.Spec.Description, k.owner(), k.resource(), k.Metadata.CreatedAt})
			}
			printTable(cmd.OutOrStdout(), []string{"Key", "Name", "Description", "Owner", "Resource", "Created"}, rows)
			return nil
		},
	}
	list.Flags().StringVar(&resource, "resource", "", "only the keys of this Kafka cluster")
	list.Flags().StringVar(&serviceAccount, "service-account", "", "only the keys of this owner")
	addOutputFlag(list, &out)

	describe := &cobra.Command{
		Use:   "describe KEY",
		Short: "Describe a Kafka cluster API key",
		Args:  exactArgs("key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.clientFor(cmd, out)
			if err != nil {
				return err
			}
			raw, err := c.do(cmd.Context(), "GET", "/iam/v2/api-keys/"+url.PathEscape(args[0]), nil, nil)
			if err != nil {
				return err
			}
			return printObject(cmd.OutOrStdout(), out, raw, apiKeyFields(raw))
		},
	}
	addOutputFlag(describe, &out)

	del := &cobra.Command{
		Use:   "delete KEY",
		Short: "Delete a Kafka cluster API key",
		Args:  exactArgs("key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if _, err := c.do(cmd.Context(), "DELETE", "/iam/v2/api-keys/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted API key %q.\n", strings.TrimSpace(args[0]))
			return nil
		},
	}
	cmd.AddCommand(create, list, describe, del)
	return cmd
}

// clientFor begins a command that prints -o out and is not scoped to an
// environment: it checks out and returns the API client.
func (a *app) clientFor(cmd *cobra.Command, out string) (*client, error) {
	if err := checkOutput(cmd, out); err != nil {
		return nil, err
	}
	return a.client()
}
