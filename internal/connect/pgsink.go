package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/peerplane/peerplane/internal/control"
)

// pgDest is a PostgresSink's destination: each record's value, a JSON
// object, becomes a row of table table.name.format (${topic} by default):
// one column per field. auto.create creates a missing table from the
// batch's fields (numbers NUMERIC, strings TEXT, booleans BOOLEAN, objects
// and arrays JSONB); auto.evolve adds a missing column. A batch is inserted
// in one transaction; a record PostgreSQL refuses for its data (not an
// object, a field with no column, a value of the wrong type) goes to the
// dead-letter topic. Connection and authentication failures fail the
// attempt, leaving the batch uncommitted.
type pgDest struct {
	w    *worker
	cfg  control.PostgresSinkConfig
	conn *pgx.Conn
	cols map[string]map[string]bool // table → its columns
}

func newPostgresDest(w *worker, cfg control.PostgresSinkConfig) *pgDest {
	return &pgDest{w: w, cfg: cfg}
}

func (d *pgDest) open(ctx context.Context) error {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(d.cfg.Host, strconv.Itoa(d.cfg.Port)), Path: "/" + d.cfg.Database}
	if d.cfg.User != "" {
		u.User = url.UserPassword(d.cfg.User, d.cfg.Password)
	}
	pc, err := pgx.ParseConfig(u.String() + "?connect_timeout=10&application_name=peerplane-connect")
	if err != nil {
		return fmt.Errorf("postgresql connection settings: %w", err)
	}
	pc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) { return d.w.dial(ctx, network, addr) }
	pc.LookupFunc = func(ctx context.Context, host string) ([]string, error) { return []string{host}, nil }
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, pc)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL at %s: %w", u.Host, err)
	}
	d.conn, d.cols = conn, map[string]map[string]bool{}
	return nil
}

func (d *pgDest) close() {
	if d.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		d.conn.Close(ctx)
		d.conn = nil
	}
}

// row is a record as columns and values (each value's text, or nil).
type row struct {
	rec    *kgo.Record
	table  string
	fields map[string]json.RawMessage
}

func (d *pgDest) deliver(ctx context.Context, recs []*kgo.Record) ([]rejected, error) {
	var refused []rejected
	var rows []row
	for _, r := range recs {
		var fields map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(r.Value))
		dec.UseNumber()
		if err := dec.Decode(&fields); err != nil || fields == nil {
			refused = append(refused, rejected{rec: r, err: fmt.Errorf("the record's value is not a JSON object: %s", short(string(r.Value), 80))})
			continue
		}
		rows = append(rows, row{rec: r, table: d.cfg.TableName(r.Topic), fields: fields})
	}
	// Tables and columns first, outside the insert's transaction.
	var ok []row
	for _, rw := range rows {
		missing, err := d.prepare(ctx, rw, rows)
		if err != nil {
			return nil, err
		}
		if len(missing) > 0 {
			refused = append(refused, rejected{rec: rw.rec, err: fmt.Errorf("table %s has no column %s (set auto.evolve=true to add columns)", rw.table, strings.Join(missing, ", "))})
			continue
		}
		ok = append(ok, rw)
	}
	err := d.insert(ctx, ok)
	if err == nil || !dataError(err) {
		return refused, err
	}
	// A record PostgreSQL refuses: insert one by one to find it.
	for _, rw := range ok {
		if err := d.insert(ctx, []row{rw}); err != nil {
			if !dataError(err) {
				return nil, err
			}
			refused = append(refused, rejected{rec: rw.rec, err: err})
		}
	}
	return refused, nil
}

// dataError reports whether PostgreSQL refused a row for its data (SQLSTATE
// class 22, data exception; 23, integrity violation; or 42703/42804, an
// undefined column or a datatype mismatch).
func dataError(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23") || pe.Code == "42703" || pe.Code == "42804"
}

// prepare makes sure rw's table exists (auto.create) and has its columns
// (auto.evolve); it returns the fields still without a column.
func (d *pgDest) prepare(ctx context.Context, rw row, batch []row) ([]string, error) {
	cols, err := d.columns(ctx, rw.table)
	if err != nil {
		return nil, err
	}
	if cols == nil {
		if !d.cfg.AutoCreate {
			return nil, fmt.Errorf("table %s does not exist in database %s and auto.create is false", rw.table, d.cfg.Database)
		}
		types := map[string]string{}
		for _, o := range batch {
			if o.table == rw.table {
				for f, v := range o.fields {
					if t := sqlType(v); types[f] == "" || types[f] == "TEXT" && t != "TEXT" {
						types[f] = t
					}
				}
			}
		}
		var defs []string
		for _, f := range slices.Sorted(maps.Keys(types)) {
			defs = append(defs, pgx.Identifier{f}.Sanitize()+" "+types[f])
		}
		if _, err := d.conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+pgx.Identifier{rw.table}.Sanitize()+" ("+strings.Join(defs, ", ")+")"); err != nil {
			return nil, fmt.Errorf("create table %s (auto.create): %w", rw.table, err)
		}
		d.w.log.Info("postgres sink: created table", "table", rw.table, "columns", len(defs))
		delete(d.cols, rw.table)
		if cols, err = d.columns(ctx, rw.table); err != nil {
			return nil, err
		}
	}
	var missing []string
	for f, v := range rw.fields {
		if cols[f] {
			continue
		}
		if !d.cfg.AutoEvolve {
			missing = append(missing, f)
			continue
		}
		if _, err := d.conn.Exec(ctx, "ALTER TABLE "+pgx.Identifier{rw.table}.Sanitize()+" ADD COLUMN IF NOT EXISTS "+pgx.Identifier{f}.Sanitize()+" "+sqlType(v)); err != nil {
			return nil, fmt.Errorf("add column %s to table %s (auto.evolve): %w", f, rw.table, err)
		}
		cols[f] = true
	}
	slices.Sort(missing)
	return missing, nil
}

// columns returns the columns of table in the connection's schema, or nil
// when it does not exist.
func (d *pgDest) columns(ctx context.Context, table string) (map[string]bool, error) {
	if c, ok := d.cols[table]; ok {
		return c, nil
	}
	rows, err := d.conn.Query(ctx, `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return nil, fmt.Errorf("read the columns of table %s: %w", table, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read the columns of table %s: %w", table, err)
	}
	if len(names) == 0 {
		return nil, nil
	}
	c := map[string]bool{}
	for _, n := range names {
		c[n] = true
	}
	d.cols[table] = c
	return c, nil
}

// sqlType is the column type auto.create gives a JSON value.
func sqlType(v json.RawMessage) string {
	s := bytes.TrimSpace(v)
	switch {
	case len(s) == 0 || string(s) == "null" || s[0] == '"':
		return "TEXT"
	case s[0] == '{' || s[0] == '[':
		return "JSONB"
	case string(s) == "true" || string(s) == "false":
		return "BOOLEAN"
	}
	return "NUMERIC"
}

// insert inserts rows in one transaction. Each value is sent as text
// (a JSON string unquoted, anything else as its JSON) for PostgreSQL to
// read as the column's type.
func (d *pgDest) insert(ctx context.Context, rows []row) error {
	if len(rows) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, rw := range rows {
		names := slices.Sorted(maps.Keys(rw.fields))
		cols := make([]string, len(names))
		marks := make([]string, len(names))
		args := make([]any, len(names))
		for i, n := range names {
			cols[i], marks[i] = pgx.Identifier{n}.Sanitize(), "$"+strconv.Itoa(i+1)
			args[i] = textValue(rw.fields[n])
		}
		b.Queue("INSERT INTO "+pgx.Identifier{rw.table}.Sanitize()+" ("+strings.Join(cols, ", ")+") VALUES ("+strings.Join(marks, ", ")+")", args...)
	}
	tx, err := d.conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("insert into PostgreSQL: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("insert into table %s: %w", rows[0].table, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit the insert: %w", err)
	}
	return nil
}

// textValue is a JSON value as PostgreSQL reads it from text, or nil.
func textValue(v json.RawMessage) any {
	s := bytes.TrimSpace(v)
	if len(s) == 0 || string(s) == "null" {
		return nil
	}
	if s[0] == '"' {
		var str string
		if json.Unmarshal(s, &str) == nil {
			return str
		}
	}
	return string(s)
}
