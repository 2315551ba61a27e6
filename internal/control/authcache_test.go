package control_test

import (
	"context"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
)

// TestAuthenticateCacheForgetsDeletedKeys: verified keys are cached (for
// read throughput), but a key deleted through the service stops working at
// once and a wrong secret never rides on a cached key.
func TestAuthenticateCacheForgetsDeletedKeys(t *testing.T) {
	ctx := context.Background()
	svc := control.NewService(sqliteStore(t), control.DefaultSettings())
	octx := control.NewOperatorContext(ctx)
	org := &control.Organization{DisplayName: "acme"}
	if err := svc.CreateOrganization(octx, org); err != nil {
		t.Fatal(err)
	}
	k, secret, err := svc.CreateAPIKey(octx, org.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second is answered from the cache
		got, err := svc.Authenticate(ctx, k.Key, secret)
		if err != nil || got.ID != org.ID {
			t.Fatalf("Authenticate = %+v, %v", got, err)
		}
	}
	if _, err := svc.Authenticate(ctx, k.Key, secret+"x"); control.ErrorCode(err) != control.EUNAUTHORIZED {
		t.Fatalf("wrong secret on a cached key: %v", err)
	}
	if err := svc.DeleteAPIKey(octx, org.ID, k.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, k.Key, secret); control.ErrorCode(err) != control.EUNAUTHORIZED {
		t.Fatalf("a deleted key still authenticates: %v", err)
	}
}
