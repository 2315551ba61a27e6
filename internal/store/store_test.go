package store_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/store"
	"github.com/peerplane/peerplane/internal/store/storetest"
)

// postgresURLEnv names the PostgreSQL database the tests use, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Each test gets
// its own schema in it.
const postgresURLEnv = "PEERPLANE_TEST_POSTGRES_URL"

func TestMain(m *testing.M) {
	storetest.MaybeRunCrashChild()
	os.Exit(m.Run())
}

func postgresURL(tb testing.TB) string {
	u := os.Getenv(postgresURLEnv)
	if u == "" {
		tb.Skipf("set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL tests", postgresURLEnv)
	}
	return u
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, storetest.Opener(storetest.SQLiteDSN, store.Options{}))
	t.Run("OpenConcurrently", func(t *testing.T) { storetest.OpenConcurrently(t, storetest.SQLiteDSN(t)) })
	t.Run("Crash", func(t *testing.T) { storetest.Crash(t, storetest.SQLiteDSN(t)) })
}

func TestPostgres(t *testing.T) {
	base := postgresURL(t)
	newDSN := func(t testing.TB) string { return storetest.PostgresDSN(t, base) }
	storetest.Run(t, storetest.Opener(newDSN, store.Options{}))
	t.Run("OpenConcurrently", func(t *testing.T) { storetest.OpenConcurrently(t, newDSN(t)) })
	t.Run("Crash", func(t *testing.T) { storetest.Crash(t, newDSN(t)) })
}

func TestDialect(t *testing.T) {
	ctx := context.Background()
	for _, prefix := range []string{"", "sqlite:", "file:"} {
		db, err := store.Open(ctx, prefix+t.TempDir()+"/sub/dir/db.sqlite", store.Options{})
		if err != nil {
			t.Fatalf("Open(%q...): %v", prefix, err)
		}
		if got := db.Dialect(); got != store.DialectSQLite {
			t.Errorf("Open(%q...).Dialect() = %q, want %q", prefix, got, store.DialectSQLite)
		}
		db.Close()
	}
	for _, dsn := range []string{"sqlite:", ":memory:", "file::memory:", "sqlite:x.db?mode=memory"} {
		if db, err := store.Open(ctx, dsn, store.Options{}); err == nil {
			db.Close()
			t.Errorf("Open(%q): no error", dsn)
		}
	}
	if u := os.Getenv(postgresURLEnv); u != "" {
		db, err := store.Open(ctx, storetest.PostgresDSN(t, u), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if got := db.Dialect(); got != store.DialectPostgres {
			t.Errorf("Dialect() = %q, want %q", got, store.DialectPostgres)
		}
	}
}

func TestOpenPostgresBadPassword(t *testing.T) {
	base := postgresURL(t)
	// An unreachable port: the error must not echo the password.
	dsn := strings.Replace(base, "127.0.0.1:5432", "127.0.0.1:1", 1)
	dsn = strings.Replace(dsn, "postgres://postgres@", "postgres://postgres:s3cret@", 1)
	_, err := store.Open(context.Background(), dsn, store.Options{})
	if err == nil {
		t.Fatal("Open on a closed port: no error")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error leaks the password: %v", err)
	}
}

func BenchmarkApplyDocs(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchmarkApplyDocs(b, storetest.SQLiteDSN(b)) })
	b.Run("postgres", func(b *testing.B) { benchmarkApplyDocs(b, storetest.PostgresDSN(b, postgresURL(b))) })
}

// benchmarkApplyDocs measures one durable single-doc upsert per op.
func benchmarkApplyDocs(b *testing.B, dsn string) {
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	body := []byte(strings.Repeat(`{"k":"v"}`, 50)) // ~450 bytes, a typical document
	i := 0
	for b.Loop() {
		d := azureemu.Doc{Kind: "bench", Key: fmt.Sprint(i % 1000), Body: body}
		if err := db.ApplyDocs(ctx, []azureemu.Doc{d}, nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestSQLiteLeaseClock drives lease expiry with an injected clock: no sleep.
func TestSQLiteLeaseClock(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	db, err := store.Open(ctx, storetest.SQLiteDSN(t), store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	try := func(holder string, ttl time.Duration, want bool) {
		t.Helper()
		if got, err := db.TryAcquireLease(ctx, "reconciler", holder, ttl); err != nil || got != want {
			t.Fatalf("at %v TryAcquireLease(%s) = %v, %v; want %v", now, holder, got, err, want)
		}
	}
	try("A", 10*time.Second, true)
	now = now.Add(9 * time.Second)
	try("B", 10*time.Second, false)
	try("A", 10*time.Second, true) // renewed until +19s
	now = now.Add(9 * time.Second)
	try("B", 10*time.Second, false)
	now = now.Add(time.Second) // exactly at expiry: expired
	try("B", 10*time.Second, true)
	try("A", 10*time.Second, false)
}
