package azureemu

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Audiences the emulator accepts for ARM and for Graph. The az CLI asks for
// management.core.windows.net, the Azure SDK for management.azure.com (or
// whatever cloud.Configuration says), and Graph clients for the Graph
// resource id configured in their cloud.
var (
	armAudiences = []string{
		"https://management.core.windows.net/",
		"https://management.core.windows.net",
		"https://management.azure.com/",
		"https://management.azure.com",
	}
	graphAudiences = []string{
		"https://graph.microsoft.com",
		"https://graph.microsoft.com/",
		"00000003-0000-0000-c000-000000000000",
	}
)

func init() {
	// Entra ID sends a single audience as a string, not a list.
	jwt.MarshalSingleStringAsArray = false
}

// Caller is the authenticated principal behind a request.
type Caller struct {
	TenantID      string // tid
	ObjectID      string // oid: the user's or service principal's object id
	AppID         string // appid: the client that asked for the token
	PrincipalType string // "User" or "ServicePrincipal"
	Name          string // upn for users, display name for apps
	Audience      string
}

// actor is what an Event's Actor says of the caller: a user's object id,
// an application's id (the token's appid).
func (c *Caller) actor() string {
	if c.PrincipalType == "User" {
		return c.ObjectID
	}
	return c.AppID
}

type actorKey struct{}

// withActor returns ctx carrying the principal whose request makes the
// changes (see Event.Actor).
func withActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// actorOf returns the actor withActor put in ctx, or "" for the operator
// and the emulator's own changes.
func actorOf(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

// tokenClaims are the claims of an access token the emulator issues.
type tokenClaims struct {
	jwt.RegisteredClaims
	TenantID string   `json:"tid"`
	ObjectID string   `json:"oid"`
	AppID    string   `json:"appid"`
	AzpID    string   `json:"azp,omitempty"`
	IdType   string   `json:"idtyp"` // "user" or "app"
	UPN      string   `json:"upn,omitempty"`
	Name     string   `json:"name,omitempty"`
	Scope    string   `json:"scp,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	Ver      string   `json:"ver"`
}

// issuer is the token issuer for tenant, the v1 form ARM checks.
func issuer(tenantID string) string { return "https://sts.windows.net/" + tenantID + "/" }

// issueToken signs an access token for caller with audience aud.
func (e *Emulator) issueToken(c Caller, aud, scope string) (string, time.Time, error) {
	now := e.now()
	exp := now.Add(e.opts.TokenLifetime)
	idt := "app"
	if c.PrincipalType == "User" {
		idt = "user"
	}
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer(c.TenantID),
			Subject:   c.ObjectID,
			Audience:  jwt.ClaimStrings{aud},
			ExpiresAt: jwt.NewNumericDate(exp),
			NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Minute)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
		TenantID: c.TenantID,
		ObjectID: c.ObjectID,
		AppID:    c.AppID,
		AzpID:    c.AppID,
		IdType:   idt,
		Name:     c.Name,
		Scope:    scope,
		Ver:      "1.0",
	}
	if c.PrincipalType == "User" {
		claims.UPN = c.Name
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = e.keyID
	s, err := tok.SignedString(e.signer)
	return s, exp, err
}

// errTokenExpired distinguishes an expired token from an invalid one:
// ARM answers ExpiredAuthenticationToken for the first.
var errTokenExpired = errors.New("token expired")

// tokenInvalid is a token the emulator did not issue as it stands, with the
// reason the 401 gives (after "The access token is invalid: ").
type tokenInvalid string

func (e tokenInvalid) Error() string { return "invalid token: " + string(e) }

// invalidTokenMessage is the message of the 401 for a token err refused;
// which names the token ("The access token").
func invalidTokenMessage(which string, err error) string {
	var ti tokenInvalid
	if errors.As(err, &ti) {
		return which + " is invalid: " + string(ti) + "."
	}
	return which + " is invalid."
}

// parseToken verifies raw and returns its caller: the signature, an expiry
// (required, and not passed), and an issuer that is the one this emulator
// issues access tokens under for the token's tenant (issuer(tid)). Returns
// errTokenExpired for an expired token, another error otherwise.
func (e *Emulator) parseToken(raw string) (*Caller, error) {
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(e.now), jwt.WithLeeway(0), jwt.WithExpirationRequired()}
	claims, verified := e.tokens.get(raw)
	var err error
	if verified {
		// Signed by our key, as checked the first time: its claims are
		// checked again against the time now.
		err = jwt.NewValidator(opts...).Validate(&claims)
	} else {
		_, err = jwt.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
			return &e.signer.PublicKey, nil
		}, opts...)
	}
	if errors.Is(err, jwt.ErrTokenExpired) {
		return nil, errTokenExpired
	}
	if errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
		return nil, tokenInvalid("it has no expiry time (claim 'exp')")
	}
	if err != nil {
		return nil, err
	}
	if claims.TenantID == "" || claims.ObjectID == "" {
		return nil, tokenInvalid("it lacks the claim 'tid' or 'oid'")
	}
	if claims.Issuer != issuer(claims.TenantID) {
		return nil, tokenInvalid(fmt.Sprintf("its issuer '%s' is not the issuer '%s' of its tenant '%s'", claims.Issuer, issuer(claims.TenantID), claims.TenantID))
	}
	if !verified {
		e.tokens.put(raw, claims)
	}
	pt := "ServicePrincipal"
	if claims.IdType == "user" {
		pt = "User"
	}
	aud := ""
	if len(claims.Audience) > 0 {
		aud = claims.Audience[0]
	}
	return &Caller{TenantID: claims.TenantID, ObjectID: claims.ObjectID, AppID: claims.AppID, PrincipalType: pt, Name: claims.Name, Audience: aud}, nil
}

// verifiedTokens remembers the claims of the valid tokens seen lately, so
// that a client, which sends the same token with every request until it
// expires, costs one RSA signature check per token, not one per request
// (6% of the server's CPU while 10,000 peerings converge). The raw token
// is the key: only the very bytes whose signature was checked hit.
type verifiedTokens struct {
	mu sync.Mutex
	m  map[string]tokenClaims
}

// maxVerifiedTokens bounds verifiedTokens; past it, it starts again empty.
const maxVerifiedTokens = 4096

func (v *verifiedTokens) get(raw string) (tokenClaims, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.m[raw]
	return c, ok
}

func (v *verifiedTokens) put(raw string, c tokenClaims) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= maxVerifiedTokens {
		v.m = map[string]tokenClaims{}
	}
	v.m[raw] = c
}

// audienceOK reports whether aud is one the service accepts. service is
// "arm" or "graph".
func (e *Emulator) audienceOK(service, aud string) bool {
	a := strings.ToLower(aud)
	switch service {
	case "arm":
		return slices.Contains(armAudiences, a) || a == lower(e.base) || a == lower(e.base)+"/"
	case "graph":
		return slices.Contains(graphAudiences, a) || a == lower(e.base)+"/graph/" || a == lower(e.base)+"/graph"
	}
	return false
}

// bearer returns the token of an "Authorization: Bearer …" value.
func bearer(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// authenticate checks the request's bearer token for service ("arm" or
// "graph") and returns the caller, or writes the service's 401 and returns
// nil.
func (e *Emulator) authenticate(w http.ResponseWriter, r *http.Request, service string) *Caller {
	fail := func(code, msg string) *Caller {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization_uri="%s/common/oauth2/authorize", error="invalid_token", error_description="%s"`, e.base, msg))
		if service == "graph" {
			writeGraphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
		} else {
			writeARMError(w, http.StatusUnauthorized, code, msg)
		}
		return nil
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return fail("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
	}
	raw, ok := bearer(h)
	if !ok {
		return fail("AuthenticationFailed", "Authentication failed. The 'Authorization' header is provided in an invalid format.")
	}
	c, err := e.parseToken(raw)
	if errors.Is(err, errTokenExpired) {
		return fail("ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time.")
	}
	if err != nil {
		return fail("InvalidAuthenticationToken", invalidTokenMessage("The access token", err))
	}
	if !e.audienceOK(service, c.Audience) {
		return fail("InvalidAuthenticationTokenAudience", fmt.Sprintf("The access token has been obtained for wrong audience or resource '%s'. It should exactly match with one of the allowed audiences for this service.", c.Audience))
	}
	if !e.principalExists(c) {
		return fail("InvalidAuthenticationToken", fmt.Sprintf("The principal '%s' of the access token no longer exists in tenant '%s'.", c.ObjectID, c.TenantID))
	}
	return c
}

// principalExists reports whether the token's principal is still in its
// tenant (a deleted service principal's tokens stop working).
func (e *Emulator) principalExists(c *Caller) bool {
	ok := false
	e.view(func(s *state) {
		if c.PrincipalType == "User" {
			u := s.users[lower(c.ObjectID)]
			ok = u != nil && strings.EqualFold(u.TenantID, c.TenantID)
		} else {
			sp := s.sps[lower(c.ObjectID)]
			ok = sp != nil && strings.EqualFold(sp.TenantID, c.TenantID)
		}
	})
	return ok
}
