// Package store keeps Peerplane's durable state in SQLite (the embedded
// default, a file in the data directory) or PostgreSQL (scale-out: several
// `peerplane serve` replicas share one database). Both run behind one API,
// [DB], and pass one contract suite, package storetest.
//
// # Opening
//
// [Open] picks the database from the dsn: postgres:// or postgresql:// is
// PostgreSQL, anything else ("sqlite:PATH", "file:PATH", a plain path) a
// SQLite file, created with its directory. Open applies pending migrations
// before it returns, so a *DB always has the current schema.
//
// Both dialects go through database/sql: modernc.org/sqlite (pure Go, no
// cgo) and pgx through its stdlib adapter. One driver-neutral API keeps a
// single copy of every query, transaction and retry path, which is what
// lets one contract suite vouch for both; pgxpool's extra speed (binary
// batches, no database/sql layer) is not worth a second code path at the
// write rates of a control plane. Queries use $1-style placeholders, which
// both drivers accept.
//
// # Durability and concurrency
//
// A control-plane write returns only after its transaction committed
// durably. SQLite runs in WAL mode with synchronous=FULL (the WAL is
// fsynced at every commit), foreign_keys on and a busy_timeout for other
// processes. The embedded Azure's documents ([DB.ApplyDocs]) commit
// without waiting for the disk (SQLite's synchronous=NORMAL, PostgreSQL's
// synchronous_commit off, for their transactions alone): they survive a
// crash of the process, and a power loss (or a crash of the PostgreSQL
// server) can lose only those written after the last durable commit — the
// log keeps commits in order, so what survives is a prefix of it and the
// control plane never stays ahead of the Azure state it recorded. The
// emulator holds its lock across each commit, so an fsync there used to
// serialize every ARM write of the process behind the disk. All writes of one
// *DB go through a single connection whose transactions BEGIN IMMEDIATE, so
// concurrent writers queue in Go and never see SQLITE_BUSY; reads use a
// separate pool of query_only connections that WAL lets run beside the
// writer. PostgreSQL uses one pool for both; a write transaction it aborts
// for a deadlock or serialization failure (40P01, 40001) is retried.
//
// # Schema
//
//	schema_migrations(version PK, name, applied_at)   applied migrations
//	azure_docs(kind, key, body, updated_at, gen)      the embedded Azure's documents,
//	                                                  PK (kind, key); see [DB.ApplyDocs];
//	                                                  gen: the batch that last wrote it
//	azure_generation(id = 1, gen)                     the number of batches written
//	azure_doc_tombstones(kind, key, gen)              the documents deleted, with the batch
//	                                                  that deleted them; triggers keep gen
//	                                                  and the tombstones (see [DB.ChangesSince])
//	leases(name PK, holder, expires_at)               leader leases; see [DB.TryAcquireLease]
//	identity(name PK, body, updated_at)               the installation's identity (provider,
//	                                                  CA, bootstrap API key) that replicas
//	                                                  share, secrets sealed by the caller;
//	                                                  see [DB.LoadIdentity], [DB.LockIdentity]
//
// Dialect differences: body is BLOB in SQLite and BYTEA in PostgreSQL;
// PostgreSQL's kind and key are COLLATE "C" so that ORDER BY is byte-wise,
// as in SQLite and Go; leases.expires_at is TIMESTAMPTZ computed from the
// database clock (now()) in PostgreSQL, so replicas with skewed clocks
// agree, and Unix microseconds from [Options].Now in SQLite, where all
// writers share one host.
//
// # Between replicas
//
// Replicas sharing PostgreSQL tell each other about changes with
// [DB.Notify] and [DB.Listen] (LISTEN/NOTIFY on a dedicated connection,
// channels scoped by the schema), and serialize the bootstrap of an
// installation with [DB.LockIdentity] (a session advisory lock). On SQLite,
// which one process serves, Notify and Listen return [ErrNoNotify] and the
// lock is one within the process.
//
// # Migrations and extending the schema
//
// Migrations are embedded SQL files, one set per dialect:
//
//	migrations/sqlite/NNNN_description.sql
//	migrations/postgres/NNNN_description.sql
//
// Open applies the versions missing from schema_migrations in ascending
// order, all in one transaction, and records each. Concurrent Opens are
// safe: PostgreSQL takes a transaction-scoped advisory lock
// (pg_advisory_xact_lock, keyed by the current schema), SQLite's BEGIN
// IMMEDIATE excludes other writers. Reopening applies nothing.
//
// The control plane's tables (environments, networks, peerings, ...) are
// added as the next numbered migrations, 0002_control_plane.sql and on, in
// both directories with the same number and name (a test checks that the
// two sets match), and their queries as methods on *DB in this package, in
// a file per domain (control.go, ...), using the unexported writeTx helper
// for transactions. Never edit an applied migration; add a new one, and keep
// migrations additive, because during a rolling upgrade older replicas keep
// running against the newer schema (Open ignores versions it does not know).
// New behaviour gets its cases in storetest, so both dialects are held to it.
package store
