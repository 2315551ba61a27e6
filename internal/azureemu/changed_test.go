package azureemu

import (
	"context"
	"testing"
	"time"
)

// TestChanged checks the in-process change signal: a durable write closes
// the channel taken before it, and the snapshot taken after sees the write.
func TestChanged(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx, Options{BaseURL: "https://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	ch := e.Changed()
	select {
	case <-ch:
		t.Fatal("Changed is closed before any change")
	default:
	}
	before := e.Snapshot().Version
	if _, err := e.CreateTenant(ctx, TenantSpec{ID: "11111111-1111-1111-1111-111111111111", DisplayName: "T"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("a write did not close Changed")
	}
	if e.Snapshot().Version == before {
		t.Fatal("the snapshot's version did not change with the write")
	}
	select {
	case <-e.Changed():
		t.Fatal("the channel after the write is already closed")
	default:
	}
}
