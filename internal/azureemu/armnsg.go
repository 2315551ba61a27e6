package azureemu

import (
	"net/http"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Microsoft.Network/networkSecurityGroups and their security rules.

type rulePropsIn struct {
	Description                *string  `json:"description"`
	Protocol                   *string  `json:"protocol"`
	SourcePortRange            *string  `json:"sourcePortRange"`
	SourcePortRanges           []string `json:"sourcePortRanges"`
	DestinationPortRange       *string  `json:"destinationPortRange"`
	DestinationPortRanges      []string `json:"destinationPortRanges"`
	SourceAddressPrefix        *string  `json:"sourceAddressPrefix"`
	SourceAddressPrefixes      []string `json:"sourceAddressPrefixes"`
	DestinationAddressPrefix   *string  `json:"destinationAddressPrefix"`
	DestinationAddressPrefixes []string `json:"destinationAddressPrefixes"`
	Access                     *string  `json:"access"`
	Priority                   *int32   `json:"priority"`
	Direction                  *string  `json:"direction"`
}

type ruleIn struct {
	Name       *string      `json:"name"`
	Properties *rulePropsIn `json:"properties"`
}

type nsgIn struct {
	Location   *string           `json:"location"`
	Tags       map[string]string `json:"tags"`
	Properties *struct {
		SecurityRules []ruleIn `json:"securityRules"`
	} `json:"properties"`
}

func armCanonical(v *string, allowed ...string) (string, bool) {
	if v == nil {
		return "", false
	}
	for _, a := range allowed {
		if strings.EqualFold(*v, a) {
			return a, true
		}
	}
	return "", false
}

func armMergeOne(one *string, many []string) []string {
	var out []string
	if one != nil && *one != "" {
		out = append(out, *one)
	}
	return append(out, many...)
}

var serviceTagRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9.]*$`)

func validPortRange(p string) bool {
	if p == "*" {
		return true
	}
	lo, hi, isRange := strings.Cut(p, "-")
	a, err1 := strconv.Atoi(lo)
	if !isRange {
		return err1 == nil && a >= 0 && a <= 65535 && lo == strconv.Itoa(a)
	}
	b, err2 := strconv.Atoi(hi)
	return err1 == nil && err2 == nil && a >= 0 && b <= 65535 && a <= b && lo == strconv.Itoa(a) && hi == strconv.Itoa(b)
}

func validAddressPrefix(p string) bool {
	if p == "*" || serviceTagRE.MatchString(p) && len(p) <= 80 {
		return true
	}
	if _, err := netip.ParseAddr(p); err == nil {
		return true
	}
	pf, err := netip.ParsePrefix(p)
	return err == nil && pf.Masked() == pf
}

// toRule validates a security rule's properties; field prefixes messages.
func (in *rulePropsIn) toRule(name, field string) (SecurityRule, error) {
	r := SecurityRule{Name: name}
	if err := validateChildName(name, field+".name"); err != nil {
		return r, err
	}
	if in == nil {
		in = &rulePropsIn{}
	}
	f := field + ".properties."
	if in.Description != nil {
		if len(*in.Description) > 140 {
			return r, errorf(400, "SecurityRuleInvalidDescription", "Security rule %s has a description longer than 140 characters (field '%sdescription').", name, f)
		}
		r.Description = *in.Description
	}
	var ok bool
	if r.Protocol, ok = armCanonical(in.Protocol, "Tcp", "Udp", "Icmp", "Esp", "Ah", "*"); !ok {
		return r, errorf(400, "SecurityRuleInvalidProtocol", "Security rule %s has invalid Protocol. Value provided: %s. Allowed values are Tcp, Udp, Icmp, Esp, Ah and * (field '%sprotocol').", name, armDeref(in.Protocol), f)
	}
	if r.Access, ok = armCanonical(in.Access, "Allow", "Deny"); !ok {
		return r, errorf(400, "SecurityRuleInvalidAccess", "Security rule %s has invalid Access. Value provided: %s. Allowed values are Allow and Deny (field '%saccess').", name, armDeref(in.Access), f)
	}
	if r.Direction, ok = armCanonical(in.Direction, "Inbound", "Outbound"); !ok {
		return r, errorf(400, "SecurityRuleInvalidDirection", "Security rule %s has invalid Direction. Value provided: %s. Allowed values are Inbound and Outbound (field '%sdirection').", name, armDeref(in.Direction), f)
	}
	if in.Priority == nil || *in.Priority < 100 || *in.Priority > 4096 {
		v := "null"
		if in.Priority != nil {
			v = strconv.Itoa(int(*in.Priority))
		}
		return r, errorf(400, "SecurityRuleInvalidPriority", "Security rule has invalid Priority. Value provided: %s Allowed values are from 100 to 4096 (field '%spriority').", v, f)
	}
	r.Priority = int(*in.Priority)
	ports := func(one *string, many []string, fld string) ([]string, error) {
		ps := armMergeOne(one, many)
		if len(ps) == 0 {
			return nil, errorf(400, "SecurityRuleInvalidPortRange", "Security rule %s has invalid Port range. Value provided: (none). Value should be an integer OR integer range with '-' delimiter. Valid range 0-65535 (field '%s%s').", name, f, fld)
		}
		for _, p := range ps {
			if !validPortRange(p) {
				return nil, errorf(400, "SecurityRuleInvalidPortRange", "Security rule %s has invalid Port range. Value provided: %s. Value should be an integer OR integer range with '-' delimiter. Valid range 0-65535 (field '%s%s').", name, p, f, fld)
			}
		}
		return ps, nil
	}
	prefixes := func(one *string, many []string, fld string) ([]string, error) {
		ps := armMergeOne(one, many)
		if len(ps) == 0 {
			return nil, errorf(400, "SecurityRuleInvalidAddressPrefix", "Security rule %s has invalid Address prefix. Value provided: (none) (field '%s%s').", name, f, fld)
		}
		for _, p := range ps {
			if !validAddressPrefix(p) {
				return nil, errorf(400, "SecurityRuleInvalidAddressPrefix", "Security rule %s has invalid Address prefix. Value provided: %s (field '%s%s').", name, p, f, fld)
			}
		}
		return ps, nil
	}
	var err error
	if r.SourcePortRanges, err = ports(in.SourcePortRange, in.SourcePortRanges, "sourcePortRange"); err != nil {
		return r, err
	}
	if r.DestinationPortRanges, err = ports(in.DestinationPortRange, in.DestinationPortRanges, "destinationPortRange"); err != nil {
		return r, err
	}
	if r.SourceAddressPrefixes, err = prefixes(in.SourceAddressPrefix, in.SourceAddressPrefixes, "sourceAddressPrefix"); err != nil {
		return r, err
	}
	if r.DestinationAddressPrefixes, err = prefixes(in.DestinationAddressPrefix, in.DestinationAddressPrefixes, "destinationAddressPrefix"); err != nil {
		return r, err
	}
	return r, nil
}

func armDeref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

// checkRuleSet refuses duplicate names and two rules with the same
// priority and direction.
func checkRuleSet(nsg string, rules []SecurityRule) error {
	names := map[string]bool{}
	for i, r := range rules {
		if names[lower(r.Name)] {
			return errorf(400, "InvalidRequestFormat", "Cannot parse the request: the security rule name '%s' appears more than once in %s (field 'properties.securityRules[%d].name').", r.Name, nsg, i)
		}
		names[lower(r.Name)] = true
		for _, o := range rules[:i] {
			if o.Priority == r.Priority && o.Direction == r.Direction {
				return errorf(400, "SecurityRuleConflict", "Security rule %s conflicts with rule %s. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules (field 'properties.securityRules[%d].properties.priority').", r.Name, o.Name, i)
			}
		}
	}
	return nil
}

func copyNSG(n *NetworkSecurityGroup) *NetworkSecurityGroup {
	c := *n
	c.Tags = armCopyTags(n.Tags)
	c.SecurityRules = append([]SecurityRule(nil), n.SecurityRules...)
	return &c
}

// defaultSecurityRules are the rules Azure puts at the end of every NSG.
var defaultSecurityRules = []SecurityRule{
	{Name: "AllowVnetInBound", Description: "Allow inbound traffic from all VMs in VNET", Priority: 65000, Direction: "Inbound", Access: "Allow", Protocol: "*", SourceAddressPrefixes: []string{"VirtualNetwork"}, DestinationAddressPrefixes: []string{"VirtualNetwork"}, SourcePortRanges: []string{"*"}, DestinationPortRanges: []string{"*"}},
	{Name: "AllowAzureLoadBalancerInBound", Description: "Allow inbound traffic from azure load balancer", Priority: 65001, Direction: "Inbound", Access: "Allow", Protocol: "*", SourceAddressPrefixes: []string{"AzureLoadBalancer"}, DestinationAddressPrefixes: []string{"*"}, SourcePortRanges: []string{"*"}, DestinationPortRanges: []string{"*"}},
	{Name: "DenyAllInBound", Description: "Deny all inbound traffic", Priority: 65500, Direction: "Inbound", Access: "Deny", Protocol: "*", SourceAddressPrefixes: []string{"*"}, DestinationAddressPrefixes: []string{"*"}, SourcePortRanges: []string{"*"}, DestinationPortRanges: []string{"*"}},
	{Name: "AllowVnetOutBound", Description: "Allow outbound traffic from all VMs to all VMs in VNET", Priority: 65000, Direction: "Outbound", Access: "Allow", Protocol: "*", SourceAddressPrefixes: []string{"VirtualNetwork"}, DestinationAddressPrefixes: []string{"VirtualNetwork"}, SourcePortRanges: []string{"*"}, DestinationPortRanges: []string{"*"}},
	{Name: "AllowInternetOutBound", Description: "Allow outbound traffic from all VMs to Internet", Priority: 65001, Direction: "Outbound", Access: "Allow", Protocol: "*", SourceAddressPrefixes: []string{"*"}, DestinationAddressPrefixes: []string{"Internet"}, SourcePortRanges: []string{"*"}, DestinationPortRanges: []string{"*"}},
	{Name: "DenyAllOutBound", Description: "Deny all outbound traffic", Priority: 65500, Direction: "Outbound", Access: "Deny", Protocol: "*", SourceAddressPrefixes: []string{"*"}, DestinationAddressPrefixes: []string{"*"}, SourcePortRanges: []string{"*"}, DestinationPortRanges: []string{"*"}},
}

// DefaultSecurityRules returns Azure's default rules of every NSG.
func DefaultSecurityRules() []SecurityRule {
	return append([]SecurityRule(nil), defaultSecurityRules...)
}

func ruleJSON(nsg *NetworkSecurityGroup, r SecurityRule, typ, coll string) map[string]any {
	props := map[string]any{
		"provisioningState": "Succeeded", "protocol": r.Protocol, "access": r.Access,
		"priority": r.Priority, "direction": r.Direction,
	}
	if r.Description != "" {
		props["description"] = r.Description
	}
	one := func(vals []string, single, plural string) {
		if len(vals) == 1 {
			props[single] = vals[0]
			props[plural] = []string{}
		} else {
			props[plural] = vals
		}
	}
	one(r.SourcePortRanges, "sourcePortRange", "sourcePortRanges")
	one(r.DestinationPortRanges, "destinationPortRange", "destinationPortRanges")
	one(r.SourceAddressPrefixes, "sourceAddressPrefix", "sourceAddressPrefixes")
	one(r.DestinationAddressPrefixes, "destinationAddressPrefix", "destinationAddressPrefixes")
	return map[string]any{"id": nsg.ID + "/" + coll + "/" + r.Name, "name": r.Name, "etag": nsg.Etag, "type": typ, "properties": props}
}

func nsgJSON(s *state, n *NetworkSecurityGroup, provisioning string) map[string]any {
	rules := []map[string]any{}
	for _, r := range n.SecurityRules {
		rules = append(rules, ruleJSON(n, r, typeRule, "securityRules"))
	}
	defs := []map[string]any{}
	for _, r := range defaultSecurityRules {
		defs = append(defs, ruleJSON(n, r, typeDefRule, "defaultSecurityRules"))
	}
	props := map[string]any{"provisioningState": provisioning, "resourceGuid": n.ResourceGUID,
		"securityRules": rules, "defaultSecurityRules": defs}
	if subnets := s.nsgSubnets(n.ID); len(subnets) > 0 {
		props["subnets"] = subnets
	}
	return map[string]any{"id": n.ID, "name": n.Name, "type": typeNSG, "location": n.Location, "etag": n.Etag,
		"tags": armTagsOut(n.Tags), "properties": props}
}

// nsgSubnets returns references to the subnets the NSG is attached to.
func (s *state) nsgSubnets(id string) []map[string]string {
	var out []map[string]string
	for _, v := range s.vnetsUsing[lower(id)] {
		for _, sn := range v.Subnets {
			if strings.EqualFold(sn.NetworkSecurityGroup, id) {
				out = append(out, map[string]string{"id": v.ID + "/subnets/" + sn.Name})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return lower(out[i]["id"]) < lower(out[j]["id"]) })
	return out
}

func listNSGs(s *state, c *Caller, scope string) []map[string]any {
	return listReadable(s, c, scope, actNSGRead, s.nsgsIn, func(n *NetworkSecurityGroup) string { return n.ID }, nsgJSON)
}

func (e *Emulator) putNSGTx(t *txn, subID, rg, name, location string, tags map[string]string, rules []SecurityRule) (*NetworkSecurityGroup, bool, error) {
	s := t.s
	sub := s.subs[lower(subID)]
	if sub == nil {
		return nil, false, errorf(http.StatusNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", subID)
	}
	g := s.rgs[lower(rgID(sub.ID, rg))]
	if g == nil {
		return nil, false, rgNotFound(rg)
	}
	if err := validateChildName(name, "networkSecurityGroupName"); err != nil {
		return nil, false, err
	}
	loc, err := checkLocation(location, typeNSG)
	if err != nil {
		return nil, false, err
	}
	if err := validateTags(tags); err != nil {
		return nil, false, err
	}
	id := nsgID(sub.ID, g.Name, name)
	if err := checkRuleSet(id, rules); err != nil {
		return nil, false, err
	}
	n := s.nsgs[lower(id)]
	created := n == nil
	if n == nil {
		n = &NetworkSecurityGroup{ID: id, SubscriptionID: sub.ID, ResourceGroup: g.Name, Name: name, Location: loc, ResourceGUID: uuid.NewString()}
		s.nsgs[lower(id)] = n
	} else if n.Location != loc {
		return nil, false, errorf(400, "InvalidResourceLocation", "The resource '%s' already exists in location '%s' in resource group '%s'. A resource with the same name cannot be created in location '%s'. Please select a new resource name.", n.Name, n.Location, g.Name, loc)
	}
	n.Tags = armCopyTags(tags)
	n.SecurityRules = rules
	t.put(KindNSG, n.ID, n)
	t.emit(KindNSG, n.ID, Event{Type: EventNSG, TenantID: sub.TenantID, ResourceID: n.ID})
	return n, created, nil
}

func (e *Emulator) serveNSG(q *armReq, subID, rg, name string) error {
	scope := q.path(8)
	id := nsgID(subID, rg, name)
	switch q.r.Method {
	case http.MethodGet:
		return e.armRead(q, subID, actNSGRead, scope, func(s *state) (any, error) {
			n := s.nsgs[lower(id)]
			if n == nil {
				return nil, nsgNotFound(name, rg)
			}
			return nsgJSON(s, n, "Succeeded"), nil
		})
	case http.MethodPut:
		var in nsgIn
		if err := decodeARM(q, &in); err != nil {
			return e.preauth(q, subID, actNSGWrite, scope, err)
		}
		var body map[string]any
		var created bool
		var loc string
		err := e.armTx(q, subID, actNSGWrite, scope, func(t *txn) error {
			var rules []SecurityRule
			if in.Properties != nil {
				for i, ri := range in.Properties.SecurityRules {
					f := "properties.securityRules[" + strconv.Itoa(i) + "]"
					if ri.Name == nil {
						return errorf(400, "InvalidRequestFormat", "Cannot parse the request: the security rule at index %d has no name (field '%s.name').", i, f)
					}
					r, err := ri.Properties.toRule(*ri.Name, f)
					if err != nil {
						return err
					}
					rules = append(rules, r)
				}
			}
			n, c, err := e.putNSGTx(t, subID, rg, name, armDeref0(in.Location), in.Tags, rules)
			if err != nil {
				return err
			}
			created, loc = c, n.Location
			body = nsgJSON(t.s, n, "Succeeded")
			return nil
		})
		if err != nil {
			return err
		}
		return e.armPutDone(q, subID, loc, created, body)
	case http.MethodPatch:
		var in struct {
			Tags map[string]string `json:"tags"`
		}
		if err := decodeARM(q, &in); err != nil {
			return e.preauth(q, subID, actNSGWrite, scope, err)
		}
		var body map[string]any
		err := e.armTx(q, subID, actNSGWrite, scope, func(t *txn) error {
			n := t.s.nsgs[lower(id)]
			if n == nil {
				return nsgNotFound(name, rg)
			}
			nn, _, err := e.putNSGTx(t, subID, n.ResourceGroup, n.Name, n.Location, in.Tags, n.SecurityRules)
			if err != nil {
				return err
			}
			body = nsgJSON(t.s, nn, "Succeeded")
			return nil
		})
		if err != nil {
			return err
		}
		writeJSON(q.w, http.StatusOK, body)
		return nil
	case http.MethodDelete:
		found := false
		var loc string
		err := e.armTx(q, subID, actNSGDelete, scope, func(t *txn) error {
			n := t.s.nsgs[lower(id)]
			if n == nil {
				return nil
			}
			if used := t.s.nsgSubnets(n.ID); len(used) > 0 {
				var ids []string
				for _, u := range used {
					ids = append(ids, u["id"])
				}
				return errorf(400, "InUseNetworkSecurityGroupCannotBeDeleted", "Network security group %s cannot be deleted because it is in use by the following resources: %s. In order to delete the Network security group, remove the association with the resource(s).", n.ID, strings.Join(ids, ", "))
			}
			found, loc = true, n.Location
			delete(t.s.nsgs, lower(n.ID))
			t.del(KindNSG, n.ID)
			t.emit(KindNSG, n.ID, Event{Type: EventNSG, TenantID: t.s.subTenant(subID), ResourceID: n.ID})
			return nil
		})
		if err != nil {
			return err
		}
		return e.armDeleteDone(q, subID, loc, found)
	}
	return armMethodNotAllowed(q)
}

func armDeref0(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// serveSecurityRule serves securityRules (and the read-only
// defaultSecurityRules) as sub-resources of an NSG.
func (e *Emulator) serveSecurityRule(q *armReq, subID, rg, nsgName, name string, builtin bool) error {
	id := nsgID(subID, rg, nsgName)
	scope := q.path(len(q.segs))
	coll, typ := "securityRules", typeRule
	if builtin {
		coll, typ = "defaultSecurityRules", typeDefRule
	}
	if q.r.Method == http.MethodGet {
		return e.armRead(q, subID, actRuleRead, scope, func(s *state) (any, error) {
			n := s.nsgs[lower(id)]
			if n == nil {
				return nil, nsgNotFound(nsgName, rg)
			}
			rules := n.SecurityRules
			if builtin {
				rules = defaultSecurityRules
			}
			if name == "" {
				out := []map[string]any{}
				for _, r := range rules {
					out = append(out, ruleJSON(n, r, typ, coll))
				}
				return map[string]any{"value": out}, nil
			}
			for _, r := range rules {
				if strings.EqualFold(r.Name, name) {
					return ruleJSON(n, r, typ, coll), nil
				}
			}
			return nil, childNotFound(n.ID + "/" + coll + "/" + name)
		})
	}
	if builtin || name == "" {
		return armMethodNotAllowed(q)
	}
	switch q.r.Method {
	case http.MethodPut:
		var in struct {
			Properties *rulePropsIn `json:"properties"`
		}
		if err := decodeARM(q, &in); err != nil {
			return e.preauth(q, subID, actRuleWrite, scope, err)
		}
		var body map[string]any
		var created bool
		var loc string
		err := e.armTx(q, subID, actRuleWrite, scope, func(t *txn) error {
			n := t.s.nsgs[lower(id)]
			if n == nil {
				return nsgNotFound(nsgName, rg)
			}
			rules := append([]SecurityRule(nil), n.SecurityRules...)
			i := -1
			for j, r := range rules {
				if strings.EqualFold(r.Name, name) {
					i = j
					name = r.Name
				}
			}
			r, err := in.Properties.toRule(name, "securityRule")
			if err != nil {
				return err
			}
			created = i < 0
			if created {
				rules = append(rules, r)
				i = len(rules) - 1
			} else {
				rules[i] = r
			}
			nn, _, err := e.putNSGTx(t, subID, n.ResourceGroup, n.Name, n.Location, n.Tags, rules)
			if err != nil {
				return err
			}
			loc = nn.Location
			body = ruleJSON(nn, nn.SecurityRules[i], typ, coll)
			return nil
		})
		if err != nil {
			return err
		}
		return e.armPutDone(q, subID, loc, created, body)
	case http.MethodDelete:
		found := false
		var loc string
		err := e.armTx(q, subID, actRuleDelete, scope, func(t *txn) error {
			n := t.s.nsgs[lower(id)]
			if n == nil {
				return nil
			}
			for j, r := range n.SecurityRules {
				if strings.EqualFold(r.Name, name) {
					found, loc = true, n.Location
					n.SecurityRules = append(n.SecurityRules[:j:j], n.SecurityRules[j+1:]...)
					t.put(KindNSG, n.ID, n)
					t.emit(KindNSG, n.ID, Event{Type: EventNSG, TenantID: t.s.subTenant(subID), ResourceID: n.ID})
					return nil
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		return e.armDeleteDone(q, subID, loc, found)
	}
	return armMethodNotAllowed(q)
}
