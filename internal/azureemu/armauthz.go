package azureemu

import (
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/peerplane/peerplane/internal/azureid"
)

// Microsoft.Authorization: role definitions (built-in and custom) and role
// assignments, at any scope.

const (
	typeRoleDef  = "Microsoft.Authorization/roleDefinitions"
	typeRoleAsgn = "Microsoft.Authorization/roleAssignments"
)

var scopeRE = regexp.MustCompile(`(?i)^(/subscriptions/[0-9a-f-]{36}(/resourceGroups/[-\w._()]+(/providers/[\w.]+(/[^/]+/[^/]+)+)?)?)?$`)

// armValidScope reports whether scope is "", a subscription, a resource
// group or a resource id.
func armValidScope(scope string) bool {
	return scopeRE.MatchString(strings.TrimRight(scope, "/"))
}

// armCheckScope validates an ARM scope and the caller's tenant for it.
func armCheckScope(s *state, c *Caller, scope string) error {
	if !armValidScope(scope) {
		return errorf(400, "InvalidScope", "The scope '%s' is not valid. It must be '/', a subscription, a resource group or a resource id.", scope)
	}
	if sub := scopeSubscription(scope); sub != "" {
		_, err := checkSubscription(s, c, sub)
		return err
	}
	return nil
}

// roleDefID renders a role definition's full id relative to the
// subscription of scope, as ARM does.
func roleDefID(scope, id string) string {
	if sub := scopeSubscription(scope); sub != "" {
		return "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/" + id
	}
	return "/providers/Microsoft.Authorization/roleDefinitions/" + id
}

func roleDefJSON(scope string, r *RoleDefinition) map[string]any {
	perms := []map[string]any{}
	for _, p := range r.Permissions {
		perms = append(perms, map[string]any{"actions": armNonNil(p.Actions), "notActions": armNonNil(p.NotActions),
			"dataActions": armNonNil(p.DataActions), "notDataActions": armNonNil(p.NotDataActions)})
	}
	props := map[string]any{
		"roleName": r.RoleName, "type": r.RoleType, "description": r.Description,
		"assignableScopes": armNonNil(r.AssignableScopes), "permissions": perms,
		"createdOn": r.CreatedOn.UTC().Format(time.RFC3339Nano), "updatedOn": r.UpdatedOn.UTC().Format(time.RFC3339Nano),
		"createdBy": nil, "updatedBy": nil,
	}
	return map[string]any{"id": roleDefID(scope, r.ID), "name": r.ID, "type": typeRoleDef, "properties": props}
}

// assignableAt reports whether role r may be assigned at scope: scope lies
// inside one of its assignable scopes (and, for a custom role, the scope's
// tenant is the role's).
func assignableAt(s *state, r *RoleDefinition, scope string) bool {
	if r.RoleType == "CustomRole" {
		if sub := scopeSubscription(scope); sub != "" && !strings.EqualFold(s.subTenant(sub), r.TenantID) {
			return false
		}
	}
	for _, a := range r.AssignableScopes {
		if scopeWithin(scope, a) {
			return true
		}
	}
	return false
}

// visibleAt reports whether a role shows in a list at scope: assignable
// there, or assignable somewhere below it.
func visibleAt(s *state, c *Caller, r *RoleDefinition, scope string) bool {
	if r.RoleType != "CustomRole" {
		return true
	}
	if !strings.EqualFold(r.TenantID, c.TenantID) {
		return false
	}
	if assignableAt(s, r, scope) {
		return true
	}
	for _, a := range r.AssignableScopes {
		if scopeWithin(a, scope) {
			return true
		}
	}
	return false
}

func roleDefNotFound(id string) error {
	return errorf(http.StatusNotFound, "RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", id)
}

var (
	filterEqRE       = regexp.MustCompile(`(?i)^\s*(roleName|type|principalId)\s+eq\s+'([^']*)'\s*$`)
	filterAtScopeRE  = regexp.MustCompile(`(?i)^\s*atScope\(\)\s*$`)
	filterAssignedRE = regexp.MustCompile(`(?i)^\s*assignedTo\('([^']*)'\)\s*$`)
)

// armOdataFilter is a parsed $filter: conjunctions of the few forms ARM's
// authorization lists accept.
type armOdataFilter struct {
	eq         map[string]string // lower-cased field → value
	atScope    bool
	assignedTo string
}

// armauthorization's list pagers append $filter to the query unencoded,
// spaces and all. That reaches here over HTTP/2 (what peerplane serve's
// TLS server negotiates with Go clients); over HTTP/1.1 the spaces break
// the request line and net/http answers 400 before the emulator sees it,
// so HTTP/1.1-only Go clients must encode the filter themselves
// (TestUnencodedFilterOverServeTLS).
func armParseFilter(f string) (*armOdataFilter, error) {
	out := &armOdataFilter{eq: map[string]string{}}
	if strings.TrimSpace(f) == "" {
		return out, nil
	}
	for _, part := range regexp.MustCompile(`(?i)\s+and\s+`).Split(f, -1) {
		switch {
		case filterEqRE.MatchString(part):
			m := filterEqRE.FindStringSubmatch(part)
			out.eq[lower(m[1])] = m[2]
		case filterAtScopeRE.MatchString(part):
			out.atScope = true
		case filterAssignedRE.MatchString(part):
			out.assignedTo = filterAssignedRE.FindStringSubmatch(part)[1]
		default:
			return nil, errorf(400, "UnsupportedQuery", "The filter '%s' is not supported (query parameter '$filter'). Supported filters are: roleName eq '{name}', type eq '{type}', principalId eq '{id}', atScope() and assignedTo('{id}').", f)
		}
	}
	return out, nil
}

func (e *Emulator) serveRoleDefinitions(q *armReq, scope, id string) error {
	if id == "" {
		if q.r.Method != http.MethodGet {
			return armMethodNotAllowed(q)
		}
		f, err := armParseFilter(q.r.URL.Query().Get("$filter"))
		if err != nil {
			return err
		}
		var out []map[string]any
		e.view(func(s *state) {
			if err = armCheckScope(s, q.c, scope); err != nil {
				return
			}
			if err = authorize(s, q.c, actRoleDefRead, armOrRoot(scope)); err != nil {
				return
			}
			var roles []*RoleDefinition
			for _, r := range builtinRoles {
				roles = append(roles, r)
			}
			// Only the caller's tenant's custom roles are visible to it.
			for _, r := range s.roleDefsOf[lower(q.c.TenantID)] {
				roles = append(roles, r)
			}
			sort.Slice(roles, func(i, j int) bool { return roles[i].RoleName < roles[j].RoleName })
			for _, r := range roles {
				if !visibleAt(s, q.c, r, scope) {
					continue
				}
				if v, ok := f.eq["rolename"]; ok && !strings.EqualFold(v, r.RoleName) {
					continue
				}
				if v, ok := f.eq["type"]; ok && !strings.EqualFold(v, r.RoleType) {
					continue
				}
				out = append(out, roleDefJSON(scope, r))
			}
		})
		if err != nil {
			return err
		}
		armList(q.w, out)
		return nil
	}
	switch q.r.Method {
	case http.MethodGet:
		var body map[string]any
		var err error
		e.view(func(s *state) {
			if err = armCheckScope(s, q.c, scope); err != nil {
				return
			}
			if err = authorize(s, q.c, actRoleDefRead, armOrRoot(scope)); err != nil {
				return
			}
			r := s.roleDef(id)
			if r == nil || !visibleAt(s, q.c, r, scope) {
				err = roleDefNotFound(id)
				return
			}
			body = roleDefJSON(scope, r)
		})
		if err != nil {
			return err
		}
		writeJSON(q.w, http.StatusOK, body)
		return nil
	case http.MethodPut:
		return e.putRoleDefinition(q, scope, id)
	case http.MethodDelete:
		var body map[string]any
		err := e.update(q.r.Context(), func(t *txn) error {
			s := t.s
			if err := armCheckScope(s, q.c, scope); err != nil {
				return err
			}
			if err := authorize(s, q.c, actRoleDefDelete, armOrRoot(scope)); err != nil {
				return err
			}
			r := s.roleDefs[lower(id)]
			if r == nil || !strings.EqualFold(r.TenantID, q.c.TenantID) {
				return nil
			}
			if len(s.roleUses[lower(r.ID)]) > 0 {
				return errorf(http.StatusConflict, "RoleDefinitionHasAssignments", "There are existing role assignments referencing role (code: RoleDefinitionHasAssignments).")
			}
			body = roleDefJSON(scope, r)
			delete(s.roleDefs, lower(r.ID))
			t.del(KindRoleDefinition, r.ID)
			t.emit(KindRoleDefinition, r.ID, Event{Type: EventRoleDefinition, TenantID: r.TenantID, ResourceID: r.ID})
			return nil
		})
		if err != nil {
			return err
		}
		if body == nil {
			q.w.WriteHeader(http.StatusNoContent)
			return nil
		}
		writeJSON(q.w, http.StatusOK, body)
		return nil
	}
	return armMethodNotAllowed(q)
}

func armOrRoot(scope string) string {
	if scope == "" {
		return "/"
	}
	return scope
}

var actionRE = regexp.MustCompile(`^(\*|[A-Za-z0-9*][A-Za-z0-9.*\-]*(/[A-Za-z0-9_.*\-{}]+)+)$`)

// armValidAction checks an action's syntax: "*" or "Namespace/…/verb".
func armValidAction(a string) bool {
	if len(a) > 512 || !actionRE.MatchString(a) {
		return false
	}
	if a == "*" {
		return true
	}
	last := lower(a[strings.LastIndex(a, "/")+1:])
	return strings.Contains(last, "*") || last == "read" || last == "write" || last == "delete" || last == "action"
}

type roleDefIn struct {
	Name       *string `json:"name"`
	Properties *struct {
		RoleName         *string      `json:"roleName"`
		Description      *string      `json:"description"`
		Type             *string      `json:"type"`
		Permissions      []Permission `json:"permissions"`
		AssignableScopes []string     `json:"assignableScopes"`
	} `json:"properties"`
}

func (e *Emulator) putRoleDefinition(q *armReq, scope, id string) error {
	var in roleDefIn
	if err := decodeARM(q, &in); err != nil {
		var perr error = err
		e.view(func(s *state) {
			if cerr := armCheckScope(s, q.c, scope); cerr != nil {
				perr = cerr
			} else if aerr := authorize(s, q.c, actRoleDefWrite, armOrRoot(scope)); aerr != nil {
				perr = aerr
			}
		})
		return perr
	}
	var body map[string]any
	err := e.update(q.r.Context(), func(t *txn) error {
		s := t.s
		if err := armCheckScope(s, q.c, scope); err != nil {
			return err
		}
		if err := authorize(s, q.c, actRoleDefWrite, armOrRoot(scope)); err != nil {
			return err
		}
		if !azureid.IsGUID(id) {
			return errorf(400, "InvalidRoleDefinitionId", "The role definition ID '%s' is not valid. It must be a GUID.", id)
		}
		if builtinRoles[lower(id)] != nil {
			return errorf(http.StatusForbidden, "RoleDefinitionUpdateNotPermitted", "The built-in role definition '%s' cannot be updated.", id)
		}
		p := in.Properties
		if p == nil || p.RoleName == nil || strings.TrimSpace(*p.RoleName) == "" {
			return errorf(400, "RoleDefinitionNameNullOrEmpty", "The role definition name cannot be null or empty (field 'properties.roleName').")
		}
		if len(*p.RoleName) > 512 {
			return errorf(400, "InvalidRoleDefinitionName", "The role definition name must be at most 512 characters (field 'properties.roleName').")
		}
		if p.Type != nil && !strings.EqualFold(*p.Type, "CustomRole") {
			return errorf(400, "InvalidRoleDefinitionType", "The role definition type '%s' is not valid; only 'CustomRole' can be created (field 'properties.type').", *p.Type)
		}
		if len(p.Permissions) == 0 {
			return errorf(400, "InvalidPermissions", "The role definition must have at least one permission (field 'properties.permissions').")
		}
		for i, perm := range p.Permissions {
			for j, a := range append(append([]string(nil), perm.Actions...), perm.NotActions...) {
				if !armValidAction(a) {
					field := "actions"
					k := j
					if j >= len(perm.Actions) {
						field, k = "notActions", j-len(perm.Actions)
					}
					return errorf(400, "InvalidActionOrNotAction", "'%s' does not match any of the actions supported by the providers (field 'properties.permissions[%d].%s[%d]').", a, i, field, k)
				}
			}
		}
		if len(p.AssignableScopes) == 0 {
			return errorf(400, "InvalidAssignableScopes", "The role definition must have at least one assignable scope (field 'properties.assignableScopes').")
		}
		var scopes []string
		for i, a := range p.AssignableScopes {
			a = strings.TrimRight(a, "/")
			if a == "" || !armValidScope(a) {
				return errorf(400, "InvalidAssignableScope", "The assignable scope '%s' is not valid; a custom role's assignable scopes must be subscriptions, resource groups or resources (field 'properties.assignableScopes[%d]').", p.AssignableScopes[i], i)
			}
			sub := s.subs[lower(scopeSubscription(a))]
			if sub == nil || !strings.EqualFold(sub.TenantID, q.c.TenantID) {
				return errorf(400, "InvalidAssignableScope", "The assignable scope '%s' is not valid: subscription '%s' is not in the tenant '%s' (field 'properties.assignableScopes[%d]').", a, scopeSubscription(a), q.c.TenantID, i)
			}
			if err := authorize(s, q.c, actRoleDefWrite, a); err != nil {
				return err
			}
			scopes = append(scopes, a)
		}
		name := strings.TrimSpace(*p.RoleName)
		for _, b := range builtinRoles {
			if strings.EqualFold(b.RoleName, name) {
				return errorf(http.StatusConflict, "RoleDefinitionWithSameNameExists", "A role definition cannot be updated with a name that already exists.")
			}
		}
		for _, o := range s.roleDefsOf[lower(q.c.TenantID)] {
			if strings.EqualFold(o.RoleName, name) && !strings.EqualFold(o.ID, id) {
				return errorf(http.StatusConflict, "RoleDefinitionWithSameNameExists", "A role definition cannot be updated with a name that already exists.")
			}
		}
		r := s.roleDefs[lower(id)]
		now := e.now().UTC()
		if r != nil && !strings.EqualFold(r.TenantID, q.c.TenantID) {
			return errorf(http.StatusConflict, "RoleDefinitionIdAlreadyExists", "A role definition with id '%s' already exists in another directory.", id)
		}
		if r == nil {
			r = &RoleDefinition{ID: lower(id), TenantID: q.c.TenantID, RoleType: "CustomRole", CreatedOn: now}
			s.roleDefs[lower(id)] = r
		}
		r.RoleName = name
		r.Description = armDeref0(p.Description)
		r.Permissions = nil
		for _, perm := range p.Permissions {
			r.Permissions = append(r.Permissions, Permission{Actions: armNonNil(perm.Actions), NotActions: armNonNil(perm.NotActions),
				DataActions: armNonNil(perm.DataActions), NotDataActions: armNonNil(perm.NotDataActions)})
		}
		r.AssignableScopes = scopes
		r.UpdatedOn = now
		t.put(KindRoleDefinition, r.ID, r)
		t.emit(KindRoleDefinition, r.ID, Event{Type: EventRoleDefinition, TenantID: r.TenantID, ResourceID: r.ID})
		body = roleDefJSON(scope, r)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(q.w, http.StatusCreated, body)
	return nil
}

// Role assignments.

func roleAsgnJSON(s *state, ra *RoleAssignment) map[string]any {
	ts := ra.CreatedOn.UTC().Format(time.RFC3339Nano)
	var desc any
	if ra.Description != "" {
		desc = ra.Description
	}
	var by any
	if ra.CreatedBy != "" {
		by = ra.CreatedBy
	}
	scope := ra.Scope
	if scope == "" {
		scope = "/"
	}
	return map[string]any{
		"id": strings.TrimRight(ra.Scope, "/") + "/providers/Microsoft.Authorization/roleAssignments/" + ra.ID, "name": ra.ID, "type": typeRoleAsgn,
		"properties": map[string]any{
			"roleDefinitionId": roleDefID(ra.Scope, ra.RoleDefinitionID), "principalId": ra.PrincipalID,
			"principalType": ra.PrincipalType, "scope": scope, "condition": nil, "conditionVersion": nil,
			"createdOn": ts, "updatedOn": ts, "createdBy": by, "updatedBy": by,
			"delegatedManagedIdentityResourceId": nil, "description": desc,
		},
	}
}

type roleAsgnIn struct {
	Properties *struct {
		RoleDefinitionID *string `json:"roleDefinitionId"`
		PrincipalID      *string `json:"principalId"`
		PrincipalType    *string `json:"principalType"`
		Description      *string `json:"description"`
		Condition        *string `json:"condition"`
	} `json:"properties"`
}

var roleDefRefRE = regexp.MustCompile(`(?i)^(?:.*/providers/Microsoft\.Authorization/roleDefinitions/)?([0-9a-f-]{36})$`)

func (e *Emulator) serveRoleAssignments(q *armReq, scope, id string) error {
	if id == "" {
		if q.r.Method != http.MethodGet {
			return armMethodNotAllowed(q)
		}
		f, err := armParseFilter(q.r.URL.Query().Get("$filter"))
		if err != nil {
			return err
		}
		if v, ok := f.eq["rolename"]; ok {
			return errorf(400, "UnsupportedQuery", "The filter roleName eq '%s' is not supported for role assignments (query parameter '$filter').", v)
		}
		var out []map[string]any
		e.view(func(s *state) {
			if err = armCheckScope(s, q.c, scope); err != nil {
				return
			}
			if err = authorize(s, q.c, actRoleAsgnRead, armOrRoot(scope)); err != nil {
				return
			}
			var ras []*RoleAssignment
			keep := func(ra *RoleAssignment) bool {
				ras = append(ras, ra)
				return true
			}
			s.assignments.above(scope, keep)
			if !f.atScope {
				s.assignments.below(scope, keep)
			}
			filtered := ras[:0]
			for _, ra := range ras {
				if v, ok := f.eq["principalid"]; ok && !strings.EqualFold(v, ra.PrincipalID) {
					continue
				}
				if f.assignedTo != "" && !strings.EqualFold(f.assignedTo, ra.PrincipalID) {
					continue
				}
				if sub := scopeSubscription(ra.Scope); sub != "" && !strings.EqualFold(s.subTenant(sub), q.c.TenantID) {
					continue
				}
				filtered = append(filtered, ra)
			}
			ras = filtered
			sort.Slice(ras, func(i, j int) bool { return ras[i].ID < ras[j].ID })
			for _, ra := range ras {
				out = append(out, roleAsgnJSON(s, ra))
			}
		})
		if err != nil {
			return err
		}
		armList(q.w, out)
		return nil
	}
	find := func(s *state) *RoleAssignment {
		ra := s.roleAssigns[lower(id)]
		if ra == nil || !strings.EqualFold(normScope(ra.Scope), normScope(scope)) {
			return nil
		}
		return ra
	}
	switch q.r.Method {
	case http.MethodGet:
		var body map[string]any
		var err error
		e.view(func(s *state) {
			if err = armCheckScope(s, q.c, scope); err != nil {
				return
			}
			if err = authorize(s, q.c, actRoleAsgnRead, armOrRoot(scope)); err != nil {
				return
			}
			ra := find(s)
			if ra == nil {
				err = errorf(http.StatusNotFound, "RoleAssignmentNotFound", "The role assignment '%s' is not found.", id)
				return
			}
			body = roleAsgnJSON(s, ra)
		})
		if err != nil {
			return err
		}
		writeJSON(q.w, http.StatusOK, body)
		return nil
	case http.MethodPut:
		return e.putRoleAssignment(q, scope, id)
	case http.MethodDelete:
		var body map[string]any
		err := e.update(q.r.Context(), func(t *txn) error {
			if err := armCheckScope(t.s, q.c, scope); err != nil {
				return err
			}
			if err := authorize(t.s, q.c, actRoleAsgnDelete, armOrRoot(scope)); err != nil {
				return err
			}
			ra := find(t.s)
			if ra == nil {
				return nil
			}
			body = roleAsgnJSON(t.s, ra)
			delete(t.s.roleAssigns, lower(ra.ID))
			t.del(KindRoleAssignment, ra.ID)
			t.emit(KindRoleAssignment, ra.ID, Event{Type: EventRoleAssignment, TenantID: ra.TenantID, ResourceID: ra.Scope})
			return nil
		})
		if err != nil {
			return err
		}
		if body == nil {
			q.w.WriteHeader(http.StatusNoContent)
			return nil
		}
		writeJSON(q.w, http.StatusOK, body)
		return nil
	}
	return armMethodNotAllowed(q)
}

func (e *Emulator) putRoleAssignment(q *armReq, scope, id string) error {
	var in roleAsgnIn
	if err := decodeARM(q, &in); err != nil {
		var perr error = err
		e.view(func(s *state) {
			if cerr := armCheckScope(s, q.c, scope); cerr != nil {
				perr = cerr
			} else if aerr := authorize(s, q.c, actRoleAsgnWrite, armOrRoot(scope)); aerr != nil {
				perr = aerr
			}
		})
		return perr
	}
	var body map[string]any
	status := http.StatusCreated
	err := e.update(q.r.Context(), func(t *txn) error {
		s := t.s
		if err := armCheckScope(s, q.c, scope); err != nil {
			return err
		}
		if err := authorize(s, q.c, actRoleAsgnWrite, armOrRoot(scope)); err != nil {
			return err
		}
		if !azureid.IsGUID(id) {
			return errorf(400, "InvalidRoleAssignmentId", "The role assignment ID '%s' is not valid. The role assignment ID must be a GUID.", id)
		}
		sub := scopeSubscription(scope)
		if sub == "" {
			return errorf(400, "InvalidScope", "Role assignments at scope '%s' are not supported by the emulator; use a subscription, resource group or resource scope.", armOrRoot(scope))
		}
		p := in.Properties
		if p == nil || p.RoleDefinitionID == nil || *p.RoleDefinitionID == "" {
			return errorf(400, "InvalidRoleDefinitionId", "The role definition ID '' is not valid (field 'properties.roleDefinitionId').")
		}
		m := roleDefRefRE.FindStringSubmatch(*p.RoleDefinitionID)
		if m == nil || !azureid.IsGUID(m[1]) {
			return errorf(400, "InvalidRoleDefinitionId", "The role definition ID '%s' is not valid (field 'properties.roleDefinitionId').", *p.RoleDefinitionID)
		}
		roleID := lower(m[1])
		if p.PrincipalID == nil || !azureid.IsGUID(*p.PrincipalID) {
			return errorf(400, "InvalidPrincipalId", "A valid principal ID must be provided for role assignment (field 'properties.principalId').")
		}
		principal := *p.PrincipalID
		tenant := s.subTenant(sub)
		r := s.roleDef(roleID)
		if r == nil || !assignableAt(s, r, scope) {
			return errorf(400, "RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", m[1])
		}
		ptype := s.principalInTenant(principal, tenant)
		if ptype == "" {
			return errorf(400, "PrincipalNotFound", "Principal %s does not exist in the directory %s. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype", strings.ReplaceAll(lower(principal), "-", ""), tenant)
		}
		if p.PrincipalType != nil && *p.PrincipalType != "" {
			if _, ok := armCanonical(p.PrincipalType, "User", "ServicePrincipal", "Group", "ForeignGroup", "Device"); !ok {
				return errorf(400, "InvalidPrincipalType", "The principal type '%s' is not valid (field 'properties.principalType').", *p.PrincipalType)
			}
			if !strings.EqualFold(*p.PrincipalType, ptype) {
				return errorf(400, "UnmatchedPrincipalType", "The PrincipalId '%s' has type '%s' , which is different from specified PrincipalType '%s'.", strings.ReplaceAll(lower(principal), "-", ""), ptype, *p.PrincipalType)
			}
		}
		if old := s.roleAssigns[lower(id)]; old != nil {
			if strings.EqualFold(normScope(old.Scope), normScope(scope)) && strings.EqualFold(old.PrincipalID, principal) && strings.EqualFold(old.RoleDefinitionID, roleID) {
				body = roleAsgnJSON(s, old)
				status = http.StatusOK
				return nil
			}
			return errorf(http.StatusConflict, "RoleAssignmentUpdateNotPermitted", "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
		}
		for _, ra := range s.assignments.at(scope) {
			if strings.EqualFold(ra.PrincipalID, principal) && strings.EqualFold(ra.RoleDefinitionID, roleID) {
				return errorf(http.StatusConflict, "RoleAssignmentExists", "The role assignment already exists.")
			}
		}
		ra := &RoleAssignment{ID: lower(id), TenantID: tenant, Scope: strings.TrimRight(scope, "/"), RoleDefinitionID: roleID,
			PrincipalID: lower(principal), PrincipalType: ptype, Description: armDeref0(p.Description), CreatedOn: e.now().UTC(), CreatedBy: q.c.ObjectID}
		s.roleAssigns[ra.ID] = ra
		t.put(KindRoleAssignment, ra.ID, ra)
		t.emit(KindRoleAssignment, ra.ID, Event{Type: EventRoleAssignment, TenantID: tenant, ResourceID: ra.Scope})
		body = roleAsgnJSON(s, ra)
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(q.w, status, body)
	return nil
}

var _ = strconv.Itoa
