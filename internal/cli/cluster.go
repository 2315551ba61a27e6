package cli

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	cmkv2 "github.com/confluentinc/ccloud-sdk-go-v2/cmk/v2"
	"github.com/spf13/cobra"
)

func (c *client) getCluster(ctx context.Context, env, id string) ([]byte, error) {
	_, resp, err := c.cmk.ClustersCmkV2Api.GetCmkV2Cluster(c.auth(ctx), id).Environment(env).Execute()
	return c.result(resp, err)
}

var clusterResource = envResource{what: "Kafka cluster", get: (*client).getCluster, fields: clusterFields, phase: clusterPhase, footer: clusterFooter,
	del: func(c *client, ctx context.Context, env, id string) (*http.Response, error) {
		return c.cmk.ClustersCmkV2Api.DeleteCmkV2Cluster(ctx, id).Environment(env).Execute()
	}}

func clusterPhase(raw []byte) (string, string, string) {
	k, err := decodeAs[clusterObj](raw)
	if err != nil {
		return "", "", ""
	}
	return k.Status.Phase, "", ""
}

func clusterFields(raw []byte) func() [][2]string {
	return func() [][2]string {
		k, err := decodeAs[clusterObj](raw)
		if err != nil {
			return [][2]string{{"Error", err.Error()}}
		}
		cku := ""
		if k.Spec.Config.CKU > 0 {
			cku = strconv.Itoa(k.Spec.Config.CKU)
		}
		return [][2]string{
			{"ID", k.ID}, {"Name", k.Spec.DisplayName}, {"Type", strings.ToUpper(k.Spec.Config.Kind)}, {"CKU", cku},
			{"Environment", k.Spec.Environment.ID}, {"Network", k.Spec.Network.ID},
			{"Cloud", k.Spec.Cloud}, {"Region", k.Spec.Region}, {"Availability", k.Spec.Availability},
			{"Status", k.Status.Phase}, {"Endpoint", k.Spec.KafkaBootstrapEndpoint}, {"REST Endpoint", k.Spec.HTTPEndpoint},
			{"Created At", k.Metadata.CreatedAt},
		}
	}
}

// clusterFooter is the "Connect from your VNet" block under a cluster's
// description, once it has endpoints.
func clusterFooter(raw []byte) string {
	k, err := decodeAs[clusterObj](raw)
	if err != nil || k.Spec.KafkaBootstrapEndpoint == "" {
		return ""
	}
	return "\nConnect from your VNet (a VNet peered with network " + k.Spec.Network.ID + "; the name resolves only inside VNets):\n  " +
		ConnectSnippet("<resource-group>/<vnet>", k.Spec.KafkaBootstrapEndpoint) + "\n"
}

// ConnectSnippet is the command that lists a cluster's brokers from a
// VNet peered with its network (vnet is resource-group/name), or "" when
// the cluster has no bootstrap endpoint yet.
func ConnectSnippet(vnet, bootstrap string) string {
	if bootstrap == "" {
		return ""
	}
	return "peerplane vnet exec --vnet " + vnet + " -- kcat -b " + bootstrap + " -L"
}

func (a *app) newKafkaCmd() *cobra.Command {
	kafka := &cobra.Command{Use: "kafka", Short: "Manage Kafka clusters"}
	a.addConnFlags(kafka)
	cmd := &cobra.Command{Use: "cluster", Short: "Manage Dedicated Kafka clusters"}
	kafka.AddCommand(cmd)

	var (
		out, env, typ, network, cloud, region, availability string
		cku                                                 int
		wf                                                  waitFlags
	)
	create := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a Dedicated Kafka cluster in a network",
		Example: `  peerplane kafka cluster create orders --type dedicated --cku 2 --network n-abc123 --cloud azure --region eastus --wait`,
		Args:    exactArgs("name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, out); err != nil {
				return err
			}
			cl, err := cloudFlag(cmd, cloud)
			if err != nil {
				return err
			}
			if !strings.EqualFold(typ, "dedicated") {
				return usageError(cmd, "invalid argument %q for \"--type\" flag: only dedicated is offered", typ)
			}
			avail := ""
			switch strings.ToLower(availability) {
			case "single-zone", "single_zone":
				avail = "SINGLE_ZONE"
			case "multi-zone", "multi_zone":
				avail = "MULTI_ZONE"
			default:
				return usageError(cmd, "invalid argument %q for \"--availability\" flag: want single-zone or multi-zone", availability)
			}
			env, err := a.environment(env)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			spec := cmkv2.NewCmkV2ClusterSpec()
			spec.SetDisplayName(args[0])
			spec.SetAvailability(avail)
			spec.SetCloud(cl)
			spec.SetRegion(region)
			spec.SetConfig(cmkv2.CmkV2DedicatedAsCmkV2ClusterSpecConfigOneOf(cmkv2.NewCmkV2Dedicated("Dedicated", int32(cku))))
			spec.SetEnvironment(cmkv2.EnvScopedObjectReference{Id: env})
			if network != "" {
				spec.SetNetwork(cmkv2.EnvScopedObjectReference{Id: network})
			}
			_, resp, err := c.cmk.ClustersCmkV2Api.CreateCmkV2Cluster(c.auth(cmd.Context())).CmkV2Cluster(cmkv2.CmkV2Cluster{Spec: spec}).Execute()
			raw, err := c.result(resp, err)
			if err != nil {
				return err
			}
			if wf.wait {
				k, err := decodeAs[clusterObj](raw)
				if err != nil {
					return err
				}
				st, werr := waitFor(cmd.Context(), cmd.ErrOrStderr(), wf.timeout, "cluster", k.ID,
					getState(func(ctx context.Context) ([]byte, error) { return c.getCluster(ctx, env, k.ID) }, clusterPhase),
					untilPhase([]string{"PROVISIONED"}, "FAILED"))
				if st.Raw != nil {
					raw = st.Raw
				}
				return printAfterWait(cmd.OutOrStdout(), out, raw, clusterFields, werr)
			}
			return printObject(cmd.OutOrStdout(), out, raw, clusterFields(raw))
		},
	}
	fs := create.Flags()
	fs.StringVar(&typ, "type", "dedicated", "cluster type: dedicated")
	fs.IntVar(&cku, "cku", 0, "number of Confluent Kafka Units")
	fs.StringVar(&network, "network", "", "network ID (n-…) to place the cluster in")
	fs.StringVar(&cloud, "cloud", "", "cloud provider: azure")
	fs.StringVar(&region, "region", "", "cloud region, e.g. eastus")
	fs.StringVar(&availability, "availability", "single-zone", "single-zone or multi-zone")
	for _, f := range []string{"cku", "network", "cloud", "region"} {
		_ = create.MarkFlagRequired(f)
	}
	addEnvFlag(create, &env)
	addOutputFlag(create, &out)
	addWaitFlags(create, &wf, "the cluster is PROVISIONED", "FAILED")

	var name string
	update := &cobra.Command{
		Use:   "update ID [--name NAME] [--cku N]",
		Short: "Rename or resize a Kafka cluster",
		Args:  exactArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, out); err != nil {
				return err
			}
			if !cmd.Flags().Changed("name") && !cmd.Flags().Changed("cku") {
				return usageError(cmd, "pass --name or --cku")
			}
			env, err := a.environment(env)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			spec := &cmkv2.CmkV2ClusterSpecUpdate{Environment: &cmkv2.EnvScopedObjectReference{Id: env}}
			if cmd.Flags().Changed("name") {
				spec.DisplayName = &name
			}
			if cmd.Flags().Changed("cku") {
				cfg := cmkv2.CmkV2DedicatedAsCmkV2ClusterSpecUpdateConfigOneOf(cmkv2.NewCmkV2Dedicated("Dedicated", int32(cku)))
				spec.Config = &cfg
			}
			_, resp, err := c.cmk.ClustersCmkV2Api.UpdateCmkV2Cluster(c.auth(cmd.Context()), args[0]).CmkV2ClusterUpdate(cmkv2.CmkV2ClusterUpdate{Spec: spec}).Execute()
			raw, err := c.result(resp, err)
			if err != nil {
				return err
			}
			return printObject(cmd.OutOrStdout(), out, raw, clusterFields(raw))
		},
	}
	update.Flags().StringVar(&name, "name", "", "new name of the cluster")
	update.Flags().IntVar(&cku, "cku", 0, "new number of CKUs")
	addEnvFlag(update, &env)
	addOutputFlag(update, &out)

	list := listCmd(a, "List Kafka clusters", "only the clusters of this network",
		[]string{"ID", "Name", "Type", "CKU", "Network", "Cloud", "Region", "Status"},
		func(c *client, ctx context.Context, env, network, token string) (*http.Response, error) {
			return networkPage[cmkv2.CmkV2ClusterList](c.cmk.ClustersCmkV2Api.ListCmkV2Clusters(ctx).Environment(env).PageSize(listPageSize), network, token)
		},
		func(k *clusterObj) []string {
			return []string{k.ID, k.Spec.DisplayName, strings.ToUpper(k.Spec.Config.Kind), strconv.Itoa(k.Spec.Config.CKU),
				k.Spec.Network.ID, k.Spec.Cloud, k.Spec.Region, k.Status.Phase}
		})
	cmd.AddCommand(create, list, a.describeCmd(clusterResource, "Describe a Kafka cluster"), update,
		a.deleteCmd(clusterResource, "Delete a Kafka cluster", "the cluster is gone"))
	return kafka
}
