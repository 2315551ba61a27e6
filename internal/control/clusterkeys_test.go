package control_test

import (
	"context"
	"testing"

	"github.com/peerplane/peerplane/internal/control"
)

// TestClusterAPIKeys checks cluster API keys through the service on a real
// SQLite store: bad requests are EINVALID naming the field and make
// nothing; a key authenticates its own cluster's REST endpoint only (not
// another cluster's, not with a wrong secret, and a Cloud API key never);
// another organization neither sees nor deletes it; deleting the cluster
// deletes it.
func TestClusterAPIKeys(t *testing.T) {
	ctx := context.Background()
	svc := control.NewService(sqliteStore(t), control.DefaultSettings())
	octx := control.NewOperatorContext(ctx)
	org, other := &control.Organization{DisplayName: "acme"}, &control.Organization{DisplayName: "other"}
	for _, o := range []*control.Organization{org, other} {
		if err := svc.CreateOrganization(octx, o); err != nil {
			t.Fatal(err)
		}
	}
	actx, xctx := control.NewContextWithOrganization(ctx, org), control.NewContextWithOrganization(ctx, other)
	env := &control.Environment{DisplayName: "prod"}
	n := &control.Network{DisplayName: "n", Cloud: "AZURE", Region: "eastus", CIDR: "10.10.0.0/16", ConnectionTypes: []string{"PEERING"}}
	c1, c2 := &control.Cluster{DisplayName: "c1", CKU: 1}, &control.Cluster{DisplayName: "c2", CKU: 1}
	if err := svc.CreateEnvironment(actx, env); err != nil {
		t.Fatal(err)
	}
	n.EnvironmentID = env.ID
	if err := svc.CreateNetwork(actx, n); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*control.Cluster{c1, c2} {
		c.EnvironmentID, c.NetworkID = env.ID, n.ID
		if err := svc.CreateCluster(actx, c); err != nil {
			t.Fatal(err)
		}
	}

	for _, bad := range []struct {
		spec  control.ClusterAPIKeySpec
		field string
	}{
		{control.ClusterAPIKeySpec{}, "/spec/resource/id"},
		{control.ClusterAPIKeySpec{Resource: "env-123"}, "/spec/resource/id"},
		{control.ClusterAPIKeySpec{Resource: "lkc-nope00"}, "/spec/resource/id"},
		{control.ClusterAPIKeySpec{Resource: c1.ID, ResourceKind: "Region"}, "/spec/resource/kind"},
		{control.ClusterAPIKeySpec{Resource: c1.ID, ResourceAPIVersion: "srcm/v2"}, "/spec/resource/api_version"},
		{control.ClusterAPIKeySpec{Resource: c1.ID, Owner: control.OwnerRef{ID: "x-1"}}, "/spec/owner/id"},
		{control.ClusterAPIKeySpec{Resource: c1.ID, Owner: control.OwnerRef{ID: "sa-1 2"}}, "/spec/owner/id"},
		{control.ClusterAPIKeySpec{Resource: c1.ID, Owner: control.OwnerRef{ID: "u-1", Kind: control.OwnerKindServiceAccount}}, "/spec/owner/kind"},
		{control.ClusterAPIKeySpec{Resource: c1.ID, DisplayName: "a\u202eb"}, "/spec/display_name"},
		{control.ClusterAPIKeySpec{Resource: c1.ID, ResourceField: "resource"}, ""}, // valid: checks the field name below
	} {
		_, _, err := svc.CreateClusterAPIKey(actx, bad.spec)
		if bad.field == "" {
			if err != nil {
				t.Fatalf("%+v: %v", bad.spec, err)
			}
			continue
		}
		if control.ErrorCode(err) == "" || control.ErrorField(err) != bad.field {
			t.Errorf("%+v: %v, want an error on %s", bad.spec, err, bad.field)
		}
	}
	// Another organization's cluster is not found, naming the field given.
	if _, _, err := svc.CreateClusterAPIKey(xctx, control.ClusterAPIKeySpec{Resource: c1.ID, ResourceField: "resource"}); control.ErrorCode(err) != control.ENOTFOUND || control.ErrorField(err) != "resource" {
		t.Fatalf("another organization's cluster: %v", err)
	}

	k, secret, err := svc.CreateClusterAPIKey(actx, control.ClusterAPIKeySpec{Resource: c1.ID, Owner: control.OwnerRef{ID: "sa-abc"}, DisplayName: "app"})
	if err != nil || secret == "" || k.Owner.Kind != control.OwnerKindServiceAccount || k.EnvironmentID != env.ID {
		t.Fatalf("create: %+v %q %v", k, secret, err)
	}
	if _, err := svc.AuthenticateClusterKey(ctx, c1.ID, k.Key, secret); err != nil {
		t.Fatalf("the key on its cluster: %v", err)
	}
	cloudKey, cloudSecret, err := svc.CreateAPIKey(octx, org.ID, "cloud")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][3]string{
		{c2.ID, k.Key, secret},                  // another cluster
		{c1.ID, k.Key, secret + "x"},            // wrong secret
		{c1.ID, cloudKey.Key, cloudSecret},      // a Cloud API key
		{c1.ID, "", ""},                         // none
		{c1.ID, "NOSUCHKEY0000000", "whatever"}, // unknown
	} {
		if _, err := svc.AuthenticateClusterKey(ctx, bad[0], bad[1], bad[2]); control.ErrorCode(err) != control.EUNAUTHORIZED {
			t.Errorf("authenticate %v: %v, want EUNAUTHORIZED", bad, err)
		}
	}
	// Nor is a cluster key a Cloud API key.
	if _, err := svc.Authenticate(ctx, k.Key, secret); control.ErrorCode(err) != control.EUNAUTHORIZED {
		t.Fatalf("a cluster key on the control plane: %v", err)
	}

	if _, err := svc.FindClusterAPIKey(xctx, k.Key); control.ErrorCode(err) != control.ENOTFOUND {
		t.Fatalf("another organization reads the key: %v", err)
	}
	if err := svc.DeleteClusterAPIKey(xctx, k.Key); control.ErrorCode(err) != control.ENOTFOUND {
		t.Fatalf("another organization deletes the key: %v", err)
	}
	name := "renamed"
	if got, err := svc.UpdateClusterAPIKey(actx, k.Key, control.ClusterAPIKeyUpdate{DisplayName: &name}); err != nil || got.DisplayName != name {
		t.Fatalf("update: %+v %v", got, err)
	}
	list, next, err := svc.FindClusterAPIKeys(actx, control.ClusterAPIKeyFilter{ClusterID: c1.ID}, control.Page{Size: 1})
	if err != nil || len(list) != 1 || next == "" {
		t.Fatalf("first page of c1's keys: %d keys, next %q, %v", len(list), next, err)
	}
	if _, _, err := svc.FindClusterAPIKeys(actx, control.ClusterAPIKeyFilter{}, control.Page{Size: control.MaxAPIKeyPageSize + 1}); control.ErrorField(err) != "page_size" {
		t.Fatalf("a page too large: %v", err)
	}

	if err := svc.DeleteCluster(actx, env.ID, c1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateClusterKey(ctx, c1.ID, k.Key, secret); control.ErrorCode(err) != control.EUNAUTHORIZED {
		t.Fatalf("a key of a deleted cluster: %v", err)
	}
	if list, _, _ := svc.FindClusterAPIKeys(actx, control.ClusterAPIKeyFilter{}, control.Page{}); len(list) != 0 {
		t.Fatalf("keys left after their cluster was deleted: %d", len(list))
	}
}
