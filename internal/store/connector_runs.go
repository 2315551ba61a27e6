package store

import (
	"context"
	"fmt"
	"time"

	"github.com/peerplane/peerplane/internal/control"
)

// --- connector runs (migration 0010) ---

const connectorRunColumns = `r.cluster_id, r.name, r.generation, r.config_at, r.state, r.since, r.worker, r.address,
	r.records_in, r.records_out, r.records_dlq, r.last_error, r.last_error_at, r.source_offset, r.updated_at`

func scanConnectorRun(sc scanner) (*control.ConnectorRun, error) {
	var r control.ConnectorRun
	var gen, cfg, since, errAt, upd int64
	if err := sc.Scan(&r.ClusterID, &r.Name, &gen, &cfg, &r.State, &since, &r.Worker, &r.Address,
		&r.RecordsIn, &r.RecordsOut, &r.RecordsDLQ, &r.LastError, &errAt, &r.Offset, &upd); err != nil {
		return nil, err
	}
	r.Generation, r.ConfigAt, r.Since, r.UpdatedAt = fromMicros(gen), fromMicros(cfg), fromMicros(since), fromMicros(upd)
	if errAt != 0 {
		r.LastErrorAt = fromMicros(errAt)
	}
	return &r, nil
}

// optMicros stores the zero time as 0.
func optMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

// PutConnectorRun implements control.Tx.
func (t *controlTx) PutConnectorRun(ctx context.Context, r *control.ConnectorRun) error {
	_, err := t.q().ExecContext(ctx, `INSERT INTO connector_runs (cluster_id, name, generation, config_at, state, since, worker, address,
	records_in, records_out, records_dlq, last_error, last_error_at, source_offset, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (cluster_id, name) DO UPDATE SET generation = excluded.generation, config_at = excluded.config_at,
	state = excluded.state, since = excluded.since, worker = excluded.worker, address = excluded.address,
	records_in = excluded.records_in, records_out = excluded.records_out, records_dlq = excluded.records_dlq,
	last_error = excluded.last_error, last_error_at = excluded.last_error_at, source_offset = excluded.source_offset,
	updated_at = excluded.updated_at`,
		r.ClusterID, r.Name, micros(r.Generation), micros(r.ConfigAt), r.State, micros(r.Since), r.Worker, r.Address,
		r.RecordsIn, r.RecordsOut, r.RecordsDLQ, r.LastError, optMicros(r.LastErrorAt), r.Offset, micros(r.UpdatedAt))
	if err != nil {
		return insertErr(err, "Connector run", r.Name, "connector")
	}
	return nil
}

// FindConnectorRun implements control.Tx.
func (t *controlTx) FindConnectorRun(ctx context.Context, clusterID, name string) (*control.ConnectorRun, error) {
	row := t.q().QueryRowContext(ctx, `SELECT `+connectorRunColumns+` FROM connector_runs r WHERE r.cluster_id = $1 AND r.name = $2`, clusterID, name)
	return scanOne(row, scanConnectorRun, "Run of connector", name)
}

// FindConnectorRuns implements control.Tx.
func (t *controlTx) FindConnectorRuns(ctx context.Context, scope control.Scope, f control.ConnectorFilter) ([]*control.ConnectorRun, error) {
	var q query
	if err := q.scope(scope); err != nil { // org_id is the connector's: the runs have none
		return nil, err
	}
	q.eq("r.cluster_id", f.ClusterID)
	rows, err := t.q().QueryContext(ctx, `SELECT `+connectorRunColumns+` FROM connector_runs r
JOIN connectors c ON c.cluster_id = r.cluster_id AND c.name = r.name`+q.clause()+` ORDER BY r.cluster_id, r.name`, q.args...)
	out, err := scanAll(rows, err, scanConnectorRun)
	if err != nil {
		return nil, fmt.Errorf("find connector runs: %w", err)
	}
	return out, nil
}
