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

// testControlConnectorRuns checks connector runs: a run needs its
// connector, is replaced by the next put, is scoped by organization and
// cluster in lists, survives a reopen, and goes with its connector (and
// its cluster).
func testControlConnectorRuns(t *testing.T, open func(t *testing.T) *store.DB) {
	ctx := context.Background()
	s := open(t).Control()
	f := seed(t, s, "r")
	other := seed(t, s, "x")
	c1, c2, c3 := cluster(f, "lkc-r1", 1), cluster(f, "lkc-r2", 1), cluster(other, "lkc-x1", 1)
	conn := func(f fixture, clusterID, name string) *control.Connector {
		return &control.Connector{OrgID: f.org.ID, EnvironmentID: f.env.ID, ClusterID: clusterID, Name: name,
			Config: map[string]string{"connector.class": "HttpSink", "name": name}, CreatedAt: t0, UpdatedAt: t0}
	}
	update(t, s, func(tx control.Tx) error {
		for _, c := range []*control.Cluster{c1, c2, c3} {
			if err := tx.CreateCluster(ctx, c); err != nil {
				return err
			}
		}
		for _, k := range []*control.Connector{conn(f, c1.ID, "a"), conn(f, c1.ID, "b"), conn(f, c2.ID, "a"), conn(other, c3.ID, "a")} {
			if err := tx.CreateConnector(ctx, k); err != nil {
				return err
			}
		}
		return nil
	})
	run := func(clusterID, name string, in int64) *control.ConnectorRun {
		return &control.ConnectorRun{ClusterID: clusterID, Name: name, Generation: t0, ConfigAt: t0.Add(time.Second),
			State: control.ConnectorFailed, Since: t0.Add(2 * time.Second), Worker: "host/1", Address: "10.1.0.4",
			RecordsIn: in, RecordsOut: in - 1, RecordsDLQ: 1, LastError: "dial tcp 10.2.0.4:80: connect: connection refused",
			LastErrorAt: t0.Add(3 * time.Second), Offset: `{"iteration":7}`, UpdatedAt: t0.Add(4 * time.Second)}
	}
	err := s.Update(ctx, func(tx control.Tx) error { return tx.PutConnectorRun(ctx, run(c1.ID, "nope", 1)) })
	wantCode(t, err, control.ENOTFOUND)
	a := run(c1.ID, "a", 10)
	update(t, s, func(tx control.Tx) error {
		for _, r := range []*control.ConnectorRun{a, run(c1.ID, "b", 5), run(c2.ID, "a", 3), run(c3.ID, "a", 2)} {
			if err := tx.PutConnectorRun(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	// A second put replaces the first; the zero LastErrorAt stays zero.
	a.State, a.RecordsIn, a.RecordsOut, a.LastError, a.LastErrorAt, a.Offset = control.ConnectorRunning, 20, 19, "", time.Time{}, ""
	update(t, s, func(tx control.Tx) error { return tx.PutConnectorRun(ctx, a) })
	check := func(s control.Store) {
		view(t, s, func(tx control.Tx) error {
			got, err := tx.FindConnectorRun(ctx, c1.ID, "a")
			if err != nil {
				return err
			}
			same(t, "run", got, a)
			_, err = tx.FindConnectorRun(ctx, c1.ID, "nope")
			wantCode(t, err, control.ENOTFOUND)
			list, err := tx.FindConnectorRuns(ctx, control.OrgScope(f.org.ID), control.ConnectorFilter{ClusterID: c1.ID})
			if err != nil {
				return err
			}
			if len(list) != 2 || list[0].Name != "a" || list[1].Name != "b" {
				t.Fatalf("runs of lkc-r1: %+v", list)
			}
			list, err = tx.FindConnectorRuns(ctx, control.OrgScope(other.org.ID), control.ConnectorFilter{ClusterID: c1.ID})
			if err != nil || len(list) != 0 {
				t.Fatalf("another organization's runs of lkc-r1: %+v %v", list, err)
			}
			list, err = tx.FindConnectorRuns(ctx, control.AllOrgs(), control.ConnectorFilter{})
			if err != nil || len(list) != 4 {
				t.Fatalf("every run: %d %v", len(list), err)
			}
			return nil
		})
	}
	check(s)
	check(open(t).Control())

	update(t, s, func(tx control.Tx) error { return tx.DeleteConnector(ctx, control.OrgScope(f.org.ID), c1.ID, "a") })
	update(t, s, func(tx control.Tx) error { return tx.DeleteCluster(ctx, control.OrgScope(f.org.ID), c2.ID) })
	view(t, s, func(tx control.Tx) error {
		_, err := tx.FindConnectorRun(ctx, c1.ID, "a")
		wantCode(t, err, control.ENOTFOUND)
		list, err := tx.FindConnectorRuns(ctx, control.OrgScope(f.org.ID), control.ConnectorFilter{})
		if err != nil || len(list) != 1 || list[0].ClusterID != c1.ID || list[0].Name != "b" {
			t.Fatalf("runs after deleting a connector and a cluster: %+v %v", list, err)
		}
		return nil
	})
}
