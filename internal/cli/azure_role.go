package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/peerplane/peerplane/internal/azureid"
)

// roleDefinitionIn is az's --role-definition JSON.
type roleDefinitionIn struct {
	Name             string   `json:"Name"`
	RoleName         string   `json:"roleName"`
	Description      string   `json:"Description"`
	Actions          []string `json:"Actions"`
	NotActions       []string `json:"NotActions"`
	DataActions      []string `json:"DataActions"`
	NotDataActions   []string `json:"NotDataActions"`
	AssignableScopes []string `json:"AssignableScopes"`
}

// readJSONArg reads a JSON flag value, or @file.
func readJSONArg(v string) ([]byte, error) {
	if strings.HasPrefix(v, "@") {
		return os.ReadFile(v[1:])
	}
	return []byte(v), nil
}

func (a *app) newAzureRoleCmd() *cobra.Command {
	role := &cobra.Command{Use: "role", Short: "Manage custom roles and role assignments (like az role)"}
	def := &cobra.Command{Use: "definition", Short: "Manage role definitions"}
	asg := &cobra.Command{Use: "assignment", Short: "Manage role assignments"}
	role.AddCommand(def, asg)

	var out, roleDef string
	defCreate := &cobra.Command{
		Use:   "create --role-definition JSON|@FILE",
		Short: "Create a custom role (like az role definition create)",
		Long: `Create a custom role from az's JSON shape: Name, Description, Actions,
NotActions, DataActions, NotDataActions and AssignableScopes. The role is
created at its first assignable scope; a role of the same name there is
updated.`,
		Example: `  peerplane azure role definition create --role-definition '{"Name": "Confluent Cloud Peering Creator",
    "Actions": ["Microsoft.Network/virtualNetworks/read", "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read",
      "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write", "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete",
      "Microsoft.Network/virtualNetworks/peer/action"],
    "AssignableScopes": ["/subscriptions/SUB"]}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, out); err != nil {
				return err
			}
			b, err := readJSONArg(roleDef)
			if err != nil {
				return fmt.Errorf("--role-definition: %w", err)
			}
			var in roleDefinitionIn
			if err := json.Unmarshal(b, &in); err != nil {
				return usageError(cmd, "--role-definition is not JSON: %v", err)
			}
			name := in.Name
			if name == "" {
				name = in.RoleName
			}
			switch {
			case name == "":
				return usageError(cmd, "--role-definition needs a Name")
			case len(in.AssignableScopes) == 0:
				return usageError(cmd, "--role-definition needs AssignableScopes, e.g. [\"/subscriptions/SUB\"]")
			case len(in.Actions) == 0 && len(in.DataActions) == 0:
				return usageError(cmd, "--role-definition needs Actions")
			}
			_, t, cred, err := a.azureSession()
			if err != nil {
				return err
			}
			rc, err := armauthorization.NewRoleDefinitionsClient(cred, t.armOptions())
			if err != nil {
				return err
			}
			scope := in.AssignableScopes[0]
			id := uuid.NewString()
			if existing, err := findRole(cmd, rc, scope, name); err == nil && existing != nil && existing.Name != nil {
				id = *existing.Name
				fmt.Fprintf(cmd.ErrOrStderr(), "Updating the existing role %q (%s).\n", name, id)
			}
			res, err := rc.CreateOrUpdate(cmd.Context(), scope, id, armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
				RoleName:         to.Ptr(name),
				Description:      to.Ptr(in.Description),
				RoleType:         to.Ptr("CustomRole"),
				AssignableScopes: to.SliceOfPtrs(in.AssignableScopes...),
				Permissions: []*armauthorization.Permission{{
					Actions: to.SliceOfPtrs(in.Actions...), NotActions: to.SliceOfPtrs(in.NotActions...),
					DataActions: to.SliceOfPtrs(in.DataActions...), NotDataActions: to.SliceOfPtrs(in.NotDataActions...),
				}},
			}}, nil)
			if err != nil {
				return azureError(err)
			}
			return printAzure(cmd.OutOrStdout(), out, res.RoleDefinition)
		},
	}
	defCreate.Flags().StringVar(&roleDef, "role-definition", "", "the role as JSON, or @file")
	_ = defCreate.MarkFlagRequired("role-definition")
	addAzureOutputFlag(defCreate, &out)
	def.AddCommand(defCreate)

	var roleName, assignee, scope string
	asgCreate := &cobra.Command{
		Use:   "create --role ROLE --assignee PRINCIPAL --scope SCOPE",
		Short: "Assign a role (like az role assignment create)",
		Long: `Assign a role to a principal at a scope. --role is a role name, a role
definition GUID or its resource id; --assignee a service principal's app id
(the provider app's, once consented), an object id, or a user name.`,
		Example: `  peerplane azure role assignment create --role "Confluent Cloud Peering Creator" \
    --assignee f0955e3a-9013-4cf4-a1ea-21587621c9cc --scope /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/VNET`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cmd, out); err != nil {
				return err
			}
			p := strings.Split(strings.Trim(scope, "/"), "/")
			if len(p) < 2 || !strings.EqualFold(p[0], "subscriptions") || !azureid.IsGUID(p[1]) {
				return usageError(cmd, "--scope %q: want /subscriptions/SUB[/resourceGroups/RG[/providers/…]]", scope)
			}
			sub := p[1]
			_, t, cred, err := a.azureSession()
			if err != nil {
				return err
			}
			rc, err := armauthorization.NewRoleDefinitionsClient(cred, t.armOptions())
			if err != nil {
				return err
			}
			var roleID string
			switch {
			case strings.Contains(roleName, "/providers/Microsoft.Authorization/roleDefinitions/"):
				roleID = roleName
			case azureid.IsGUID(roleName):
				roleID = "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/" + roleName
			default:
				r, err := findRole(cmd, rc, scope, roleName)
				if err != nil {
					return err
				}
				if r == nil || r.ID == nil {
					return fmt.Errorf("role %q doesn't exist at scope %s: create it with `peerplane azure role definition create`", roleName, scope)
				}
				roleID = *r.ID
			}
			principalID, principalType, err := resolveAssignee(cmd, t, cred, assignee)
			if err != nil {
				return err
			}
			ac, err := armauthorization.NewRoleAssignmentsClient(sub, cred, t.armOptions())
			if err != nil {
				return err
			}
			props := &armauthorization.RoleAssignmentProperties{RoleDefinitionID: to.Ptr(roleID), PrincipalID: to.Ptr(principalID)}
			if principalType != "" {
				props.PrincipalType = to.Ptr(armauthorization.PrincipalType(principalType))
			}
			res, err := ac.Create(cmd.Context(), scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: props}, nil)
			if err != nil {
				var re *azcore.ResponseError
				if errors.As(err, &re) && re.ErrorCode == "RoleAssignmentExists" {
					fmt.Fprintf(cmd.ErrOrStderr(), "The role assignment already exists.\n")
					return nil
				}
				return azureError(err)
			}
			return printAzure(cmd.OutOrStdout(), out, res.RoleAssignment)
		},
	}
	asgCreate.Flags().StringVar(&roleName, "role", "", "role name, role definition GUID or id")
	asgCreate.Flags().StringVar(&assignee, "assignee", "", "app id, object id or user name of the principal")
	asgCreate.Flags().StringVar(&scope, "scope", "", "scope: a subscription, resource group or resource id")
	for _, f := range []string{"role", "assignee", "scope"} {
		_ = asgCreate.MarkFlagRequired(f)
	}
	addAzureOutputFlag(asgCreate, &out)
	asg.AddCommand(asgCreate)
	return role
}

// findRole returns the role named name assignable at scope, or nil.
func findRole(cmd *cobra.Command, rc *armauthorization.RoleDefinitionsClient, scope, name string) (*armauthorization.RoleDefinition, error) {
	pager := rc.NewListPager(scope, &armauthorization.RoleDefinitionsClientListOptions{Filter: to.Ptr("roleName eq '" + strings.ReplaceAll(name, "'", "''") + "'")})
	for pager.More() {
		page, err := pager.NextPage(cmd.Context())
		if err != nil {
			return nil, azureError(err)
		}
		for _, r := range page.Value {
			if r.Properties != nil && r.Properties.RoleName != nil && strings.EqualFold(*r.Properties.RoleName, name) {
				return r, nil
			}
		}
	}
	return nil, nil
}

// resolveAssignee turns --assignee into an object id and principal type,
// as az does: a service principal's app id, a user name, or an object id.
func resolveAssignee(cmd *cobra.Command, t *azureTarget, cred azcore.TokenCredential, assignee string) (string, string, error) {
	var list struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	q := func(s string) string { return strings.ReplaceAll(s, "'", "''") }
	if strings.Contains(assignee, "@") {
		if _, err := t.graph(cmd.Context(), cred, http.MethodGet, "users?$filter="+url.QueryEscape("userPrincipalName eq '"+q(assignee)+"'"), nil, &list); err != nil {
			return "", "", err
		}
		if len(list.Value) == 0 {
			return "", "", fmt.Errorf("no user %q in the tenant", assignee)
		}
		return list.Value[0].ID, "User", nil
	}
	if !azureid.IsGUID(assignee) {
		return "", "", fmt.Errorf("--assignee %q: want an app id, an object id or a user name", assignee)
	}
	if _, err := t.graph(cmd.Context(), cred, http.MethodGet, "servicePrincipals?$filter="+url.QueryEscape("appId eq '"+assignee+"'"), nil, &list); err != nil {
		return "", "", err
	}
	if len(list.Value) > 0 {
		return list.Value[0].ID, "ServicePrincipal", nil
	}
	return assignee, "", nil
}
