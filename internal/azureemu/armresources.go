package azureemu

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"github.com/peerplane/peerplane/internal/azureid"
)

// Subscriptions, tenants, locations, resource providers and resource groups.

// azureRegions maps Azure's region names to their display names.
var azureRegions = map[string]string{
	"eastus": "East US", "eastus2": "East US 2", "southcentralus": "South Central US", "westus2": "West US 2",
	"westus3": "West US 3", "australiaeast": "Australia East", "southeastasia": "Southeast Asia",
	"northeurope": "North Europe", "swedencentral": "Sweden Central", "uksouth": "UK South",
	"westeurope": "West Europe", "centralus": "Central US", "southafricanorth": "South Africa North",
	"centralindia": "Central India", "eastasia": "East Asia", "japaneast": "Japan East",
	"koreacentral": "Korea Central", "canadacentral": "Canada Central", "francecentral": "France Central",
	"germanywestcentral": "Germany West Central", "italynorth": "Italy North", "norwayeast": "Norway East",
	"polandcentral": "Poland Central", "spaincentral": "Spain Central", "switzerlandnorth": "Switzerland North",
	"mexicocentral": "Mexico Central", "uaenorth": "UAE North", "brazilsouth": "Brazil South",
	"israelcentral": "Israel Central", "qatarcentral": "Qatar Central", "northcentralus": "North Central US",
	"westus": "West US", "westcentralus": "West Central US", "japanwest": "Japan West",
	"koreasouth": "Korea South", "southindia": "South India", "westindia": "West India",
	"canadaeast": "Canada East", "francesouth": "France South", "germanynorth": "Germany North",
	"norwaywest": "Norway West", "switzerlandwest": "Switzerland West", "ukwest": "UK West",
	"uaecentral": "UAE Central", "brazilsoutheast": "Brazil Southeast", "australiasoutheast": "Australia Southeast",
	"australiacentral": "Australia Central", "australiacentral2": "Australia Central 2",
	"southafricawest": "South Africa West", "newzealandnorth": "New Zealand North",
	"indonesiacentral": "Indonesia Central", "malaysiawest": "Malaysia West", "chilecentral": "Chile Central",
	"austriaeast": "Austria East", "belgiumcentral": "Belgium Central", "denmarkeast": "Denmark East",
	"swedensouth": "Sweden South", "jioindiawest": "Jio India West", "jioindiacentral": "Jio India Central",
}

// NormalizeLocation returns Azure's name for a region given as a name or a
// display name ("East US" → "eastus"), and whether it is a known region.
func NormalizeLocation(loc string) (string, bool) {
	n := lower(strings.ReplaceAll(strings.TrimSpace(loc), " ", ""))
	_, ok := azureRegions[n]
	return n, ok
}

func regionList() string {
	names := make([]string, 0, len(azureRegions))
	for n := range azureRegions {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func checkLocation(loc, resourceType string) (string, error) {
	if strings.TrimSpace(loc) == "" {
		return "", errorf(400, "LocationRequired", "The location property is required for this definition.")
	}
	n, ok := NormalizeLocation(loc)
	if !ok {
		if resourceType == "" {
			return "", errorf(400, "LocationNotAvailableForResourceGroup", "The provided location '%s' is not available for resource group. List of available regions is '%s'.", loc, regionList())
		}
		return "", errorf(400, "LocationNotAvailableForResourceType", "The provided location '%s' is not available for resource type '%s'. List of available regions for the resource type is '%s'.", loc, resourceType, regionList())
	}
	return n, nil
}

// ValidateResourceGroupName applies Azure's rule (azureid.IsResourceGroupName):
// 1–90 letters, digits, underscores, hyphens, periods and parentheses, not
// ending in a period. Returns ARM's InvalidResourceGroupName otherwise.
func ValidateResourceGroupName(name string) error {
	if !azureid.IsResourceGroupName(name) {
		return errorf(400, "InvalidResourceGroupName", "Resource group name '%s' is invalid (field 'resourceGroupName'). It must be 1 to 90 characters of letters, digits, underscores, hyphens, periods and parentheses, and cannot end with a period.", name)
	}
	return nil
}

func (e *Emulator) serveTenants(q *armReq) error {
	if q.r.Method != http.MethodGet {
		return armMethodNotAllowed(q)
	}
	var out []map[string]any
	e.view(func(s *state) {
		if t := s.tenants[lower(q.c.TenantID)]; t != nil {
			out = append(out, map[string]any{
				"id": "/tenants/" + t.ID, "tenantId": t.ID, "countryCode": "US", "displayName": t.DisplayName,
				"domains": []string{t.DefaultDomain}, "tenantCategory": "Home", "defaultDomain": t.DefaultDomain,
				"tenantType": "AAD",
			})
		}
	})
	armList(q.w, out)
	return nil
}

func subscriptionJSON(sub *Subscription) map[string]any {
	return map[string]any{
		"id": "/subscriptions/" + sub.ID, "authorizationSource": "RoleBased", "managedByTenants": []any{},
		"subscriptionId": sub.ID, "tenantId": sub.TenantID, "displayName": sub.DisplayName, "state": sub.State,
		"subscriptionPolicies": map[string]string{"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
		"tags":                 map[string]string{},
	}
}

// serveSubscriptionList lists the subscriptions of the caller's tenant in
// which it has a role assignment, as ARM does.
func (e *Emulator) serveSubscriptionList(q *armReq) error {
	if q.r.Method != http.MethodGet {
		return armMethodNotAllowed(q)
	}
	var out []map[string]any
	e.view(func(s *state) {
		var subs []*Subscription
		for _, sub := range s.subsOf[lower(q.c.TenantID)] {
			if s.hasAnyAssignmentIn(q.c.ObjectID, "/subscriptions/"+sub.ID) {
				subs = append(subs, sub)
			}
		}
		sort.Slice(subs, func(i, j int) bool { return subs[i].ID < subs[j].ID })
		for _, sub := range subs {
			out = append(out, subscriptionJSON(sub))
		}
	})
	armList(q.w, out)
	return nil
}

func (e *Emulator) serveSubscription(q *armReq, subID string) error {
	if q.r.Method != http.MethodGet {
		return armMethodNotAllowed(q)
	}
	var body map[string]any
	var err error
	e.view(func(s *state) {
		var sub *Subscription
		if sub, err = checkSubscription(s, q.c, subID); err != nil {
			return
		}
		if !s.hasAnyAssignmentIn(q.c.ObjectID, "/subscriptions/"+sub.ID) {
			err = authorize(s, q.c, actSubRead, q.path(2))
			return
		}
		body = subscriptionJSON(sub)
	})
	if err != nil {
		return err
	}
	writeJSON(q.w, http.StatusOK, body)
	return nil
}

func (e *Emulator) serveLocations(q *armReq, subID string) error {
	if q.r.Method != http.MethodGet {
		return armMethodNotAllowed(q)
	}
	var err error
	e.view(func(s *state) { _, err = checkSubscription(s, q.c, subID) })
	if err != nil {
		return err
	}
	names := strings.Split(regionList(), ",")
	out := make([]map[string]any, 0, len(names))
	for _, n := range names {
		out = append(out, map[string]any{"id": "/subscriptions/" + subID + "/locations/" + n, "name": n,
			"displayName": azureRegions[n], "regionalDisplayName": azureRegions[n], "type": "Region",
			"metadata": map[string]any{"regionType": "Physical", "regionCategory": "Recommended"}})
	}
	armList(q.w, out)
	return nil
}

// providerJSON describes a resource provider minimally, always Registered:
// the emulator never answers MissingSubscriptionRegistration.
func providerJSON(subID, ns string) map[string]any {
	id := "/providers/" + ns
	if subID != "" {
		id = "/subscriptions/" + subID + id
	}
	var types []map[string]any
	locs := []string{}
	for _, n := range strings.Split(regionList(), ",") {
		locs = append(locs, azureRegions[n])
	}
	switch lower(ns) {
	case "microsoft.network":
		ns = "Microsoft.Network"
		for _, t := range []string{"virtualNetworks", "virtualNetworks/virtualNetworkPeerings", "virtualNetworks/subnets", "networkSecurityGroups", "networkSecurityGroups/securityRules", "locations", "locations/operations", "locations/operationResults"} {
			types = append(types, map[string]any{"resourceType": t, "locations": locs, "apiVersions": []string{"2024-05-01", "2023-09-01", "2022-01-01", "2021-08-01", "2020-11-01"}})
		}
	case "microsoft.authorization":
		ns = "Microsoft.Authorization"
		for _, t := range []string{"roleAssignments", "roleDefinitions"} {
			types = append(types, map[string]any{"resourceType": t, "locations": []string{}, "apiVersions": []string{"2022-04-01", "2018-01-01-preview", "2015-07-01"}})
		}
	case "microsoft.resources":
		ns = "Microsoft.Resources"
		types = append(types, map[string]any{"resourceType": "resourceGroups", "locations": locs, "apiVersions": []string{"2022-09-01", "2021-04-01"}})
	}
	if types == nil {
		types = []map[string]any{}
	}
	return map[string]any{"id": id, "namespace": ns, "registrationState": "Registered", "registrationPolicy": "RegistrationRequired", "resourceTypes": types}
}

var knownProviders = []string{"Microsoft.Authorization", "Microsoft.Network", "Microsoft.Resources"}

func (e *Emulator) serveProviders(q *armReq, subID, ns string) error {
	if q.r.Method != http.MethodGet && !(q.r.Method == http.MethodPost && ns != "") {
		return armMethodNotAllowed(q)
	}
	if subID != "" {
		var err error
		e.view(func(s *state) { _, err = checkSubscription(s, q.c, subID) })
		if err != nil {
			return err
		}
	}
	if ns == "" {
		var out []map[string]any
		for _, p := range knownProviders {
			out = append(out, providerJSON(subID, p))
		}
		armList(q.w, out)
		return nil
	}
	writeJSON(q.w, http.StatusOK, providerJSON(subID, ns))
	return nil
}

// Resource groups.

func rgID(subID, name string) string { return "/subscriptions/" + subID + "/resourceGroups/" + name }

func rgJSON(rg *ResourceGroup) map[string]any {
	return map[string]any{"id": rg.ID, "name": rg.Name, "type": "Microsoft.Resources/resourceGroups",
		"location": rg.Location, "tags": armTagsOut(rg.Tags), "properties": map[string]string{"provisioningState": "Succeeded"}}
}

func (e *Emulator) serveResourceGroupList(q *armReq, subID string) error {
	return e.armListIn(q, subID, func(s *state) ([]map[string]any, error) {
		var rgs []*ResourceGroup
		for _, rg := range s.rgsIn[lower(subID)] {
			if s.allowed(q.c.ObjectID, actRGRead, rg.ID) {
				rgs = append(rgs, rg)
			}
		}
		if len(rgs) == 0 {
			err := authorize(s, q.c, actRGRead, q.path(2))
			if err != nil && !s.hasAnyAssignmentIn(q.c.ObjectID, q.path(2)) {
				return nil, err
			}
			// ARM lists what the caller can see.
		}
		sort.Slice(rgs, func(i, j int) bool { return lower(rgs[i].Name) < lower(rgs[j].Name) })
		var out []map[string]any
		for _, rg := range rgs {
			out = append(out, rgJSON(rg))
		}
		return out, nil
	})
}

func rgNotFound(name string) error {
	return errorf(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", name)
}

func (e *Emulator) serveResourceGroup(q *armReq, subID, name string) error {
	scope := q.path(4)
	ctx := q.r.Context()
	switch q.r.Method {
	case http.MethodGet, http.MethodHead:
		var body map[string]any
		err := e.armView(q, subID, actRGRead, scope, func(s *state) error {
			rg := s.rgs[lower(rgID(subID, name))]
			if rg == nil {
				return rgNotFound(name)
			}
			body = rgJSON(rg)
			return nil
		})
		if q.r.Method == http.MethodHead {
			switch {
			case err == nil:
				q.w.WriteHeader(http.StatusNoContent)
			default:
				var ee *Error
				if armAsError(err, &ee) {
					q.w.WriteHeader(ee.Status)
				} else {
					q.w.WriteHeader(http.StatusInternalServerError)
				}
			}
			return nil
		}
		if err != nil {
			return err
		}
		writeJSON(q.w, http.StatusOK, body)
		return nil
	case http.MethodPut, http.MethodPatch:
		var in struct {
			Location *string            `json:"location"`
			Tags     *map[string]string `json:"tags"`
		}
		if err := decodeARM(q, &in); err != nil {
			return err
		}
		var out *ResourceGroup
		var created bool
		err := e.update(ctx, func(t *txn) error {
			if _, err := checkSubscription(t.s, q.c, subID); err != nil {
				return err
			}
			if err := authorize(t.s, q.c, actRGWrite, scope); err != nil {
				return err
			}
			if q.r.Method == http.MethodPatch {
				rg := t.s.rgs[lower(rgID(subID, name))]
				if rg == nil {
					return rgNotFound(name)
				}
				if in.Tags != nil {
					if err := validateTags(*in.Tags); err != nil {
						return err
					}
					rg.Tags = armCopyTags(*in.Tags)
				}
				t.put(KindResourceGroup, rg.ID, rg)
				out = rg
				return nil
			}
			loc := ""
			if in.Location != nil {
				loc = *in.Location
			}
			var tags map[string]string
			if in.Tags != nil {
				tags = *in.Tags
			}
			var err error
			out, created, err = e.putResourceGroupTx(t, subID, name, loc, tags)
			return err
		})
		if err != nil {
			return err
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		writeJSON(q.w, status, rgJSON(out))
		return nil
	case http.MethodDelete:
		found := false
		err := e.update(ctx, func(t *txn) error {
			if _, err := checkSubscription(t.s, q.c, subID); err != nil {
				return err
			}
			if err := authorize(t.s, q.c, actRGDelete, scope); err != nil {
				return err
			}
			rg := t.s.rgs[lower(rgID(subID, name))]
			if rg == nil {
				return nil
			}
			found = true
			e.deleteResourceGroupTx(t, rg)
			return nil
		})
		if err != nil {
			return err
		}
		if !found {
			q.w.WriteHeader(http.StatusNoContent)
			return nil
		}
		q.w.WriteHeader(http.StatusOK)
		return nil
	}
	return armMethodNotAllowed(q)
}

func armAsError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}

// putResourceGroupTx creates or updates a resource group after validating
// its name, location and tags.
func (e *Emulator) putResourceGroupTx(t *txn, subID, name, location string, tags map[string]string) (*ResourceGroup, bool, error) {
	sub := t.s.subs[lower(subID)]
	if sub == nil {
		return nil, false, errorf(http.StatusNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", subID)
	}
	if err := ValidateResourceGroupName(name); err != nil {
		return nil, false, err
	}
	loc, err := checkLocation(location, "")
	if err != nil {
		return nil, false, err
	}
	if err := validateTags(tags); err != nil {
		return nil, false, err
	}
	id := rgID(sub.ID, name)
	rg := t.s.rgs[lower(id)]
	created := rg == nil
	if rg == nil {
		rg = &ResourceGroup{ID: id, SubscriptionID: sub.ID, Name: name, Location: loc}
		t.s.rgs[lower(id)] = rg
	} else if rg.Location != loc {
		return nil, false, errorf(http.StatusConflict, "InvalidResourceGroupLocation", "Invalid resource group location '%s'. The Resource group already exists in location '%s'.", location, rg.Location)
	}
	rg.Tags = armCopyTags(tags)
	t.put(KindResourceGroup, rg.ID, rg)
	return rg, created, nil
}

// deleteResourceGroupTx deletes a resource group and everything in it.
func (e *Emulator) deleteResourceGroupTx(t *txn, rg *ResourceGroup) {
	for _, v := range t.s.vnetsIn.sortedValues(lower(rg.ID)) {
		e.deleteVNetTx(t, v)
	}
	for _, n := range t.s.nsgsIn.sortedValues(lower(rg.ID)) {
		delete(t.s.nsgs, lower(n.ID))
		t.del(KindNSG, n.ID)
		t.emit(KindNSG, n.ID, Event{Type: EventNSG, TenantID: t.s.subTenant(n.SubscriptionID), ResourceID: n.ID})
	}
	delete(t.s.rgs, lower(rg.ID))
	t.del(KindResourceGroup, rg.ID)
}

func (s *state) subTenant(subID string) string {
	if sub := s.subs[lower(subID)]; sub != nil {
		return sub.TenantID
	}
	return ""
}

// PutResourceGroup creates or updates a resource group as the operator
// (no RBAC), with the same validation as ARM's PUT.
func (e *Emulator) PutResourceGroup(ctx context.Context, subscriptionID, name, location string, tags map[string]string) (*ResourceGroup, error) {
	var out ResourceGroup
	err := e.update(ctx, func(t *txn) error {
		rg, _, err := e.putResourceGroupTx(t, subscriptionID, name, location, tags)
		if err == nil {
			out = *rg
			out.Tags = armCopyTags(rg.Tags)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteResourceGroup deletes a resource group and everything in it as the
// operator (no RBAC). Deleting a missing group is not an error.
func (e *Emulator) DeleteResourceGroup(ctx context.Context, subscriptionID, name string) error {
	return e.update(ctx, func(t *txn) error {
		if rg := t.s.rgs[lower(rgID(subscriptionID, name))]; rg != nil {
			e.deleteResourceGroupTx(t, rg)
		}
		return nil
	})
}
