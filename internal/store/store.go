package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialects reported by [DB.Dialect].
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Options tunes [Open]. The zero value is ready to use.
type Options struct {
	// Logger receives one line per applied migration. Nil discards.
	Logger *slog.Logger

	// Now is the clock for lease times on SQLite. Nil means time.Now.
	// PostgreSQL ignores it: lease times there come from the database's
	// clock so that replicas with skewed clocks agree.
	Now func() time.Time

	// BusyTimeout is how long a SQLite writer waits for another process
	// holding the write lock before failing with SQLITE_BUSY. Zero means
	// 10s. Writers of one *DB never wait on each other this way: they
	// share a single connection.
	BusyTimeout time.Duration

	// MaxConns caps the PostgreSQL pool and the SQLite read pool. Zero
	// means max(4, GOMAXPROCS).
	MaxConns int
}

// DB is an open store: SQLite or PostgreSQL behind one API. It is safe for
// concurrent use. Close it when done.
type DB struct {
	dialect string
	// w runs every write transaction. On SQLite it holds exactly one
	// connection, whose transactions BEGIN IMMEDIATE, so writers of this
	// process queue in Go instead of failing with SQLITE_BUSY. On
	// PostgreSQL it is the same pool as r.
	w *sql.DB
	// r runs reads. On SQLite its connections are query_only; with WAL
	// they read the last committed state without blocking the writer.
	r      *sql.DB
	stmts  sync.Map // stmtKey → *sql.Stmt, see controlTx.queryRow
	now    func() time.Time
	logger *slog.Logger
	// binaryVersion is the highest migration version of the dialect
	// embedded in this binary (set by migrate).
	binaryVersion int
	// pg is the PostgreSQL connection config, for the dedicated
	// connections of Listen; schema is the current schema, which scopes
	// Notify's channels. Both are zero on SQLite.
	pg     *pgx.ConnConfig
	schema string
	// path is the SQLite file; empty on PostgreSQL.
	path string
	// wmode is the commit mode SQLite's writer connection is set to (its
	// synchronous pragma); see trySQLiteWriteTx.
	wmode commitMode

	closeOnce sync.Once
	closeErr  error
}

// Open opens the store named by dsn and applies pending migrations.
//
// A dsn starting with postgres:// or postgresql:// opens PostgreSQL; any
// pgx connection parameter may be given in it, search_path among them.
// Anything else names a SQLite file: "sqlite:PATH", "sqlite://PATH",
// "file:PATH" or a plain PATH. The file and its directory are created when
// missing. Query parameters are not accepted in a SQLite dsn: the store
// sets its own (WAL, synchronous=FULL, busy_timeout, foreign_keys).
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 10 * time.Second
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = max(4, runtime.GOMAXPROCS(0))
	}
	var (
		db  *DB
		err error
	)
	if isPostgres(dsn) {
		db, err = openPostgres(ctx, dsn, opts)
	} else {
		db, err = openSQLite(ctx, dsn, opts)
	}
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store: migrate: %w", err)
	}
	return db, nil
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func openPostgres(ctx context.Context, dsn string, opts Options) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("open store: parse postgres dsn: %w", err)
	}
	pool := stdlib.OpenDB(*cfg)
	pool.SetMaxOpenConns(opts.MaxConns)
	pool.SetMaxIdleConns(opts.MaxConns)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store: connect to postgres %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	var schema string
	if err := pool.QueryRowContext(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store: read the current schema: %w", err)
	}
	return &DB{dialect: DialectPostgres, w: pool, r: pool, now: opts.Now, logger: opts.Logger, pg: cfg, schema: schema}, nil
}

// sqlitePath extracts the file path from a SQLite dsn.
func sqlitePath(dsn string) (string, error) {
	p := dsn
	for _, prefix := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			p = rest
			break
		}
	}
	switch {
	case p == "":
		return "", errors.New("empty sqlite path")
	case strings.ContainsRune(p, '?'):
		return "", fmt.Errorf("sqlite path %q: query parameters are not supported", p)
	case p == ":memory:" || strings.HasPrefix(p, ":memory:"):
		return "", errors.New("in-memory sqlite is not supported: the store is durable")
	}
	return filepath.Clean(p), nil
}

func openSQLite(ctx context.Context, dsn string, opts Options) (*DB, error) {
	path, err := sqlitePath(dsn)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: create directory: %w", err)
	}

	common := url.Values{}
	common.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	common.Add("_pragma", "foreign_keys(1)")

	wq := cloneValues(common)
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "synchronous(FULL)")
	wq.Set("_txlock", "immediate")
	// The writer opens first: it turns WAL on, which is persistent in the
	// file, before any reader connects. Several processes opening a new
	// file at once can see SQLITE_BUSY there even with a busy timeout (the
	// switch to WAL needs an exclusive lock, and SQLite does not wait where
	// waiting could deadlock), so that step is retried until the timeout.
	var w *sql.DB
	deadline := time.Now().Add(opts.BusyTimeout)
	for attempt := 1; ; attempt++ {
		w, err = openSQLiteWriter(ctx, path, wq)
		if err == nil || !isSQLiteBusy(err) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open store: sqlite %s: %w", path, ctx.Err())
		case <-time.After(time.Duration(min(attempt, 20)) * 5 * time.Millisecond):
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open store: sqlite %s: %w", path, err)
	}

	rq := cloneValues(common)
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open store: sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(opts.MaxConns)
	r.SetMaxIdleConns(opts.MaxConns)
	r.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{dialect: DialectSQLite, w: w, r: r, now: opts.Now, logger: opts.Logger, path: path}, nil
}

// openSQLiteWriter opens the single writer connection with query q and
// checks that the database is in WAL mode.
func openSQLiteWriter(ctx context.Context, path string, q url.Values) (*sql.DB, error) {
	w, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		w.Close()
		return nil, err
	}
	if !strings.EqualFold(mode, "wal") {
		w.Close()
		return nil, fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	return w, nil
}

// isSQLiteBusy reports whether err is SQLite's SQLITE_BUSY (or LOCKED).
func isSQLiteBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & 0xff
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return false
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Dialect reports which database is behind db: [DialectSQLite] or
// [DialectPostgres].
func (db *DB) Dialect() string { return db.dialect }

// Close closes the connections. It waits for running queries to finish.
// Calling it again returns the first call's result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		errs := []error{db.w.Close()}
		if db.r != db.w {
			errs = append(errs, db.r.Close())
		}
		db.closeErr = errors.Join(errs...)
	})
	return db.closeErr
}

// maxTxAttempts bounds the retries of a write transaction that PostgreSQL
// aborted for a deadlock or a serialization failure.
const maxTxAttempts = 5

// writeTx runs fn in a write transaction and commits it durably, retrying
// the whole transaction when PostgreSQL reports a deadlock or serialization
// failure. fn must only use tx: on SQLite the write pool has a single
// connection.
func (db *DB) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.writeTxAs(ctx, commitDurable, fn)
}

// commitMode says whether a write transaction's commit waits for the disk.
type commitMode int

const (
	// commitDurable returns once the commit is on disk: SQLite's
	// synchronous=FULL (the WAL is fsynced at each commit), PostgreSQL's
	// default synchronous_commit.
	commitDurable commitMode = iota
	// commitLazy returns once the commit is in the log, visible and safe
	// from a crash of this process, without waiting for the disk: SQLite's
	// synchronous=NORMAL in WAL mode (the WAL is fsynced at checkpoints
	// and at the next durable commit), PostgreSQL's synchronous_commit
	// off. A power loss (SQLite) or a crash of the database server
	// (PostgreSQL) may lose the last lazy commits, never a durable one,
	// nor any commit before a durable one: the log is a sequence, and
	// what survives a crash is a prefix of it.
	commitLazy
)

// writeTxAs is writeTx with the commit of mode.
func (db *DB) writeTxAs(ctx context.Context, mode commitMode, fn func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.tryWriteTx(ctx, mode, fn)
		if err == nil || attempt == maxTxAttempts || !retryable(err) {
			return err
		}
		t := time.NewTimer(time.Duration(attempt) * 5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func (db *DB) tryWriteTx(ctx context.Context, mode commitMode, fn func(tx *sql.Tx) error) (err error) {
	if db.dialect == DialectSQLite {
		return db.trySQLiteWriteTx(ctx, mode, fn)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if mode == commitLazy {
		if _, err = tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return fmt.Errorf("set synchronous_commit: %w", err)
		}
	}
	return commitWith(tx, fn)
}

// trySQLiteWriteTx runs fn in a transaction on the single writer
// connection, first setting the connection's synchronous pragma for mode,
// before BEGIN, when the last transaction left another.
func (db *DB) trySQLiteWriteTx(ctx context.Context, mode commitMode, fn func(tx *sql.Tx) error) (err error) {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer conn.Close()
	// db.wmode is only read and written by the holder of the one
	// connection; the pool's hand-over orders them.
	if db.wmode != mode {
		pragma := "PRAGMA synchronous = FULL"
		if mode == commitLazy {
			pragma = "PRAGMA synchronous = NORMAL"
		}
		if _, err := conn.ExecContext(ctx, pragma); err != nil {
			return fmt.Errorf("begin: %s: %w", pragma, err)
		}
		db.wmode = mode
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	return commitWith(tx, fn)
}

// commitWith runs fn in tx and commits; the caller rolls back on error.
func commitWith(tx *sql.Tx, fn func(tx *sql.Tx) error) (err error) {
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// retryable reports whether err is a PostgreSQL deadlock or serialization
// failure, after which the transaction was rolled back and may be retried.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	return false
}
