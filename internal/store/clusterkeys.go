package store

import (
	"context"
	"fmt"

	"github.com/peerplane/peerplane/internal/control"
)

// Cluster API keys (control.ClusterAPIKey), in their own table: deleting a
// cluster deletes them.

const clusterKeyColumns = `key, org_id, environment_id, cluster_id, owner_id, owner_kind, display_name, description,
	secret_hash, created_at, updated_at`

func scanClusterKey(sc scanner) (*control.ClusterAPIKey, error) {
	var k control.ClusterAPIKey
	var c, u int64
	if err := sc.Scan(&k.Key, &k.OrgID, &k.EnvironmentID, &k.ClusterID, &k.Owner.ID, &k.Owner.Kind, &k.DisplayName, &k.Description,
		&k.SecretHash, &c, &u); err != nil {
		return nil, err
	}
	k.CreatedAt, k.UpdatedAt = fromMicros(c), fromMicros(u)
	return &k, nil
}

func (t *controlTx) CreateClusterAPIKey(ctx context.Context, k *control.ClusterAPIKey) error {
	_, err := t.q().ExecContext(ctx, `INSERT INTO cluster_api_keys (`+clusterKeyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		k.Key, k.OrgID, k.EnvironmentID, k.ClusterID, k.Owner.ID, k.Owner.Kind, k.DisplayName, k.Description,
		k.SecretHash, micros(k.CreatedAt), micros(k.UpdatedAt))
	if err != nil {
		return insertErr(err, "API key", k.Key, "cluster")
	}
	return nil
}

func (t *controlTx) FindClusterAPIKey(ctx context.Context, scope control.Scope, key string) (*control.ClusterAPIKey, error) {
	var q query
	if err := q.scope(scope); err != nil {
		return nil, err
	}
	q.eq("key", key)
	row := t.queryRow(ctx, `SELECT `+clusterKeyColumns+` FROM cluster_api_keys`+q.clause(), q.args...)
	return scanOne(row, scanClusterKey, "API key", key)
}

func (t *controlTx) FindClusterAPIKeys(ctx context.Context, scope control.Scope, f control.ClusterAPIKeyFilter) ([]*control.ClusterAPIKey, error) {
	var q query
	if err := q.scope(scope); err != nil {
		return nil, err
	}
	q.eq("cluster_id", f.ClusterID)
	q.eq("owner_id", f.OwnerID)
	if f.After != "" {
		q.where = append(q.where, "key > "+q.arg(f.After))
	}
	s := `SELECT ` + clusterKeyColumns + ` FROM cluster_api_keys` + q.clause() + ` ORDER BY key`
	if f.Limit > 0 {
		s += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := t.q().QueryContext(ctx, s, q.args...)
	out, err := scanAll(rows, err, scanClusterKey)
	if err != nil {
		return nil, fmt.Errorf("find cluster api keys: %w", err)
	}
	return out, nil
}

func (t *controlTx) UpdateClusterAPIKey(ctx context.Context, k *control.ClusterAPIKey) error {
	res, err := t.q().ExecContext(ctx, `UPDATE cluster_api_keys SET display_name = $1, description = $2, updated_at = $3 WHERE key = $4`,
		k.DisplayName, k.Description, micros(k.UpdatedAt), k.Key)
	return mustAffect(res, err, "API key", k.Key)
}

func (t *controlTx) DeleteClusterAPIKey(ctx context.Context, scope control.Scope, key string) error {
	var q query
	if err := q.scope(scope); err != nil {
		return err
	}
	q.eq("key", key)
	res, err := t.q().ExecContext(ctx, `DELETE FROM cluster_api_keys`+q.clause(), q.args...)
	return mustAffect(res, err, "API key", key)
}
