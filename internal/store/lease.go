package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Lease statements. An INSERT that conflicts takes the row over only when
// the lease is ours already or has expired; otherwise the DO UPDATE's WHERE
// fails and RETURNING yields no row. PostgreSQL re-evaluates that WHERE on
// the latest committed row, so two replicas racing for one lease cannot
// both win.
const (
	acquireLeasePostgres = `INSERT INTO leases (name, holder, expires_at)
VALUES ($1, $2, now() + $3::bigint * interval '1 microsecond')
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE leases.holder = excluded.holder OR leases.expires_at <= now()
RETURNING holder`
	acquireLeaseSQLite = `INSERT INTO leases (name, holder, expires_at)
VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE leases.holder = excluded.holder OR leases.expires_at <= $4
RETURNING holder`
	releaseLease = `DELETE FROM leases WHERE name = $1 AND holder = $2`
)

// TryAcquireLease acquires the lease called name for holder until ttl from
// now, if the lease is free, expired, or held by holder already (then it is
// renewed). It returns false, and no error, when another holder's lease is
// still valid. Times come from PostgreSQL's clock (now()), so replicas with
// skewed clocks agree; on SQLite, where every writer shares one host, from
// Options.Now. Name and holder must be non-empty and ttl at least a
// microsecond. A holder should renew well before ttl passes, and stop acting
// as leader once a renewal fails or returns false.
func (db *DB) TryAcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" {
		return false, fmt.Errorf("acquire lease %q: empty name or holder", name)
	}
	if ttl < time.Microsecond {
		return false, fmt.Errorf("acquire lease %q: ttl %v too short", name, ttl)
	}
	var row *sql.Row
	switch db.dialect {
	case DialectPostgres:
		row = db.w.QueryRowContext(ctx, acquireLeasePostgres, name, holder, ttl.Microseconds())
	default:
		now := db.now()
		row = db.w.QueryRowContext(ctx, acquireLeaseSQLite, name, holder, now.Add(ttl).UnixMicro(), now.UnixMicro())
	}
	var got string
	switch err := row.Scan(&got); {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("acquire lease %q: %w", name, err)
	}
	return true, nil
}

// ReleaseLease gives up holder's lease called name, so that another holder
// can acquire it at once. Releasing a lease that holder does not hold
// (free, expired and taken over, or never acquired) does nothing and
// returns nil.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := db.w.ExecContext(ctx, releaseLease, name, holder); err != nil {
		return fmt.Errorf("release lease %q: %w", name, err)
	}
	return nil
}
