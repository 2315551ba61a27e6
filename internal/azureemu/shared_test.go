package azureemu

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// versionedMemStore is a VersionedDocStore in memory. While stale is set
// it shows the empty store at generation 0, as a process that loaded
// before another one's first write saw it.
type versionedMemStore struct {
	MemoryDocStore
	mu    sync.Mutex
	gen   int64
	stale bool
}

func (s *versionedMemStore) LoadDocs(ctx context.Context) ([]Doc, error) {
	s.mu.Lock()
	stale := s.stale
	s.mu.Unlock()
	if stale {
		return nil, nil
	}
	return s.MemoryDocStore.LoadDocs(ctx)
}

func (s *versionedMemStore) Generation(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stale {
		return 0, nil
	}
	return s.gen, nil
}

func (s *versionedMemStore) ApplyDocsAt(ctx context.Context, gen int64, puts, deletes []Doc) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stale = false // the write reaches the real store
	if gen != s.gen {
		return 0, ErrStaleGeneration
	}
	s.gen++
	return s.gen, s.MemoryDocStore.ApplyDocs(ctx, puts, deletes)
}

func (s *versionedMemStore) ApplyDocs(ctx context.Context, puts, deletes []Doc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	return s.MemoryDocStore.ApplyDocs(ctx, puts, deletes)
}

// TestProcessesSharingAStoreSignWithOneKey: a process that loaded the
// store before another created the token signing key adopts that key
// instead of replacing it, so that tokens one issues pass the other.
func TestProcessesSharingAStoreSignWithOneKey(t *testing.T) {
	ctx := context.Background()
	st := &versionedMemStore{}
	a, err := New(ctx, Options{BaseURL: "https://a.example", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	st.stale = true
	st.mu.Unlock()
	b, err := New(ctx, Options{BaseURL: "https://b.example", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if b.keyID != a.keyID || !b.signer.Equal(a.signer) {
		t.Fatalf("the second process signs with key %s, the first with %s", b.keyID, a.keyID)
	}
	c, err := New(ctx, Options{BaseURL: "https://c.example", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if c.keyID != a.keyID {
		t.Fatalf("a process started later signs with key %s, want %s", c.keyID, a.keyID)
	}
}

// TestRelayedEventsJoinTheFeed: the events of one process's changes reach
// OnEvents once durable, and another process's feed after RelayEvents.
func TestRelayedEventsJoinTheFeed(t *testing.T) {
	ctx := context.Background()
	st := &versionedMemStore{}
	var relayed []Event
	a, err := New(ctx, Options{BaseURL: "https://a.example", Store: st, OnEvents: func(evs []Event) { relayed = append(relayed, evs...) }})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(ctx, Options{BaseURL: "https://b.example", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateTenant(ctx, TenantSpec{ID: testProviderTenant, DisplayName: "Provider"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.CreateApplication(ctx, testProviderTenant, ApplicationSpec{DisplayName: "app"}); err != nil {
		t.Fatal(err)
	}
	own, _, _ := a.events.since(0)
	if len(relayed) == 0 || len(relayed) != len(own) {
		t.Fatalf("OnEvents got %+v, want the feed's %+v", relayed, own)
	}
	for i := range own {
		if relayed[i] != own[i] {
			t.Fatalf("OnEvents got %+v, the feed has %+v", relayed[i], own[i])
		}
	}
	b.RelayEvents(relayed)
	got, last, _ := b.events.since(0)
	if len(got) != len(relayed) || last != int64(len(relayed)) {
		t.Fatalf("b's feed has %+v (last %d) after the relay of %+v", got, last, relayed)
	}
	for i, ev := range got {
		want := relayed[i]
		if ev.Type != want.Type || ev.TenantID != want.TenantID || ev.ResourceID != want.ResourceID || !ev.Time.Equal(want.Time) {
			t.Fatalf("b's feed event %d is %+v, want %+v", i, ev, want)
		}
	}
	if ev := got[0]; ev.Type != EventConsent || ev.TenantID != testProviderTenant {
		t.Fatalf("relayed %+v, want the app's service principal in the provider tenant", ev)
	}
}

// TestSyncReloadsOnlyForANewerGeneration: a request that reads the store's
// generation just before this process commits sees an older number than
// the one the process holds; that is no reason to reload. A newer number,
// another process's write, is.
func TestSyncReloadsOnlyForANewerGeneration(t *testing.T) {
	ctx := context.Background()
	st := &versionedMemStore{}
	a := newTestEmu(t, st)
	b, err := New(ctx, Options{BaseURL: "https://b.example", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	get := func() {
		t.Helper()
		res, err := a.srv.Client().Get(a.srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET / answered %d", res.StatusCode)
		}
	}
	get()
	before := a.reloads.Load()
	// The window: a request has read the generation; this process commits.
	committed := false
	a.afterGenerationRead = func() {
		if committed {
			return
		}
		committed = true
		if _, err := a.CreateTenant(ctx, TenantSpec{ID: testProviderTenant, DisplayName: "Provider"}); err != nil {
			t.Error(err)
		}
	}
	get()
	if !committed {
		t.Fatal("the hook did not run")
	}
	if n := a.reloads.Load() - before; n != 0 {
		t.Fatalf("a request that read the generation before this process's own commit reloaded %d times, want 0", n)
	}
	a.afterGenerationRead = nil
	// Another process writes: the next request reloads once, and sees it.
	if _, err := b.CreateTenant(ctx, TenantSpec{ID: testCustomerTenant, DisplayName: "Contoso"}); err != nil {
		t.Fatal(err)
	}
	get()
	get()
	if n := a.reloads.Load() - before; n != 1 {
		t.Fatalf("after another process's write, two requests reloaded %d times, want 1", n)
	}
	if _, ok := a.FindTenant(testCustomerTenant); !ok {
		t.Fatal("the reload did not bring the other process's tenant")
	}
}

// TestUnchangedWriteOnAStaleStateIsRerun: a write that changes nothing on
// the state this process holds is a real change when another process has
// written since; it must not be dropped as a no-op (a lost update), but
// re-run on the fresh state.
func TestUnchangedWriteOnAStaleStateIsRerun(t *testing.T) {
	ctx := context.Background()
	st := &versionedMemStore{}
	a := newTestEmu(t, st)
	a.seedTwoTenants(t)
	b, err := New(ctx, Options{BaseURL: "https://b.example", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutResourceGroup(ctx, testCustomerSub, custRG, "eastus", nil); err != nil {
		t.Fatal(err)
	}
	spec := func(env string) VNetSpec {
		return VNetSpec{SubscriptionID: testCustomerSub, ResourceGroup: custRG, Name: custVNetName, Location: "eastus",
			AddressPrefixes: []string{"10.2.0.0/16"}, Tags: map[string]string{"ConfluentEnvIDs": env}}
	}
	if _, err := a.PutVirtualNetwork(ctx, spec("env-1")); err != nil {
		t.Fatal(err)
	}
	admin := a.credFor(testCustomerTenant, a.userID(t, testCustomerAdmin), true)
	tok, err := admin.GetToken(ctx, policy.TokenRequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Between this request's read of the generation and its change, the
	// other process sets the tag to env-2.
	a.afterGenerationRead = func() {
		a.afterGenerationRead = nil
		if err := b.sync(ctx); err != nil {
			t.Error(err)
		}
		if _, err := b.PutVirtualNetwork(ctx, spec("env-2")); err != nil {
			t.Error(err)
		}
	}
	id := vnetID(testCustomerSub, custRG, custVNetName)
	req, _ := http.NewRequest(http.MethodPut, a.srv.URL+id+"?api-version=2024-05-01",
		strings.NewReader(`{"location":"eastus","tags":{"ConfluentEnvIDs":"env-1"},"properties":{"addressSpace":{"addressPrefixes":["10.2.0.0/16"]}}}`))
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	res, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PUT answered %d", res.StatusCode)
	}
	if err := b.sync(ctx); err != nil {
		t.Fatal(err)
	}
	v, ok := b.FindVirtualNetwork(testCustomerSub, custRG, custVNetName)
	if !ok || v.Tags["ConfluentEnvIDs"] != "env-1" {
		t.Fatalf("after the PUT of env-1 the store has %v, want env-1", v)
	}
}

// incrementalMemStore is a versionedMemStore that tells what changed
// after a generation, as the SQL stores do with migration 0011.
type incrementalMemStore struct {
	versionedMemStore
	imu    sync.Mutex
	docGen map[[2]string]int64 // generation of each document's last write
	tomb   map[[2]string]int64 // generation of each deleted document's delete
}

func (s *incrementalMemStore) ApplyDocsAt(ctx context.Context, gen int64, puts, deletes []Doc) (int64, error) {
	s.imu.Lock()
	defer s.imu.Unlock()
	g, err := s.versionedMemStore.ApplyDocsAt(ctx, gen, puts, deletes)
	if err != nil {
		return g, err
	}
	if s.docGen == nil {
		s.docGen, s.tomb = map[[2]string]int64{}, map[[2]string]int64{}
	}
	for _, d := range deletes {
		k := [2]string{d.Kind, d.Key}
		delete(s.docGen, k)
		s.tomb[k] = g
	}
	for _, d := range puts {
		k := [2]string{d.Kind, d.Key}
		delete(s.tomb, k)
		s.docGen[k] = g
	}
	return g, nil
}

func (s *incrementalMemStore) ChangesSince(ctx context.Context, gen int64, also []Doc) (puts, deletes []Doc, current int64, err error) {
	s.imu.Lock()
	defer s.imu.Unlock()
	all, _ := s.LoadDocs(ctx)
	want := map[[2]string]bool{}
	for _, d := range also {
		want[[2]string{d.Kind, d.Key}] = true
	}
	for _, d := range all {
		k := [2]string{d.Kind, d.Key}
		if s.docGen[k] > gen || want[k] {
			puts = append(puts, d)
			delete(want, k)
		}
	}
	for k := range want {
		deletes = append(deletes, Doc{Kind: k[0], Key: k[1]})
	}
	for k, g := range s.tomb {
		if g > gen {
			deletes = append(deletes, Doc{Kind: k[0], Key: k[1]})
		}
	}
	current, _ = s.Generation(ctx)
	return puts, deletes, current, nil
}

// TestCatchUpKeepsTheIndexes: a process that catches up with another's
// writes (creates, updates, deletes of VNets, peerings and role
// assignments) reads only what changed, and ends with the state and
// indexes a full load gives (checked when the test ends).
func TestCatchUpKeepsTheIndexes(t *testing.T) {
	st := &incrementalMemStore{}
	w := newPeeringWorldOn(t, st)
	b := newTestEmu(t, st)
	w.grantAndPeer(t)
	ctx := context.Background()
	if err := b.sync(ctx); err != nil {
		t.Fatal(err)
	}
	checkIndexes(t, b.Emulator)
	// The customer deletes its VNet: its half goes, the provider's is
	// Disconnected, the role assignment stays.
	if err := w.te.DeleteResourceGroup(ctx, testCustomerSub, custRG); err != nil {
		t.Fatal(err)
	}
	if err := b.sync(ctx); err != nil {
		t.Fatal(err)
	}
	checkIndexes(t, b.Emulator)
	var half string
	b.view(func(s *state) {
		for _, p := range s.peeringsOf(w.provVNet) {
			half = p.PeeringState
		}
	})
	if half != PeeringDisconnected {
		t.Fatalf("b sees the provider's half %q, want Disconnected", half)
	}
	if full, incremental := b.Loads(); full != 1 || incremental < 2 {
		t.Fatalf("b loaded %d times in full and %d incrementally, want 1 (at start) and at least 2", full, incremental)
	}
}

// TestFailedChangeIsReadBack: a change that fails after it changed memory
// (a tenant created, then its admin refused) is undone by reading back the
// documents it touched, not by loading every document again.
func TestFailedChangeIsReadBack(t *testing.T) {
	st := &incrementalMemStore{}
	te := newTestEmu(t, st)
	ctx := context.Background()
	admin := &UserSpec{UserPrincipalName: "admin@one.example", Password: testPassword}
	if _, err := te.CreateTenant(ctx, TenantSpec{ID: testProviderTenant, DisplayName: "One", Admin: admin}); err != nil {
		t.Fatal(err)
	}
	full, _ := te.Loads()
	_, err := te.CreateTenant(ctx, TenantSpec{ID: testCustomerTenant, DisplayName: "Two", Admin: admin})
	if e, ok := err.(*Error); !ok || e.Code != "UserAlreadyExists" {
		t.Fatalf("a second tenant with the first one's admin: %v, want UserAlreadyExists", err)
	}
	if _, ok := te.FindTenant(testCustomerTenant); ok {
		t.Fatal("the tenant of the failed change is still in memory")
	}
	if again, incremental := te.Loads(); again != full || incremental == 0 {
		t.Fatalf("the failed change made %d full loads and %d incremental ones, want 0 and at least 1", again-full, incremental)
	}
}
