package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/control"
)

func TestMigrationSetsMatch(t *testing.T) {
	sq, err := loadMigrations(migrationFiles, DialectSQLite)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loadMigrations(migrationFiles, DialectPostgres)
	if err != nil {
		t.Fatal(err)
	}
	names := func(ms []migration) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.name)
		}
		return out
	}
	if !slices.Equal(names(sq), names(pg)) {
		t.Fatalf("migration sets differ:\nsqlite   %v\npostgres %v", names(sq), names(pg))
	}
	want := 1
	for _, m := range sq {
		if m.version != want {
			t.Fatalf("migration %s has version %d, want %d (no gaps)", m.name, m.version, want)
		}
		want++
	}
}

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"no number":    {"migrations/sqlite/init.sql": {}},
		"zero":         {"migrations/sqlite/0000_init.sql": {}},
		"duplicate":    {"migrations/sqlite/0001_a.sql": {}, "migrations/sqlite/1_b.sql": {}},
		"missing dir":  {"migrations/postgres/0001_a.sql": {}},
		"no separator": {"migrations/sqlite/0001.sql": {}},
	} {
		if _, err := loadMigrations(fsys, DialectSQLite); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	ms, err := loadMigrations(fstest.MapFS{
		"migrations/sqlite/0010_c.sql":   {Data: []byte("c")},
		"migrations/sqlite/0002_b.sql":   {Data: []byte("b")},
		"migrations/sqlite/README.md":    {},
		"migrations/postgres/0001_x.sql": {},
	}, DialectSQLite)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].version != 2 || ms[1].version != 10 || ms[1].sql != "c" {
		t.Fatalf("loadMigrations = %+v", ms)
	}
}

func TestSQLitePath(t *testing.T) {
	for dsn, want := range map[string]string{
		"/var/lib/peerplane/peerplane.db":        "/var/lib/peerplane/peerplane.db",
		"sqlite:/var/lib/peerplane/peerplane.db": "/var/lib/peerplane/peerplane.db",
		"sqlite:///var/lib/p.db":                 "/var/lib/p.db",
		"file:data/p.db":                         "data/p.db",
		"file:///var/lib/p.db":                   "/var/lib/p.db",
		"data/./p.db":                            "data/p.db",
	} {
		got, err := sqlitePath(dsn)
		if err != nil || got != want {
			t.Errorf("sqlitePath(%q) = %q, %v; want %q", dsn, got, err, want)
		}
	}
	for _, dsn := range []string{"", "sqlite:", "file:", ":memory:", "file::memory:?cache=shared", "p.db?_pragma=x"} {
		if got, err := sqlitePath(dsn); err == nil {
			t.Errorf("sqlitePath(%q) = %q, want an error", dsn, got)
		}
	}
}

func TestSQLiteSettings(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"foreign_keys": "1",
		"busy_timeout": "10000",
	} {
		var got string
		if err := db.w.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("writer PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	if got := db.w.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer pool allows %d connections, want 1", got)
	}
	if _, err := db.r.ExecContext(ctx, `DELETE FROM azure_docs`); err == nil {
		t.Error("reader pool accepted a write; want query_only")
	}
}

// TestSQLiteCommitModes checks that the writer connection's synchronous
// pragma follows each transaction's commit mode: NORMAL for the embedded
// Azure's documents, FULL again for the next control-plane write.
func TestSQLiteCommitModes(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	inTx := func(mode commitMode) string {
		t.Helper()
		var got string
		if err := db.writeTxAs(ctx, mode, func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&got)
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	writer := func() string {
		t.Helper()
		var got string
		if err := db.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	const full, normal = "2", "1"
	for i, step := range []struct {
		mode commitMode
		want string
	}{{commitDurable, full}, {commitLazy, normal}, {commitLazy, normal}, {commitDurable, full}, {commitLazy, normal}, {commitDurable, full}} {
		if got := inTx(step.mode); got != step.want {
			t.Errorf("step %d: PRAGMA synchronous = %s in a transaction of mode %d, want %s", i, got, step.mode, step.want)
		}
	}
	if err := db.ApplyDocs(ctx, []azureemu.Doc{{Kind: "k", Key: "a", Body: []byte("x")}}, nil); err != nil {
		t.Fatal(err)
	}
	if got := writer(); got != normal {
		t.Errorf("after ApplyDocs the writer's PRAGMA synchronous = %s, want %s (NORMAL)", got, normal)
	}
	if err := db.Control().Update(ctx, func(tx control.Tx) error { return tx.SaveSettings(ctx, []byte(`{}`)) }); err != nil {
		t.Fatal(err)
	}
	if got := writer(); got != full {
		t.Errorf("after a control-plane write the writer's PRAGMA synchronous = %s, want %s (FULL)", got, full)
	}
}

func TestPlanDocs(t *testing.T) {
	d := func(kind, key, body string) azureemu.Doc {
		return azureemu.Doc{Kind: kind, Key: key, Body: []byte(body)}
	}
	ops := planDocs(
		[]azureemu.Doc{d("b", "1", "x"), d("a", "2", "first"), d("a", "2", "second")},
		[]azureemu.Doc{d("b", "1", ""), d("a", "1", ""), d("a", "1", "")},
	)
	type op struct {
		kind, key, body string
		put             bool
	}
	var got []op
	for _, o := range ops {
		got = append(got, op{o.doc.Kind, o.doc.Key, string(o.doc.Body), o.put})
	}
	want := []op{{"a", "1", "", false}, {"a", "2", "second", true}, {"b", "1", "x", true}}
	if !slices.Equal(got, want) {
		t.Fatalf("planDocs = %v, want %v", got, want)
	}
}
