package cli

import (
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/spf13/cobra"

	"github.com/peerplane/peerplane/internal/azureid"
)

// vnetRef is a VNet named by --ids or by --subscription, --resource-group
// and --name.
type vnetRef struct {
	ids, subscription, group, name string
}

func (v *vnetRef) addFlags(cmd *cobra.Command, withIDs bool) {
	fs := cmd.Flags()
	if withIDs {
		fs.StringVar(&v.ids, "ids", "", "the VNet's resource id (instead of --subscription, --resource-group and --name)")
	}
	fs.StringVar(&v.subscription, "subscription", "", "subscription id (default: the only one of the signed-in user)")
	fs.StringVarP(&v.group, "resource-group", "g", "", "resource group")
	fs.StringVarP(&v.name, "name", "n", "", "VNet name")
}

// resolve returns subscription, resource group and name.
func (v *vnetRef) resolve(cmd *cobra.Command, defaultSub func() (string, error)) (string, string, string, error) {
	if v.ids != "" {
		// Slashes around the id are forgiven.
		id, err := azureid.ParseVNetID("/" + strings.Trim(v.ids, "/"))
		if err != nil {
			return "", "", "", usageError(cmd, "--ids %q is not a VNet resource id (/subscriptions/…/resourceGroups/…/providers/Microsoft.Network/virtualNetworks/…)", v.ids)
		}
		return id.SubscriptionID, id.ResourceGroup, id.Name, nil
	}
	if v.group == "" || v.name == "" {
		return "", "", "", usageError(cmd, "pass --ids, or --resource-group and --name")
	}
	sub := v.subscription
	if sub == "" {
		s, err := defaultSub()
		if err != nil {
			return "", "", "", err
		}
		sub = s
	}
	return sub, v.group, v.name, nil
}

// defaultSubscription returns the signed-in user's only subscription.
func (a *app) defaultSubscription(cmd *cobra.Command, t *azureTarget, c azcore.TokenCredential) func() (string, error) {
	return func() (string, error) {
		var list struct {
			Value []struct {
				SubscriptionID string `json:"subscriptionId"`
			} `json:"value"`
		}
		if err := armGet(cmd.Context(), t, c, "/subscriptions", &list); err != nil {
			return "", err
		}
		switch len(list.Value) {
		case 1:
			return list.Value[0].SubscriptionID, nil
		case 0:
			return "", fmt.Errorf("the signed-in user sees no subscription; pass --subscription")
		}
		return "", fmt.Errorf("the signed-in user sees %d subscriptions; pass --subscription", len(list.Value))
	}
}

// vnetSession begins a vnet command: it checks -o, signs in from the saved
// session and resolves ref, returning a VNets client in its subscription.
type vnetSession struct {
	t      *azureTarget
	cred   azcore.TokenCredential
	vc     *armnetwork.VirtualNetworksClient
	sub    string
	rg, vn string
}

func (a *app) vnetSession(cmd *cobra.Command, ref *vnetRef, out string) (*vnetSession, error) {
	if err := checkOutput(cmd, out); err != nil {
		return nil, err
	}
	_, t, cred, err := a.azureSession()
	if err != nil {
		return nil, err
	}
	sub, rg, name, err := ref.resolve(cmd, a.defaultSubscription(cmd, t, cred))
	if err != nil {
		return nil, err
	}
	vc, err := armnetwork.NewVirtualNetworksClient(sub, cred, t.armOptions())
	if err != nil {
		return nil, err
	}
	return &vnetSession{t: t, cred: cred, vc: vc, sub: sub, rg: rg, vn: name}, nil
}

// put creates or replaces the VNet and waits for the operation.
//
// The poller waits as long as Azure's Retry-After-Ms or Retry-After header
// says (the embedded Azure says 1 ms; real Azure some seconds), and only
// without one for the SDK's default. azcore refuses a frequency under one
// second outside a test binary, so none is set here.
func (v *vnetSession) put(cmd *cobra.Command, vnet armnetwork.VirtualNetwork) (armnetwork.VirtualNetwork, error) {
	poller, err := v.vc.BeginCreateOrUpdate(cmd.Context(), v.rg, v.vn, vnet, nil)
	if err != nil {
		return vnet, azureError(err)
	}
	res, err := poller.PollUntilDone(cmd.Context(), nil)
	if err != nil {
		return vnet, azureError(err)
	}
	return res.VirtualNetwork, nil
}

func (a *app) newAzureVNetCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "vnet", Short: "Manage your virtual networks (like az network vnet)"}

	var (
		ref      vnetRef
		out      string
		location string
		prefixes []string
	)
	create := &cobra.Command{
		Use:     "create --resource-group RG --name NAME --address-prefixes CIDR [--location L]",
		Short:   "Create or update a VNet",
		Example: `  peerplane azure vnet create -g contoso-network -n apps-vnet --address-prefixes 10.2.0.0/16 --location eastus`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := a.vnetSession(cmd, &ref, out)
			if err != nil {
				return err
			}
			if location == "" {
				var group struct {
					Location string `json:"location"`
				}
				if err := armGet(cmd.Context(), v.t, v.cred, "/subscriptions/"+v.sub+"/resourceGroups/"+v.rg, &group); err != nil {
					return err
				}
				location = group.Location
			}
			res, err := v.put(cmd, armnetwork.VirtualNetwork{
				Location:   to.Ptr(location),
				Properties: &armnetwork.VirtualNetworkPropertiesFormat{AddressSpace: &armnetwork.AddressSpace{AddressPrefixes: to.SliceOfPtrs(prefixes...)}},
			})
			if err != nil {
				return err
			}
			return printAzure(cmd.OutOrStdout(), out, res)
		},
	}
	ref.addFlags(create, false)
	create.Flags().StringVarP(&location, "location", "l", "", "region (default: the resource group's)")
	create.Flags().StringSliceVar(&prefixes, "address-prefixes", []string{"10.0.0.0/16"}, "address prefixes")
	addAzureOutputFlag(create, &out)

	show := &cobra.Command{
		Use:   "show (--ids ID | --resource-group RG --name NAME)",
		Short: "Show a VNet",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := a.vnetSession(cmd, &ref, out)
			if err != nil {
				return err
			}
			res, err := v.vc.Get(cmd.Context(), v.rg, v.vn, nil)
			if err != nil {
				return azureError(err)
			}
			return printAzure(cmd.OutOrStdout(), out, res.VirtualNetwork)
		},
	}
	ref.addFlags(show, true)
	addAzureOutputFlag(show, &out)

	var (
		tags        []string
		incremental bool
	)
	tag := &cobra.Command{
		Use:   "tag (--ids ID | --resource-group RG --name NAME) --tags KEY=VALUE... [--is-incremental]",
		Short: "Tag a VNet (like az resource tag)",
		Long: `Set a VNet's tags, as ` + "`az resource tag`" + ` does: --tags replaces them all, and
with --is-incremental only the keys given change. The provider reads the
ConfluentEnvIDs tag: a comma-separated list of the environments allowed to
peer with the VNet.`,
		Example: `  peerplane azure vnet tag --ids /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/VNET \
    --tags ConfluentEnvIDs=env-abc123 --is-incremental`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(tags) == 0 {
				return usageError(cmd, "pass --tags KEY=VALUE")
			}
			want := map[string]string{}
			for _, kv := range tags {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError(cmd, "invalid argument %q for \"--tags\" flag: want KEY=VALUE", kv)
				}
				want[k] = v
			}
			v, err := a.vnetSession(cmd, &ref, out)
			if err != nil {
				return err
			}
			next := map[string]*string{}
			if incremental {
				cur, err := v.vc.Get(cmd.Context(), v.rg, v.vn, nil)
				if err != nil {
					return azureError(err)
				}
				for k, v := range cur.Tags {
					next[k] = v
				}
			}
			for k, v := range want {
				for old := range next {
					if strings.EqualFold(old, k) {
						delete(next, old)
					}
				}
				next[k] = to.Ptr(v)
			}
			res, err := v.vc.UpdateTags(cmd.Context(), v.rg, v.vn, armnetwork.TagsObject{Tags: next}, nil)
			if err != nil {
				return azureError(err)
			}
			return printAzure(cmd.OutOrStdout(), out, res.VirtualNetwork)
		},
	}
	ref.addFlags(tag, true)
	tag.Flags().StringArrayVar(&tags, "tags", nil, "a tag as KEY=VALUE; repeat the flag for several")
	tag.Flags().BoolVar(&incremental, "is-incremental", false, "keep the other tags")
	addAzureOutputFlag(tag, &out)

	var newPrefixes []string
	update := &cobra.Command{
		Use:   "update (--ids ID | --resource-group RG --name NAME) --address-prefixes CIDR[,CIDR…]",
		Short: "Change a VNet's address space (like az network vnet update)",
		Long: `Replace a VNet's address prefixes, keeping its subnets, tags and peerings.
Peerings then report the remote address space out of sync until the provider
syncs its half (Peerplane does it on its own); a prefix that overlaps the
network's CIDR fails the peering instead.`,
		Example: `  peerplane azure vnet update -g contoso-network -n contoso-vnet --address-prefixes 10.1.0.0/16,10.3.0.0/16`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(newPrefixes) == 0 {
				return usageError(cmd, "pass --address-prefixes")
			}
			v, err := a.vnetSession(cmd, &ref, out)
			if err != nil {
				return err
			}
			cur, err := v.vc.Get(cmd.Context(), v.rg, v.vn, nil)
			if err != nil {
				return azureError(err)
			}
			vnet := cur.VirtualNetwork
			if vnet.Properties == nil {
				vnet.Properties = &armnetwork.VirtualNetworkPropertiesFormat{}
			}
			vnet.Properties.AddressSpace = &armnetwork.AddressSpace{AddressPrefixes: to.SliceOfPtrs(newPrefixes...)}
			res, err := v.put(cmd, vnet)
			if err != nil {
				return err
			}
			return printAzure(cmd.OutOrStdout(), out, res)
		},
	}
	ref.addFlags(update, true)
	update.Flags().StringSliceVar(&newPrefixes, "address-prefixes", nil, "the new address prefixes (all of them)")
	addAzureOutputFlag(update, &out)

	cmd.AddCommand(create, show, update, tag)
	return cmd
}
