package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/peerplane/peerplane/internal/control"
)

// Control returns db as the control plane's store (tables of migration
// 0002_control_plane).
func (db *DB) Control() control.Store { return controlStore{db} }

type controlStore struct{ db *DB }

var _ control.Store = controlStore{}

// View implements control.Store. On SQLite it reads from the read pool
// (WAL: the last committed state, beside the writer); on PostgreSQL it is a
// READ ONLY transaction.
func (s controlStore) View(ctx context.Context, fn func(tx control.Tx) error) error {
	if s.db.dialect == DialectSQLite {
		// No transaction: each statement reads the last committed state
		// on the query-only read pool. A view of several statements may
		// see a write land between them, which no caller depends on (each
		// decision that needs one snapshot is made inside Update).
		return fn(&controlTx{db: s.db, pool: s.db.r})
	}
	tx, err := s.db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("control store: begin: %w", err)
	}
	defer tx.Rollback()
	return fn(&controlTx{tx: tx, db: s.db, pool: s.db.r})
}

// Update implements control.Store: a write transaction (BEGIN IMMEDIATE on
// SQLite's single writer connection; on PostgreSQL, FindOrganizationByID,
// the Find…ByID methods and FindConnector lock the row with FOR UPDATE),
// retried on PostgreSQL deadlocks and serialization failures.
func (s controlStore) Update(ctx context.Context, fn func(tx control.Tx) error) error {
	return s.db.writeTx(ctx, func(tx *sql.Tx) error {
		return fn(&controlTx{tx: tx, lock: s.db.dialect == DialectPostgres})
	})
}

type controlTx struct {
	tx   *sql.Tx
	lock bool // append FOR UPDATE to reads by ID
	// db and pool (the pool tx came from), when set, let by-id reads
	// reuse prepared statements.
	db   *DB
	pool *sql.DB
}

// queryRow runs q in the transaction, on SQLite with a statement prepared
// once per connection: preparing dominates a point read there. (pgx
// caches prepared statements itself.)
func (t *controlTx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if t.pool == nil || t.db.dialect == DialectPostgres {
		return t.q().QueryRowContext(ctx, q, args...)
	}
	key := stmtKey{t.pool, q}
	st, _ := t.db.stmts.Load(key)
	if st == nil {
		p, err := t.pool.PrepareContext(ctx, q)
		if err != nil {
			return t.q().QueryRowContext(ctx, q, args...)
		}
		var loaded bool
		if st, loaded = t.db.stmts.LoadOrStore(key, p); loaded {
			p.Close()
		}
	}
	if t.tx == nil {
		// A point read outside a transaction takes microseconds: it runs
		// to the end even if ctx is canceled, which spares database/sql
		// and the driver a goroutine each watching ctx.
		return st.(*sql.Stmt).QueryRowContext(context.WithoutCancel(ctx), args...)
	}
	return t.tx.StmtContext(ctx, st.(*sql.Stmt)).QueryRowContext(ctx, args...)
}

// querier is what a controlTx runs statements on: its transaction, or on
// SQLite reads, the read pool itself.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (t *controlTx) q() querier {
	if t.tx == nil {
		return t.pool
	}
	return t.tx
}

var _ control.Tx = (*controlTx)(nil)

func (t *controlTx) forUpdate() string {
	if t.lock {
		return " FOR UPDATE"
	}
	return ""
}

// micros and fromMicros convert times to and from the stored Unix
// microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// constraintKind classifies a constraint violation of either dialect.
func constraintKind(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return "unique"
		case "23503":
			return "foreign"
		}
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return "unique"
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return "foreign"
		}
	}
	return ""
}

// insertErr maps an insert's constraint violations: unique → ECONFLICT,
// foreign key → ENOTFOUND (the parent is missing).
func insertErr(err error, what, id, parent string) error {
	switch constraintKind(err) {
	case "unique":
		return control.Errorf(control.ECONFLICT, "%s %s already exists.", what, id)
	case "foreign":
		return control.Errorf(control.ENOTFOUND, "The %s of %s %s was not found.", parent, strings.ToLower(what), id)
	case "":
		return fmt.Errorf("insert %s: %w", strings.ToLower(what), err)
	}
	return err
}

// deleteErr maps a delete's foreign key violation to ECONFLICT.
func deleteErr(err error, what, id string) error {
	if constraintKind(err) == "foreign" {
		return control.Errorf(control.ECONFLICT, "%s %s is still in use; delete what it holds first.", what, id)
	}
	return fmt.Errorf("delete %s: %w", strings.ToLower(what), err)
}

// mustAffect returns ENOTFOUND when res changed no row.
func mustAffect(res sql.Result, err error, what, id string) error {
	if err != nil {
		return fmt.Errorf("write %s: %w", strings.ToLower(what), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("write %s: %w", strings.ToLower(what), err)
	}
	if n == 0 {
		return control.Errorf(control.ENOTFOUND, "%s %s was not found.", what, id)
	}
	return nil
}

// clause returns " WHERE …", or "" without conditions.
func (q *query) clause() string {
	if len(q.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.where, " AND ")
}

// query builds a WHERE clause with $n placeholders.
type query struct {
	where []string
	args  []any
}

func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return fmt.Sprintf("$%d", len(q.args))
}

func (q *query) eq(col, v string) {
	if v != "" {
		q.where = append(q.where, col+" = "+q.arg(v))
	}
}

// scope limits q to the organization of s, if s has one. Returns EINTERNAL
// for the zero Scope.
func (q *query) scope(s control.Scope) error {
	orgID, all, err := s.Org()
	if err != nil {
		return err
	}
	if !all {
		q.where = append(q.where, "org_id = "+q.arg(orgID))
	}
	return nil
}

func (q *query) in(col string, vs []string) {
	if len(vs) == 0 {
		return
	}
	ps := make([]string, len(vs))
	for i, v := range vs {
		ps[i] = q.arg(v)
	}
	q.where = append(q.where, col+" IN ("+strings.Join(ps, ", ")+")")
}

func (q *query) after(v string) {
	if v != "" {
		q.where = append(q.where, "id > "+q.arg(v))
	}
}

// sql returns the statement: base, the conditions, ORDER BY id, LIMIT.
func (q *query) sql(base string, limit int) string {
	s := base + q.clause() + " ORDER BY id"
	if limit > 0 {
		s += fmt.Sprintf(" LIMIT %d", limit)
	}
	return s
}

func scanAll[T any](rows *sql.Rows, err error, scan func(sc scanner) (*T, error)) ([]*T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanOne[T any](row *sql.Row, scan func(sc scanner) (*T, error), what, id string) (*T, error) {
	v, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, control.Errorf(control.ENOTFOUND, "%s %s was not found.", what, id)
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", strings.ToLower(what), err)
	}
	return v, nil
}

// --- organizations and API keys ---

const orgColumns = `id, display_name, operator, created_at, updated_at`

func scanOrg(sc scanner) (*control.Organization, error) {
	var o control.Organization
	var op int
	var c, u int64
	if err := sc.Scan(&o.ID, &o.DisplayName, &op, &c, &u); err != nil {
		return nil, err
	}
	o.Operator, o.CreatedAt, o.UpdatedAt = op != 0, fromMicros(c), fromMicros(u)
	return &o, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (t *controlTx) CreateOrganization(ctx context.Context, o *control.Organization) error {
	_, err := t.q().ExecContext(ctx, `INSERT INTO organizations (`+orgColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		o.ID, o.DisplayName, boolInt(o.Operator), micros(o.CreatedAt), micros(o.UpdatedAt))
	if err != nil {
		return insertErr(err, "Organization", o.ID, "")
	}
	return nil
}

func (t *controlTx) FindOrganizationByID(ctx context.Context, id string) (*control.Organization, error) {
	row := t.q().QueryRowContext(ctx, `SELECT `+orgColumns+` FROM organizations WHERE id = $1`+t.forUpdate(), id)
	return scanOne(row, scanOrg, "Organization", id)
}

func (t *controlTx) FindOrganizations(ctx context.Context, f control.OrganizationFilter) ([]*control.Organization, error) {
	var q query
	q.after(f.After)
	rows, err := t.q().QueryContext(ctx, q.sql(`SELECT `+orgColumns+` FROM organizations`, f.Limit), q.args...)
	out, err := scanAll(rows, err, scanOrg)
	if err != nil {
		return nil, fmt.Errorf("find organizations: %w", err)
	}
	return out, nil
}

const keyColumns = `key, org_id, description, secret_hash, created_at`

func scanKey(sc scanner) (*control.APIKey, error) {
	var k control.APIKey
	var c int64
	if err := sc.Scan(&k.Key, &k.OrgID, &k.Description, &k.SecretHash, &c); err != nil {
		return nil, err
	}
	k.CreatedAt = fromMicros(c)
	return &k, nil
}

func (t *controlTx) CreateAPIKey(ctx context.Context, k *control.APIKey) error {
	_, err := t.q().ExecContext(ctx, `INSERT INTO api_keys (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		k.Key, k.OrgID, k.Description, k.SecretHash, micros(k.CreatedAt))
	if err != nil {
		return insertErr(err, "API key", k.Key, "organization")
	}
	return nil
}

func (t *controlTx) FindAPIKey(ctx context.Context, key string) (*control.APIKey, error) {
	row := t.queryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE key = $1`, key)
	return scanOne(row, scanKey, "API key", key)
}

func (t *controlTx) FindAPIKeys(ctx context.Context, orgID string) ([]*control.APIKey, error) {
	rows, err := t.q().QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE org_id = $1 ORDER BY created_at, key`, orgID)
	out, err := scanAll(rows, err, scanKey)
	if err != nil {
		return nil, fmt.Errorf("find api keys: %w", err)
	}
	return out, nil
}

func (t *controlTx) DeleteAPIKey(ctx context.Context, orgID, key string) error {
	res, err := t.q().ExecContext(ctx, `DELETE FROM api_keys WHERE org_id = $1 AND key = $2`, orgID, key)
	return mustAffect(res, err, "API key", key)
}

// --- environments ---

const envColumns = `id, org_id, display_name, governance_package, deleting, created_at, updated_at`

func scanEnv(sc scanner) (*control.Environment, error) {
	var e control.Environment
	var deleting int
	var c, u int64
	if err := sc.Scan(&e.ID, &e.OrgID, &e.DisplayName, &e.StreamGovernancePackage, &deleting, &c, &u); err != nil {
		return nil, err
	}
	e.Deleting = deleting != 0
	e.CreatedAt, e.UpdatedAt = fromMicros(c), fromMicros(u)
	return &e, nil
}

func (t *controlTx) CreateEnvironment(ctx context.Context, e *control.Environment) error {
	_, err := t.q().ExecContext(ctx, `INSERT INTO environments (`+envColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.ID, e.OrgID, e.DisplayName, e.StreamGovernancePackage, boolInt(e.Deleting), micros(e.CreatedAt), micros(e.UpdatedAt))
	if err != nil {
		return insertErr(err, "Environment", e.ID, "organization")
	}
	return nil
}

// findByID reads the row of table with id in scope (locked inside Update),
// scanned with scan; what names it in errors.
func findByID[T any](ctx context.Context, t *controlTx, table, columns string, scan func(sc scanner) (*T, error), what string, scope control.Scope, id string) (*T, error) {
	q := query{where: []string{"id = $1"}, args: []any{id}}
	if err := q.scope(scope); err != nil {
		return nil, err
	}
	row := t.queryRow(ctx, `SELECT `+columns+` FROM `+table+q.clause()+t.forUpdate(), q.args...)
	return scanOne(row, scan, what, id)
}

func (t *controlTx) FindEnvironmentByID(ctx context.Context, scope control.Scope, id string) (*control.Environment, error) {
	return findByID(ctx, t, "environments", envColumns, scanEnv, "Environment", scope, id)
}

func (t *controlTx) FindEnvironments(ctx context.Context, scope control.Scope, f control.EnvironmentFilter) ([]*control.Environment, error) {
	var q query
	if err := q.scope(scope); err != nil {
		return nil, err
	}
	switch {
	case f.Deleting == nil:
	case *f.Deleting:
		q.where = append(q.where, "deleting <> 0")
	default:
		q.where = append(q.where, "deleting = 0")
	}
	q.after(f.After)
	rows, err := t.q().QueryContext(ctx, q.sql(`SELECT `+envColumns+` FROM environments`, f.Limit), q.args...)
	out, err := scanAll(rows, err, scanEnv)
	if err != nil {
		return nil, fmt.Errorf("find environments: %w", err)
	}
	return out, nil
}

func (t *controlTx) UpdateEnvironment(ctx context.Context, e *control.Environment) error {
	res, err := t.q().ExecContext(ctx, `UPDATE environments SET display_name = $1, governance_package = $2, deleting = $3, updated_at = $4 WHERE id = $5`,
		e.DisplayName, e.StreamGovernancePackage, boolInt(e.Deleting), micros(e.UpdatedAt), e.ID)
	return mustAffect(res, err, "Environment", e.ID)
}

// deleteByID deletes the row of table with id in scope; what names it in
// errors.
func (t *controlTx) deleteByID(ctx context.Context, table, what string, scope control.Scope, id string) error {
	q := query{where: []string{"id = $1"}, args: []any{id}}
	if err := q.scope(scope); err != nil {
		return err
	}
	res, err := t.q().ExecContext(ctx, `DELETE FROM `+table+q.clause(), q.args...)
	if err != nil {
		return deleteErr(err, what, id)
	}
	return mustAffect(res, nil, what, id)
}

func (t *controlTx) DeleteEnvironment(ctx context.Context, scope control.Scope, id string) error {
	return t.deleteByID(ctx, "environments", "Environment", scope, id)
}

// --- networks ---

const networkColumns = `id, org_id, environment_id, display_name, cloud, region, cidr, connection_types, zones,
	phase, error_code, error_message, azure_vnet, azure_subscription, created_at, updated_at`

func splitList(s string) []string {
	s = strings.Trim(s, ",")
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func scanNetwork(sc scanner) (*control.Network, error) {
	var n control.Network
	var types, zones string
	var c, u int64
	err := sc.Scan(&n.ID, &n.OrgID, &n.EnvironmentID, &n.DisplayName, &n.Cloud, &n.Region, &n.CIDR, &types, &zones,
		&n.Status.Phase, &n.Status.ErrorCode, &n.Status.ErrorMessage, &n.Status.AzureVNet, &n.Status.AzureSubscription, &c, &u)
	if err != nil {
		return nil, err
	}
	n.ConnectionTypes, n.Zones = splitList(types), splitList(zones)
	n.CreatedAt, n.UpdatedAt = fromMicros(c), fromMicros(u)
	return &n, nil
}

func (t *controlTx) CreateNetwork(ctx context.Context, n *control.Network) error {
	_, err := t.q().ExecContext(ctx, `INSERT INTO networks (`+networkColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		n.ID, n.OrgID, n.EnvironmentID, n.DisplayName, n.Cloud, n.Region, n.CIDR,
		","+strings.Join(n.ConnectionTypes, ",")+",", strings.Join(n.Zones, ","),
		n.Status.Phase, n.Status.ErrorCode, n.Status.ErrorMessage, n.Status.AzureVNet, n.Status.AzureSubscription,
		micros(n.CreatedAt), micros(n.UpdatedAt))
	if err != nil {
		return insertErr(err, "Network", n.ID, "environment")
	}
	return nil
}

func (t *controlTx) FindNetworkByID(ctx context.Context, scope control.Scope, id string) (*control.Network, error) {
	return findByID(ctx, t, "networks", networkColumns, scanNetwork, "Network", scope, id)
}

func (t *controlTx) FindNetworks(ctx context.Context, scope control.Scope, f control.NetworkFilter) ([]*control.Network, error) {
	var q query
	if err := q.scope(scope); err != nil {
		return nil, err
	}
	q.eq("environment_id", f.EnvironmentID)
	q.in("display_name", f.DisplayNames)
	q.in("cloud", f.Clouds)
	q.in("region", f.Regions)
	q.in("cidr", f.CIDRs)
	q.in("phase", f.Phases)
	if len(f.ConnectionTypes) > 0 {
		var ors []string
		for _, ct := range f.ConnectionTypes {
			ors = append(ors, "connection_types LIKE "+q.arg("%,"+ct+",%"))
		}
		q.where = append(q.where, "("+strings.Join(ors, " OR ")+")")
	}
	q.after(f.After)
	rows, err := t.q().QueryContext(ctx, q.sql(`SELECT `+networkColumns+` FROM networks`, f.Limit), q.args...)
	out, err := scanAll(rows, err, scanNetwork)
	if err != nil {
		return nil, fmt.Errorf("find networks: %w", err)
	}
	return out, nil
}

func (t *controlTx) UpdateNetworkSpec(ctx context.Context, n *control.Network) error {
	res, err := t.q().ExecContext(ctx, `UPDATE networks SET display_name = $1, updated_at = $2 WHERE id = $3`,
		n.DisplayName, micros(n.UpdatedAt), n.ID)
	return mustAffect(res, err, "Network", n.ID)
}

func (t *controlTx) UpdateNetworkStatus(ctx context.Context, n *control.Network) error {
	res, err := t.q().ExecContext(ctx, `UPDATE networks SET phase = $1, error_code = $2, error_message = $3,
		azure_vnet = $4, azure_subscription = $5, updated_at = $6 WHERE id = $7`,
		n.Status.Phase, n.Status.ErrorCode, n.Status.ErrorMessage, n.Status.AzureVNet, n.Status.AzureSubscription,
		micros(n.UpdatedAt), n.ID)
	return mustAffect(res, err, "Network", n.ID)
}

func (t *controlTx) DeleteNetwork(ctx context.Context, scope control.Scope, id string) error {
	return t.deleteByID(ctx, "networks", "Network", scope, id)
}

// --- peerings ---

const peeringColumns = `id, org_id, environment_id, network_id, display_name, cloud, tenant, vnet, customer_region,
	phase, error_code, error_message, checklist, created_at, updated_at`

// peeringColumnsWithoutChecklist reads an empty string for the checklist, which
// scanPeering decodes as none.
var peeringColumnsWithoutChecklist = strings.Replace(peeringColumns, "checklist,", "'',", 1)

func scanPeering(sc scanner) (*control.Peering, error) {
	var p control.Peering
	var list string
	var c, u int64
	err := sc.Scan(&p.ID, &p.OrgID, &p.EnvironmentID, &p.NetworkID, &p.DisplayName, &p.Cloud, &p.Tenant, &p.VNet, &p.CustomerRegion,
		&p.Status.Phase, &p.Status.ErrorCode, &p.Status.ErrorMessage, &list, &c, &u)
	if err != nil {
		return nil, err
	}
	if p.Status.Checklist, err = decodeChecklist(list); err != nil {
		return nil, fmt.Errorf("peering %s: %w", p.ID, err)
	}
	p.CreatedAt, p.UpdatedAt = fromMicros(c), fromMicros(u)
	return &p, nil
}

func (t *controlTx) CreatePeering(ctx context.Context, p *control.Peering) error {
	list, err := encodeChecklist(p.Status.Checklist)
	if err != nil {
		return err
	}
	_, err = t.q().ExecContext(ctx, `INSERT INTO peerings (`+peeringColumns+`, vnet_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		p.ID, p.OrgID, p.EnvironmentID, p.NetworkID, p.DisplayName, p.Cloud, p.Tenant, p.VNet, p.CustomerRegion,
		p.Status.Phase, p.Status.ErrorCode, p.Status.ErrorMessage, list, micros(p.CreatedAt), micros(p.UpdatedAt),
		control.VNetKey(p.VNet))
	if err != nil {
		if constraintKind(err) == "unique" {
			return control.FieldErrorf(control.ECONFLICT, "/spec/cloud/vnet", "Network %s already has a peering with VNet %s.", p.NetworkID, p.VNet)
		}
		return insertErr(err, "Peering", p.ID, "network")
	}
	return nil
}

func (t *controlTx) FindPeeringByID(ctx context.Context, scope control.Scope, id string) (*control.Peering, error) {
	return findByID(ctx, t, "peerings", peeringColumns, scanPeering, "Peering", scope, id)
}

func (t *controlTx) FindPeerings(ctx context.Context, scope control.Scope, f control.PeeringFilter) ([]*control.Peering, error) {
	var q query
	if err := q.scope(scope); err != nil {
		return nil, err
	}
	q.eq("environment_id", f.EnvironmentID)
	q.in("network_id", f.NetworkIDs)
	q.in("display_name", f.DisplayNames)
	q.in("phase", f.Phases)
	q.after(f.After)
	cols := peeringColumns
	if f.WithoutChecklist {
		cols = peeringColumnsWithoutChecklist
	}
	rows, err := t.q().QueryContext(ctx, q.sql(`SELECT `+cols+` FROM peerings`, f.Limit), q.args...)
	out, err := scanAll(rows, err, scanPeering)
	if err != nil {
		return nil, fmt.Errorf("find peerings: %w", err)
	}
	return out, nil
}

func (t *controlTx) UpdatePeeringSpec(ctx context.Context, p *control.Peering) error {
	res, err := t.q().ExecContext(ctx, `UPDATE peerings SET display_name = $1, updated_at = $2 WHERE id = $3`,
		p.DisplayName, micros(p.UpdatedAt), p.ID)
	return mustAffect(res, err, "Peering", p.ID)
}

func (t *controlTx) UpdatePeeringStatus(ctx context.Context, p *control.Peering) error {
	list, err := encodeChecklist(p.Status.Checklist)
	if err != nil {
		return err
	}
	res, err := t.q().ExecContext(ctx, `UPDATE peerings SET phase = $1, error_code = $2, error_message = $3,
		checklist = $4, updated_at = $5 WHERE id = $6`,
		p.Status.Phase, p.Status.ErrorCode, p.Status.ErrorMessage, list, micros(p.UpdatedAt), p.ID)
	return mustAffect(res, err, "Peering", p.ID)
}

// checklistDoc is the stored form of a control.Checklist (the column
// peerings.checklist, migration 0007): its JSON names are a storage
// contract, kept apart from the domain's Go names.
type checklistDoc struct {
	CheckedAt int64      `json:"checked_at"` // Unix microseconds
	Checks    []checkDoc `json:"checks"`
	Fixes     fixesDoc   `json:"fixes"`
}

type checkDoc struct {
	Step      string `json:"step"`
	Title     string `json:"title"`
	Status    string `json:"status"`
	ErrorCode string `json:"error_code,omitempty"`
	Evidence  string `json:"evidence,omitempty"`
	Fix       string `json:"fix,omitempty"`
}

type fixesDoc struct {
	ConsentURL             string `json:"consent_url,omitempty"`
	CreateServicePrincipal string `json:"create_service_principal,omitempty"`
	RoleDefinitionList     string `json:"role_definition_list,omitempty"`
	RoleDefinitionCreate   string `json:"role_definition_create,omitempty"`
	RoleDefinitionUpdate   string `json:"role_definition_update,omitempty"`
	RoleAssignmentCreate   string `json:"role_assignment_create,omitempty"`
	Tag                    string `json:"tag,omitempty"`
}

// encodeChecklist returns the stored form of l: "" for a peering never
// checked.
func encodeChecklist(l control.Checklist) (string, error) {
	if l.IsZero() {
		return "", nil
	}
	doc := checklistDoc{CheckedAt: micros(l.CheckedAt), Checks: make([]checkDoc, len(l.Checks)), Fixes: fixesDoc(l.Fixes)}
	for i, c := range l.Checks {
		doc.Checks[i] = checkDoc(c)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("encode checklist: %w", err)
	}
	return string(b), nil
}

func decodeChecklist(s string) (control.Checklist, error) {
	if s == "" {
		return control.Checklist{}, nil
	}
	var doc checklistDoc
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		return control.Checklist{}, fmt.Errorf("decode checklist: %w", err)
	}
	l := control.Checklist{CheckedAt: fromMicros(doc.CheckedAt), Checks: make([]control.Check, len(doc.Checks)), Fixes: control.GrantFixes(doc.Fixes)}
	for i, c := range doc.Checks {
		l.Checks[i] = control.Check(c)
	}
	return l, nil
}

func (t *controlTx) DeletePeering(ctx context.Context, scope control.Scope, id string) error {
	return t.deleteByID(ctx, "peerings", "Peering", scope, id)
}

// --- clusters ---

const clusterColumns = `id, org_id, environment_id, network_id, display_name, availability, cloud, region, cku,
	phase, bootstrap_endpoint, http_endpoint, brokers, created_at, updated_at`

func scanCluster(sc scanner) (*control.Cluster, error) {
	var k control.Cluster
	var c, u int64
	var brokers string
	err := sc.Scan(&k.ID, &k.OrgID, &k.EnvironmentID, &k.NetworkID, &k.DisplayName, &k.Availability, &k.Cloud, &k.Region, &k.CKU,
		&k.Status.Phase, &k.Status.BootstrapEndpoint, &k.Status.HTTPEndpoint, &brokers, &c, &u)
	if err != nil {
		return nil, err
	}
	if brokers != "" {
		k.Status.Brokers = strings.Split(brokers, ",")
	}
	k.CreatedAt, k.UpdatedAt = fromMicros(c), fromMicros(u)
	return &k, nil
}

func (t *controlTx) CreateCluster(ctx context.Context, c *control.Cluster) error {
	_, err := t.q().ExecContext(ctx, `INSERT INTO clusters (`+clusterColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		c.ID, c.OrgID, c.EnvironmentID, c.NetworkID, c.DisplayName, c.Availability, c.Cloud, c.Region, c.CKU,
		c.Status.Phase, c.Status.BootstrapEndpoint, c.Status.HTTPEndpoint, strings.Join(c.Status.Brokers, ","), micros(c.CreatedAt), micros(c.UpdatedAt))
	if err != nil {
		return insertErr(err, "Cluster", c.ID, "network")
	}
	return nil
}

func (t *controlTx) FindClusterByID(ctx context.Context, scope control.Scope, id string) (*control.Cluster, error) {
	return findByID(ctx, t, "clusters", clusterColumns, scanCluster, "Cluster", scope, id)
}

func (t *controlTx) FindClusters(ctx context.Context, scope control.Scope, f control.ClusterFilter) ([]*control.Cluster, error) {
	var q query
	if err := q.scope(scope); err != nil {
		return nil, err
	}
	q.eq("environment_id", f.EnvironmentID)
	q.in("network_id", f.NetworkIDs)
	q.in("phase", f.Phases)
	q.after(f.After)
	rows, err := t.q().QueryContext(ctx, q.sql(`SELECT `+clusterColumns+` FROM clusters`, f.Limit), q.args...)
	out, err := scanAll(rows, err, scanCluster)
	if err != nil {
		return nil, fmt.Errorf("find clusters: %w", err)
	}
	return out, nil
}

func (t *controlTx) UpdateClusterSpec(ctx context.Context, c *control.Cluster) error {
	res, err := t.q().ExecContext(ctx, `UPDATE clusters SET display_name = $1, cku = $2, updated_at = $3 WHERE id = $4`,
		c.DisplayName, c.CKU, micros(c.UpdatedAt), c.ID)
	return mustAffect(res, err, "Cluster", c.ID)
}

func (t *controlTx) UpdateClusterStatus(ctx context.Context, c *control.Cluster) error {
	res, err := t.q().ExecContext(ctx, `UPDATE clusters SET phase = $1, bootstrap_endpoint = $2, http_endpoint = $3, brokers = $4, updated_at = $5 WHERE id = $6`,
		c.Status.Phase, c.Status.BootstrapEndpoint, c.Status.HTTPEndpoint, strings.Join(c.Status.Brokers, ","), micros(c.UpdatedAt), c.ID)
	return mustAffect(res, err, "Cluster", c.ID)
}

func (t *controlTx) DeleteCluster(ctx context.Context, scope control.Scope, id string) error {
	return t.deleteByID(ctx, "clusters", "Cluster", scope, id)
}

// --- connectors ---

const connectorColumns = `cluster_id, name, org_id, environment_id, config, paused, created_at, updated_at`

func scanConnector(sc scanner) (*control.Connector, error) {
	var k control.Connector
	var config string
	var paused int
	var c, u int64
	if err := sc.Scan(&k.ClusterID, &k.Name, &k.OrgID, &k.EnvironmentID, &config, &paused, &c, &u); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(config), &k.Config); err != nil {
		return nil, fmt.Errorf("connector %s/%s: config: %w", k.ClusterID, k.Name, err)
	}
	k.Paused = paused != 0
	k.CreatedAt, k.UpdatedAt = fromMicros(c), fromMicros(u)
	return &k, nil
}

func (t *controlTx) CreateConnector(ctx context.Context, c *control.Connector) error {
	config, err := json.Marshal(c.Config)
	if err != nil {
		return err
	}
	_, err = t.q().ExecContext(ctx, `INSERT INTO connectors (`+connectorColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		c.ClusterID, c.Name, c.OrgID, c.EnvironmentID, string(config), boolInt(c.Paused), micros(c.CreatedAt), micros(c.UpdatedAt))
	if err != nil {
		return insertErr(err, "Connector", c.Name, "cluster")
	}
	return nil
}

// connectorKey selects connector name of cluster clusterID in scope.
func connectorKey(scope control.Scope, clusterID, name string) (query, error) {
	q := query{where: []string{"cluster_id = $1", "name = $2"}, args: []any{clusterID, name}}
	return q, q.scope(scope)
}

func (t *controlTx) FindConnector(ctx context.Context, scope control.Scope, clusterID, name string) (*control.Connector, error) {
	q, err := connectorKey(scope, clusterID, name)
	if err != nil {
		return nil, err
	}
	row := t.q().QueryRowContext(ctx, `SELECT `+connectorColumns+` FROM connectors`+q.clause()+t.forUpdate(), q.args...)
	return scanOne(row, scanConnector, "Connector", name)
}

func (t *controlTx) FindConnectors(ctx context.Context, scope control.Scope, f control.ConnectorFilter) ([]*control.Connector, error) {
	var q query
	if err := q.scope(scope); err != nil {
		return nil, err
	}
	q.eq("cluster_id", f.ClusterID)
	rows, err := t.q().QueryContext(ctx, `SELECT `+connectorColumns+` FROM connectors`+q.clause()+` ORDER BY cluster_id, name`, q.args...)
	out, err := scanAll(rows, err, scanConnector)
	if err != nil {
		return nil, fmt.Errorf("find connectors: %w", err)
	}
	return out, nil
}

func (t *controlTx) UpdateConnector(ctx context.Context, c *control.Connector) error {
	config, err := json.Marshal(c.Config)
	if err != nil {
		return err
	}
	res, err := t.q().ExecContext(ctx, `UPDATE connectors SET config = $1, paused = $2, updated_at = $3 WHERE cluster_id = $4 AND name = $5`,
		string(config), boolInt(c.Paused), micros(c.UpdatedAt), c.ClusterID, c.Name)
	return mustAffect(res, err, "Connector", c.Name)
}

func (t *controlTx) DeleteConnector(ctx context.Context, scope control.Scope, clusterID, name string) error {
	q, err := connectorKey(scope, clusterID, name)
	if err != nil {
		return err
	}
	res, err := t.q().ExecContext(ctx, `DELETE FROM connectors`+q.clause(), q.args...)
	return mustAffect(res, err, "Connector", name)
}

// LoadSettings implements control.Tx.
func (t *controlTx) LoadSettings(ctx context.Context) ([]byte, error) {
	var body string
	err := t.q().QueryRowContext(ctx, `SELECT body FROM control_settings WHERE name = 'settings'`).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load settings: %w", err)
	}
	return []byte(body), nil
}

// SaveSettings implements control.Tx.
func (t *controlTx) SaveSettings(ctx context.Context, body []byte) error {
	_, err := t.q().ExecContext(ctx, `INSERT INTO control_settings (name, body) VALUES ('settings', $1)
		ON CONFLICT (name) DO UPDATE SET body = excluded.body`, string(body))
	if err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	return nil
}

// stmtKey names a statement prepared on one pool.
type stmtKey struct {
	pool  *sql.DB
	query string
}
