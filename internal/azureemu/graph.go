package azureemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/peerplane/peerplane/internal/azureid"
)

// Microsoft Graph v1.0, the part the flow and az use: servicePrincipals,
// applications, users, me and directoryObjects/getByIds, scoped to the
// tenant of the caller's token.

const graphMaxBody = 1 << 20

// graphErr is a Graph error answer.
type graphErr struct {
	status  int
	code    string
	message string
}

func (g *graphErr) Error() string { return g.code + ": " + g.message }

func gerr(status int, code, format string, args ...any) *graphErr {
	return &graphErr{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func (e *Emulator) graphRoot() string { return e.base + "/graph/v1.0" }

func (e *Emulator) serveGraph(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	if len(parts) < 2 || parts[1] != "v1.0" {
		writeGraphError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid version: the emulator serves Microsoft Graph v1.0 at %s/graph/v1.0/.", e.base))
		return
	}
	c := e.authenticate(w, r, "graph")
	if c == nil {
		return
	}
	r = r.WithContext(withActor(r.Context(), c.actor()))
	rest := parts[2:]
	if len(rest) == 0 || rest[0] == "" {
		writeGraphError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource not found for the segment ''.")
		return
	}
	var err error
	seg := rest[0]
	switch {
	case strings.EqualFold(seg, "servicePrincipals") && len(rest) == 1:
		switch r.Method {
		case http.MethodGet:
			err = e.graphList(w, r, c, "servicePrincipals")
		case http.MethodPost:
			err = e.graphCreateSP(w, r, c)
		default:
			err = methodNotAllowed(r)
		}
	case strings.EqualFold(seg, "applications") && len(rest) == 1, strings.EqualFold(seg, "users") && len(rest) == 1:
		if r.Method != http.MethodGet {
			err = methodNotAllowed(r)
			break
		}
		err = e.graphList(w, r, c, collectionName(seg))
	case strings.EqualFold(seg, "me") && len(rest) == 1:
		if r.Method != http.MethodGet {
			err = methodNotAllowed(r)
			break
		}
		if c.PrincipalType != "User" {
			err = gerr(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
			break
		}
		err = e.graphGetOne(w, c, "users", c.ObjectID)
	case strings.EqualFold(seg, "directoryObjects") && len(rest) == 2 && strings.EqualFold(rest[1], "getByIds"):
		if r.Method != http.MethodPost {
			err = methodNotAllowed(r)
			break
		}
		err = e.graphGetByIds(w, r, c)
	case len(rest) == 2 && isGraphCollection(seg):
		if r.Method != http.MethodGet {
			err = methodNotAllowed(r)
			break
		}
		err = e.graphGetOne(w, c, collectionName(seg), rest[1])
	case len(rest) == 1 && strings.HasSuffix(seg, ")"):
		// servicePrincipals(appId='…'), applications(appId='…')
		name, key, ok := strings.Cut(strings.TrimSuffix(seg, ")"), "(")
		if !ok || (!strings.EqualFold(name, "servicePrincipals") && !strings.EqualFold(name, "applications")) {
			err = gerr(400, "BadRequest", "Resource not found for the segment '%s'.", seg)
			break
		}
		if r.Method != http.MethodGet {
			err = methodNotAllowed(r)
			break
		}
		k, v, ok := strings.Cut(key, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "appId") {
			err = gerr(400, "BadRequest", "The key '%s' is not supported: use %s(appId='{appId}').", key, collectionName(name))
			break
		}
		v, perr := parseODataString(strings.TrimSpace(v))
		if perr != nil {
			err = gerr(400, "BadRequest", "Invalid key value '%s': %s.", strings.TrimSpace(v), perr)
			break
		}
		err = e.graphGetByAppID(w, c, collectionName(name), v)
	default:
		err = gerr(400, "BadRequest", "Resource not found for the segment '%s'.", seg)
	}
	if err != nil {
		var ge *graphErr
		if errors.As(err, &ge) {
			writeGraphError(w, ge.status, ge.code, ge.message)
			return
		}
		var ee *Error
		if errors.As(err, &ee) && ee.Status < 500 {
			writeGraphError(w, ee.Status, "Request_BadRequest", ee.Message)
			return
		}
		e.log.Error("graph", "err", err)
		writeGraphError(w, http.StatusInternalServerError, "InternalServerError", "The server encountered an internal error.")
	}
}

func methodNotAllowed(r *http.Request) error {
	return gerr(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target: %s %s.", r.Method, r.URL.Path)
}

func isGraphCollection(s string) bool {
	switch strings.ToLower(s) {
	case "serviceprincipals", "applications", "users", "directoryobjects":
		return true
	}
	return false
}

// collectionName returns Graph's spelling of a collection segment.
func collectionName(s string) string {
	switch strings.ToLower(s) {
	case "serviceprincipals":
		return "servicePrincipals"
	case "applications":
		return "applications"
	case "users":
		return "users"
	case "directoryobjects":
		return "directoryObjects"
	}
	return s
}

// odataType is the @odata.type and singular name of a collection's items.
func odataType(collection string) string {
	switch collection {
	case "servicePrincipals":
		return "servicePrincipal"
	case "applications":
		return "application"
	case "users":
		return "user"
	}
	return "directoryObject"
}

// --- JSON shapes, as Graph v1.0 names the fields.

func (e *Emulator) graphSP(sp *ServicePrincipal, app *Application) map[string]any {
	sia := "AzureADMultipleOrgs"
	appName := sp.DisplayName
	if app != nil {
		sia, appName = app.SignInAudience, app.DisplayName
	}
	return map[string]any{
		"id":                                     sp.ID,
		"deletedDateTime":                        nil,
		"accountEnabled":                         true,
		"alternativeNames":                       []string{},
		"appDisplayName":                         appName,
		"appDescription":                         nil,
		"appId":                                  sp.AppID,
		"applicationTemplateId":                  nil,
		"appOwnerOrganizationId":                 sp.AppOwnerOrganizationID,
		"appRoleAssignmentRequired":              false,
		"createdDateTime":                        graphTime(sp.CreatedAt),
		"description":                            nil,
		"disabledByMicrosoftStatus":              nil,
		"displayName":                            sp.DisplayName,
		"homepage":                               nil,
		"loginUrl":                               nil,
		"logoutUrl":                              nil,
		"notes":                                  nil,
		"notificationEmailAddresses":             []string{},
		"preferredSingleSignOnMode":              nil,
		"preferredTokenSigningKeyThumbprint":     nil,
		"replyUrls":                              []string{},
		"servicePrincipalNames":                  nonNil(sp.ServicePrincipalNames),
		"servicePrincipalType":                   "Application",
		"signInAudience":                         sia,
		"tags":                                   []string{},
		"tokenEncryptionKeyId":                   nil,
		"samlSingleSignOnSettings":               nil,
		"addIns":                                 []any{},
		"appRoles":                               []any{},
		"info":                                   map[string]any{"logoUrl": nil, "marketingUrl": nil, "privacyStatementUrl": nil, "supportUrl": nil, "termsOfServiceUrl": nil},
		"keyCredentials":                         []any{},
		"oauth2PermissionScopes":                 []any{},
		"passwordCredentials":                    []any{},
		"resourceSpecificApplicationPermissions": []any{},
		"verifiedPublisher":                      map[string]any{"displayName": nil, "verifiedPublisherId": nil, "addedDateTime": nil},
	}
}

func (e *Emulator) graphApp(a *Application, publisherDomain string) map[string]any {
	creds := []map[string]any{}
	for _, s := range a.Secrets {
		var dn any
		if s.DisplayName != "" {
			dn = s.DisplayName
		}
		creds = append(creds, map[string]any{"customKeyIdentifier": nil, "displayName": dn, "endDateTime": graphTime(s.EndDateTime),
			"hint": s.Hint, "keyId": s.KeyID, "secretText": nil, "startDateTime": nil})
	}
	return map[string]any{
		"id":                     a.ID,
		"deletedDateTime":        nil,
		"appId":                  a.AppID,
		"createdDateTime":        nil,
		"description":            nil,
		"displayName":            a.DisplayName,
		"identifierUris":         []string{},
		"isFallbackPublicClient": a.PublicClient,
		"publisherDomain":        publisherDomain,
		"signInAudience":         a.SignInAudience,
		"tags":                   []string{},
		"keyCredentials":         []any{},
		"passwordCredentials":    creds,
		"requiredResourceAccess": []any{},
		"api":                    map[string]any{"requestedAccessTokenVersion": nil, "oauth2PermissionScopes": []any{}, "preAuthorizedApplications": []any{}},
		"appRoles":               []any{},
		"publicClient":           map[string]any{"redirectUris": []string{}},
		"web":                    map[string]any{"homePageUrl": nil, "logoutUrl": nil, "redirectUris": []string{}},
		"spa":                    map[string]any{"redirectUris": []string{}},
	}
}

func graphUser(u *User) map[string]any {
	return map[string]any{
		"id":                u.ID,
		"businessPhones":    []string{},
		"displayName":       u.DisplayName,
		"givenName":         nil,
		"jobTitle":          nil,
		"mail":              nil,
		"mobilePhone":       nil,
		"officeLocation":    nil,
		"preferredLanguage": nil,
		"surname":           nil,
		"userPrincipalName": u.UserPrincipalName,
	}
}

func graphTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// graphObject is one directory object with what filters look at.
type graphObject struct {
	id    string
	props map[string]string   // filterable single-valued properties, by lower-case name
	multi map[string][]string // filterable collections, by lower-case name
	body  map[string]any
}

// objects returns the tenant's objects of a collection, sorted by id.
func (e *Emulator) objects(collection, tenantID string) []graphObject {
	var out []graphObject
	e.view(func(s *state) {
		switch collection {
		case "servicePrincipals":
			for _, sp := range s.spsIn[lower(tenantID)] {
				out = append(out, graphObject{id: sp.ID,
					props: map[string]string{"id": sp.ID, "appid": sp.AppID, "displayname": sp.DisplayName, "appownerorganizationid": sp.AppOwnerOrganizationID, "serviceprincipaltype": "Application"},
					multi: map[string][]string{"serviceprincipalnames": sp.ServicePrincipalNames},
					body:  e.graphSP(sp, s.apps[lower(sp.AppID)])})
			}
		case "applications":
			domain := ""
			if t := s.tenants[lower(tenantID)]; t != nil {
				domain = t.DefaultDomain
			}
			for _, a := range s.appsOf[lower(tenantID)] {
				out = append(out, graphObject{id: a.ID,
					props: map[string]string{"id": a.ID, "appid": a.AppID, "displayname": a.DisplayName, "signinaudience": a.SignInAudience},
					multi: map[string][]string{"identifieruris": nil},
					body:  e.graphApp(a, domain)})
			}
		case "users":
			for _, u := range s.usersIn[lower(tenantID)] {
				out = append(out, graphObject{id: u.ID,
					props: map[string]string{"id": u.ID, "userprincipalname": u.UserPrincipalName, "displayname": u.DisplayName, "mail": "", "usertype": "Member"},
					body:  graphUser(u)})
			}
		}
	})
	sort.Slice(out, func(i, j int) bool { return lower(out[i].id) < lower(out[j].id) })
	return out
}

func (e *Emulator) graphList(w http.ResponseWriter, r *http.Request, c *Caller, collection string) error {
	q := r.URL.Query()
	top := 100
	if s := q.Get("$top"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 999 {
			return gerr(400, "Request_BadRequest", "Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", s)
		}
		top = n
	}
	skip := 0
	if s := q.Get("$skiptoken"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return gerr(400, "Request_BadRequest", "The specified page token value has expired or is invalid: '%s'.", s)
		}
		skip = n
	}
	for _, p := range []string{"$orderby", "$expand", "$search", "$skip"} {
		if q.Has(p) {
			return gerr(400, "Request_UnsupportedQuery", "The query option '%s' is not supported by the emulator on %s; use $filter, $top and $select.", p, collection)
		}
	}
	var match func(graphObject) bool = func(graphObject) bool { return true }
	if f := q.Get("$filter"); f != "" {
		m, err := parseGraphFilter(f, collection)
		if err != nil {
			return err
		}
		match = m
	}
	items := []map[string]any{}
	all := e.objects(collection, c.TenantID)
	n := 0
	next := ""
	for _, o := range all {
		if !match(o) {
			continue
		}
		if n < skip {
			n++
			continue
		}
		if len(items) == top {
			nq := url.Values{}
			for k, v := range q {
				nq[k] = v
			}
			nq.Set("$skiptoken", strconv.Itoa(n))
			next = e.graphRoot() + "/" + collection + "?" + nq.Encode()
			break
		}
		items = append(items, o.body)
		n++
	}
	out := map[string]any{"@odata.context": e.graphRoot() + "/$metadata#" + collection, "value": items}
	if next != "" {
		out["@odata.nextLink"] = next
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (e *Emulator) graphGetOne(w http.ResponseWriter, c *Caller, collection, id string) error {
	key, _ := url.PathUnescape(id)
	if collection == "users" && strings.Contains(key, "@") {
		for _, o := range e.objects(collection, c.TenantID) {
			if strings.EqualFold(o.props["userprincipalname"], key) {
				return e.writeGraphEntity(w, collection, o.body)
			}
		}
		return gerr(404, "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried reference-property objects are not present.", key)
	}
	if !azureid.IsGUID(key) {
		return gerr(400, "Request_BadRequest", "Invalid object identifier '%s'.", key)
	}
	if collection == "directoryObjects" {
		for _, coll := range []string{"users", "servicePrincipals", "applications"} {
			for _, o := range e.objects(coll, c.TenantID) {
				if strings.EqualFold(o.id, key) {
					body := withType(o.body, coll)
					body["@odata.context"] = e.graphRoot() + "/$metadata#directoryObjects/$entity"
					writeJSON(w, http.StatusOK, body)
					return nil
				}
			}
		}
	}
	for _, o := range e.objects(collection, c.TenantID) {
		if strings.EqualFold(o.id, key) {
			return e.writeGraphEntity(w, collection, o.body)
		}
	}
	return gerr(404, "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried reference-property objects are not present.", key)
}

func (e *Emulator) graphGetByAppID(w http.ResponseWriter, c *Caller, collection, appID string) error {
	for _, o := range e.objects(collection, c.TenantID) {
		if strings.EqualFold(o.props["appid"], appID) {
			return e.writeGraphEntity(w, collection, o.body)
		}
	}
	return gerr(404, "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried reference-property objects are not present.", appID)
}

func (e *Emulator) writeGraphEntity(w http.ResponseWriter, collection string, body map[string]any) error {
	out := map[string]any{"@odata.context": e.graphRoot() + "/$metadata#" + collection + "/$entity"}
	for k, v := range body {
		out[k] = v
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func withType(body map[string]any, collection string) map[string]any {
	out := map[string]any{"@odata.type": "#microsoft.graph." + odataType(collection)}
	for k, v := range body {
		out[k] = v
	}
	return out
}

// readGraphJSON decodes a JSON object body into v, rejecting what Graph
// rejects: a body that is not JSON, trailing data, unknown properties.
func readGraphJSON(w http.ResponseWriter, r *http.Request, v any, typeName string) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, graphMaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return gerr(413, "Request_BadRequest", "The request body exceeds %d bytes.", graphMaxBody)
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return gerr(400, "Request_BadRequest", "Property %s does not exist on type 'microsoft.graph.%s'. Make sure to only use property names that are defined by the type.", strings.ReplaceAll(f, `"`, "'"), typeName)
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return gerr(400, "Request_BadRequest", "Invalid value for property '%s': expected %s.", ute.Field, ute.Type)
		}
		return gerr(400, "Request_BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return gerr(400, "Request_BadRequest", "Unable to read JSON request payload: unexpected data after the JSON object.")
	}
	return nil
}

// spCreate is the body of POST servicePrincipals. Properties other than
// appId are accepted and ignored.
type spCreate struct {
	AppID                     *string         `json:"appId"`
	AccountEnabled            *bool           `json:"accountEnabled"`
	DisplayName               *string         `json:"displayName"`
	Tags                      []string        `json:"tags"`
	AppRoleAssignmentRequired *bool           `json:"appRoleAssignmentRequired"`
	Notes                     *string         `json:"notes"`
	Description               *string         `json:"description"`
	ODataType                 json.RawMessage `json:"@odata.type"`
}

// graphCreateSP is POST servicePrincipals {"appId"}: az ad sp create --id.
func (e *Emulator) graphCreateSP(w http.ResponseWriter, r *http.Request, c *Caller) error {
	var body spCreate
	if err := readGraphJSON(w, r, &body, "servicePrincipal"); err != nil {
		return err
	}
	if body.AppID == nil || strings.TrimSpace(*body.AppID) == "" {
		return gerr(400, "Request_BadRequest", "The property 'appId' is required when creating a servicePrincipal.")
	}
	appID := strings.TrimSpace(*body.AppID)
	if !azureid.IsGUID(appID) {
		return gerr(400, "Request_BadRequest", "Invalid value specified for property 'appId' of resource 'ServicePrincipal': '%s' is not a GUID.", appID)
	}
	if !e.isGlobalAdmin(c) {
		return gerr(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	}
	var created *ServicePrincipal
	var appCopy *Application
	err := e.update(r.Context(), func(t *txn) error {
		app := t.s.apps[lower(appID)]
		if app == nil || (!app.Multitenant() && !strings.EqualFold(app.TenantID, c.TenantID)) {
			return gerr(400, "Request_BadRequest", "The appId '%s' of the service principal does not reference a valid application object.", appID)
		}
		if _, ok := t.s.spsOfApp.first(spKey(c.TenantID, app.AppID)); ok {
			return gerr(409, "Request_MultipleObjectsWithSameKeyValue", "The service principal cannot be created, updated, or restored because the service principal name %s is already in use.", app.AppID)
		}
		sp, err := e.ensureServicePrincipalTx(t, c.TenantID, app)
		if err != nil {
			return err
		}
		cp, ca := *sp, *app
		created, appCopy = &cp, &ca
		return nil
	})
	if err != nil {
		return err
	}
	out := map[string]any{"@odata.context": e.graphRoot() + "/$metadata#servicePrincipals/$entity"}
	for k, v := range e.graphSP(created, appCopy) {
		out[k] = v
	}
	w.Header().Set("Location", e.base+"/graph/v2/"+c.TenantID+"/directoryObjects/"+created.ID+"/Microsoft.DirectoryServices.ServicePrincipal")
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// isGlobalAdmin reports whether the caller is a Global Administrator user
// of its token's tenant.
func (e *Emulator) isGlobalAdmin(c *Caller) bool {
	if c.PrincipalType != "User" {
		return false
	}
	u := e.userByID(c.ObjectID)
	return u != nil && u.GlobalAdmin && strings.EqualFold(u.TenantID, c.TenantID)
}

type getByIdsBody struct {
	IDs   []string `json:"ids"`
	Types []string `json:"types"`
}

func (e *Emulator) graphGetByIds(w http.ResponseWriter, r *http.Request, c *Caller) error {
	var body getByIdsBody
	if err := readGraphJSON(w, r, &body, "directoryObject"); err != nil {
		return err
	}
	if body.IDs == nil {
		return gerr(400, "Request_BadRequest", "The property 'ids' is required.")
	}
	if len(body.IDs) > 1000 {
		return gerr(400, "Request_BadRequest", "The number of ids (%d) exceeds the limit of 1000.", len(body.IDs))
	}
	colls := []string{}
	for _, t := range body.Types {
		switch strings.ToLower(strings.TrimPrefix(strings.ToLower(t), "microsoft.graph.")) {
		case "user":
			colls = append(colls, "users")
		case "serviceprincipal":
			colls = append(colls, "servicePrincipals")
		case "application":
			colls = append(colls, "applications")
		case "group", "device", "orgcontact", "directoryrole", "administrativeunit", "directoryobjectpartnerreference":
			// valid types with no objects in the emulator (az asks for
			// directoryObjectPartnerReference when it resolves assignees)
		default:
			return gerr(400, "Request_BadRequest", "Invalid value '%s' in property 'types'. Supported types: user, group, device, servicePrincipal, application, orgContact, directoryRole, administrativeUnit.", t)
		}
	}
	if len(body.Types) == 0 {
		colls = []string{"users", "servicePrincipals", "applications"}
	}
	byID := map[string]map[string]any{}
	for _, coll := range colls {
		for _, o := range e.objects(coll, c.TenantID) {
			byID[lower(o.id)] = withType(o.body, coll)
		}
	}
	items := []map[string]any{}
	seen := map[string]bool{}
	for _, id := range body.IDs {
		if !azureid.IsGUID(id) {
			return gerr(400, "Request_BadRequest", "Invalid GUID:%s", id)
		}
		if o := byID[lower(id)]; o != nil && !seen[lower(id)] {
			seen[lower(id)] = true
			items = append(items, o)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": e.graphRoot() + "/$metadata#directoryObjects", "value": items})
	return nil
}

// --- $filter: a small OData subset. Clauses joined by "and":
//   prop eq 'value'
//   startswith(prop,'value')
//   collection/any(x:x eq 'value')

var (
	reEq         = regexp.MustCompile(`^([A-Za-z]+)\s+eq\s+('(?:[^']|'')*'|null|true|false)$`)
	reStartsWith = regexp.MustCompile(`(?i)^startswith\(\s*([A-Za-z]+)\s*,\s*('(?:[^']|'')*')\s*\)$`)
	reAny        = regexp.MustCompile(`^([A-Za-z]+)/any\(\s*([A-Za-z]\w*)\s*:\s*([A-Za-z]\w*)\s+eq\s+('(?:[^']|'')*')\s*\)$`)
	reAnd        = regexp.MustCompile(`\s+and\s+`)
)

// parseODataString decodes an OData string literal: 'It”s'.
func parseODataString(s string) (string, error) {
	if len(s) < 2 || s[0] != '\'' || s[len(s)-1] != '\'' {
		return "", errors.New("expected a quoted string")
	}
	inner := s[1 : len(s)-1]
	if strings.Count(strings.ReplaceAll(inner, "''", ""), "'") > 0 {
		return "", errors.New("unescaped quote")
	}
	return strings.ReplaceAll(inner, "''", "'"), nil
}

// splitAnd splits a filter on " and " outside string literals.
func splitAnd(f string) []string {
	var out []string
	inStr := false
	start := 0
	for i := 0; i < len(f); i++ {
		if f[i] == '\'' {
			inStr = !inStr
			continue
		}
		if !inStr {
			if loc := reAnd.FindStringIndex(f[i:]); loc != nil && loc[0] == 0 {
				out = append(out, f[start:i])
				i += loc[1] - 1
				start = i + 1
			}
		}
	}
	return append(out, f[start:])
}

func typeLabel(collection string) string {
	t := odataType(collection)
	return strings.ToUpper(t[:1]) + t[1:]
}

func parseGraphFilter(f, collection string) (func(graphObject) bool, error) {
	sample := graphObject{}
	switch collection {
	case "servicePrincipals":
		sample.props = map[string]string{"id": "", "appid": "", "displayname": "", "appownerorganizationid": "", "serviceprincipaltype": ""}
		sample.multi = map[string][]string{"serviceprincipalnames": nil}
	case "applications":
		sample.props = map[string]string{"id": "", "appid": "", "displayname": "", "signinaudience": ""}
		sample.multi = map[string][]string{"identifieruris": nil}
	case "users":
		sample.props = map[string]string{"id": "", "userprincipalname": "", "displayname": "", "mail": "", "usertype": ""}
	}
	unsupported := func(prop string) error {
		return gerr(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", prop, typeLabel(collection))
	}
	var preds []func(graphObject) bool
	for _, clause := range splitAnd(strings.TrimSpace(f)) {
		clause = strings.TrimSpace(clause)
		for strings.HasPrefix(clause, "(") && strings.HasSuffix(clause, ")") && !strings.Contains(clause[1:len(clause)-1], "(") {
			clause = strings.TrimSpace(clause[1 : len(clause)-1])
		}
		if m := reEq.FindStringSubmatch(clause); m != nil {
			prop := lower(m[1])
			if _, ok := sample.props[prop]; !ok {
				return nil, unsupported(m[1])
			}
			if !strings.HasPrefix(m[2], "'") {
				return nil, gerr(400, "Request_UnsupportedQuery", "Unsupported Query: property '%s' can only be compared with a string literal.", m[1])
			}
			v, err := parseODataString(m[2])
			if err != nil {
				return nil, gerr(400, "BadRequest", "Invalid filter clause: %s in %s.", err, clause)
			}
			preds = append(preds, func(o graphObject) bool { return strings.EqualFold(o.props[prop], v) })
			continue
		}
		if m := reStartsWith.FindStringSubmatch(clause); m != nil {
			prop := lower(m[1])
			if _, ok := sample.props[prop]; !ok {
				return nil, unsupported(m[1])
			}
			v, err := parseODataString(m[2])
			if err != nil {
				return nil, gerr(400, "BadRequest", "Invalid filter clause: %s in %s.", err, clause)
			}
			preds = append(preds, func(o graphObject) bool { return strings.HasPrefix(lower(o.props[prop]), lower(v)) })
			continue
		}
		if m := reAny.FindStringSubmatch(clause); m != nil {
			prop := lower(m[1])
			if _, ok := sample.multi[prop]; !ok {
				return nil, unsupported(m[1])
			}
			if m[2] != m[3] {
				return nil, gerr(400, "BadRequest", "Invalid filter clause: the lambda variable '%s' is not defined in %s.", m[3], clause)
			}
			v, err := parseODataString(m[4])
			if err != nil {
				return nil, gerr(400, "BadRequest", "Invalid filter clause: %s in %s.", err, clause)
			}
			preds = append(preds, func(o graphObject) bool {
				for _, x := range o.multi[prop] {
					if strings.EqualFold(x, v) {
						return true
					}
				}
				return false
			})
			continue
		}
		name := clause
		if i := strings.IndexAny(name, " (/"); i > 0 {
			name = name[:i]
		}
		if strings.EqualFold(name, "startswith") || strings.Contains(clause, " ne ") || strings.Contains(clause, " or ") || strings.Contains(clause, " in ") {
			return nil, gerr(400, "Request_UnsupportedQuery", "Unsupported query: '%s'. The emulator supports prop eq 'v', startswith(prop,'v') and collection/any(c:c eq 'v'), joined with and.", clause)
		}
		if _, ok := sample.props[lower(name)]; !ok {
			if _, ok := sample.multi[lower(name)]; !ok && regexp.MustCompile(`^[A-Za-z]+$`).MatchString(name) {
				return nil, unsupported(name)
			}
		}
		return nil, gerr(400, "BadRequest", "Invalid filter clause: '%s'.", clause)
	}
	return func(o graphObject) bool {
		for _, p := range preds {
			if !p(o) {
				return false
			}
		}
		return true
	}, nil
}
