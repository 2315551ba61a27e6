package azureemu

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Entra ID: discovery documents, JWKS, the token endpoint (v2 and v1) with
// the client_credentials, password, device_code and refresh_token grants,
// the device code endpoint and the user realm lookup MSAL does before a
// password grant. The consent and device login pages are in consent.go.

// Lifetimes of what the token endpoint hands out besides access tokens.
const (
	refreshTokenLifetime = 90 * 24 * time.Hour
	deviceCodeLifetime   = 15 * time.Minute
	maxPendingCodes      = 10000
	maxFormBytes         = 64 << 10
)

// grantDeviceCode is the device code grant type, as RFC 8628 spells it.
const grantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// entraAuthority is the first path segment of an Entra request, resolved.
type entraAuthority struct {
	Segment string  // as the client spelled it
	Kind    string  // "tenant", "common", "organizations" or "adfs"
	Tenant  *Tenant // set when Kind is "tenant"
}

// specific reports whether the authority names one tenant.
func (a entraAuthority) specific() bool { return a.Kind == "tenant" }

// resolveAuthority resolves a tenant segment: a tenant id, a tenant's
// default domain, common, organizations or adfs.
func (e *Emulator) resolveAuthority(seg string) (entraAuthority, bool) {
	a := entraAuthority{Segment: seg}
	switch strings.ToLower(seg) {
	case "common", "organizations", "adfs":
		a.Kind = strings.ToLower(seg)
		return a, true
	}
	e.view(func(s *state) {
		if t := s.tenants[lower(seg)]; t != nil {
			c := *t
			a.Tenant = &c
			return
		}
		if t, ok := s.tenantDomain.first(lower(seg)); ok {
			c := *t
			a.Tenant = &c
		}
	})
	a.Kind = "tenant"
	return a, a.Tenant != nil
}

func tenantNotFoundDescription(seg string) string {
	return fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", seg)
}

// serveEntra serves /{tenant}/… and /adfs/… and /devicelogin.
func (e *Emulator) serveEntra(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	seg := parts[0]
	rest := strings.ToLower(strings.Join(parts[1:], "/"))
	if strings.EqualFold(seg, "devicelogin") && len(parts) == 1 {
		e.serveDeviceLogin(w, r)
		return
	}
	if strings.EqualFold(seg, "common") && len(parts) == 3 && strings.EqualFold(parts[1], "userrealm") {
		e.serveUserRealm(w, r, parts[2])
		return
	}
	if strings.EqualFold(seg, "common") && rest == "discovery/instance" {
		e.serveInstanceDiscovery(w, r)
		return
	}
	known := map[string]bool{
		"v2.0/.well-known/openid-configuration": true, ".well-known/openid-configuration": true,
		"discovery/v2.0/keys": true, "discovery/keys": true,
		"oauth2/v2.0/token": true, "oauth2/token": true,
		"oauth2/v2.0/devicecode": true, "oauth2/devicecode": true,
		"oauth2/authorize": true, "oauth2/v2.0/authorize": true,
		"v2.0/adminconsent": true, "adminconsent": true,
	}
	if !known[rest] {
		writeOAuthError(w, http.StatusNotFound, "invalid_request", "AADSTS900561",
			fmt.Sprintf("The endpoint '%s' does not exist. Entra ID endpoints: /{tenant}/v2.0/.well-known/openid-configuration, /{tenant}/oauth2/v2.0/token, /{tenant}/oauth2/v2.0/devicecode, /{tenant}/oauth2/authorize, /{tenant}/v2.0/adminconsent, /{tenant}/discovery/v2.0/keys.", r.URL.Path))
		return
	}
	auth, ok := e.resolveAuthority(seg)
	if !ok {
		if strings.Contains(rest, "authorize") || strings.Contains(rest, "adminconsent") {
			e.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Sign in", Heading: "We couldn't sign you in",
				Error: "AADSTS90002: " + tenantNotFoundDescription(seg)})
			return
		}
		writeOAuthError(w, http.StatusBadRequest, "invalid_tenant", "AADSTS90002", tenantNotFoundDescription(seg))
		return
	}
	if auth.Kind == "adfs" && (rest == "v2.0/.well-known/openid-configuration" || strings.Contains(rest, "authorize") || strings.Contains(rest, "adminconsent")) {
		writeOAuthError(w, http.StatusNotFound, "invalid_request", "AADSTS900561", fmt.Sprintf("The endpoint '%s' does not exist for the ADFS authority.", r.URL.Path))
		return
	}
	switch rest {
	case "v2.0/.well-known/openid-configuration":
		e.serveOpenIDConfig(w, r, auth, true)
	case ".well-known/openid-configuration":
		e.serveOpenIDConfig(w, r, auth, auth.Kind == "adfs")
	case "discovery/v2.0/keys", "discovery/keys":
		e.serveJWKS(w, r)
	case "oauth2/v2.0/token":
		e.serveToken(w, r, auth, false)
	case "oauth2/token":
		// ADFS's own token endpoint has no version; it speaks v2.
		e.serveToken(w, r, auth, auth.Kind != "adfs")
	case "oauth2/v2.0/devicecode", "oauth2/devicecode":
		e.serveDeviceCode(w, r, auth)
	default:
		e.serveConsent(w, r, auth, rest)
	}
}

func onlyGET(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "AADSTS900561", fmt.Sprintf("The endpoint only accepts GET requests. Received a %s request.", r.Method))
		return false
	}
	return true
}

// issuerFor is the v2 issuer of an authority: what id tokens carry and what
// the discovery document announces.
func (e *Emulator) issuerFor(tenantID string) string { return e.base + "/" + tenantID + "/v2.0" }

func (e *Emulator) serveOpenIDConfig(w http.ResponseWriter, r *http.Request, auth entraAuthority, v2 bool) {
	if !onlyGET(w, r) {
		return
	}
	seg := auth.Segment
	tid := "{tenantid}"
	if auth.specific() {
		tid = auth.Tenant.ID
	}
	host := strings.TrimPrefix(strings.TrimPrefix(e.base, "https://"), "http://")
	doc := map[string]any{
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"request_uri_parameter_supported":       false,
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "name", "oid", "tid", "upn", "preferred_username", "ver"},
		"grant_types_supported":                 []string{"client_credentials", "password", grantDeviceCode, "refresh_token"},
		"tenant_region_scope":                   nil,
		"cloud_instance_name":                   host,
		"cloud_graph_host_name":                 host,
		"msgraph_host":                          host + "/graph",
		"rbac_url":                              e.base,
	}
	switch {
	case auth.Kind == "adfs":
		doc["issuer"] = e.base + "/adfs"
		doc["token_endpoint"] = e.base + "/adfs/oauth2/v2.0/token"
		doc["authorization_endpoint"] = e.base + "/adfs/oauth2/authorize"
		doc["device_authorization_endpoint"] = e.base + "/adfs/oauth2/v2.0/devicecode"
		doc["jwks_uri"] = e.base + "/adfs/discovery/keys"
		doc["end_session_endpoint"] = e.base + "/adfs/oauth2/logout"
		doc["access_token_issuer"] = e.base + "/adfs"
	case v2:
		doc["issuer"] = e.base + "/" + tid + "/v2.0"
		doc["token_endpoint"] = e.base + "/" + seg + "/oauth2/v2.0/token"
		doc["authorization_endpoint"] = e.base + "/" + seg + "/oauth2/v2.0/authorize"
		doc["device_authorization_endpoint"] = e.base + "/" + seg + "/oauth2/v2.0/devicecode"
		doc["jwks_uri"] = e.base + "/" + seg + "/discovery/v2.0/keys"
		doc["end_session_endpoint"] = e.base + "/" + seg + "/oauth2/v2.0/logout"
		doc["userinfo_endpoint"] = e.base + "/graph/oidc/userinfo"
		doc["kerberos_endpoint"] = e.base + "/" + seg + "/kerberos"
	default:
		doc["issuer"] = issuer(tid)
		doc["token_endpoint"] = e.base + "/" + seg + "/oauth2/token"
		doc["authorization_endpoint"] = e.base + "/" + seg + "/oauth2/authorize"
		doc["device_authorization_endpoint"] = e.base + "/" + seg + "/oauth2/devicecode"
		doc["jwks_uri"] = e.base + "/" + seg + "/discovery/keys"
		doc["end_session_endpoint"] = e.base + "/" + seg + "/oauth2/logout"
		doc["userinfo_endpoint"] = e.base + "/" + seg + "/openid/userinfo"
		doc["kerberos_endpoint"] = e.base + "/" + seg + "/kerberos"
	}
	writeJSON(w, http.StatusOK, doc)
}

func (e *Emulator) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if !onlyGET(w, r) {
		return
	}
	pub := e.signer.PublicKey
	sum := sha256.Sum256(pub.N.Bytes())
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA",
		"use": "sig",
		"alg": "RS256",
		"kid": e.keyID,
		"x5t": base64.RawURLEncoding.EncodeToString(sum[:20]),
		"n":   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// serveUserRealm answers MSAL's home realm discovery before a password
// grant: every account of the emulator is a managed (cloud) account.
func (e *Emulator) serveUserRealm(w http.ResponseWriter, r *http.Request, upn string) {
	if !onlyGET(w, r) {
		return
	}
	name, _ := url.PathUnescape(upn)
	_, domain, _ := strings.Cut(name, "@")
	host := strings.TrimPrefix(strings.TrimPrefix(e.base, "https://"), "http://")
	writeJSON(w, http.StatusOK, map[string]any{
		"ver":                 "1.0",
		"account_type":        "Managed",
		"domain_name":         domain,
		"cloud_instance_name": host,
		"cloud_audience_urn":  "urn:federation:MicrosoftOnline",
	})
}

// serveInstanceDiscovery answers /common/discovery/instance, which clients
// that validate authorities call first.
func (e *Emulator) serveInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	if !onlyGET(w, r) {
		return
	}
	tenant := "common"
	if ae := r.URL.Query().Get("authorization_endpoint"); ae != "" {
		if u, err := url.Parse(ae); err == nil {
			if p := strings.Split(strings.Trim(u.Path, "/"), "/"); p[0] != "" {
				tenant = p[0]
			}
		}
	}
	host := strings.TrimPrefix(strings.TrimPrefix(e.base, "https://"), "http://")
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": e.base + "/" + url.PathEscape(tenant) + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []map[string]any{{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
	})
}

// tokenError is an Entra token endpoint error.
type tokenError struct {
	status int
	code   string // OAuth error
	aadsts string // "AADSTS…"
	desc   string
}

func (t *tokenError) Error() string { return t.aadsts + ": " + t.desc }

func tokErr(status int, code, aadsts, format string, args ...any) *tokenError {
	return &tokenError{status: status, code: code, aadsts: aadsts, desc: fmt.Sprintf(format, args...)}
}

func missingParam(name string) *tokenError {
	return tokErr(400, "invalid_request", "AADSTS900144", "The request body must contain the following parameter: '%s'.", name)
}

func appNotFound(appID, tenant string) *tokenError {
	return tokErr(400, "unauthorized_client", "AADSTS700016", "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", appID, tenant)
}

func (e *Emulator) writeTokenError(w http.ResponseWriter, err error) {
	var te *tokenError
	if errors.As(err, &te) {
		writeOAuthError(w, te.status, te.code, te.aadsts, te.desc)
		return
	}
	var ee *Error
	if errors.As(err, &ee) && ee.Status < 500 {
		writeOAuthError(w, ee.Status, "invalid_request", "", ee.Message)
		return
	}
	e.log.Error("token endpoint", "err", err)
	writeOAuthError(w, http.StatusInternalServerError, "server_error", "AADSTS90033", "A transient error has occurred. Please try again.")
}

// readForm parses a POSTed form body (only the body, as Entra does).
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, *tokenError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return nil, tokErr(http.StatusMethodNotAllowed, "invalid_request", "AADSTS900561", "The endpoint only accepts POST requests. Received a %s request.", r.Method)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tokErr(http.StatusRequestEntityTooLarge, "invalid_request", "AADSTS90020", "The request body exceeds %d bytes.", maxFormBytes)
		}
		return nil, tokErr(400, "invalid_request", "AADSTS9002313", "Invalid request. Request is malformed or invalid: the body is not a valid application/x-www-form-urlencoded form.")
	}
	return r.PostForm, nil
}

// tokenRequest is a token endpoint request after its form is read.
type tokenRequest struct {
	auth     entraAuthority
	v1       bool
	form     url.Values
	clientID string
	resource string // the access token's audience
	scope    string // granted scope, echoed back
}

func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request, auth entraAuthority, v1 bool) {
	form, ferr := readForm(w, r)
	if ferr != nil {
		e.writeTokenError(w, ferr)
		return
	}
	req := &tokenRequest{auth: auth, v1: v1, form: form}
	resp, err := e.token(req, r)
	if err != nil {
		e.writeTokenError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

func (e *Emulator) token(req *tokenRequest, r *http.Request) (map[string]any, error) {
	f := req.form
	grant := f.Get("grant_type")
	if grant == "" {
		return nil, missingParam("grant_type")
	}
	req.clientID = f.Get("client_id")
	secret := f.Get("client_secret")
	if id, pw, ok := r.BasicAuth(); ok {
		if req.clientID == "" {
			req.clientID = id
		}
		if secret == "" {
			secret = pw
		}
	}
	if grant == "device_code" {
		grant = grantDeviceCode
	}
	switch grant {
	case "client_credentials", "password", grantDeviceCode, "refresh_token":
	default:
		return nil, tokErr(400, "unsupported_grant_type", "AADSTS70003", "The app requested an unsupported grant type '%s'. Supported: client_credentials, password, %s, refresh_token.", grant, grantDeviceCode)
	}
	if req.clientID == "" {
		return nil, missingParam("client_id")
	}
	if grant != "refresh_token" && grant != grantDeviceCode {
		if err := e.resolveResource(req, grant == "client_credentials"); err != nil {
			return nil, err
		}
	}
	switch grant {
	case "client_credentials":
		return e.clientCredentials(req, secret)
	case "password":
		return e.passwordGrant(req)
	case grantDeviceCode:
		return e.deviceCodeGrant(req)
	default:
		return e.refreshGrant(req)
	}
}

// oidcScopes are scopes that name no resource.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "offline_access": true, "email": true}

// scopeResource returns the resource (audience) a v2 scope names, as the
// resource spells it: "https://management.core.windows.net//.default" is
// "https://management.core.windows.net/", "https://management.azure.com/.default"
// is "https://management.azure.com". A bare scope ("User.Read") is Graph's.
func scopeResource(s string) (string, bool) {
	if oidcScopes[strings.ToLower(s)] {
		return "", false
	}
	if res, ok := strings.CutSuffix(s, "/.default"); ok {
		return res, true
	}
	i := strings.LastIndex(s, "/")
	if i < 0 {
		return "https://graph.microsoft.com", true
	}
	res := s[:i]
	if j := strings.Index(res, "://"); j >= 0 && len(res) <= j+3 {
		return s, true
	}
	return res, true
}

// resolveResource sets req.resource and req.scope from scope (v2) or
// resource (v1), and checks the resource is one the emulator serves.
func (e *Emulator) resolveResource(req *tokenRequest, appOnly bool) error {
	f := req.form
	scope := strings.Join(strings.Fields(f.Get("scope")), " ")
	resource := f.Get("resource")
	switch {
	case scope == "" && resource != "" && (req.v1 || req.auth.Kind == "adfs"):
		req.resource, req.scope = resource, "user_impersonation"
	case scope == "" && req.v1:
		return missingParam("resource")
	case scope == "":
		return missingParam("scope")
	default:
		req.scope = scope
		for _, s := range strings.Fields(scope) {
			res, ok := scopeResource(s)
			if !ok {
				continue
			}
			if appOnly && !strings.HasSuffix(s, "/.default") {
				return tokErr(400, "invalid_scope", "AADSTS1002012", "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", s)
			}
			if req.resource != "" && !strings.EqualFold(req.resource, res) {
				return tokErr(400, "invalid_scope", "AADSTS28000", "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid.", scope)
			}
			req.resource = res
		}
		if req.resource == "" {
			if appOnly {
				return tokErr(400, "invalid_scope", "AADSTS1002012", "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope)
			}
			req.resource = "00000003-0000-0000-c000-000000000000"
		}
	}
	if !e.audienceOK("arm", req.resource) && !e.audienceOK("graph", req.resource) {
		tenant := req.auth.Segment
		return tokErr(400, "invalid_resource", "AADSTS500011", "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant. The emulator serves ARM (https://management.core.windows.net/, https://management.azure.com, %s) and Graph (%s/graph/).", req.resource, tenant, e.base, e.base)
	}
	return nil
}

func (e *Emulator) accessTokenResponse(req *tokenRequest, c Caller, scp string) (map[string]any, error) {
	tok, exp, err := e.issueToken(c, req.resource, scp)
	if err != nil {
		return nil, err
	}
	secs := int64(exp.Sub(e.now()) / time.Second)
	out := map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   tok,
	}
	if req.v1 {
		out["expires_in"] = strconv.FormatInt(secs, 10)
		out["ext_expires_in"] = strconv.FormatInt(secs, 10)
		out["expires_on"] = strconv.FormatInt(exp.Unix(), 10)
		out["not_before"] = strconv.FormatInt(e.now().Unix(), 10)
		out["resource"] = req.resource
	}
	return out, nil
}

func (e *Emulator) clientCredentials(req *tokenRequest, secret string) (map[string]any, error) {
	var app *Application
	var sp *ServicePrincipal
	tenantID := ""
	e.view(func(s *state) {
		if a := s.apps[lower(req.clientID)]; a != nil {
			c := *a
			app = &c
		}
	})
	switch {
	case req.auth.specific():
		tenantID = req.auth.Tenant.ID
	case req.auth.Kind == "adfs" && app != nil:
		tenantID = app.TenantID
	case req.auth.Kind == "adfs":
		return nil, appNotFound(req.clientID, "adfs")
	default:
		return nil, tokErr(400, "invalid_request", "AADSTS50059", "No tenant-identifying information found in either the request or implied by any provided credentials. The client credentials grant needs a tenant in the path, not '%s'.", req.auth.Segment)
	}
	if app == nil {
		return nil, appNotFound(req.clientID, tenantID)
	}
	sp, _ = e.FindServicePrincipal(tenantID, app.AppID)
	if sp == nil {
		return nil, appNotFound(req.clientID, tenantID)
	}
	if secret == "" {
		if req.form.Get("client_assertion") != "" {
			return nil, tokErr(401, "invalid_client", "AADSTS700027", "Client assertion failed signature validation: the emulator accepts only client secrets for app '%s'.", app.AppID)
		}
		return nil, tokErr(401, "invalid_client", "AADSTS7000218", "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	if !checkSecret(app, secret) {
		return nil, tokErr(401, "invalid_client", "AADSTS7000215", "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", app.AppID)
	}
	if !secretValid(app, secret, e.now()) {
		return nil, tokErr(401, "invalid_client", "AADSTS7000222", "The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app.", app.AppID)
	}
	c := Caller{TenantID: tenantID, ObjectID: sp.ID, AppID: app.AppID, PrincipalType: "ServicePrincipal", Name: app.DisplayName}
	return e.accessTokenResponse(req, c, "")
}

// secretValid reports whether secret matches one of app's unexpired secrets.
func secretValid(app *Application, secret string, now time.Time) bool {
	h := hashSecret(secret)
	for _, s := range app.Secrets {
		if s.Hash == h && (s.EndDateTime.IsZero() || now.Before(s.EndDateTime)) {
			return true
		}
	}
	return false
}

// publicClient checks that clientID may sign users in without a secret and
// that it may do so in tenantID (the user's tenant).
func (e *Emulator) publicClient(clientID, tenantID string) error {
	if strings.EqualFold(clientID, AzureCLIClientID) {
		return nil
	}
	app, ok := e.FindApplication(clientID)
	if !ok {
		return appNotFound(clientID, tenantID)
	}
	if !app.PublicClient {
		return tokErr(401, "invalid_client", "AADSTS7000218", "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	if _, ok := e.FindServicePrincipal(tenantID, app.AppID); !ok {
		if !app.Multitenant() {
			return appNotFound(clientID, tenantID)
		}
		return tokErr(400, "invalid_grant", "AADSTS65001", "The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", app.AppID, app.DisplayName)
	}
	return nil
}

// userByUPN returns a copy of the user with that principal name.
func (e *Emulator) userByUPN(upn string) *User {
	var out *User
	e.view(func(s *state) {
		if u, ok := s.usersByUPN.first(lower(upn)); ok {
			c := *u
			out = &c
		}
	})
	return out
}

func (e *Emulator) userByID(id string) *User {
	var out *User
	e.view(func(s *state) {
		if u := s.users[lower(id)]; u != nil {
			c := *u
			out = &c
		}
	})
	return out
}

func userNotInTenant(tenant string) *tokenError {
	return tokErr(400, "invalid_grant", "AADSTS50034", "The user account {EUII Hidden} does not exist in the %s directory. To sign into this application, the account must be added to the directory.", tenant)
}

// signIn checks a user's credentials against an authority: the user must
// belong to the authority's tenant when it names one.
func (e *Emulator) signIn(auth entraAuthority, upn, password string) (*User, *tokenError) {
	u := e.userByUPN(upn)
	dir := auth.Segment
	if auth.specific() {
		dir = auth.Tenant.ID
	}
	if u == nil || auth.specific() && !strings.EqualFold(u.TenantID, auth.Tenant.ID) {
		return nil, userNotInTenant(dir)
	}
	if !checkPassword(u.PasswordHash, password) {
		return nil, tokErr(400, "invalid_grant", "AADSTS50126", "Error validating credentials due to invalid username or password.")
	}
	return u, nil
}

func (e *Emulator) passwordGrant(req *tokenRequest) (map[string]any, error) {
	upn, pw := req.form.Get("username"), req.form.Get("password")
	if upn == "" {
		return nil, missingParam("username")
	}
	if pw == "" {
		return nil, missingParam("password")
	}
	u, terr := e.signIn(req.auth, upn, pw)
	if terr != nil {
		return nil, terr
	}
	if err := e.publicClient(req.clientID, u.TenantID); err != nil {
		return nil, err
	}
	return e.userTokenResponse(req, u)
}

// userTokenResponse is the answer to a user grant: access, refresh and id
// tokens and client_info.
func (e *Emulator) userTokenResponse(req *tokenRequest, u *User) (map[string]any, error) {
	c := Caller{TenantID: u.TenantID, ObjectID: u.ID, AppID: req.clientID, PrincipalType: "User", Name: u.UserPrincipalName}
	out, err := e.accessTokenResponse(req, c, "user_impersonation")
	if err != nil {
		return nil, err
	}
	rt, err := e.issueRefreshToken(u, req.clientID, req.resource)
	if err != nil {
		return nil, err
	}
	idt, err := e.issueIDToken(req.auth, u, req.clientID)
	if err != nil {
		return nil, err
	}
	ci, _ := json.Marshal(map[string]string{"uid": u.ID, "utid": u.TenantID})
	out["scope"] = req.scope
	out["refresh_token"] = rt
	out["id_token"] = idt
	out["client_info"] = base64.RawURLEncoding.EncodeToString(ci)
	if strings.EqualFold(req.clientID, AzureCLIClientID) {
		out["foci"] = "1"
	}
	return out, nil
}

// idTokenClaims are the claims of an id token. Audience is a single string,
// as Entra sends it: MSAL Go refuses an id token whose aud is an array.
type idTokenClaims struct {
	Issuer            string `json:"iss"`
	Subject           string `json:"sub"`
	Audience          string `json:"aud"`
	ExpiresAt         int64  `json:"exp"`
	NotBefore         int64  `json:"nbf"`
	IssuedAt          int64  `json:"iat"`
	Name              string `json:"name,omitempty"`
	ObjectID          string `json:"oid"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	UPN               string `json:"upn,omitempty"`
	TenantID          string `json:"tid"`
	Ver               string `json:"ver"`
}

// GetExpirationTime and the other jwt.Claims methods make idTokenClaims
// signable; the emulator never parses id tokens.
func (c idTokenClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.ExpiresAt, 0)), nil
}
func (c idTokenClaims) GetIssuedAt() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.IssuedAt, 0)), nil
}
func (c idTokenClaims) GetNotBefore() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.NotBefore, 0)), nil
}
func (c idTokenClaims) GetIssuer() (string, error)  { return c.Issuer, nil }
func (c idTokenClaims) GetSubject() (string, error) { return c.Subject, nil }
func (c idTokenClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{c.Audience}, nil
}

func (e *Emulator) issueIDToken(auth entraAuthority, u *User, clientID string) (string, error) {
	now := e.now()
	iss := e.issuerFor(u.TenantID)
	if auth.Kind == "adfs" {
		iss = e.base + "/adfs"
	}
	claims := idTokenClaims{
		Issuer: iss, Subject: u.ID, Audience: clientID,
		ExpiresAt: now.Add(time.Hour).Unix(), NotBefore: now.Add(-5 * time.Minute).Unix(), IssuedAt: now.Unix(),
		Name: u.DisplayName, ObjectID: u.ID, PreferredUsername: u.UserPrincipalName, UPN: u.UserPrincipalName,
		TenantID: u.TenantID, Ver: "2.0",
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = e.keyID
	return tok.SignedString(e.signer)
}

// Refresh tokens are JWTs signed with the emulator's key, so that they
// survive a restart. They carry their own claim names (no tid/oid) and an
// audience no service accepts, so they never pass as access tokens.
const refreshTokenType = "pp-rt+jwt"

type refreshClaims struct {
	jwt.RegisteredClaims
	TenantID string `json:"rt_tid"`
	ObjectID string `json:"rt_oid"`
	ClientID string `json:"rt_cid"`
	Resource string `json:"rt_res,omitempty"`
}

func (e *Emulator) refreshAudience() string { return e.base + "/refresh_token" }

func (e *Emulator) issueRefreshToken(u *User, clientID, resource string) (string, error) {
	now := e.now()
	claims := refreshClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    e.issuerFor(u.TenantID),
			Subject:   u.ID,
			Audience:  jwt.ClaimStrings{e.refreshAudience()},
			ExpiresAt: jwt.NewNumericDate(now.Add(refreshTokenLifetime)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
		TenantID: u.TenantID, ObjectID: u.ID, ClientID: clientID, Resource: resource,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = e.keyID
	tok.Header["typ"] = refreshTokenType
	return tok.SignedString(e.signer)
}

func (e *Emulator) parseRefreshToken(raw string) (*refreshClaims, error) {
	var c refreshClaims
	tok, err := jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		if t.Header["typ"] != refreshTokenType {
			return nil, errors.New("not a refresh token")
		}
		return &e.signer.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(e.now), jwt.WithAudience(e.refreshAudience()))
	if errors.Is(err, jwt.ErrTokenExpired) {
		return nil, errTokenExpired
	}
	if err != nil || !tok.Valid || c.ObjectID == "" || c.TenantID == "" || c.ClientID == "" {
		return nil, errors.New("invalid refresh token")
	}
	return &c, nil
}

func (e *Emulator) refreshGrant(req *tokenRequest) (map[string]any, error) {
	raw := req.form.Get("refresh_token")
	if raw == "" {
		return nil, missingParam("refresh_token")
	}
	rc, err := e.parseRefreshToken(raw)
	if errors.Is(err, errTokenExpired) {
		return nil, tokErr(400, "invalid_grant", "AADSTS700082", "The refresh token has expired due to inactivity. The token was issued on %s and was inactive for %s.", "an earlier date", refreshTokenLifetime)
	}
	if err != nil {
		return nil, tokErr(400, "invalid_grant", "AADSTS9002313", "Invalid request. Request is malformed or invalid: the refresh token is not one this authority issued.")
	}
	if !strings.EqualFold(rc.ClientID, req.clientID) {
		return nil, tokErr(400, "invalid_grant", "AADSTS700005", "Provided Authorization Code is intended to use against other tenant or client: the refresh token was issued to client '%s', not '%s'.", rc.ClientID, req.clientID)
	}
	u := e.userByID(rc.ObjectID)
	if u == nil || !strings.EqualFold(u.TenantID, rc.TenantID) {
		return nil, tokErr(400, "invalid_grant", "AADSTS50173", "The provided grant has expired due to it being revoked: the user '%s' no longer exists.", rc.ObjectID)
	}
	if req.auth.specific() && !strings.EqualFold(req.auth.Tenant.ID, u.TenantID) {
		return nil, userNotInTenant(req.auth.Tenant.ID)
	}
	if req.form.Get("scope") == "" && req.form.Get("resource") == "" {
		req.resource, req.scope = rc.Resource, rc.Resource+"/.default"
		if req.resource == "" {
			return nil, missingParam("scope")
		}
	} else if err := e.resolveResource(req, false); err != nil {
		return nil, err
	}
	if err := e.publicClient(req.clientID, u.TenantID); err != nil {
		return nil, err
	}
	return e.userTokenResponse(req, u)
}

// pendingCode is a device code waiting for its user to sign in at
// /devicelogin.
type pendingCode struct {
	DeviceCode string
	UserCode   string
	ClientID   string
	Auth       entraAuthority
	Resource   string
	Scope      string
	Expires    time.Time
	UserID     string // set when approved
	Redeemed   bool
}

// userCodeAlphabet avoids look-alike characters.
const userCodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func (e *Emulator) serveDeviceCode(w http.ResponseWriter, r *http.Request, auth entraAuthority) {
	form, ferr := readForm(w, r)
	if ferr != nil {
		e.writeTokenError(w, ferr)
		return
	}
	req := &tokenRequest{auth: auth, form: form, clientID: form.Get("client_id")}
	if req.clientID == "" {
		e.writeTokenError(w, missingParam("client_id"))
		return
	}
	if err := e.resolveResource(req, false); err != nil {
		e.writeTokenError(w, err)
		return
	}
	if !strings.EqualFold(req.clientID, AzureCLIClientID) {
		app, ok := e.FindApplication(req.clientID)
		dir := auth.Segment
		if auth.specific() {
			dir = auth.Tenant.ID
		}
		if !ok {
			e.writeTokenError(w, appNotFound(req.clientID, dir))
			return
		}
		if !app.PublicClient {
			e.writeTokenError(w, tokErr(400, "invalid_client", "AADSTS7000218", "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."))
			return
		}
	}
	now := e.now()
	pc := &pendingCode{
		DeviceCode: randomString(64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
		UserCode:   randomString(9, userCodeAlphabet),
		ClientID:   req.clientID, Auth: auth, Resource: req.resource, Scope: req.scope,
		Expires: now.Add(deviceCodeLifetime),
	}
	e.codesMu.Lock()
	for k, c := range e.codes {
		if now.After(c.Expires.Add(time.Minute)) {
			delete(e.codes, k)
		}
	}
	full := len(e.codes) >= maxPendingCodes
	if !full {
		e.codes[pc.DeviceCode] = pc
	}
	e.codesMu.Unlock()
	if full {
		w.Header().Set("Retry-After", "60")
		writeOAuthError(w, http.StatusTooManyRequests, "slow_down", "AADSTS50196", "The server terminated an operation because it encountered a client loop: too many pending device codes. Try again later.")
		return
	}
	verify := e.base + "/devicelogin"
	writeJSON(w, http.StatusOK, map[string]any{
		"user_code":        pc.UserCode,
		"device_code":      pc.DeviceCode,
		"verification_uri": verify,
		"expires_in":       int(deviceCodeLifetime / time.Second),
		"interval":         1,
		"message":          fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", verify, pc.UserCode),
	})
}

func (e *Emulator) deviceCodeGrant(req *tokenRequest) (map[string]any, error) {
	dc := req.form.Get("device_code")
	if dc == "" {
		dc = req.form.Get("code")
	}
	if dc == "" {
		return nil, missingParam("device_code")
	}
	now := e.now()
	e.codesMu.Lock()
	pc := e.codes[dc]
	var snapshot pendingCode
	if pc != nil {
		snapshot = *pc
		if pc.UserID != "" && !pc.Redeemed && now.Before(pc.Expires) && strings.EqualFold(pc.ClientID, req.clientID) {
			pc.Redeemed = true
		}
	}
	e.codesMu.Unlock()
	switch {
	case pc == nil:
		return nil, tokErr(400, "invalid_grant", "AADSTS70000", "Provided grant is invalid or malformed: unknown device code.")
	case !strings.EqualFold(snapshot.ClientID, req.clientID):
		return nil, tokErr(400, "invalid_grant", "AADSTS70000", "Provided grant is invalid or malformed: the device code was issued to client '%s', not '%s'.", snapshot.ClientID, req.clientID)
	case !now.Before(snapshot.Expires):
		return nil, tokErr(400, "expired_token", "AADSTS70019", "Verification code expired.")
	case snapshot.Redeemed:
		return nil, tokErr(400, "invalid_grant", "AADSTS54005", "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	case snapshot.UserID == "":
		return nil, tokErr(400, "authorization_pending", "AADSTS70016", "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
	}
	u := e.userByID(snapshot.UserID)
	if u == nil {
		return nil, tokErr(400, "invalid_grant", "AADSTS50034", "The user account {EUII Hidden} no longer exists.")
	}
	req.auth, req.resource, req.scope = snapshot.Auth, snapshot.Resource, snapshot.Scope
	if err := e.publicClient(req.clientID, u.TenantID); err != nil {
		return nil, err
	}
	return e.userTokenResponse(req, u)
}
