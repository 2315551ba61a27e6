package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
)

// identityLockSQL and identityUnlockSQL take and give back the session
// advisory lock that serializes bootstraps, keyed by the current schema so
// that installations sharing a database do not wait on each other.
const (
	identityLockKey   = `hashtextextended('peerplane/store/identity:' || coalesce(current_schema(), ''), 0)`
	identityLockSQL   = `SELECT pg_advisory_lock(` + identityLockKey + `)`
	identityUnlockSQL = `SELECT pg_advisory_unlock(` + identityLockKey + `)`
	upsertIdentitySQL = `INSERT INTO identity (name, body, updated_at) VALUES ($1, $2, CURRENT_TIMESTAMP)
ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`
)

// sqliteIdentityLocks serialize bootstraps within this process on SQLite,
// one per database file: replicas do not share a SQLite database.
var sqliteIdentityLocks sync.Map // file path → chan struct{} of capacity 1

// LoadIdentity returns the identity document called name, or nil and no
// error when there is none.
func (db *DB) LoadIdentity(ctx context.Context, name string) ([]byte, error) {
	var body []byte
	err := db.r.QueryRowContext(ctx, `SELECT body FROM identity WHERE name = $1`, name).Scan(&body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("load identity %q: %w", name, err)
	}
	if body == nil {
		body = []byte{}
	}
	return body, nil
}

// SaveIdentity stores body as the identity document called name,
// replacing any. An empty name is an error.
func (db *DB) SaveIdentity(ctx context.Context, name string, body []byte) error {
	if name == "" {
		return errors.New("save identity: empty name")
	}
	if body == nil {
		body = []byte{}
	}
	if err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, upsertIdentitySQL, name, body)
		return err
	}); err != nil {
		return fmt.Errorf("save identity %q: %w", name, err)
	}
	return nil
}

// LockIdentity blocks until this caller is the only one, among every
// process sharing the database, bootstrapping the installation (creating
// its provider, CA and first API key), or until ctx is done. Call unlock
// when done; it is safe to call more than once. On PostgreSQL it is a
// session advisory lock on a connection of its own, so it never holds a
// transaction open and is released if the process dies. On SQLite, where
// one process serves a database, it is a lock within the process: it does
// not exclude another process opening the same file.
func (db *DB) LockIdentity(ctx context.Context) (unlock func(), err error) {
	if db.dialect != DialectPostgres {
		v, _ := sqliteIdentityLocks.LoadOrStore(db.path, make(chan struct{}, 1))
		held := v.(chan struct{})
		select {
		case held <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("lock identity: %w", ctx.Err())
		}
		var once sync.Once
		return func() { once.Do(func() { <-held }) }, nil
	}
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock identity: %w", err)
	}
	if _, err := conn.ExecContext(ctx, identityLockSQL); err != nil {
		discard(conn)
		return nil, fmt.Errorf("lock identity: %w", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			// A connection that cannot say it let go of the lock may still
			// hold it: close it rather than pool it.
			if _, err := conn.ExecContext(context.Background(), identityUnlockSQL); err != nil {
				discard(conn)
				return
			}
			conn.Close()
		})
	}, nil
}

// discard closes conn's underlying connection instead of returning it to
// the pool.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}
