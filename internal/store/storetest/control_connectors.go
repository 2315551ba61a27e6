package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/store"
)

// testControlConnectors checks connectors: round trip, uniqueness per
// cluster, the same name in two clusters, organization isolation, update,
// delete, and deletion with their cluster.
func testControlConnectors(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	s := open(t).Control()
	f := seed(t, s, "k")
	other := seed(t, s, "o")
	c1, c2 := cluster(f, "lkc-k1", 1), cluster(f, "lkc-k2", 1)
	conn := func(clusterID, name string) *control.Connector {
		return &control.Connector{OrgID: f.org.ID, EnvironmentID: f.env.ID, ClusterID: clusterID, Name: name,
			Config:    map[string]string{"connector.class": "PostgresSink", "connection.url": "jdbc:postgresql://10.2.0.4:5432/db", "name": name},
			CreatedAt: t0, UpdatedAt: t0}
	}
	a, b, a2 := conn(c1.ID, "sink-a"), conn(c1.ID, "sink-b"), conn(c2.ID, "sink-a")
	update(t, s, func(tx control.Tx) error {
		for _, c := range []*control.Cluster{c1, c2} {
			if err := tx.CreateCluster(ctx, c); err != nil {
				return err
			}
		}
		for _, c := range []*control.Connector{b, a, a2} {
			if err := tx.CreateConnector(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx control.Tx) error {
		got, err := tx.FindConnector(ctx, control.OrgScope(f.org.ID), c1.ID, "sink-a")
		if err != nil {
			return err
		}
		same(t, "connector", got, a)
		list, err := tx.FindConnectors(ctx, control.OrgScope(f.org.ID), control.ConnectorFilter{ClusterID: c1.ID})
		if err != nil {
			return err
		}
		same(t, "connectors of lkc-k1", names(list), []string{"sink-a", "sink-b"})
		_, err = tx.FindConnector(ctx, control.OrgScope(other.org.ID), c1.ID, "sink-a")
		wantCode(t, err, control.ENOTFOUND)
		_, err = tx.FindConnector(ctx, control.OrgScope(f.org.ID), c1.ID, "nope")
		wantCode(t, err, control.ENOTFOUND)
		return nil
	})
	err := s.Update(ctx, func(tx control.Tx) error { return tx.CreateConnector(ctx, conn(c1.ID, "sink-a")) })
	wantCode(t, err, control.ECONFLICT)
	err = s.Update(ctx, func(tx control.Tx) error { return tx.CreateConnector(ctx, conn("lkc-missing", "x")) })
	wantCode(t, err, control.ENOTFOUND)

	a.Config["connection.url"] = "jdbc:postgresql://10.2.0.5:5432/db"
	a.Paused, a.UpdatedAt = true, t0.Add(time.Minute)
	update(t, s, func(tx control.Tx) error { return tx.UpdateConnector(ctx, a) })
	view(t, s, func(tx control.Tx) error {
		got, err := tx.FindConnector(ctx, control.OrgScope(f.org.ID), c1.ID, "sink-a")
		if err == nil {
			same(t, "updated connector", got, a)
		}
		return err
	})

	err = s.Update(ctx, func(tx control.Tx) error {
		return tx.DeleteConnector(ctx, control.OrgScope(other.org.ID), c1.ID, "sink-b")
	})
	wantCode(t, err, control.ENOTFOUND)
	update(t, s, func(tx control.Tx) error { return tx.DeleteConnector(ctx, control.OrgScope(f.org.ID), c1.ID, "sink-b") })
	update(t, s, func(tx control.Tx) error { return tx.DeleteCluster(ctx, control.OrgScope(f.org.ID), c1.ID) })
	view(t, s, func(tx control.Tx) error {
		list, err := tx.FindConnectors(ctx, control.OrgScope(f.org.ID), control.ConnectorFilter{})
		if err == nil {
			same(t, "connectors after deleting lkc-k1", names(list), []string{"sink-a"})
			same(t, "its cluster", list[0].ClusterID, c2.ID)
		}
		return err
	})
}

func names(cs []*control.Connector) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}
