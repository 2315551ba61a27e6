package azureemu

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// The cost of one embedded ARM, Graph or token request as the world grows:
// worlds of 100 and 10,000 customer VNets shaped as the grant flow leaves
// them (each tagged, with a role assignment for the provider app's service
// principal, and peered both ways with one of the provider's VNets, 25
// customer VNets to a provider VNet), and one request through the real
// handler per iteration. A request should cost the same in both worlds:
//
//	go test ./internal/azureemu -run '^$' -bench ARM -benchmem

// scaleWorld is a seeded emulator and the tokens to call it with.
type scaleWorld struct {
	e         *Emulator
	n         int
	admin     string // the customer admin's ARM token
	provApp   string // the provider app in the customer tenant
	secret    string // the provider app's client secret
	custVNets []string
}

const scaleRG = "bench-rg"

func scaleCustVNet(i int) string {
	return vnetID(testCustomerSub, scaleRG, fmt.Sprintf("bench-vnet-%05d", i))
}

func scaleProvVNet(j int) string {
	return vnetID(testProviderSub, provRG, fmt.Sprintf("provider-vnet-%04d", j))
}

// newScaleWorld seeds n customer VNets in one transaction (the handlers are
// what is measured, not the seeding).
func newScaleWorld(tb testing.TB, n int) *scaleWorld {
	tb.Helper()
	ctx := context.Background()
	e, err := New(ctx, Options{BaseURL: "https://127.0.0.1:1"})
	if err != nil {
		tb.Fatal(err)
	}
	e.seedTwoTenants(tb)
	app, secret, err := e.CreateApplication(ctx, testProviderTenant, ApplicationSpec{AppID: DefaultProviderAppID, DisplayName: "Confluent Cloud"})
	if err != nil {
		tb.Fatal(err)
	}
	provSP, _ := e.FindServicePrincipal(testProviderTenant, app.AppID)
	if _, err := e.AssignRole(ctx, "/subscriptions/"+testProviderSub, RoleNetworkContributor, provSP.ID); err != nil {
		tb.Fatal(err)
	}
	for _, rg := range []struct{ sub, name string }{{testProviderSub, provRG}, {testCustomerSub, scaleRG}} {
		if _, err := e.PutResourceGroup(ctx, rg.sub, rg.name, "eastus", nil); err != nil {
			tb.Fatal(err)
		}
	}
	w := &scaleWorld{e: e, n: n, secret: secret}
	var custSP *ServicePrincipal
	var adminID string
	now := e.now().UTC()
	err = e.update(ctx, func(t *txn) error {
		s := t.s
		sp, err := e.ensureServicePrincipalTx(t, testCustomerTenant, s.apps[lower(app.AppID)])
		if err != nil {
			return err
		}
		custSP = sp
		for _, u := range s.users {
			if u.UserPrincipalName == testCustomerAdmin {
				adminID = u.ID
			}
		}
		role := &RoleDefinition{ID: peeringCreatorRoleID, TenantID: testCustomerTenant, RoleName: "Peering creator", RoleType: "CustomRole",
			Permissions:      []Permission{{Actions: peeringCreatorActions, NotActions: []string{}, DataActions: []string{}, NotDataActions: []string{}}},
			AssignableScopes: []string{"/subscriptions/" + testCustomerSub}, CreatedOn: now, UpdatedOn: now}
		s.roleDefs[role.ID] = role
		t.put(KindRoleDefinition, role.ID, role)
		provs := (n + 24) / 25
		for j := range provs {
			id := scaleProvVNet(j)
			v := &VirtualNetwork{ID: id, SubscriptionID: testProviderSub, ResourceGroup: provRG, Name: fmt.Sprintf("provider-vnet-%04d", j),
				Location: "eastus", AddressPrefixes: []string{fmt.Sprintf("172.%d.%d.0/24", 16+j/256, j%256)}, ResourceGUID: uuid.NewString(), Etag: armNewEtag()}
			s.vnets[lower(id)] = v
			t.put(KindVirtualNetwork, id, v)
		}
		for i := range n {
			id := scaleCustVNet(i)
			w.custVNets = append(w.custVNets, id)
			v := &VirtualNetwork{ID: id, SubscriptionID: testCustomerSub, ResourceGroup: scaleRG, Name: fmt.Sprintf("bench-vnet-%05d", i),
				Location: "eastus", AddressPrefixes: []string{fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)}, ResourceGUID: uuid.NewString(), Etag: armNewEtag(),
				Tags: map[string]string{"ConfluentEnvIDs": "env-bench"}}
			s.vnets[lower(id)] = v
			t.put(KindVirtualNetwork, id, v)
			ra := &RoleAssignment{ID: uuid.NewString(), TenantID: testCustomerTenant, Scope: id, RoleDefinitionID: peeringCreatorRoleID,
				PrincipalID: custSP.ID, PrincipalType: "ServicePrincipal", CreatedOn: now, CreatedBy: adminID}
			s.roleAssigns[ra.ID] = ra
			t.put(KindRoleAssignment, ra.ID, ra)
			prov := s.vnets[lower(scaleProvVNet(i/25))]
			for _, h := range []struct{ local, remote *VirtualNetwork }{{v, prov}, {prov, v}} {
				pid := h.local.ID + "/virtualNetworkPeerings/" + "peering-" + h.remote.Name
				p := &VirtualNetworkPeering{ID: pid, VNetID: h.local.ID, Name: "peering-" + h.remote.Name, RemoteVNetID: h.remote.ID,
					AllowVirtualNetworkAccess: true, PeeringState: PeeringConnected, PeeringSyncLevel: SyncFullyInSync,
					RemoteAddressSpace: append([]string(nil), h.remote.AddressPrefixes...), ResourceGUID: uuid.NewString(), Etag: armNewEtag()}
				s.peerings[lower(pid)] = p
				t.put(KindPeering, pid, p)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := e.AssignRole(ctx, "/subscriptions/"+testCustomerSub, RoleOwner, adminID); err != nil {
		tb.Fatal(err)
	}
	tok := func(c Caller) string {
		s, _, err := e.issueToken(c, "https://management.core.windows.net/", "")
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
	w.admin = tok(Caller{TenantID: testCustomerTenant, ObjectID: adminID, AppID: AzureCLIClientID, PrincipalType: "User", Name: testCustomerAdmin})
	w.provApp = tok(Caller{TenantID: testCustomerTenant, ObjectID: custSP.ID, AppID: app.AppID, PrincipalType: "ServicePrincipal", Name: "Confluent Cloud"})
	return w
}

// do serves one request through the emulator's handler and checks its status.
func (w *scaleWorld) do(tb testing.TB, method, path, token, body string, want int) {
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, "https://127.0.0.1:1"+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = httptest.NewRequest(method, "https://127.0.0.1:1"+path, nil)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	w.e.ServeHTTP(rec, r)
	if rec.Code != want {
		tb.Fatalf("%s %s: %d %s, want %d", method, path, rec.Code, rec.Body.String(), want)
	}
}

const benchAPIVersion = "?api-version=2024-05-01"

// scaleSizes are the world sizes every scale benchmark runs at.
var scaleSizes = []int{100, 10000}

func benchScale(b *testing.B, run func(b *testing.B, w *scaleWorld)) {
	for _, n := range scaleSizes {
		b.Run(fmt.Sprintf("vnets=%d", n), func(b *testing.B) {
			w := newScaleWorld(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			run(b, w)
		})
	}
}

// BenchmarkARMWrite measures the writes of the grant flow: a VNet PUT, a
// role assignment PUT (with its DELETE, so the world keeps its size) and a
// tag PATCH, each a real change.
func BenchmarkARMWrite(b *testing.B) {
	b.Run("vnet-put", func(b *testing.B) {
		benchScale(b, func(b *testing.B, w *scaleWorld) {
			for i := 0; b.Loop(); i++ {
				k := i % w.n
				body := fmt.Sprintf(`{"location":"eastus","tags":{"ConfluentEnvIDs":"env-bench","n":"%d"},"properties":{"addressSpace":{"addressPrefixes":["10.%d.%d.0/24"]}}}`, i, k/256, k%256)
				w.do(b, http.MethodPut, w.custVNets[k]+benchAPIVersion, w.admin, body, http.StatusOK)
			}
		})
	})
	b.Run("role-assignment-put-delete", func(b *testing.B) {
		benchScale(b, func(b *testing.B, w *scaleWorld) {
			var adminID string
			w.e.view(func(s *state) {
				for _, u := range s.users {
					if u.UserPrincipalName == testCustomerAdmin {
						adminID = u.ID
					}
				}
			})
			for i := 0; b.Loop(); i++ {
				path := w.custVNets[i%w.n] + "/providers/Microsoft.Authorization/roleAssignments/" + uuid.NewString() + "?api-version=2022-04-01"
				body := fmt.Sprintf(`{"properties":{"roleDefinitionId":"/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s","principalId":"%s"}}`, testCustomerSub, RoleReader, adminID)
				w.do(b, http.MethodPut, path, w.admin, body, http.StatusCreated)
				w.do(b, http.MethodDelete, path, w.admin, "", http.StatusOK)
			}
		})
	})
	b.Run("tag-patch", func(b *testing.B) {
		benchScale(b, func(b *testing.B, w *scaleWorld) {
			for i := 0; b.Loop(); i++ {
				body := fmt.Sprintf(`{"operation":"Merge","properties":{"tags":{"ConfluentEnvIDs":"env-bench,env-%d"}}}`, i)
				w.do(b, http.MethodPatch, w.custVNets[i%w.n]+"/providers/Microsoft.Resources/tags/default?api-version=2021-04-01", w.admin, body, http.StatusOK)
			}
		})
	})
}

// BenchmarkARMRead measures the provider app's reads (a peering half, the
// VNet it checks) and its token request in the customer tenant.
func BenchmarkARMRead(b *testing.B) {
	b.Run("peering-get", func(b *testing.B) {
		benchScale(b, func(b *testing.B, w *scaleWorld) {
			for i := 0; b.Loop(); i++ {
				k := i % w.n
				path := w.custVNets[k] + "/virtualNetworkPeerings/peering-" + fmt.Sprintf("provider-vnet-%04d", k/25) + benchAPIVersion
				w.do(b, http.MethodGet, path, w.provApp, "", http.StatusOK)
			}
		})
	})
	b.Run("vnet-get", func(b *testing.B) {
		benchScale(b, func(b *testing.B, w *scaleWorld) {
			for i := 0; b.Loop(); i++ {
				w.do(b, http.MethodGet, w.custVNets[i%w.n]+benchAPIVersion, w.provApp, "", http.StatusOK)
			}
		})
	})
	b.Run("token", func(b *testing.B) {
		benchScale(b, func(b *testing.B, w *scaleWorld) {
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultProviderAppID}, "client_secret": {w.secret},
				"scope": {"https://management.core.windows.net//.default"}}.Encode()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "https://127.0.0.1:1/"+testCustomerTenant+"/oauth2/v2.0/token", strings.NewReader(form))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				rec := httptest.NewRecorder()
				w.e.ServeHTTP(rec, r)
				if rec.Code != http.StatusOK {
					b.Fatalf("token: %d %s", rec.Code, rec.Body.String())
				}
			}
		})
	})
}

// BenchmarkSnapshot measures the network snapshot the data plane takes
// after each change it follows: it copies the world, so it grows with it.
func BenchmarkSnapshot(b *testing.B) {
	benchScale(b, func(b *testing.B, w *scaleWorld) {
		for b.Loop() {
			if s := w.e.Snapshot(); len(s.VirtualNetworks) < w.n {
				b.Fatalf("%d VNets in the snapshot", len(s.VirtualNetworks))
			}
		}
	})
}
