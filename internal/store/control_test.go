package store_test

import (
	"testing"

	"github.com/peerplane/peerplane/internal/store"
	"github.com/peerplane/peerplane/internal/store/storetest"
)

func TestControlSQLite(t *testing.T) {
	storetest.RunControl(t, storetest.Opener(storetest.SQLiteDSN, store.Options{}))
}

func TestControlPostgres(t *testing.T) {
	base := postgresURL(t)
	storetest.RunControl(t, storetest.Opener(func(t testing.TB) string { return storetest.PostgresDSN(t, base) }, store.Options{}))
}
