package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/peerplane/peerplane/internal/store"
	"github.com/peerplane/peerplane/internal/store/storetest"
)

// listener runs db.Listen on topic in the background and hands each
// payload to a channel.
type listener struct {
	payloads chan string
	ready    chan struct{}
	done     chan error
}

func listen(t *testing.T, ctx context.Context, db *store.DB, topic string) *listener {
	t.Helper()
	l := &listener{payloads: make(chan string, 100), ready: make(chan struct{}, 10), done: make(chan error, 1)}
	go func() {
		l.done <- db.Listen(ctx, topic, func() { l.ready <- struct{}{} }, func(p string) { l.payloads <- p })
	}()
	select {
	case <-l.ready:
	case err := <-l.done:
		t.Fatalf("Listen: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Listen not ready within 10s")
	}
	return l
}

func (l *listener) next(t *testing.T) string {
	t.Helper()
	select {
	case p := <-l.payloads:
		return p
	case err := <-l.done:
		t.Fatalf("Listen ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no notification within 10s")
	}
	return ""
}

func TestNotifyReachesEveryListenerOfTheSchema(t *testing.T) {
	base := postgresURL(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn := storetest.PostgresDSN(t, base)
	open := func(dsn string) *store.DB {
		db, err := store.Open(ctx, dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(dsn), open(dsn)                  // two replicas of one installation
	other := open(storetest.PostgresDSN(t, base)) // another installation
	la, lb := listen(t, ctx, a, "changes"), listen(t, ctx, b, "changes")
	lother := listen(t, ctx, other, "changes")
	lmisc := listen(t, ctx, a, "other")

	big := strings.Repeat("x", store.MaxNotifyPayload)
	if err := b.Notify(ctx, "changes", "one", "two", big); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	for _, l := range []*listener{la, lb} { // the sender hears itself too
		for _, want := range []string{"one", "two", big} {
			if got := l.next(t); got != want {
				t.Fatalf("payload %.20q, want %.20q", got, want)
			}
		}
	}
	// A mark sent after: when it arrives, nothing else did before it.
	if err := other.Notify(ctx, "changes", "mark"); err != nil {
		t.Fatal(err)
	}
	if got := lother.next(t); got != "mark" {
		t.Fatalf("the other schema's listener heard %q, want only its own mark", got)
	}
	if err := a.Notify(ctx, "other", "mark"); err != nil {
		t.Fatal(err)
	}
	if got := lmisc.next(t); got != "mark" {
		t.Fatalf("the other topic's listener heard %q, want only its own mark", got)
	}

	if err := a.Notify(ctx, "changes", "ok", big+"x"); err == nil {
		t.Fatal("Notify of an oversized payload: no error")
	}
	if err := a.Notify(ctx, "changes", "after"); err != nil {
		t.Fatal(err)
	}
	if got := la.next(t); got != "after" {
		t.Fatalf("after a refused batch heard %q, want nothing of it", got)
	}
	cancel()
	if err := <-la.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Listen after cancel = %v, want context.Canceled", err)
	}
}

// TestListenEndsWhenItsConnectionDies: a listener whose backend is
// terminated returns an error instead of waiting forever, and listening
// again hears later notifications.
func TestListenEndsWhenItsConnectionDies(t *testing.T) {
	base := postgresURL(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := store.Open(ctx, storetest.PostgresDSN(t, base), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	topic := fmt.Sprintf("t%d", time.Now().UnixNano()%1e6)
	l := listen(t, ctx, db, topic)

	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	admin := stdlib.OpenDB(*cfg)
	defer admin.Close()
	var n int
	if err := admin.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name LIKE 'peerplane listen %' AND application_name LIKE '%_' || $1`, topic).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminate the listener: %d backends, %v", n, err)
	}
	select {
	case err := <-l.done:
		if err == nil || errors.Is(err, context.Canceled) {
			t.Fatalf("Listen on a dead connection = %v, want its error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Listen still waits 10s after its connection died")
	}
	l = listen(t, ctx, db, topic)
	if err := db.Notify(ctx, topic, "again"); err != nil {
		t.Fatal(err)
	}
	if got := l.next(t); got != "again" {
		t.Fatalf("heard %q, want again", got)
	}
}

func TestNotifyNeedsPostgres(t *testing.T) {
	db, err := store.Open(context.Background(), storetest.SQLiteDSN(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Notify(context.Background(), "changes", "x"); !errors.Is(err, store.ErrNoNotify) {
		t.Errorf("Notify on SQLite = %v, want ErrNoNotify", err)
	}
	if err := db.Listen(context.Background(), "changes", nil, func(string) {}); !errors.Is(err, store.ErrNoNotify) {
		t.Errorf("Listen on SQLite = %v, want ErrNoNotify", err)
	}
}
