package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/peerplane/peerplane/internal/azureemu"
)

// DB persists the embedded Azure's documents in the azure_docs table.
var _ azureemu.IncrementalDocStore = (*DB)(nil)

// AzureDocs returns db as the embedded Azure's document store.
func (db *DB) AzureDocs() azureemu.DocStore { return db }

// LoadDocs returns every document in azure_docs, ordered byte-wise by kind
// then key, as Go compares strings. It returns an empty slice, not an
// error, when there are none.
func (db *DB) LoadDocs(ctx context.Context) ([]azureemu.Doc, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT kind, key, body FROM azure_docs ORDER BY kind, key`)
	if err != nil {
		return nil, fmt.Errorf("load azure docs: %w", err)
	}
	defer rows.Close()
	docs := []azureemu.Doc{}
	for rows.Next() {
		var d azureemu.Doc
		if err := rows.Scan(&d.Kind, &d.Key, &d.Body); err != nil {
			return nil, fmt.Errorf("load azure docs: %w", err)
		}
		if d.Body == nil {
			d.Body = []byte{}
		}
		docs = append(docs, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load azure docs: %w", err)
	}
	return docs, nil
}

// docOp is one write of an ApplyDocs batch: a put, or a delete when put is
// false.
type docOp struct {
	doc azureemu.Doc
	put bool
}

// planDocs folds puts and deletes into one write per (kind, key), sorted by
// kind then key. Deletes apply before puts and later puts win, as in
// azureemu.MemoryDocStore. The fixed order makes concurrent batches lock
// rows in the same order, so PostgreSQL cannot deadlock them.
func planDocs(puts, deletes []azureemu.Doc) []docOp {
	byKey := make(map[[2]string]int, len(puts)+len(deletes))
	ops := make([]docOp, 0, len(puts)+len(deletes))
	add := func(op docOp) {
		k := [2]string{op.doc.Kind, op.doc.Key}
		if i, ok := byKey[k]; ok {
			ops[i] = op
			return
		}
		byKey[k] = len(ops)
		ops = append(ops, op)
	}
	for _, d := range deletes {
		add(docOp{doc: d})
	}
	for _, d := range puts {
		add(docOp{doc: d, put: true})
	}
	slices.SortFunc(ops, func(a, b docOp) int {
		if c := strings.Compare(a.doc.Kind, b.doc.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.doc.Key, b.doc.Key)
	})
	return ops
}

const (
	deleteDocSQL = `DELETE FROM azure_docs WHERE kind = $1 AND key = $2`
	upsertDocSQL = `INSERT INTO azure_docs (kind, key, body, updated_at) VALUES ($1, $2, $3, CURRENT_TIMESTAMP)
ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`
)

// ApplyDocs writes puts (insert or overwrite) and removes deletes in one
// transaction: when it returns nil every change is committed (safe from a
// crash of the process; from a power loss once the next durable commit or
// checkpoint is, see the package doc), otherwise none is. Deleting a missing document is not an error. When one document is
// both put and deleted, the put wins; when one is put twice, the later one
// wins. A put with an empty Kind or Key fails the whole batch. A nil Body is
// stored as empty. It bumps the generation.
func (db *DB) ApplyDocs(ctx context.Context, puts, deletes []azureemu.Doc) error {
	_, err := db.applyDocs(ctx, -1, puts, deletes)
	return err
}

// ApplyDocsAt is ApplyDocs, but only if the generation is still gen: it
// returns the new generation, or azureemu.ErrStaleGeneration (writing
// nothing) when another writer got there first.
func (db *DB) ApplyDocsAt(ctx context.Context, gen int64, puts, deletes []azureemu.Doc) (int64, error) {
	return db.applyDocs(ctx, gen, puts, deletes)
}

// Generation returns the number of ApplyDocs batches ever committed.
func (db *DB) Generation(ctx context.Context) (int64, error) {
	var gen int64
	if err := db.r.QueryRowContext(ctx, `SELECT gen FROM azure_generation WHERE id = 1`).Scan(&gen); err != nil {
		return 0, fmt.Errorf("read azure generation: %w", err)
	}
	return gen, nil
}

// ChangesSince returns, from one snapshot of the database, the documents
// written by batches after gen, the keys (Kind and Key, no Body) deleted by
// them and not written since, and the generation that snapshot is at; each
// document of also is returned too, among puts as stored or among deletes
// when there is none. The generation each document and tombstone carries
// is stamped by triggers (migration 0011).
func (db *DB) ChangesSince(ctx context.Context, gen int64, also []azureemu.Doc) (puts, deletes []azureemu.Doc, current int64, err error) {
	// A read transaction is one snapshot: REPEATABLE READ on PostgreSQL,
	// and on SQLite (WAL) any read transaction.
	var opts *sql.TxOptions
	if db.dialect == DialectPostgres {
		opts = &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
	}
	tx, err := db.r.BeginTx(ctx, opts)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("azure changes: begin: %w", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT gen FROM azure_generation WHERE id = 1`).Scan(&current); err != nil {
		return nil, nil, 0, fmt.Errorf("azure changes: read generation: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT kind, key, body FROM azure_docs WHERE gen > $1`, gen)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("azure changes: %w", err)
	}
	for rows.Next() {
		var d azureemu.Doc
		if err := rows.Scan(&d.Kind, &d.Key, &d.Body); err != nil {
			rows.Close()
			return nil, nil, 0, fmt.Errorf("azure changes: %w", err)
		}
		puts = append(puts, d)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, nil, 0, fmt.Errorf("azure changes: %w", err)
	}
	rows, err = tx.QueryContext(ctx, `SELECT kind, key FROM azure_doc_tombstones WHERE gen > $1`, gen)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("azure changes: tombstones: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d azureemu.Doc
		if err := rows.Scan(&d.Kind, &d.Key); err != nil {
			return nil, nil, 0, fmt.Errorf("azure changes: tombstones: %w", err)
		}
		deletes = append(deletes, d)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, 0, fmt.Errorf("azure changes: tombstones: %w", err)
	}
	for _, k := range also {
		d := azureemu.Doc{Kind: k.Kind, Key: k.Key}
		err := tx.QueryRowContext(ctx, `SELECT body FROM azure_docs WHERE kind = $1 AND key = $2`, k.Kind, k.Key).Scan(&d.Body)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			deletes = append(deletes, d)
		case err != nil:
			return nil, nil, 0, fmt.Errorf("azure changes: %s/%s: %w", k.Kind, k.Key, err)
		default:
			puts = append(puts, d)
		}
	}
	return puts, deletes, current, nil
}

// applyDocs writes the batch and bumps the generation, first checking it
// is want unless want is negative.
func (db *DB) applyDocs(ctx context.Context, want int64, puts, deletes []azureemu.Doc) (int64, error) {
	ops := planDocs(puts, deletes)
	var gen int64
	// The embedded Azure holds its lock until its write commits: the
	// write does not wait for the disk (commitLazy). A crash of the
	// process loses none; a power loss may lose those after the last
	// durable commit, which Azure's clients then see as requests that
	// never happened, and the reconciler, level-based, makes again.
	err := db.writeTxAs(ctx, commitLazy, func(tx *sql.Tx) error {
		// The generation row is written first: on PostgreSQL its row lock
		// orders concurrent batches.
		if err := tx.QueryRowContext(ctx, `UPDATE azure_generation SET gen = gen + 1 WHERE id = 1 RETURNING gen`).Scan(&gen); err != nil {
			return err
		}
		if want >= 0 && gen != want+1 {
			return azureemu.ErrStaleGeneration
		}
		for _, op := range ops {
			if err := execDocOp(ctx, tx, op); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, azureemu.ErrStaleGeneration) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("apply azure docs: %w", err)
	}
	return gen, nil
}

// execDocOp runs one write of a batch on tx, or on its own.
func execDocOp(ctx context.Context, x interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}, op docOp) error {
	d := op.doc
	if !op.put {
		if _, err := x.ExecContext(ctx, deleteDocSQL, d.Kind, d.Key); err != nil {
			return fmt.Errorf("delete %s/%s: %w", d.Kind, d.Key, err)
		}
		return nil
	}
	body := d.Body
	if body == nil {
		body = []byte{}
	}
	if _, err := x.ExecContext(ctx, upsertDocSQL, d.Kind, d.Key, body); err != nil {
		return fmt.Errorf("put %s/%s: %w", d.Kind, d.Key, err)
	}
	return nil
}
