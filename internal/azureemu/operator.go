package azureemu

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"github.com/peerplane/peerplane/internal/azureid"
)

// Built-in role definition ids, as in every Azure tenant.
const (
	RoleOwner                   = "8e3af657-a8ff-443c-a25c-2fe3c4341f4d"
	RoleContributor             = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	RoleReader                  = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	RoleNetworkContributor      = "4d97b98b-1d4f-4787-a291-c67834d212e7"
	RoleUserAccessAdministrator = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
)

// Error is an emulator error with an HTTP status and an Azure error code.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// TenantSpec describes a tenant to create.
type TenantSpec struct {
	ID            string    `json:"id"`
	DisplayName   string    `json:"displayName"`
	DefaultDomain string    `json:"defaultDomain,omitempty"`
	Admin         *UserSpec `json:"admin,omitempty"`
}

// UserSpec describes a user to create.
type UserSpec struct {
	ID                string `json:"id,omitempty"`
	UserPrincipalName string `json:"userPrincipalName"`
	DisplayName       string `json:"displayName,omitempty"`
	Password          string `json:"password"`
	GlobalAdmin       bool   `json:"globalAdmin,omitempty"`
}

// SubscriptionSpec describes a subscription to create.
type SubscriptionSpec struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	// Owner is the user principal name or object id of the subscription's
	// Owner; empty means the tenant's Global Administrators.
	Owner string `json:"owner,omitempty"`
}

// ApplicationSpec describes an app registration to create.
type ApplicationSpec struct {
	AppID          string `json:"appId,omitempty"`
	DisplayName    string `json:"displayName"`
	SignInAudience string `json:"signInAudience,omitempty"` // default AzureADMultipleOrgs
}

// CreateTenant creates a tenant and, when spec.Admin is set, its Global
// Administrator. It fails with 409 Conflict if the tenant exists.
func (e *Emulator) CreateTenant(ctx context.Context, spec TenantSpec) (*Tenant, error) {
	if !azureid.IsGUID(spec.ID) {
		return nil, errorf(400, "InvalidTenantId", "The tenant id '%s' is not a valid GUID (field 'id').", spec.ID)
	}
	if strings.TrimSpace(spec.DisplayName) == "" {
		spec.DisplayName = "Tenant " + spec.ID[:8]
	}
	if spec.DefaultDomain == "" {
		spec.DefaultDomain = strings.ToLower(strings.Join(strings.Fields(spec.DisplayName), "")) + ".onmicrosoft.com"
		spec.DefaultDomain = regexp.MustCompile(`[^a-z0-9.\-]`).ReplaceAllString(spec.DefaultDomain, "")
	}
	if spec.Admin != nil {
		if err := validateUserSpec(spec.Admin); err != nil {
			return nil, err
		}
	}
	var out *Tenant
	err := e.update(ctx, func(t *txn) error {
		if t.s.tenants[lower(spec.ID)] != nil {
			return errorf(409, "TenantAlreadyExists", "The tenant '%s' already exists.", spec.ID)
		}
		if other, ok := t.s.tenantDomain.first(lower(spec.DefaultDomain)); ok {
			return errorf(409, "DomainAlreadyExists", "The domain '%s' is already used by tenant '%s' (field 'defaultDomain').", spec.DefaultDomain, other.ID)
		}
		out = &Tenant{ID: spec.ID, DisplayName: spec.DisplayName, DefaultDomain: spec.DefaultDomain, CreatedAt: e.now().UTC()}
		t.s.tenants[lower(out.ID)] = out
		t.put(KindTenant, out.ID, out)
		if spec.Admin != nil {
			a := *spec.Admin
			a.GlobalAdmin = true
			if _, err := e.createUserTx(t, out.ID, a); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

func validateUserSpec(u *UserSpec) error {
	if !strings.Contains(u.UserPrincipalName, "@") || strings.ContainsAny(u.UserPrincipalName, " \t\r\n") {
		return errorf(400, "InvalidUserPrincipalName", "The user principal name '%s' must have the form user@domain (field 'userPrincipalName').", u.UserPrincipalName)
	}
	if len(u.Password) < 8 {
		return errorf(400, "InvalidPassword", "The password must have at least 8 characters (field 'password').")
	}
	if u.ID != "" && !azureid.IsGUID(u.ID) {
		return errorf(400, "InvalidUserId", "The user id '%s' is not a valid GUID (field 'id').", u.ID)
	}
	return nil
}

// CreateUser adds a user to a tenant.
func (e *Emulator) CreateUser(ctx context.Context, tenantID string, spec UserSpec) (*User, error) {
	if err := validateUserSpec(&spec); err != nil {
		return nil, err
	}
	var out *User
	err := e.update(ctx, func(t *txn) error {
		if t.s.tenants[lower(tenantID)] == nil {
			return errorf(404, "TenantNotFound", "The tenant '%s' was not found.", tenantID)
		}
		u, err := e.createUserTx(t, t.s.tenants[lower(tenantID)].ID, spec)
		out = u
		return err
	})
	return out, err
}

func (e *Emulator) createUserTx(t *txn, tenantID string, spec UserSpec) (*User, error) {
	if len(t.s.usersByUPN[lower(spec.UserPrincipalName)]) > 0 {
		return nil, errorf(409, "UserAlreadyExists", "A user with the user principal name '%s' already exists (field 'userPrincipalName').", spec.UserPrincipalName)
	}
	id := spec.ID
	if id == "" {
		id = uuid.NewString()
	}
	if t.s.users[lower(id)] != nil || t.s.sps[lower(id)] != nil {
		return nil, errorf(409, "ObjectAlreadyExists", "An object with id '%s' already exists (field 'id').", id)
	}
	name := spec.DisplayName
	if name == "" {
		name, _, _ = strings.Cut(spec.UserPrincipalName, "@")
	}
	u := &User{ID: id, TenantID: tenantID, UserPrincipalName: spec.UserPrincipalName, DisplayName: name,
		PasswordHash: hashPassword(spec.Password), GlobalAdmin: spec.GlobalAdmin}
	t.s.users[lower(id)] = u
	t.put(KindUser, id, u)
	return u, nil
}

// CreateSubscription creates a subscription trusted by tenantID and makes
// its owner (by default the tenant's Global Administrators) Owner of it.
func (e *Emulator) CreateSubscription(ctx context.Context, tenantID string, spec SubscriptionSpec) (*Subscription, error) {
	if !azureid.IsGUID(spec.ID) {
		return nil, errorf(400, "InvalidSubscriptionId", "The subscription id '%s' is not a valid GUID (field 'id').", spec.ID)
	}
	if strings.TrimSpace(spec.DisplayName) == "" {
		spec.DisplayName = "Subscription " + spec.ID[:8]
	}
	var out *Subscription
	err := e.update(ctx, func(t *txn) error {
		ten := t.s.tenants[lower(tenantID)]
		if ten == nil {
			return errorf(404, "TenantNotFound", "The tenant '%s' was not found.", tenantID)
		}
		if t.s.subs[lower(spec.ID)] != nil {
			return errorf(409, "SubscriptionAlreadyExists", "The subscription '%s' already exists.", spec.ID)
		}
		var owners []*User
		for _, u := range t.s.usersIn.sortedValues(lower(ten.ID)) {
			if spec.Owner == "" && u.GlobalAdmin || spec.Owner != "" && (strings.EqualFold(u.UserPrincipalName, spec.Owner) || strings.EqualFold(u.ID, spec.Owner)) {
				owners = append(owners, u)
			}
		}
		if spec.Owner != "" && len(owners) == 0 {
			return errorf(400, "PrincipalNotFound", "The owner '%s' is not a user of tenant '%s' (field 'owner').", spec.Owner, ten.ID)
		}
		out = &Subscription{ID: spec.ID, TenantID: ten.ID, DisplayName: spec.DisplayName, State: "Enabled"}
		t.s.subs[lower(out.ID)] = out
		t.put(KindSubscription, out.ID, out)
		for _, u := range owners {
			ra := &RoleAssignment{ID: uuid.NewString(), TenantID: ten.ID, Scope: "/subscriptions/" + out.ID,
				RoleDefinitionID: RoleOwner, PrincipalID: u.ID, PrincipalType: "User", CreatedOn: e.now().UTC()}
			t.s.roleAssigns[lower(ra.ID)] = ra
			t.put(KindRoleAssignment, ra.ID, ra)
		}
		return nil
	})
	return out, err
}

// CreateApplication registers an app in tenantID, creates its service
// principal there, and returns it with a new client secret (the only time
// the secret is seen).
func (e *Emulator) CreateApplication(ctx context.Context, tenantID string, spec ApplicationSpec) (*Application, string, error) {
	if spec.AppID == "" {
		spec.AppID = uuid.NewString()
	}
	if !azureid.IsGUID(spec.AppID) {
		return nil, "", errorf(400, "InvalidAppId", "The application id '%s' is not a valid GUID (field 'appId').", spec.AppID)
	}
	if spec.SignInAudience == "" {
		spec.SignInAudience = "AzureADMultipleOrgs"
	}
	if spec.SignInAudience != "AzureADMultipleOrgs" && spec.SignInAudience != "AzureADMyOrg" {
		return nil, "", errorf(400, "InvalidSignInAudience", "signInAudience must be AzureADMyOrg or AzureADMultipleOrgs, not '%s' (field 'signInAudience').", spec.SignInAudience)
	}
	var out *Application
	var secret string
	err := e.update(ctx, func(t *txn) error {
		ten := t.s.tenants[lower(tenantID)]
		if ten == nil {
			return errorf(404, "TenantNotFound", "The tenant '%s' was not found.", tenantID)
		}
		if t.s.apps[lower(spec.AppID)] != nil {
			return errorf(409, "ApplicationAlreadyExists", "An application with appId '%s' already exists (field 'appId').", spec.AppID)
		}
		out = &Application{ID: uuid.NewString(), AppID: spec.AppID, TenantID: ten.ID, DisplayName: spec.DisplayName, SignInAudience: spec.SignInAudience}
		t.s.apps[lower(out.AppID)] = out
		secret = e.addSecretTx(t, out, "initial")
		t.put(KindApplication, out.AppID, out)
		_, err := e.ensureServicePrincipalTx(t, ten.ID, out)
		return err
	})
	return out, secret, err
}

// AddApplicationSecret adds a client secret to the app and returns it.
func (e *Emulator) AddApplicationSecret(ctx context.Context, appID, displayName string) (string, error) {
	var secret string
	err := e.update(ctx, func(t *txn) error {
		app := t.s.apps[lower(appID)]
		if app == nil {
			return errorf(404, "ApplicationNotFound", "The application '%s' was not found.", appID)
		}
		secret = e.addSecretTx(t, app, displayName)
		t.put(KindApplication, app.AppID, app)
		return nil
	})
	return secret, err
}

func (e *Emulator) addSecretTx(t *txn, app *Application, displayName string) string {
	b := make([]byte, 30)
	_, _ = rand.Read(b)
	secret := strings.NewReplacer("+", "~", "/", "_").Replace(base64.StdEncoding.EncodeToString(b))
	app.Secrets = append(app.Secrets, Secret{KeyID: uuid.NewString(), Hash: hashSecret(secret), Hint: secret[:3],
		DisplayName: displayName, EndDateTime: e.now().UTC().AddDate(2, 0, 0)})
	return secret
}

// ensureServicePrincipalTx returns app's service principal in tenantID,
// creating it (and emitting EventConsent) if there is none.
func (e *Emulator) ensureServicePrincipalTx(t *txn, tenantID string, app *Application) (*ServicePrincipal, error) {
	if sp, ok := t.s.spsOfApp.first(spKey(tenantID, app.AppID)); ok {
		return sp, nil
	}
	if !strings.EqualFold(app.TenantID, tenantID) && !app.Multitenant() {
		return nil, errorf(400, "AADSTS700016", "Application with identifier '%s' was not found in the directory '%s'. The application is single-tenant.", app.AppID, tenantID)
	}
	sp := &ServicePrincipal{ID: uuid.NewString(), AppID: app.AppID, TenantID: tenantID, AppOwnerOrganizationID: app.TenantID,
		DisplayName: app.DisplayName, ServicePrincipalNames: []string{app.AppID}, CreatedAt: e.now().UTC()}
	t.s.sps[lower(sp.ID)] = sp
	t.put(KindServicePrincipal, sp.ID, sp)
	t.emit(KindServicePrincipal, sp.ID, Event{Type: EventConsent, TenantID: tenantID, ResourceID: sp.ID})
	return sp, nil
}

const pbkdf2Iterations = 4096

func hashPassword(pw string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key, _ := pbkdf2.Key(sha256.New, pw, salt, pbkdf2Iterations, 32)
	return "pbkdf2$" + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key)
}

func checkPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 3 || parts[0] != "pbkdf2" {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[1])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, pw, salt, pbkdf2Iterations, 32)
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawStdEncoding.EncodeToString(sum[:])
}

func checkSecret(app *Application, secret string) bool {
	h := hashSecret(secret)
	ok := false
	for _, s := range app.Secrets {
		if subtle.ConstantTimeCompare([]byte(s.Hash), []byte(h)) == 1 {
			ok = true
		}
	}
	return ok
}

// serveOperator serves the operator's seeding routes under /_emulator.
// They answer only on loopback, unless an operator token is configured
// and presented.
func (e *Emulator) serveOperator(w http.ResponseWriter, r *http.Request) {
	if !e.operatorAllowed(r) {
		writeARMError(w, http.StatusForbidden, "OperatorAccessDenied", "The /_emulator routes answer only on loopback, or with 'Authorization: Bearer <operator token>'.")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 2 && parts[1] == "events" && r.Method == http.MethodGet:
		e.serveEvents(w, r)
	case len(parts) == 2 && parts[1] == "network-snapshot" && r.Method == http.MethodGet:
		// Copies of all VNets, peerings and NSGs, for a reachability engine
		// outside the emulator (internal/reach decodes this shape).
		// ETag is the state's version: a client holding the last
		// snapshot asks with If-None-Match and gets 304 when nothing changed.
		if v := e.stateVersion(); r.Header.Get("If-None-Match") == v {
			w.Header().Set("ETag", v)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		snap := e.Snapshot()
		w.Header().Set("ETag", snap.Version)
		writeJSON(w, http.StatusOK, map[string]any{
			"virtualNetworks":       orEmpty(snap.VirtualNetworks),
			"peerings":              orEmpty(snap.Peerings),
			"networkSecurityGroups": orEmpty(snap.NSGs),
		})
	case len(parts) == 2 && parts[1] == "tenants" && r.Method == http.MethodPost:
		var spec TenantSpec
		if !decodeOperator(w, r, &spec) {
			return
		}
		ten, err := e.CreateTenant(r.Context(), spec)
		writeOperatorResult(w, http.StatusCreated, ten, err)
	case len(parts) == 2 && parts[1] == "tenants" && r.Method == http.MethodGet:
		var out []*Tenant
		e.view(func(s *state) {
			for _, t := range s.tenants {
				out = append(out, t)
			}
		})
		writeJSON(w, http.StatusOK, map[string]any{"value": out})
	case len(parts) == 4 && parts[1] == "tenants" && parts[3] == "subscriptions" && r.Method == http.MethodPost:
		var spec SubscriptionSpec
		if !decodeOperator(w, r, &spec) {
			return
		}
		sub, err := e.CreateSubscription(r.Context(), parts[2], spec)
		writeOperatorResult(w, http.StatusCreated, sub, err)
	case len(parts) == 4 && parts[1] == "tenants" && parts[3] == "users" && r.Method == http.MethodPost:
		var spec UserSpec
		if !decodeOperator(w, r, &spec) {
			return
		}
		u, err := e.CreateUser(r.Context(), parts[2], spec)
		if u != nil {
			u = &User{ID: u.ID, TenantID: u.TenantID, UserPrincipalName: u.UserPrincipalName, DisplayName: u.DisplayName, GlobalAdmin: u.GlobalAdmin}
		}
		writeOperatorResult(w, http.StatusCreated, u, err)
	case len(parts) == 4 && parts[1] == "tenants" && parts[3] == "applications" && r.Method == http.MethodPost:
		var spec ApplicationSpec
		if !decodeOperator(w, r, &spec) {
			return
		}
		app, secret, err := e.CreateApplication(r.Context(), parts[2], spec)
		var body any
		if app != nil {
			body = map[string]any{"appId": app.AppID, "id": app.ID, "tenantId": app.TenantID, "displayName": app.DisplayName,
				"signInAudience": app.SignInAudience, "clientSecret": secret}
		}
		writeOperatorResult(w, http.StatusCreated, body, err)
	default:
		writeARMError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("No operator route %s %s.", r.Method, r.URL.Path))
	}
}

// orEmpty returns s, or an empty slice for nil, so that JSON shows [].
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (e *Emulator) operatorAllowed(r *http.Request) bool {
	if e.opts.OperatorToken != "" {
		if tok, ok := bearer(r.Header.Get("Authorization")); ok && subtle.ConstantTimeCompare([]byte(tok), []byte(e.opts.OperatorToken)) == 1 {
			return true
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func decodeOperator(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeARMError(w, http.StatusBadRequest, "InvalidRequestContent", "The request content is not valid JSON for this route: "+err.Error())
		return false
	}
	return true
}

func writeOperatorResult(w http.ResponseWriter, status int, v any, err error) {
	var ee *Error
	switch {
	case err == nil:
		writeJSON(w, status, v)
	case errors.As(err, &ee):
		writeARMError(w, ee.Status, ee.Code, ee.Message)
	default:
		writeARMError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
	}
}

// AssignRole grants the built-in or custom role roleID to the principal at
// scope, as the operator (no RBAC check). It is idempotent: an existing
// identical assignment is returned as it is.
func (e *Emulator) AssignRole(ctx context.Context, scope, roleID, principalID string) (*RoleAssignment, error) {
	var out *RoleAssignment
	err := e.update(ctx, func(t *txn) error {
		sub := scopeSubscription(scope)
		s := t.s.subs[lower(sub)]
		if s == nil {
			return errorf(404, "SubscriptionNotFound", "The subscription '%s' could not be found.", sub)
		}
		ptype := ""
		if u := t.s.users[lower(principalID)]; u != nil && strings.EqualFold(u.TenantID, s.TenantID) {
			ptype = "User"
		} else if sp := t.s.sps[lower(principalID)]; sp != nil && strings.EqualFold(sp.TenantID, s.TenantID) {
			ptype = "ServicePrincipal"
		} else {
			return errorf(400, "PrincipalNotFound", "Principal %s does not exist in the directory %s.", principalID, s.TenantID)
		}
		for _, ra := range t.s.assignments.at(scope) {
			if strings.EqualFold(ra.Scope, scope) && strings.EqualFold(ra.PrincipalID, principalID) && strings.EqualFold(ra.RoleDefinitionID, roleID) {
				out = ra
				return nil
			}
		}
		out = &RoleAssignment{ID: uuid.NewString(), TenantID: s.TenantID, Scope: scope, RoleDefinitionID: roleID,
			PrincipalID: principalID, PrincipalType: ptype, CreatedOn: e.now().UTC()}
		t.s.roleAssigns[lower(out.ID)] = out
		t.put(KindRoleAssignment, out.ID, out)
		t.emit(KindRoleAssignment, out.ID, Event{Type: EventRoleAssignment, TenantID: s.TenantID, ResourceID: scope})
		return nil
	})
	return out, err
}

// scopeSubscription returns the subscription id of an ARM scope, or "".
func scopeSubscription(scope string) string {
	parts := strings.Split(strings.Trim(scope, "/"), "/")
	if len(parts) >= 2 && strings.EqualFold(parts[0], "subscriptions") {
		return parts[1]
	}
	return ""
}

// FindServicePrincipal returns the service principal of appID in tenantID.
func (e *Emulator) FindServicePrincipal(tenantID, appID string) (*ServicePrincipal, bool) {
	var out *ServicePrincipal
	e.view(func(s *state) {
		if sp, ok := s.spsOfApp.first(spKey(tenantID, appID)); ok {
			c := *sp
			out = &c
		}
	})
	return out, out != nil
}

// FindApplication returns the app registration with appID.
func (e *Emulator) FindApplication(appID string) (*Application, bool) {
	var out *Application
	e.view(func(s *state) {
		if a := s.apps[lower(appID)]; a != nil {
			c := *a
			out = &c
		}
	})
	return out, out != nil
}

// FindTenant returns the tenant with id.
func (e *Emulator) FindTenant(id string) (*Tenant, bool) {
	var out *Tenant
	e.view(func(s *state) {
		if t := s.tenants[lower(id)]; t != nil {
			c := *t
			out = &c
		}
	})
	return out, out != nil
}

// FindResourceGroup returns resource group name of subscriptionID.
func (e *Emulator) FindResourceGroup(subscriptionID, name string) (*ResourceGroup, bool) {
	var out *ResourceGroup
	e.view(func(s *state) {
		if rg := s.rgs[lower(rgID(subscriptionID, name))]; rg != nil {
			c := *rg
			c.Tags = armCopyTags(rg.Tags)
			out = &c
		}
	})
	return out, out != nil
}

// FindVirtualNetwork returns the virtual network name in resource group rg
// of subscriptionID.
func (e *Emulator) FindVirtualNetwork(subscriptionID, rg, name string) (*VirtualNetwork, bool) {
	var out *VirtualNetwork
	e.view(func(s *state) {
		if v := s.vnets[lower(vnetID(subscriptionID, rg, name))]; v != nil {
			out = copyVNet(v)
		}
	})
	return out, out != nil
}
