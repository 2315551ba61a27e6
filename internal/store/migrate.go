package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations
var migrationFiles embed.FS

// migration is one numbered SQL file of a dialect's migration set.
type migration struct {
	version int
	name    string // file name, e.g. "0001_azure_docs_and_leases.sql"
	sql     string
}

// loadMigrations returns the dialect's migrations, ordered by version.
// Files are named NNNN_description.sql; versions must be unique.
func loadMigrations(fsys fs.FS, dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_description.sql", dialect, e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s/%s and %s share version %d", dialect, prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration: %w", err)
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies the pending migrations of db's dialect in one
// transaction and records each in schema_migrations. Concurrent Opens are
// serialized: on PostgreSQL by a transaction-scoped advisory lock keyed by
// the current schema, on SQLite by BEGIN IMMEDIATE. Versions recorded in
// the database but unknown to this binary are left alone, so an older
// replica keeps running against a schema a newer one migrated; migrations
// must therefore be additive.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations(migrationFiles, db.dialect)
	if err != nil {
		return err
	}
	if len(ms) > 0 {
		db.binaryVersion = ms[len(ms)-1].version
	}
	createTable := `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
)`
	if db.dialect == DialectPostgres {
		createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`
	}
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if db.dialect == DialectPostgres {
			const lock = `SELECT pg_advisory_xact_lock(hashtextextended('peerplane/store/migrate:' || coalesce(current_schema(), ''), 0))`
			if _, err := tx.ExecContext(ctx, lock); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, createTable); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		applied, err := appliedVersions(ctx, tx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if applied[m.version] {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("apply %s/%s: %w", db.dialect, m.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return fmt.Errorf("record %s/%s: %w", db.dialect, m.name, err)
			}
			db.logger.Info("applied migration", "dialect", db.dialect, "version", m.version, "name", m.name)
		}
		return nil
	})
}

func appliedVersions(ctx context.Context, tx *sql.Tx) (map[int]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return applied, nil
}

// SchemaVersion returns the highest migration version recorded in the
// database, or 0 when none is.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := db.r.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return int(v.Int64), nil
}

// BinarySchemaVersion returns the highest migration version this binary
// carries for db's dialect: the version SchemaVersion reports once every
// migration is applied.
func (db *DB) BinarySchemaVersion() int { return db.binaryVersion }

// Ping runs a trivial query, so that it fails when the database does not
// answer (or db is closed) before ctx is done.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	return nil
}
