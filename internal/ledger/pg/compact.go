package pgledger

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mmelink/operator/internal/sketch"
)

// compactLimit bounds the delta rows one compaction moves, so that its transaction stays short.
const compactLimit = 20000

// foldDeltas moves committed deltas into mmelink_counts. DELETE ... RETURNING and the upsert are one
// statement: a delta is folded exactly once, and a writer's delta that is not committed yet is simply
// not seen, and folded by a later pass. It returns each moved delta's object and person hashes.
const foldDeltas = `
WITH moved AS (
	DELETE FROM mmelink_deltas WHERE ctid = ANY(ARRAY(SELECT ctid FROM mmelink_deltas LIMIT $1))
	RETURNING *
), folded AS (
	INSERT INTO mmelink_counts AS c (object_uid, day, kind, source, ref, n, first_time, last_time)
	SELECT object_uid, day, kind, source, ref, sum(n), min(first_time), max(last_time)
	FROM moved GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
	ON CONFLICT (object_uid, day, kind, source, ref) DO UPDATE SET n = c.n + excluded.n,
		first_time = least(c.first_time, excluded.first_time), last_time = greatest(c.last_time, excluded.last_time)
)
SELECT object_uid::text, people FROM moved`

// compact folds the deltas committed so far, in one transaction with the people hashes they carry, and
// returns the objects that changed. The hashes go into each object's HyperLogLog sketch: the
// unique-people estimate outlives the events' retention without keeping anyone's hash beyond it.
func compact(ctx context.Context, pool *pgxpool.Pool) (map[string]bool, error) {
	changed := map[string]bool{}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, foldDeltas, compactLimit)
		if err != nil {
			return err
		}
		people := map[string]*sketch.HLL{}
		var uid string
		var hashes [][]byte
		_, err = pgx.ForEachRow(rows, []any{&uid, &hashes}, func() error {
			changed[uid] = true
			if len(hashes) == 0 {
				return nil
			}
			h := people[uid]
			if h == nil {
				h = sketch.New()
				people[uid] = h
			}
			for _, p := range hashes {
				h.Add(string(p))
			}
			return nil
		})
		if err != nil || len(people) == 0 {
			return err
		}
		return mergePeople(ctx, tx, people)
	})
	if err != nil {
		return nil, fmt.Errorf("compacting the ledger: %w", clean(err))
	}
	return changed, nil
}

func mergePeople(ctx context.Context, tx pgx.Tx, people map[string]*sketch.HLL) error {
	uids := make([]string, 0, len(people))
	for u := range people {
		uids = append(uids, u)
	}
	rows, err := tx.Query(ctx, `SELECT uid::text, people FROM mmelink_objects WHERE uid = ANY($1::uuid[]) ORDER BY uid FOR UPDATE`, uids)
	if err != nil {
		return err
	}
	var uid string
	var stored []byte
	var updUID []string
	var updSketch [][]byte
	_, err = pgx.ForEachRow(rows, []any{&uid, &stored}, func() error {
		h := people[uid]
		if len(stored) > 0 {
			prev := sketch.New()
			// A sketch that does not decode (written by hand) is started afresh: only the estimate suffers.
			if prev.UnmarshalBinary(stored) == nil {
				h.Merge(prev)
			}
		}
		b, _ := h.MarshalBinary() // never fails
		updUID, updSketch = append(updUID, uid), append(updSketch, b)
		return nil
	})
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE mmelink_objects o SET people = u.people
		FROM unnest($1::uuid[], $2::bytea[]) AS u(uid, people) WHERE o.uid = u.uid`, updUID, updSketch)
	return err
}
