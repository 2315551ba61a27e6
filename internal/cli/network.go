package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	networkingv1 "github.com/confluentinc/ccloud-sdk-go-v2/networking/v1"
	"github.com/spf13/cobra"

	"github.com/peerplane/peerplane/internal/reach"
)

func (c *client) getNetwork(ctx context.Context, env, id string) ([]byte, error) {
	_, resp, err := c.net.NetworksNetworkingV1Api.GetNetworkingV1Network(c.auth(ctx), id).Environment(env).Execute()
	return c.result(resp, err)
}

var networkResource = envResource{what: "network", get: (*client).getNetwork, fields: networkFields, phase: networkPhase,
	del: func(c *client, ctx context.Context, env, id string) (*http.Response, error) {
		return c.net.NetworksNetworkingV1Api.DeleteNetworkingV1Network(ctx, id).Environment(env).Execute()
	}}

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
				st, werr := waitFor(cmd.Context(), cmd.ErrOrStderr(), wf.timeout, "network", n.ID,
					getState(func(ctx context.Context) ([]byte, error) { return c.getNetwork(ctx, env, n.ID) }, networkPhase),
					untilPhase([]string{"READY"}, "FAILED"))
				if st.Raw != nil {
					raw = st.Raw
				}
				return printAfterWait(cmd.OutOrStdout(), out, raw, networkFields, werr)
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
	addWaitFlags(create, &wf, "the network is READY", "FAILED")

	list := listCmd(a, "List networks", "", []string{"ID", "Name", "Cloud", "Region", "CIDR", "Connection Types", "Phase"},
		func(c *client, ctx context.Context, env, _, token string) (*http.Response, error) {
			req := c.net.NetworksNetworkingV1Api.ListNetworkingV1Networks(ctx).Environment(env).PageSize(listPageSize)
			if token != "" {
				req = req.PageToken(token)
			}
			_, resp, err := req.Execute()
			return resp, err
		},
		func(n *networkObj) []string {
			return []string{n.ID, n.Spec.DisplayName, n.Spec.Cloud, n.Spec.Region, n.Spec.CIDR, strings.Join(n.Spec.ConnectionTypes, ", "), n.Status.Phase}
		})
	cmd.AddCommand(create, list, a.describeCmd(networkResource, "Describe a network"),
		a.renameCmd(networkResource, func(c *client, ctx context.Context, env, id, name string) (*http.Response, error) {
			_, resp, err := c.net.NetworksNetworkingV1Api.UpdateNetworkingV1Network(ctx, id).
				NetworkingV1NetworkUpdate(networkingv1.NetworkingV1NetworkUpdate{Spec: &networkingv1.NetworkingV1NetworkSpecUpdate{
					DisplayName: &name, Environment: &networkingv1.ObjectReference{Id: env}}}).Execute()
			return resp, err
		}),
		a.deleteCmd(networkResource, "Delete a network", "the network is gone"), a.newNetworkReachCmd(), a.newPeeringCmd())
	return cmd
}

func (a *app) newNetworkReachCmd() *cobra.Command {
	var (
		out, env, source, destination, protocol string
		port                                    int
		probe                                   bool
	)
	cmd := &cobra.Command{
		Use:   "reach --source IP --destination IP|CLUSTER",
		Short: "Can an address reach a cluster (or another address), and if not, why",
		Long: `Ask whether an address in one of your VNets (--source) can open a flow to a
Dedicated cluster or another address (--destination) over the environment's
networks, VNet peerings and network security groups, and if not, which hop
blocks it and how to fix it.

The answer shows the verdict, the path (VNet → peering → VNet), every check
made, and for UNREACHABLE the first blocking cause (for example
TRANSITIVE_PEERING_NOT_SUPPORTED, PEERING_NOT_CONNECTED or NSG_DENY) with its
fix. -o json and -o yaml print the API's answer.

Exit status, for scripts:
  0  REACHABLE
  2  UNREACHABLE
  3  AMBIGUOUS (the addresses do not pin one path)
  1  the question could not be answered: a bad flag, an API error (a bad
     --source names the field), or the API could not be reached

--probe also makes a real TCP connection from the source to the destination
through the data plane (serve --dataplane), as hosts placed at both
addresses, and shows its outcome next to the verdict; the exit status still
follows the verdict.`,
		Example: `  peerplane network reach --source 10.1.0.4 --destination lkc-abc123
  peerplane network reach --source 10.1.0.4 --destination 10.200.1.10 --port 443 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, c, err := a.start(cmd, out, env)
			if err != nil {
				return err
			}
			q := url.Values{"environment": {env}, "source": {source}, "destination": {destination}, "protocol": {protocol}}
			if cmd.Flags().Changed("port") {
				q.Set("port", strconv.Itoa(port))
			}
			if probe {
				q.Set("probe", "true")
			}
			raw, err := c.do(cmd.Context(), http.MethodGet, "/peerplane/v1/reachability", q, nil)
			if err != nil {
				return err
			}
			res, err := decodeAs[reach.Result](raw)
			if err != nil {
				return err
			}
			if out == outHuman {
				err = printReach(cmd.OutOrStdout(), res)
			} else {
				err = printRaw(cmd.OutOrStdout(), out, raw)
			}
			if err != nil {
				return err
			}
			switch res.Verdict {
			case reach.Reachable:
				return nil
			case reach.Ambiguous:
				return &ExitStatus{Code: ExitAmbiguous, Reason: "the path is ambiguous"}
			}
			return &ExitStatus{Code: ExitUnreachable, Reason: "the destination is unreachable"}
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&source, "source", "", "the source: a private IP address in one of your VNets, e.g. a VM's")
	fs.StringVar(&destination, "destination", "", "the destination: a cluster ID (lkc-…) or an IP address")
	fs.IntVar(&port, "port", 0, "destination port (default: the cluster's endpoint port; required for an IP address unless --protocol icmp)")
	fs.StringVar(&protocol, "protocol", "tcp", "protocol: tcp, udp or icmp")
	fs.BoolVar(&probe, "probe", false, "also make a real TCP connection through the data plane and show it next to the verdict")
	_ = cmd.MarkFlagRequired("source")
	_ = cmd.MarkFlagRequired("destination")
	addEnvFlag(cmd, &env)
	addOutputFlag(cmd, &out)
	return cmd
}

// printReach prints a reachability answer: the verdict, the path, the
// checks and, when blocked, the cause and its fix.
func printReach(w io.Writer, r *reach.Result) error {
	var b strings.Builder
	dst := r.Destination.Address
	if r.Destination.Cluster != "" {
		dst = r.Destination.Cluster + " " + dst
	}
	flow := r.Protocol
	if r.Port != 0 {
		flow += " port " + strconv.Itoa(r.Port)
	}
	fmt.Fprintf(&b, "%s: %s%s → %s%s, %s\n", r.Verdict, r.Source.Address, inVNet(r.Source), dst, inVNet(r.Destination), flow)

	if len(r.Hops) > 0 {
		parts := make([]string, len(r.Hops))
		for i, h := range r.Hops {
			parts[i] = h.Name
			if h.Kind == reach.HopPeering {
				parts[i] = "peering " + h.Name
				if h.State != "" {
					parts[i] += " (" + h.State + ")"
				}
			}
		}
		b.WriteString("\nPath: " + strings.Join(parts, " → ") + "\n")
	}

	if len(r.Checks) > 0 {
		b.WriteString("\nChecks:\n")
		var rows [][]string
		for _, c := range r.Checks {
			for i, line := range strings.Split(wrap(c.Detail, reachDetailWidth), "\n") {
				if i == 0 {
					rows = append(rows, []string{c.Name, reach.ShortName(c.Component), c.Result, line})
				} else {
					rows = append(rows, []string{"", "", "", line})
				}
			}
		}
		printTable(&b, []string{"Check", "Component", "Result", "Detail"}, rows)
	}

	if bb := r.BlockedBy; bb != nil {
		fmt.Fprintf(&b, "\nBlocked by: %s — %s\n", bb.Code, bb.Detail)
		if bb.Component != "" {
			fmt.Fprintf(&b, "Component: %s\n", bb.Component)
		}
		if bb.Fix != "" {
			fmt.Fprintf(&b, "Fix: %s\n", bb.Fix)
		}
	}
	if p := r.Probe; p != nil {
		fmt.Fprintf(&b, "\nProbe: %s", p.Outcome)
		if p.ElapsedMS > 0 {
			fmt.Fprintf(&b, " in %.1f ms", p.ElapsedMS)
		}
		switch {
		case p.Agrees == nil:
		case *p.Agrees:
			b.WriteString(", agrees with the verdict")
		default:
			b.WriteString(", DISAGREES with the verdict")
		}
		fmt.Fprintf(&b, " — %s\n", p.Detail)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// reachDetailWidth is where a check's detail wraps in the checks table.
const reachDetailWidth = 72

// inVNet is " (VNet name)" for an endpoint resolved to a VNet, or "".
func inVNet(e reach.Endpoint) string {
	if e.VNetName == "" {
		return ""
	}
	return " (VNet " + e.VNetName + ")"
}
