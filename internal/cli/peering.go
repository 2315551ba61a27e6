package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	networkingv1 "github.com/confluentinc/ccloud-sdk-go-v2/networking/v1"
	"github.com/spf13/cobra"

	"github.com/peerplane/peerplane/internal/control"
)

var peeringResource = envResource{what: "peering", get: (*client).getPeering, fields: peeringFields, phase: peeringPhase,
	del: func(c *client, ctx context.Context, env, id string) (*http.Response, error) {
		return c.net.PeeringsNetworkingV1Api.DeleteNetworkingV1Peering(ctx, id).Environment(env).Execute()
	},
	gone: func(cmd *cobra.Command, c *client, wf waitFlags, env, id string) error {
		_, err := c.waitPeering(cmd, wf, env, id, nil, true)
		return err
	}}

func (c *client) getPeering(ctx context.Context, env, id string) ([]byte, error) {
	_, resp, err := c.net.PeeringsNetworkingV1Api.GetNetworkingV1Peering(c.auth(ctx), id).Environment(env).Execute()
	return c.result(resp, err)
}

func peeringPhase(raw []byte) (string, string, string) {
	p, err := decodeAs[peeringObj](raw)
	if err != nil {
		return "", "", ""
	}
	return p.Status.Phase, p.Status.ErrorCode, p.Status.ErrorMessage
}

func peeringFields(raw []byte) func() [][2]string {
	return func() [][2]string {
		p, err := decodeAs[peeringObj](raw)
		if err != nil {
			return [][2]string{{"Error", err.Error()}}
		}
		return [][2]string{
			{"ID", p.ID}, {"Name", p.Spec.DisplayName}, {"Environment", p.Spec.Environment.ID}, {"Network", p.Spec.Network.ID},
			{"Cloud", "AZURE"}, {"Azure Tenant", p.Spec.Cloud.Tenant}, {"Azure VNet", p.Spec.Cloud.VNet},
			{"Customer Region", p.Spec.Cloud.CustomerRegion},
			{"Phase", p.Status.Phase}, {"Error Code", p.Status.ErrorCode}, {"Error Message", p.Status.ErrorMessage},
			{"Created At", p.Metadata.CreatedAt}, {"Updated At", p.Metadata.UpdatedAt},
		}
	}
}

// peeringReady ends a peering wait: READY, or FAILED/DISCONNECTED.
var peeringReady = untilPhase([]string{"READY"}, "FAILED", "DISCONNECTED")

// waitPeering waits for peering id to be READY (or gone, with gone) and
// returns its last raw object.
func (c *client) waitPeering(cmd *cobra.Command, wf waitFlags, env, id string, raw []byte, gone bool) ([]byte, error) {
	final := peeringReady
	if gone {
		final = untilGone
	}
	st, err := waitFor(cmd.Context(), cmd.ErrOrStderr(), wf.timeout, "peering", id,
		getState(func(ctx context.Context) ([]byte, error) { return c.getPeering(ctx, env, id) }, peeringPhase), final)
	if st.Raw != nil {
		raw = st.Raw
	}
	return raw, err
}

// printAfterWait prints raw, the object as the wait last read it, and
// returns the wait's error: a FAILED or timed-out object is shown, then the
// command fails with its error code and message (and exit status).
func printAfterWait(w io.Writer, out string, raw []byte, fields func([]byte) func() [][2]string, werr error) error {
	if raw != nil {
		if err := printObject(w, out, raw, fields(raw)); err != nil {
			return err
		}
	}
	return werr
}

func (a *app) newPeeringCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "peering",
		Short: "Manage peerings between a network and your Azure VNets",
	}
	var (
		out, env, network, cloud, tenant, vnet, region string
		wf                                             waitFlags
	)
	create := &cobra.Command{
		Use:   "create [NAME]",
		Short: "Peer a network with an Azure VNet",
		Example: `  peerplane network peering create contoso --network n-abc123 --cloud azure \
    --cloud-account 5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01 \
    --virtual-network /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/VNET \
    --customer-region eastus --wait`,
		Args: maxArgs("name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, out); err != nil {
				return err
			}
			if _, err := cloudFlag(cmd, cloud); err != nil {
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
			spec := networkingv1.NewNetworkingV1PeeringSpec()
			if len(args) == 1 {
				spec.SetDisplayName(args[0])
			}
			spec.SetCloud(networkingv1.NetworkingV1AzurePeeringAsNetworkingV1PeeringSpecCloudOneOf(
				networkingv1.NewNetworkingV1AzurePeering("AzurePeering", tenant, vnet, region)))
			spec.SetEnvironment(networkingv1.ObjectReference{Id: env})
			spec.SetNetwork(networkingv1.ObjectReference{Id: network})
			_, resp, err := c.net.PeeringsNetworkingV1Api.CreateNetworkingV1Peering(c.auth(cmd.Context())).
				NetworkingV1Peering(networkingv1.NetworkingV1Peering{Spec: spec}).Execute()
			raw, err := c.result(resp, err)
			if err != nil {
				return err
			}
			if !wf.wait {
				return printObject(cmd.OutOrStdout(), out, raw, peeringFields(raw))
			}
			p, err := decodeAs[peeringObj](raw)
			if err != nil {
				return err
			}
			raw, werr := c.waitPeering(cmd, wf, env, p.ID, raw, false)
			return printAfterWait(cmd.OutOrStdout(), out, raw, peeringFields, werr)
		},
	}
	fs := create.Flags()
	fs.StringVar(&network, "network", "", "network ID (n-…)")
	fs.StringVar(&cloud, "cloud", "", "cloud provider: azure")
	fs.StringVar(&tenant, "cloud-account", "", "your Azure tenant ID")
	fs.StringVar(&vnet, "virtual-network", "", "resource ID of your VNet: /subscriptions/…/resourceGroups/…/providers/Microsoft.Network/virtualNetworks/…")
	fs.StringVar(&region, "customer-region", "", "region of your VNet, e.g. eastus")
	for _, f := range []string{"network", "cloud", "cloud-account", "virtual-network", "customer-region"} {
		_ = create.MarkFlagRequired(f)
	}
	addEnvFlag(create, &env)
	addOutputFlag(create, &out)
	addWaitFlags(create, &wf, "the peering is READY", "FAILED or DISCONNECTED")

	var rwf waitFlags
	retry := &cobra.Command{
		Use:   "retry ID",
		Short: "Retry a FAILED or DISCONNECTED peering now",
		Args:  exactArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, c, err := a.start(cmd, out, env)
			if err != nil {
				return err
			}
			raw, err := c.do(cmd.Context(), http.MethodPost, "/peerplane/v1/peerings/"+url.PathEscape(args[0])+"/retry", url.Values{"environment": {env}}, nil)
			if err != nil {
				return err
			}
			if !rwf.wait {
				return printObject(cmd.OutOrStdout(), out, raw, peeringFields(raw))
			}
			raw, werr := c.waitPeering(cmd, rwf, env, args[0], raw, false)
			return printAfterWait(cmd.OutOrStdout(), out, raw, peeringFields, werr)
		},
	}
	addEnvFlag(retry, &env)
	addOutputFlag(retry, &out)
	addWaitFlags(retry, &rwf, "the peering is READY", "FAILED or DISCONNECTED")

	diagnose := &cobra.Command{
		Use:   "diagnose ID",
		Short: "Check each step of a peering and show how to fix the failing one",
		Args:  exactArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, c, err := a.start(cmd, out, env)
			if err != nil {
				return err
			}
			raw, err := c.do(cmd.Context(), http.MethodGet, "/peerplane/v1/peerings/"+url.PathEscape(args[0])+"/diagnosis", url.Values{"environment": {env}}, nil)
			if err != nil {
				return err
			}
			if out != outHuman {
				return printRaw(cmd.OutOrStdout(), out, raw)
			}
			var p *peeringObj
			if praw, err := c.getPeering(cmd.Context(), env, args[0]); err == nil {
				p, _ = decodeAs[peeringObj](praw)
			}
			return printDiagnosis(cmd.OutOrStdout(), raw, p)
		},
	}
	addEnvFlag(diagnose, &env)
	addOutputFlag(diagnose, &out)

	list := listCmd(a, "List peerings", "only the peerings of this network",
		[]string{"ID", "Name", "Network", "Azure Tenant", "Azure VNet", "Customer Region", "Phase", "Error Code"},
		func(c *client, ctx context.Context, env, network, token string) (*http.Response, error) {
			return networkPage[networkingv1.NetworkingV1PeeringList](c.net.PeeringsNetworkingV1Api.ListNetworkingV1Peerings(ctx).Environment(env).PageSize(listPageSize), network, token)
		},
		func(p *peeringObj) []string {
			return []string{p.ID, p.Spec.DisplayName, p.Spec.Network.ID, p.Spec.Cloud.Tenant,
				vnetShort(p.Spec.Cloud.VNet), p.Spec.Cloud.CustomerRegion, p.Status.Phase, p.Status.ErrorCode}
		})
	cmd.AddCommand(create, list, a.describeCmd(peeringResource, "Describe a peering"),
		a.renameCmd(peeringResource, func(c *client, ctx context.Context, env, id, name string) (*http.Response, error) {
			_, resp, err := c.net.PeeringsNetworkingV1Api.UpdateNetworkingV1Peering(ctx, id).
				NetworkingV1PeeringUpdate(networkingv1.NetworkingV1PeeringUpdate{Spec: &networkingv1.NetworkingV1PeeringSpecUpdate{
					DisplayName: &name, Environment: &networkingv1.ObjectReference{Id: env}}}).Execute()
			return resp, err
		}),
		a.deleteCmd(peeringResource, "Delete a peering (both halves of the Azure peering)", "the peering and both Azure halves are gone"),
		retry, diagnose)
	return cmd
}

// vnetShort is resourceGroup/name of a VNet resource id, for tables.
func vnetShort(id string) string {
	p := strings.Split(strings.Trim(id, "/"), "/")
	if len(p) == 8 {
		return p[3] + "/" + p[7]
	}
	return id
}

// diagnosis is /peerplane/v1/peerings/{id}/diagnosis: the checklist the
// reconciler stored with the peering.
type diagnosis struct {
	PeeringID string `json:"peering_id"`
	Phase     string `json:"phase"`
	CheckedAt string `json:"checked_at"`
	Checks    []struct {
		Step      string `json:"step"`
		Title     string `json:"title"`
		Status    string `json:"status"`
		ErrorCode string `json:"error_code"`
		Evidence  string `json:"evidence"`
		Fix       string `json:"fix"`
	} `json:"checks"`
	Fixes struct {
		ConsentURL           string `json:"consent_url"`
		CreateSPCommand      string `json:"create_service_principal_command"`
		RoleDefinitionList   string `json:"role_definition_list_command"`
		RoleDefinitionCreate string `json:"role_definition_create_command"`
		RoleDefinitionUpdate string `json:"role_definition_update_command"`
		RoleAssignmentCreate string `json:"role_assignment_create_command"`
		TagCommand           string `json:"tag_command"`
	} `json:"fixes"`
}

// printDiagnosis prints the checklist: each step PASS/FAIL with its
// evidence and fix, then the commands that grant access.
func printDiagnosis(w io.Writer, raw []byte, p *peeringObj) error {
	var d diagnosis
	if err := json.Unmarshal(raw, &d); err != nil {
		return fmt.Errorf("the API's diagnosis is not JSON: %w", err)
	}
	var b strings.Builder
	checked := "not checked yet"
	if at, err := time.Parse(time.RFC3339Nano, d.CheckedAt); err == nil {
		checked = "checked " + at.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(&b, "Peering %s is %s (%s).\n\n", d.PeeringID, d.Phase, checked)
	sw := 0
	for _, c := range d.Checks {
		sw = max(sw, width(c.Status))
	}
	indent := strings.Repeat(" ", sw+4)
	failed := false
	for _, c := range d.Checks {
		line := fmt.Sprintf("  %s  %s", pad(c.Status, sw), c.Title)
		if c.ErrorCode != "" {
			line += "  [" + c.ErrorCode + "]"
		}
		b.WriteString(line + "\n")
		if c.Evidence != "" {
			b.WriteString(indentLines(c.Evidence, indent) + "\n")
		}
		if c.Fix != "" {
			b.WriteString(indentLines("Fix: "+c.Fix, indent) + "\n")
		}
		if c.Status == "FAIL" {
			failed = true
		}
	}
	f := d.Fixes
	if (failed || d.Phase != "READY") && f.ConsentURL != "" {
		b.WriteString("\nTo grant the provider access to the VNet (as a tenant administrator):\n")
		steps := [][2]string{
			{"1. Admin consent (open in a browser):", f.ConsentURL},
			{"   or:", f.CreateSPCommand},
			{"2. The custom role. " + control.PeeringRoleAdvice + "\n   Does it exist in the tenant?", f.RoleDefinitionList},
			{"   If not, create it:", f.RoleDefinitionCreate},
			{"   If it does, add this VNet's subscription (and any missing action) to it:", f.RoleDefinitionUpdate},
			{"3. Assign it on the VNet:", f.RoleAssignmentCreate},
			{"4. Tag the VNet:", f.TagCommand},
		}
		for _, s := range steps {
			if s[1] != "" {
				fmt.Fprintf(&b, "  %s\n%s\n", s[0], indentLines(s[1], "      "))
			}
		}
		if p != nil {
			b.WriteString("\nOr with peerplane's az-shaped commands, as an administrator of the tenant:\n")
			for _, l := range peerplaneFixes(d, p) {
				b.WriteString("  " + l + "\n")
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func indentLines(s, indent string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = indent + l
	}
	return strings.Join(lines, "\n")
}

// peerplaneFixes are the diagnosis's fixes as `peerplane azure` commands.
func peerplaneFixes(d diagnosis, p *peeringObj) []string {
	f := d.Fixes
	appID := DefaultProviderAppID
	if u, err := url.Parse(f.ConsentURL); err == nil && u.Query().Get("client_id") != "" {
		appID = u.Query().Get("client_id")
	}
	tenant, vnet := p.Spec.Cloud.Tenant, p.Spec.Cloud.VNet
	tag := p.Spec.Environment.ID
	if _, v, ok := strings.Cut(f.TagCommand, "--tags "+control.EnvTag+"="); ok && strings.TrimSpace(v) != "" {
		tag = strings.TrimSpace(v)
	}
	lines := []string{
		"peerplane azure login --username ADMIN@DOMAIN --tenant " + tenant + "   # password: --password or $PEERPLANE_AZURE_PASSWORD",
		"peerplane azure consent --tenant " + tenant + " --app-id " + appID,
	}
	if i, j := strings.Index(f.RoleDefinitionCreate, "'"), strings.LastIndex(f.RoleDefinitionCreate, "'"); i >= 0 && j > i {
		lines = append(lines, "peerplane azure role definition create --role-definition "+f.RoleDefinitionCreate[i:j+1]+"   # only if the role does not exist yet")
	}
	lines = append(lines,
		fmt.Sprintf("peerplane azure role assignment create --role %q --assignee %s --scope %q", control.PeeringCreatorRole, appID, vnet),
		fmt.Sprintf("peerplane azure vnet tag --ids %q --tags %s=%s --is-incremental", vnet, control.EnvTag, tag),
		"peerplane network peering retry "+p.ID+" --wait",
	)
	return lines
}
