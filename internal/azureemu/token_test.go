package azureemu

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// signClaims signs claims with the emulator's key, as issueToken does, so
// a test can present a token the emulator would never issue.
func signClaims(t *testing.T, e *Emulator, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = e.keyID
	s, err := tok.SignedString(e.signer)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// forgedClaims are the claims issueToken would give c for aud, for a test
// to change one of.
func forgedClaims(e *Emulator, c Caller, aud string) tokenClaims {
	now := e.now()
	idt := "app"
	if c.PrincipalType == "User" {
		idt = "user"
	}
	return tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer(c.TenantID), Subject: c.ObjectID, Audience: jwt.ClaimStrings{aud},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			IssuedAt: jwt.NewNumericDate(now), ID: uuid.NewString(),
		},
		TenantID: c.TenantID, ObjectID: c.ObjectID, AppID: c.AppID, AzpID: c.AppID, IdType: idt, Ver: "1.0",
	}
}

// httpCall sends one request over the test server's TLS listener with the
// bearer token tok and any extra header pairs; it returns the status and
// the error code and message of an ARM or Graph error body.
func (te *testEmu) httpCall(t *testing.T, method, path, tok string, body any, hdr ...string) (int, string, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, te.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := te.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &e)
	return resp.StatusCode, e.Error.Code, e.Error.Message
}

// TestTokenClaimsEnforced: ARM and Graph accept only a token that carries
// an expiry and the issuer this emulator issues under for the token's own
// tenant; anything else, though signed with the emulator's key, is 401
// InvalidAuthenticationToken, and an expired token is
// ExpiredAuthenticationToken.
func TestTokenClaimsEnforced(t *testing.T) {
	te := newTestEmu(t, nil)
	te.seedTwoTenants(t)
	e := te.Emulator
	admin := Caller{TenantID: testCustomerTenant, ObjectID: te.userID(t, testCustomerAdmin), PrincipalType: "User", AppID: AzureCLIClientID, Name: testCustomerAdmin}
	const armAud, graphAud = "https://management.core.windows.net/", "https://graph.microsoft.com"
	armPath := "/subscriptions/" + testCustomerSub + "/resourceGroups?api-version=2021-04-01"
	graphPath := "/graph/v1.0/me"

	tests := []struct {
		name        string
		mutate      func(c *tokenClaims)
		code, inMsg string // code "" means accepted
	}{
		{"as issued", func(c *tokenClaims) {}, "", ""},
		{"no exp", func(c *tokenClaims) { c.ExpiresAt = nil }, "InvalidAuthenticationToken", "no expiry time (claim 'exp')"},
		{"expired", func(c *tokenClaims) { c.ExpiresAt = jwt.NewNumericDate(e.now().Add(-time.Second)) }, "ExpiredAuthenticationToken", "expiry"},
		{"no iss", func(c *tokenClaims) { c.Issuer = "" }, "InvalidAuthenticationToken", "issuer '' is not the issuer 'https://sts.windows.net/" + testCustomerTenant + "/'"},
		{"iss of another tenant", func(c *tokenClaims) { c.Issuer = issuer(testProviderTenant) }, "InvalidAuthenticationToken", "issuer 'https://sts.windows.net/" + testProviderTenant + "/'"},
		{"iss of another host", func(c *tokenClaims) { c.Issuer = "https://evil.example/" + testCustomerTenant + "/" }, "InvalidAuthenticationToken", "is not the issuer"},
		// The emulator issues v1 access tokens only; the v2.0 issuer is
		// that of its id tokens.
		{"v2.0 iss", func(c *tokenClaims) { c.Issuer = e.issuerFor(testCustomerTenant) }, "InvalidAuthenticationToken", "is not the issuer"},
		{"no tid", func(c *tokenClaims) { c.TenantID = "" }, "InvalidAuthenticationToken", "'tid' or 'oid'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, svc := range []struct{ path, aud string }{{armPath, armAud}, {graphPath, graphAud}} {
				c := forgedClaims(e, admin, svc.aud)
				tt.mutate(&c)
				status, code, msg := te.httpCall(t, "GET", svc.path, signClaims(t, e, c), nil)
				if tt.code == "" {
					if status != http.StatusOK {
						t.Fatalf("%s: %d %s %s", svc.path, status, code, msg)
					}
					continue
				}
				// Graph answers every token failure as InvalidAuthenticationToken.
				want := tt.code
				if svc.path == graphPath {
					want = "InvalidAuthenticationToken"
				}
				if status != http.StatusUnauthorized || code != want || !strings.Contains(msg, tt.inMsg) {
					t.Fatalf("%s: %d %s %q, want 401 %s containing %q", svc.path, status, code, msg, want, tt.inMsg)
				}
			}
		})
	}

	// Through the Azure SDK: a credential whose tokens lack exp is refused.
	cred := forgedCred{t: t, e: e, claims: func() tokenClaims {
		c := forgedClaims(e, admin, armAud)
		c.ExpiresAt = nil
		return c
	}}
	vc, err := armnetwork.NewVirtualNetworksClient(testCustomerSub, cred, te.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = vc.NewListAllPager(nil).NextPage(context.Background())
	if msg := wantARMError(t, err, http.StatusUnauthorized, "InvalidAuthenticationToken"); !strings.Contains(msg, "no expiry time") {
		t.Fatalf("SDK: %s", msg)
	}
}

// forgedCred hands the Azure SDK tokens signed over claims().
type forgedCred struct {
	t      *testing.T
	e      *Emulator
	claims func() tokenClaims
}

func (c forgedCred) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: signClaims(c.t, c.e, c.claims()), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestAuxiliaryTokenMustBeTheSameIdentity: an auxiliary token stands for
// the primary token's identity in the other tenant and nothing else. The
// provider app's half is refused with LinkedAuthorizationFailed when the
// auxiliary token is the customer's Owner (a user), another application
// with the very role the provider app lacks, or when the primary is a user;
// it passes with the provider app's own service principal in the customer
// tenant, as the reconciler sends it. A token of the other tenant that is
// itself invalid is a 401 naming the header.
func TestAuxiliaryTokenMustBeTheSameIdentity(t *testing.T) {
	w := newPeeringWorld(t)
	ctx := context.Background()
	e := w.te.Emulator
	w.createRole(t, peeringCreatorRoleID, "Confluent Cloud Peering Creator", peeringCreatorActions, nil)

	// Another application of the customer tenant, holding the Peering
	// Creator role on the customer VNet that the provider app does not.
	other, _, err := w.te.CreateApplication(ctx, testCustomerTenant, ApplicationSpec{DisplayName: "Other", SignInAudience: "AzureADMyOrg"})
	if err != nil {
		t.Fatal(err)
	}
	otherSP, ok := w.te.FindServicePrincipal(testCustomerTenant, other.AppID)
	if !ok {
		t.Fatal("no service principal for the other app")
	}
	if err := w.assign(t, w.custVNet, peeringCreatorRoleID, otherSP.ID, "ServicePrincipal"); err != nil {
		t.Fatal(err)
	}
	provApp := w.spProv.caller[""]
	custOwner := w.adminCaller(t, testCustomerTenant, testCustomerAdmin)
	otherApp := Caller{TenantID: testCustomerTenant, ObjectID: otherSP.ID, AppID: other.AppID, PrincipalType: "ServicePrincipal", Name: "Other"}
	provOwner := w.adminCaller(t, testProviderTenant, testProviderAdmin)
	if _, err := e.AssignRole(ctx, "/subscriptions/"+testProviderSub, RoleOwner, provOwner.ObjectID); err != nil {
		t.Fatal(err)
	}

	const linkedTenant = "however the current tenant '" + testProviderTenant + "' is not authorized to access linked subscription '" + testCustomerSub + "'"
	for _, tt := range []struct {
		name         string
		primary, aux Caller
	}{
		{"the customer's Owner", provApp, custOwner},
		{"another app with the role", provApp, otherApp},
		{"a user primary with the app's token", provOwner, w.spCust.caller[""]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cred := staticCred{e: e, caller: map[string]Caller{"": tt.primary, testCustomerTenant: tt.aux}}
			_, err := w.peer(cred, []string{testCustomerTenant}, testProviderSub, provRG, provVNetName, "to-customer", w.custVNet, false)
			if msg := wantARMError(t, err, http.StatusForbidden, "LinkedAuthorizationFailed"); !strings.Contains(msg, linkedTenant) {
				t.Fatalf("message: %s", msg)
			}
		})
	}

	// An auxiliary token without exp is refused before anything else.
	noExp := forgedClaims(e, w.spCust.caller[""], "https://management.core.windows.net/")
	noExp.ExpiresAt = nil
	provTok, _, _ := e.issueToken(provApp, "https://management.core.windows.net/", "")
	status, code, msg := w.te.httpCall(t, "PUT", w.provVNet+"/virtualNetworkPeerings/to-customer?api-version=2024-05-01", provTok,
		map[string]any{"properties": map[string]any{"remoteVirtualNetwork": map[string]string{"id": w.custVNet}}},
		"x-ms-authorization-auxiliary", "Bearer "+signClaims(t, e, noExp))
	if status != http.StatusUnauthorized || code != "InvalidAuthenticationToken" || !strings.Contains(msg, "'x-ms-authorization-auxiliary' header is invalid: it has no expiry time") {
		t.Fatalf("aux without exp: %d %s %s", status, code, msg)
	}

	// Nothing was created by the refused calls.
	pc, _ := armnetwork.NewVirtualNetworkPeeringsClient(testProviderSub, w.spProv, w.te.armOptions())
	if page, err := pc.NewListPager(provRG, provVNetName, nil).NextPage(ctx); err != nil || len(page.Value) != 0 {
		t.Fatalf("peerings after refusals: %v %d", err, len(page.Value))
	}

	// The provider app's own principal in the customer tenant, once it has
	// the role, is what the linked check accepts: both halves connect.
	if err := w.assign(t, w.custVNet, peeringCreatorRoleID, w.custSP.ID, "ServicePrincipal"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.provHalf(); err != nil {
		t.Fatal(err)
	}
	c, err := w.custHalf()
	if err != nil {
		t.Fatal(err)
	}
	if *c.Properties.PeeringState != armnetwork.VirtualNetworkPeeringStateConnected {
		t.Fatalf("customer half: %s", *c.Properties.PeeringState)
	}
}
