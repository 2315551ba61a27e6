package cli

import (
	"context"
	"fmt"
	"strings"

	networkingv1 "github.com/confluentinc/ccloud-sdk-go-v2/networking/v1"
	"github.com/spf13/cobra"
)

func (c *client) getNetwork(ctx context.Context, env, id string) ([]byte, error) {
	_, resp, err := c.net.NetworksNetworkingV1Api.GetNetworkingV1Network(c.auth(ctx), id).Environment(env).Execute()
	return c.result(resp, err)
}

func networkPhase(raw []byte) (string, string, string) {
	n, err := decodeAs[networkObj](raw)
	if err != nil {
		return "", "", ""
	}
	return n.Status.Phase, n.Status.ErrorCode, n.Status.ErrorMessage
}

func networkFields(raw []byte) func() [][2]string {
	return func() [][2]string {
		n, err := decodeAs[networkObj](raw)
		if err != nil {
			return [][2]string{{"Error", err.Error()}}
		}
		f := [][2]string{
			{"ID", n.ID}, {"Name", n.Spec.DisplayName}, {"Environment", n.Spec.Environment.ID},
			{"Cloud", n.Spec.Cloud}, {"Region", n.Spec.Region}, {"CIDR", n.Spec.CIDR},
			{"Zones", strings.Join(n.Spec.Zones, ", ")}, {"Connection Types", strings.Join(n.Spec.ConnectionTypes, ", ")},
			{"Phase", n.Status.Phase}, {"Error Code", n.Status.ErrorCode}, {"Error Message", n.Status.ErrorMessage},
		}
		if c := n.Status.Cloud; c != nil {
			f = append(f, [2]string{"Azure VNet", c.VNet}, [2]string{"Azure Subscription", c.Subscription})
		}
		return append(f, [2]string{"Created At", n.Metadata.CreatedAt}, [2]string{"Updated At", n.Metadata.UpdatedAt})
	}
}

// cloudFlag checks --cloud: Azure only.
func cloudFlag(cmd *cobra.Command, cloud string) (string, error) {
	if !strings.EqualFold(cloud, "azure") {
		return "", usageError(cmd, "invalid argument %q for \"--cloud\" flag: only azure is supported", cloud)
	}
	return "AZURE", nil
}

func (a *app) newNetworkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Manage networks, and their peerings with your Azure VNets",
	}
	a.addConnFlags(cmd)

	var (
		out, env, cloud, region, cidr string
		connTypes, zones              []string
		wf                            waitFlags
	)
	create := &cobra.Command{
		Use:   "create [NAME]",
		Short: "Create a network",
		Example: `  peerplane network create prod-net --cloud azure --region eastus \
    --cidr 10.10.0.0/16 --connection-types peering --wait`,
		Args: maxArgs("name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, out); err != nil {
				return err
			}
			cl, err := cloudFlag(cmd, cloud)
			if err != nil {
				return err
			}
			env, err := a.environment(env)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			spec := networkingv1.NewNetworkingV1NetworkSpec()
			if len(args) == 1 {
				spec.SetDisplayName(args[0])
			}
			spec.SetCloud(cl)
			spec.SetRegion(region)
			spec.SetCidr(cidr)
			ct := make([]string, len(connTypes))
			for i, t := range connTypes {
				ct[i] = strings.ToUpper(t)
			}
			spec.SetConnectionTypes(ct)
			if len(zones) > 0 {
				spec.SetZones(zones)
			}
			spec.SetEnvironment(networkingv1.ObjectReference{Id: env})
			_, resp, err := c.net.NetworksNetworkingV1Api.CreateNetworkingV1Network(c.auth(cmd.Context())).
				NetworkingV1Network(networkingv1.NetworkingV1Network{Spec: spec}).Execute()
			raw, err := c.result(resp, err)
			if err != nil {
				return err
			}
			if wf.wait {
				n, _ := decodeAs[networkObj](raw)
				st, err := waitFor(cmd.Context(), cmd.ErrOrStderr(), wf.timeout, "network", n.ID,
					getState(func(ctx context.Context) ([]byte, error) { return c.getNetwork(ctx, env, n.ID) }, networkPhase),
					untilPhase([]string{"READY"}, "FAILED"))
				if st.Raw != nil {
					raw = st.Raw
				}
				if err != nil {
					return err
				}
			}
			return printObject(cmd.OutOrStdout(), out, raw, networkFields(raw))
		},
	}
	fs := create.Flags()
	fs.StringVar(&cloud, "cloud", "", "cloud provider: azure")
	fs.StringVar(&region, "region", "", "cloud region, e.g. eastus")
	fs.StringVar(&cidr, "cidr", "", "the network's /16 CIDR block, e.g. 10.10.0.0/16")
	fs.StringSliceVar(&connTypes, "connection-types", []string{"peering"}, "connection types: peering")
	fs.StringSliceVar(&zones, "zones", nil, "availability zones (default 1,2,3)")
	_ = create.MarkFlagRequired("cloud")
	_ = create.MarkFlagRequired("region")
	_ = create.MarkFlagRequired("cidr")
	addEnvFlag(create, &env)
	addOutputFlag(create, &out)
	addWaitFlags(create, &wf, "the network is READY (or FAILED)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, out); err != nil {
				return err
			}
			env, err := a.environment(env)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			items, err := collect(func(token string) ([]byte, error) {
				req := c.net.NetworksNetworkingV1Api.ListNetworkingV1Networks(c.auth(cmd.Context())).Environment(env).PageSize(listPageSize)
				if token != "" {
					req = req.PageToken(token)
				}
				_, resp, err := req.Execute()
				return c.result(resp, err)
			})
			if err != nil {
				return err
			}
			if out != outHuman {
				return printList(cmd.OutOrStdout(), out, items)
			}
			var rows [][]string
			for _, it := range items {
				n, err := decodeAs[networkObj](it)
				if err != nil {
					return err
				}
				rows = append(rows, []string{n.ID, n.Spec.DisplayName, n.Spec.Cloud, n.Spec.Region, n.Spec.CIDR,
					strings.Join(n.Spec.ConnectionTypes, ", "), n.Status.Phase})
			}
			printTable(cmd.OutOrStdout(), []string{"ID", "Name", "Cloud", "Region", "CIDR", "Connection Types", "Phase"}, rows)
			return nil
		},
	}
	addEnvFlag(list, &env)
	addOutputFlag(list, &out)

	describe := &cobra.Command{
		Use:   "describe ID",
		Short: "Describe a network",
		Args:  exactArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, out); err != nil {
				return err
			}
			env, err := a.environment(env)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			raw, err := c.getNetwork(cmd.Context(), env, args[0])
			if err != nil {
				return err
			}
			return printObject(cmd.OutOrStdout(), out, raw, networkFields(raw))
		},
	}
	addEnvFlag(describe, &env)
	addOutputFlag(describe, &out)

	var name string
	update := &cobra.Command{
		Use:   "update ID --name NAME",
		Short: "Rename a network",
		Args:  exactArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, out); err != nil {
				return err
			}
			env, err := a.environment(env)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			_, resp, err := c.net.NetworksNetworkingV1Api.UpdateNetworkingV1Network(c.auth(cmd.Context()), args[0]).
				NetworkingV1NetworkUpdate(networkingv1.NetworkingV1NetworkUpdate{Spec: &networkingv1.NetworkingV1NetworkSpecUpdate{
					DisplayName: &name, Environment: &networkingv1.ObjectReference{Id: env}}}).Execute()
			raw, err := c.result(resp, err)
			if err != nil {
				return err
			}
			return printObject(cmd.OutOrStdout(), out, raw, networkFields(raw))
		},
	}
	update.Flags().StringVar(&name, "name", "", "new name of the network")
	_ = update.MarkFlagRequired("name")
	addEnvFlag(update, &env)
	addOutputFlag(update, &out)

	var dwf waitFlags
	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a network",
		Args:  exactArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := a.environment(env)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			resp, err := c.net.NetworksNetworkingV1Api.DeleteNetworkingV1Network(c.auth(cmd.Context()), args[0]).Environment(env).Execute()
			if _, err := c.result(resp, err); err != nil {
				return err
			}
			if dwf.wait {
				if _, err := waitFor(cmd.Context(), cmd.ErrOrStderr(), dwf.timeout, "network", args[0],
					getState(func(ctx context.Context) ([]byte, error) { return c.getNetwork(ctx, env, args[0]) }, networkPhase), untilGone); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted network %q.\n", args[0])
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Requested to delete network %q.\n", args[0])
			return nil
		},
	}
	addEnvFlag(del, &env)
	addWaitFlags(del, &dwf, "the network is gone")

	cmd.AddCommand(create, list, describe, update, del, a.newPeeringCmd())
	return cmd
}
