package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/store"
)

// Run runs the contract suite against the store that open opens.
//
// open is called one or more times per subtest. Calls with the same
// *testing.T must return handles on the same database, which is empty at
// the first call; that is how the suite checks that a reopened database
// keeps everything. open must close its handles when the test ends
// (t.Cleanup); Run may close one earlier, and Close is idempotent. [Opener]
// builds such a function. Subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) *store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) *store.DB)
	}{
		{"Docs/RoundTrip", testDocsRoundTrip},
		{"Docs/Ordering", testDocsOrdering},
		{"Docs/UpsertOverwrites", testDocsUpsert},
		{"Docs/DeleteMissing", testDocsDeleteMissing},
		{"Docs/PutAndDeleteInOneBatch", testDocsPutAndDelete},
		{"Docs/AtomicOnInvalidDoc", testDocsAtomicInvalid},
		{"Docs/AtomicOnCancel", testDocsAtomicCancel},
		{"Docs/LargeBodies", testDocsLarge},
		{"Docs/ConcurrentWriters", testDocsConcurrent},
		{"Reopen", testReopen},
		{"Migrations/IdempotentOnReopen", testMigrationsIdempotent},
		{"Migrations/AppliedMatchesBinary", testMigrationsMatchBinary},
		{"Ping", testPing},
		{"Lease/TwoHolders", testLeaseTwoHolders},
		{"Lease/Expiry", testLeaseExpiry},
		{"Lease/RenewalExtends", testLeaseRenewal},
		{"Lease/Race", testLeaseRace},
		{"Lease/InvalidArguments", testLeaseInvalid},
		{"Identity/RoundTrip", testIdentityRoundTrip},
		{"Identity/Lock", testIdentityLock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

func doc(kind, key, body string) azureemu.Doc {
	return azureemu.Doc{Kind: kind, Key: key, Body: []byte(body)}
}

func sortDocs(docs []azureemu.Doc) {
	slices.SortFunc(docs, func(a, b azureemu.Doc) int {
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
}

func describe(docs []azureemu.Doc) string {
	var b strings.Builder
	for _, d := range docs {
		if len(d.Body) <= 32 {
			fmt.Fprintf(&b, "\n\t%q/%q = %q", d.Kind, d.Key, d.Body)
		} else {
			fmt.Fprintf(&b, "\n\t%q/%q = %d bytes", d.Kind, d.Key, len(d.Body))
		}
	}
	return b.String()
}

// wantDocs fails t unless db holds exactly want, in want's order.
func wantDocs(t *testing.T, db *store.DB, want []azureemu.Doc) {
	t.Helper()
	got, err := db.LoadDocs(context.Background())
	if err != nil {
		t.Fatalf("LoadDocs: %v", err)
	}
	if got == nil {
		t.Fatalf("LoadDocs returned nil, want a non-nil slice")
	}
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		same = got[i].Kind == want[i].Kind && got[i].Key == want[i].Key && bytes.Equal(got[i].Body, want[i].Body)
	}
	if !same {
		t.Fatalf("LoadDocs:%s\nwant:%s", describe(got), describe(want))
	}
}

func apply(t *testing.T, db *store.DB, puts, deletes []azureemu.Doc) {
	t.Helper()
	if err := db.ApplyDocs(context.Background(), puts, deletes); err != nil {
		t.Fatalf("ApplyDocs: %v", err)
	}
}

func testDocsRoundTrip(t *testing.T, open func(t *testing.T) *store.DB) {
	db := open(t)
	wantDocs(t, db, []azureemu.Doc{})
	if err := db.ApplyDocs(context.Background(), nil, nil); err != nil {
		t.Fatalf("ApplyDocs(nil, nil): %v", err)
	}
	docs := []azureemu.Doc{
		doc("tenant", "11111111-1111-1111-1111-111111111111", `{"name":"contoso"}`),
		doc("vnet", "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/virtualnetworks/v", `{"cidr":"10.0.0.0/16"}`),
		{Kind: "binary", Key: "all-bytes", Body: allBytes()},
		{Kind: "empty", Key: "nil-body"},
		{Kind: "empty", Key: "empty-body", Body: []byte{}},
		doc("unicode", "ключ/鍵", "значение"),
	}
	apply(t, db, docs, nil)
	want := slices.Clone(docs)
	sortDocs(want)
	wantDocs(t, db, want)

	if db.AzureDocs() == nil {
		t.Fatal("AzureDocs() = nil")
	}
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func testDocsOrdering(t *testing.T, open func(t *testing.T) *store.DB) {
	db := open(t)
	// Byte-wise order differs from most locales' collation on these.
	keys := []string{"b", "B", "a", "A", "a-b", "aB", "ab", "a b", "a_b", "é", "z", "Z", "_x", "10", "9", "~"}
	kinds := []string{"vnet", "Tenant", "tenant", "role-assignment", "roleAssignment"}
	var docs []azureemu.Doc
	for _, kind := range kinds {
		for _, key := range keys {
			docs = append(docs, doc(kind, key, kind+"|"+key))
		}
	}
	// Write in several batches, in an order unlike the sorted one.
	rev := slices.Clone(docs)
	slices.Reverse(rev)
	for i := 0; i < len(rev); i += 7 {
		apply(t, db, rev[i:min(i+7, len(rev))], nil)
	}
	sortDocs(docs)
	wantDocs(t, db, docs)
}

func testDocsUpsert(t *testing.T, open func(t *testing.T) *store.DB) {
	db := open(t)
	apply(t, db, []azureemu.Doc{doc("k", "a", "first, and longer than the second"), doc("k", "b", "b1")}, nil)
	apply(t, db, []azureemu.Doc{doc("k", "a", "second")}, nil)
	wantDocs(t, db, []azureemu.Doc{doc("k", "a", "second"), doc("k", "b", "b1")})
	apply(t, db, []azureemu.Doc{doc("k", "a", "third"), doc("k", "b", "b2")}, nil)
	wantDocs(t, db, []azureemu.Doc{doc("k", "a", "third"), doc("k", "b", "b2")})
}

func testDocsDeleteMissing(t *testing.T, open func(t *testing.T) *store.DB) {
	db := open(t)
	apply(t, db, nil, []azureemu.Doc{doc("k", "never-existed", "")})
	apply(t, db, []azureemu.Doc{doc("k", "a", "1"), doc("k", "b", "2")}, nil)
	// Only Kind and Key of a delete matter.
	apply(t, db, nil, []azureemu.Doc{doc("k", "a", "ignored"), doc("k", "missing", ""), doc("other", "a", "")})
	wantDocs(t, db, []azureemu.Doc{doc("k", "b", "2")})
	apply(t, db, nil, []azureemu.Doc{doc("k", "a", "")})
	wantDocs(t, db, []azureemu.Doc{doc("k", "b", "2")})
}

func testDocsPutAndDelete(t *testing.T, open func(t *testing.T) *store.DB) {
	db := open(t)
	apply(t, db, []azureemu.Doc{doc("k", "old", "o"), doc("k", "x", "x0")}, nil)
	// As azureemu.MemoryDocStore: deletes first, then puts in order.
	apply(t, db,
		[]azureemu.Doc{doc("k", "x", "x1"), doc("k", "y", "y1"), doc("k", "y", "y2")},
		[]azureemu.Doc{doc("k", "x", ""), doc("k", "old", "")})
	wantDocs(t, db, []azureemu.Doc{doc("k", "x", "x1"), doc("k", "y", "y2")})
}

func testDocsAtomicInvalid(t *testing.T, open func(t *testing.T) *store.DB) {
	db := open(t)
	before := []azureemu.Doc{doc("k", "keep", "v0"), doc("k", "doomed", "d0")}
	apply(t, db, before, nil)
	for _, bad := range []azureemu.Doc{doc("zzz", "", "empty key"), doc("", "k", "empty kind"), doc("a", "", "sorts first")} {
		// Valid writes sort on both sides of the invalid one, so some of
		// them reach the database before the failure.
		puts := []azureemu.Doc{doc("k", "keep", "v1"), doc("k", "new", "n"), bad, doc("zzzz", "last", "l")}
		err := db.ApplyDocs(context.Background(), puts, []azureemu.Doc{doc("k", "doomed", "")})
		if err == nil {
			t.Fatalf("ApplyDocs with invalid doc %q/%q: no error", bad.Kind, bad.Key)
		}
		sortDocs(before)
		wantDocs(t, db, before)
	}
}

func testDocsAtomicCancel(t *testing.T, open func(t *testing.T) *store.DB) {
	db := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.ApplyDocs(ctx, []azureemu.Doc{doc("k", "a", "1")}, nil); err == nil {
		t.Fatal("ApplyDocs with a canceled context: no error")
	}
	wantDocs(t, db, []azureemu.Doc{})

	// Cancel while a large batch is running. Either outcome is allowed,
	// but nothing in between: all docs or none.
	for round := range 6 {
		var puts []azureemu.Doc
		for i := range 500 {
			puts = append(puts, doc(fmt.Sprintf("round%d", round), fmt.Sprintf("%04d", i), "v"))
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(time.Duration(round) * time.Millisecond)
			cancel()
		}()
		err := db.ApplyDocs(ctx, puts, nil)
		cancel()
		got, lerr := db.LoadDocs(context.Background())
		if lerr != nil {
			t.Fatalf("LoadDocs: %v", lerr)
		}
		n := 0
		for _, d := range got {
			if d.Kind == fmt.Sprintf("round%d", round) {
				n++
			}
		}
		t.Logf("round %d: ApplyDocs error %v, %d docs stored", round, err, n)
		switch {
		case err == nil && n != len(puts):
			t.Fatalf("round %d: ApplyDocs succeeded but %d of %d docs stored", round, n, len(puts))
		case err != nil && n != 0:
			t.Fatalf("round %d: ApplyDocs failed (%v) but %d of %d docs stored", round, err, n, len(puts))
		}
	}
}

func testDocsLarge(t *testing.T, open func(t *testing.T) *store.DB) {
	db := open(t)
	var docs []azureemu.Doc
	for i := range 3 {
		body := make([]byte, 1<<20)
		if _, err := rand.Read(body); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, azureemu.Doc{Kind: "big", Key: fmt.Sprint(i), Body: body})
	}
	apply(t, db, docs, nil)
	wantDocs(t, db, docs)
	// Overwrite a large body with a small one and back.
	apply(t, db, []azureemu.Doc{doc("big", "1", "small")}, nil)
	apply(t, db, []azureemu.Doc{docs[1]}, nil)
	wantDocs(t, db, docs)
}

func testDocsConcurrent(t *testing.T, open func(t *testing.T) *store.DB) {
	db := open(t)
	const (
		writers = 8
		batches = 40
		hotKeys = 4
	)
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches)
	for w := range writers {
		wg.Go(func() {
			for i := range batches {
				// Every batch writes its own doc, and upserts and deletes
				// hot docs that every writer touches, in its own order.
				puts := []azureemu.Doc{doc("own", fmt.Sprintf("w%d-%03d", w, i), fmt.Sprintf("w%d i%d", w, i))}
				for h := range hotKeys {
					k := (h + w) % hotKeys
					puts = append(puts, doc("hot", fmt.Sprint(k), fmt.Sprintf("w%d i%d", w, i)))
				}
				deletes := []azureemu.Doc{doc("churn", fmt.Sprint((w+i)%3), "")}
				puts = append(puts, doc("churn", fmt.Sprint((w+i+1)%3), "c"))
				if err := db.ApplyDocs(context.Background(), puts, deletes); err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", w, i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	got, err := db.LoadDocs(context.Background())
	if err != nil {
		t.Fatalf("LoadDocs: %v", err)
	}
	own, hot := 0, 0
	for _, d := range got {
		switch d.Kind {
		case "own":
			own++
			var w, i int
			if _, err := fmt.Sscanf(d.Key, "w%d-%d", &w, &i); err != nil || string(d.Body) != fmt.Sprintf("w%d i%d", w, i) {
				t.Errorf("doc own/%s = %q", d.Key, d.Body)
			}
		case "hot":
			hot++
		}
	}
	if own != writers*batches || hot != hotKeys {
		t.Fatalf("stored %d own docs and %d hot docs, want %d and %d", own, hot, writers*batches, hotKeys)
	}
}

func testReopen(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	db := open(t)
	docs := []azureemu.Doc{doc("k", "a", "1"), doc("k", "b", "2"), doc("k", "c", "3")}
	apply(t, db, docs, []azureemu.Doc{doc("k", "c", "")})
	apply(t, db, nil, []azureemu.Doc{doc("k", "c", "")})
	if ok, err := db.TryAcquireLease(ctx, "reconciler", "replica-1", time.Hour); err != nil || !ok {
		t.Fatalf("TryAcquireLease = %v, %v; want true", ok, err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	db = open(t)
	wantDocs(t, db, docs[:2])
	if ok, err := db.TryAcquireLease(ctx, "reconciler", "replica-2", time.Hour); err != nil || ok {
		t.Fatalf("TryAcquireLease by another holder after reopen = %v, %v; want false", ok, err)
	}
	if ok, err := db.TryAcquireLease(ctx, "reconciler", "replica-1", time.Hour); err != nil || !ok {
		t.Fatalf("TryAcquireLease by the holder after reopen = %v, %v; want true", ok, err)
	}
}

func testMigrationsIdempotent(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	db := open(t)
	v1, err := db.SchemaVersion(ctx)
	if err != nil || v1 < 1 {
		t.Fatalf("SchemaVersion = %d, %v; want >= 1", v1, err)
	}
	apply(t, db, []azureemu.Doc{doc("k", "a", "1")}, nil)
	db.Close()
	for range 2 {
		db = open(t)
		v, err := db.SchemaVersion(ctx)
		if err != nil || v != v1 {
			t.Fatalf("SchemaVersion after reopen = %d, %v; want %d", v, err, v1)
		}
		db.Close()
	}
	// Two handles open at once on one database.
	a, b := open(t), open(t)
	apply(t, a, []azureemu.Doc{doc("k", "b", "2")}, nil)
	wantDocs(t, b, []azureemu.Doc{doc("k", "a", "1"), doc("k", "b", "2")})
}

func testMigrationsMatchBinary(t *testing.T, open func(t *testing.T) *store.DB) {
	db := open(t)
	applied, err := db.SchemaVersion(context.Background())
	if want := db.BinarySchemaVersion(); err != nil || want < 1 || applied != want {
		t.Fatalf("SchemaVersion = %d, %v; BinarySchemaVersion = %d: want equal and >= 1 after Open", applied, err, want)
	}
}

func testPing(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	db := open(t)
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("Ping on an open store: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.Ping(cctx); err == nil {
		t.Fatal("Ping with a cancelled context succeeded")
	}
	db.Close()
	if err := db.Ping(ctx); err == nil {
		t.Fatal("Ping on a closed store succeeded")
	}
	if _, err := db.SchemaVersion(ctx); err == nil {
		t.Fatal("SchemaVersion on a closed store succeeded")
	}
}

func acquire(t *testing.T, db *store.DB, name, holder string, ttl time.Duration, want bool) {
	t.Helper()
	got, err := db.TryAcquireLease(context.Background(), name, holder, ttl)
	if err != nil {
		t.Fatalf("TryAcquireLease(%q, %q): %v", name, holder, err)
	}
	if got != want {
		t.Fatalf("TryAcquireLease(%q, %q) = %v, want %v", name, holder, got, want)
	}
}

func release(t *testing.T, db *store.DB, name, holder string) {
	t.Helper()
	if err := db.ReleaseLease(context.Background(), name, holder); err != nil {
		t.Fatalf("ReleaseLease(%q, %q): %v", name, holder, err)
	}
}

func testLeaseTwoHolders(t *testing.T, open func(t *testing.T) *store.DB) {
	a, b := open(t), open(t) // two replicas
	acquire(t, a, "reconciler", "A", time.Hour, true)
	acquire(t, b, "reconciler", "B", time.Hour, false)
	acquire(t, a, "reconciler", "A", time.Hour, true) // renewal
	acquire(t, b, "other", "B", time.Hour, true)      // leases are independent
	release(t, b, "reconciler", "B")                  // not B's: no-op
	acquire(t, b, "reconciler", "B", time.Hour, false)
	release(t, a, "reconciler", "A")
	release(t, a, "reconciler", "A") // twice is fine
	acquire(t, b, "reconciler", "B", time.Hour, true)
	acquire(t, a, "reconciler", "A", time.Hour, false)
	release(t, a, "never-acquired", "A")
}

func testLeaseExpiry(t *testing.T, open func(t *testing.T) *store.DB) {
	a, b := open(t), open(t)
	acquire(t, a, "reconciler", "A", 50*time.Millisecond, true)
	time.Sleep(400 * time.Millisecond) // far past the ttl
	acquire(t, b, "reconciler", "B", time.Hour, true)
	acquire(t, a, "reconciler", "A", time.Hour, false) // A lost it
}

func testLeaseRenewal(t *testing.T, open func(t *testing.T) *store.DB) {
	a, b := open(t), open(t)
	acquire(t, a, "reconciler", "A", 50*time.Millisecond, true)
	acquire(t, a, "reconciler", "A", time.Hour, true) // renewal moves expiry
	time.Sleep(400 * time.Millisecond)                // past the first ttl
	acquire(t, b, "reconciler", "B", time.Hour, false)
}

func testLeaseRace(t *testing.T, open func(t *testing.T) *store.DB) {
	dbs := []*store.DB{open(t), open(t)}
	const holders = 8
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		won []string
	)
	for i := range holders {
		wg.Go(func() {
			holder := fmt.Sprintf("H%d", i)
			ok, err := dbs[i%len(dbs)].TryAcquireLease(context.Background(), "contended", holder, time.Hour)
			if err != nil {
				t.Errorf("TryAcquireLease(%s): %v", holder, err)
				return
			}
			if ok {
				mu.Lock()
				won = append(won, holder)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("holders that acquired the lease: %v, want exactly one", won)
	}
}

func testLeaseInvalid(t *testing.T, open func(t *testing.T) *store.DB) {
	db := open(t)
	ctx := context.Background()
	for _, c := range []struct {
		name, holder string
		ttl          time.Duration
	}{
		{"", "A", time.Second},
		{"l", "", time.Second},
		{"l", "A", 0},
		{"l", "A", -time.Second},
	} {
		if ok, err := db.TryAcquireLease(ctx, c.name, c.holder, c.ttl); err == nil || ok {
			t.Errorf("TryAcquireLease(%q, %q, %v) = %v, %v; want an error", c.name, c.holder, c.ttl, ok, err)
		}
	}
}
