package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/store"
)

// testControlClusterEndpoints checks what the Kafka endpoints store: a
// cluster's broker addresses round trip (and a status without brokers
// reads back without them); cluster API keys round trip, list by
// organization, cluster and owner in key order with a cursor, are
// isolated by organization, unique, update their names, and go with their
// cluster.
func testControlClusterEndpoints(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	s := open(t).Control()
	f := seed(t, s, "e")
	other := seed(t, s, "x")
	c1, c2 := cluster(f, "lkc-e1", 1), cluster(f, "lkc-e2", 1)
	c1.Status = control.ClusterStatus{Phase: control.ClusterPhaseProvisioned, BootstrapEndpoint: "lkc-e1-e.eastus.azure.private.confluent.cloud:9092",
		HTTPEndpoint: "https://lkc-e1-e.eastus.azure.private.confluent.cloud:443", Brokers: []string{"10.1.20.4:9092", "10.1.20.5:9092", "10.1.20.6:9092"}}
	key := func(k, clusterID, owner string) *control.ClusterAPIKey {
		return &control.ClusterAPIKey{Key: k, OrgID: f.org.ID, EnvironmentID: f.env.ID, ClusterID: clusterID,
			Owner: control.OwnerRef{ID: owner, Kind: control.OwnerKindServiceAccount}, DisplayName: "d " + k, Description: "for " + clusterID,
			SecretHash: control.HashSecret("s" + k), CreatedAt: t0, UpdatedAt: t0}
	}
	kb, ka, kc := key("KEYB", c1.ID, "sa-1"), key("KEYA", c1.ID, "sa-2"), key("KEYC", c2.ID, "sa-1")
	update(t, s, func(tx control.Tx) error {
		for _, c := range []*control.Cluster{c1, c2} {
			if err := tx.CreateCluster(ctx, c); err != nil {
				return err
			}
		}
		for _, k := range []*control.ClusterAPIKey{kb, ka, kc} {
			if err := tx.CreateClusterAPIKey(ctx, k); err != nil {
				return err
			}
		}
		return nil
	})
	keys := func(ks []*control.ClusterAPIKey) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k.Key)
		}
		return out
	}
	view(t, s, func(tx control.Tx) error {
		got, err := tx.FindClusterByID(ctx, control.AllOrgs(), c1.ID)
		if err != nil {
			return err
		}
		same(t, "cluster with brokers", got, c1)
		got2, _ := tx.FindClusterByID(ctx, control.AllOrgs(), c2.ID)
		same(t, "cluster without brokers", got2, c2)
		k, err := tx.FindClusterAPIKey(ctx, control.OrgScope(f.org.ID), "KEYA")
		if err != nil {
			return err
		}
		same(t, "cluster key", k, ka)
		if _, err := tx.FindClusterAPIKey(ctx, control.AllOrgs(), "KEYA"); err != nil {
			t.Errorf("find a key of any organization: %v", err)
		}
		_, err = tx.FindClusterAPIKey(ctx, control.OrgScope(other.org.ID), "KEYA")
		wantCode(t, err, control.ENOTFOUND)
		for _, c := range []struct {
			scope control.Scope
			f     control.ClusterAPIKeyFilter
			want  []string
		}{
			{control.OrgScope(f.org.ID), control.ClusterAPIKeyFilter{}, []string{"KEYA", "KEYB", "KEYC"}},
			{control.OrgScope(f.org.ID), control.ClusterAPIKeyFilter{ClusterID: c1.ID}, []string{"KEYA", "KEYB"}},
			{control.OrgScope(f.org.ID), control.ClusterAPIKeyFilter{OwnerID: "sa-1"}, []string{"KEYB", "KEYC"}},
			{control.OrgScope(f.org.ID), control.ClusterAPIKeyFilter{After: "KEYA", Limit: 1}, []string{"KEYB"}},
			{control.OrgScope(other.org.ID), control.ClusterAPIKeyFilter{}, nil},
		} {
			list, err := tx.FindClusterAPIKeys(ctx, c.scope, c.f)
			if err != nil {
				return err
			}
			same(t, "keys", keys(list), c.want)
		}
		return nil
	})
	err := s.Update(ctx, func(tx control.Tx) error { return tx.CreateClusterAPIKey(ctx, key("KEYA", c2.ID, "")) })
	wantCode(t, err, control.ECONFLICT)
	err = s.Update(ctx, func(tx control.Tx) error { return tx.CreateClusterAPIKey(ctx, key("KEYZ", "lkc-missing", "")) })
	wantCode(t, err, control.ENOTFOUND)

	// Update: names only.
	ka.DisplayName, ka.Description, ka.UpdatedAt = "renamed", "new", t0.Add(time.Hour)
	update(t, s, func(tx control.Tx) error { return tx.UpdateClusterAPIKey(ctx, ka) })
	view(t, s, func(tx control.Tx) error {
		k, err := tx.FindClusterAPIKey(ctx, control.OrgScope(f.org.ID), "KEYA")
		if err == nil {
			same(t, "updated key", k, ka)
		}
		return err
	})

	// Delete: by organization only; a cluster's keys go with it.
	err = s.Update(ctx, func(tx control.Tx) error { return tx.DeleteClusterAPIKey(ctx, control.OrgScope(other.org.ID), "KEYB") })
	wantCode(t, err, control.ENOTFOUND)
	update(t, s, func(tx control.Tx) error { return tx.DeleteClusterAPIKey(ctx, control.OrgScope(f.org.ID), "KEYB") })
	update(t, s, func(tx control.Tx) error { return tx.DeleteCluster(ctx, control.OrgScope(f.org.ID), c1.ID) })
	view(t, s, func(tx control.Tx) error {
		list, err := tx.FindClusterAPIKeys(ctx, control.OrgScope(f.org.ID), control.ClusterAPIKeyFilter{})
		if err == nil {
			same(t, "keys after deleting KEYB and lkc-e1", keys(list), []string{"KEYC"})
		}
		return err
	})
}
