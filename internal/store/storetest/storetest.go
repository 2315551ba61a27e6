// Package storetest is the contract suite every store dialect passes: [Run]
// for the documented behaviour of *store.DB, [Crash] for durability across a
// SIGKILL, [OpenConcurrently] for racing migrations. [SQLiteDSN],
// [PostgresDSN] and [Opener] give each test a fresh, isolated database.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/peerplane/peerplane/internal/store"
)

// SQLiteDSN returns the dsn of a new SQLite database in a directory of
// t.TempDir() that does not exist yet, so Open has to create it.
func SQLiteDSN(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "data", "peerplane.db")
}

// PostgresDSN creates a schema t_<random> in the PostgreSQL database at
// baseURL, drops it with everything in it when t ends, and returns baseURL
// with search_path set to it, so parallel tests and packages sharing the
// database never see each other's tables.
func PostgresDSN(t testing.TB, baseURL string) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "t_" + hex.EncodeToString(b[:])
	adminExec(t, baseURL, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { adminExec(t, baseURL, "DROP SCHEMA "+schema+" CASCADE") })

	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatalf("parse postgres url: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func adminExec(t testing.TB, baseURL, stmt string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(baseURL)
	if err != nil {
		t.Fatalf("parse postgres url: %v", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// Opener returns an open function for [Run]. The first call for a test
// creates a database with newDSN; later calls with the same *testing.T open
// the same database again. Every handle is closed when its test ends.
func Opener(newDSN func(t testing.TB) string, opts store.Options) func(t *testing.T) *store.DB {
	var (
		mu   sync.Mutex
		dsns = map[*testing.T]string{}
	)
	return func(t *testing.T) *store.DB {
		t.Helper()
		mu.Lock()
		dsn, ok := dsns[t]
		mu.Unlock()
		if !ok {
			dsn = newDSN(t)
			mu.Lock()
			dsns[t] = dsn
			mu.Unlock()
			t.Cleanup(func() {
				mu.Lock()
				delete(dsns, t)
				mu.Unlock()
			})
		}
		db, err := store.Open(context.Background(), dsn, opts)
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		openedDSNs.Store(db, dsn)
		t.Cleanup(func() {
			db.Close()
			openedDSNs.Delete(db)
		})
		return db
	}
}

// openedDSNs maps each *store.DB an Opener opened to its dsn, so that a
// test can look at its PostgreSQL schema from outside (lockWaiter).
var openedDSNs sync.Map

// OpenConcurrently opens a fresh database at dsn from several goroutines at
// once; every Open must succeed and agree on the schema version.
func OpenConcurrently(t *testing.T, dsn string) {
	const n = 6
	ctx := context.Background()
	var wg sync.WaitGroup
	versions := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			db, err := store.Open(ctx, dsn, store.Options{})
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			versions[i], errs[i] = db.SchemaVersion(ctx)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if versions[i] != versions[0] || versions[i] == 0 {
			t.Fatalf("schema versions %v, want all equal and > 0", versions)
		}
	}
}
