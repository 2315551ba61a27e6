package control_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/store"
)

// sqliteStore opens a fresh SQLite store in t's temporary directory,
// closed when t ends, for tests of the services on a real database.
func sqliteStore(t *testing.T) control.Store {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.Control()
}
