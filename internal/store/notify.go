package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// MaxNotifyPayload is the largest payload Notify sends: PostgreSQL refuses
// a NOTIFY payload of 8000 bytes or more.
const MaxNotifyPayload = 7999

// ErrNoNotify is returned by Notify and Listen on SQLite: one process
// serves a SQLite database, so there is no other process to tell.
var ErrNoNotify = errors.New("notifications between processes need PostgreSQL")

// listenHealthEvery is how long Listen waits for a notification before it
// checks that its connection still answers, so that a database that went
// away silently is noticed.
const listenHealthEvery = 30 * time.Second

// channel is the PostgreSQL channel of topic: scoped by the current
// schema, because channels are shared by the whole database while each
// schema is its own installation (or test).
func (db *DB) channel(topic string) string {
	sum := sha256.Sum256([]byte(db.schema))
	return "peerplane_" + hex.EncodeToString(sum[:8]) + "_" + topic
}

// Notify sends each payload on topic to every Listen of topic on this
// database and schema, in any process, this one included. Payloads are
// delivered in order, once each to each listener connected when the
// notification commits; a listener that was disconnected misses them.
// It returns ErrNoNotify on SQLite, and an error, sending nothing, when a
// payload reaches MaxNotifyPayload bytes or topic is empty.
func (db *DB) Notify(ctx context.Context, topic string, payloads ...string) error {
	if db.dialect != DialectPostgres {
		return ErrNoNotify
	}
	if topic == "" {
		return errors.New("notify: empty topic")
	}
	for _, p := range payloads {
		if len(p) > MaxNotifyPayload {
			return fmt.Errorf("notify %s: payload of %d bytes, more than %d", topic, len(p), MaxNotifyPayload)
		}
	}
	if len(payloads) == 0 {
		return nil
	}
	// One statement: the notifications commit together, in order.
	const q = `SELECT count(pg_notify($1, p)) FROM unnest($2::text[]) AS p`
	var n int
	if err := db.w.QueryRowContext(ctx, q, db.channel(topic), payloads).Scan(&n); err != nil {
		return fmt.Errorf("notify %s: %w", topic, err)
	}
	return nil
}

// Listen calls fn with the payload of every notification on topic, in the
// order they were sent, until ctx is done (it then returns ctx.Err()) or
// its connection fails (it returns the error; call it again to resume,
// ideally after a backoff). It listens on a dedicated connection, not one
// of the pool's; ready, when not nil, is called once it listens, so that
// the caller can catch up on what it missed before. fn runs on Listen's
// goroutine and delays the next notification: keep it short. A silent
// connection is checked every 30s. It returns ErrNoNotify on SQLite.
func (db *DB) Listen(ctx context.Context, topic string, ready func(), fn func(payload string)) error {
	if db.dialect != DialectPostgres {
		return ErrNoNotify
	}
	if topic == "" {
		return errors.New("listen: empty topic")
	}
	ch := db.channel(topic)
	cfg := db.pg.Copy()
	cfg.RuntimeParams["application_name"] = "peerplane listen " + ch
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("listen %s: connect: %w", topic, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
		return fmt.Errorf("listen %s: %w", topic, err)
	}
	if ready != nil {
		ready()
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, listenHealthEvery)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case n != nil:
			fn(n.Payload)
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case wctx.Err() != nil && !conn.IsClosed():
			// Nothing for a while: make sure the database is still there.
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err == nil {
				continue
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("listen %s: %w", topic, err)
	}
}
