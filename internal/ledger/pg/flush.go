package pgledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mmelink/operator/internal/status"
)

// insertEvents stores a flush's events in one statement: the objects not seen before, the events not
// stored before (ON CONFLICT DO NOTHING: a redelivery, wherever its first delivery landed, inserts
// nothing), and, for exactly the rows it inserted, one delta row per object, day, kind, source and ref,
// with the person hashes. Events below the watermark, or more than $12 seconds ahead of the database's
// clock, are late: not stored. It returns how many events it inserted, and the watermark and horizon it
// judged by (one statement: one snapshot).
const insertEvents = `
WITH objs AS (
	INSERT INTO mmelink_objects (uid, kind, namespace, name)
	SELECT DISTINCT u.uid::uuid, u.kind, u.ns, u.name FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(uid, kind, ns, name)
	WHERE EXISTS (SELECT FROM unnest($5::text[], $7::timestamptz[]) AS e(uid, t)
		WHERE e.uid = u.uid AND e.t >= (SELECT watermark FROM mmelink_state) AND e.t <= now() + make_interval(secs => $12))
	ORDER BY 1
	ON CONFLICT DO NOTHING
), ins AS (
	INSERT INTO mmelink_events (object_uid, fingerprint, event_time, kind, source, ref, person)
	SELECT u.uid::uuid, u.fp, u.t, u.kind, u.source, u.ref, u.person
	FROM unnest($5::text[], $6::bytea[], $7::timestamptz[], $8::text[], $9::text[], $10::text[], $11::bytea[])
		AS u(uid, fp, t, kind, source, ref, person)
	WHERE u.t >= (SELECT watermark FROM mmelink_state) AND u.t <= now() + make_interval(secs => $12)
	ORDER BY 1, 2, 3
	ON CONFLICT DO NOTHING
	RETURNING object_uid, event_time, kind, source, ref, person
), deltas AS (
	INSERT INTO mmelink_deltas (object_uid, day, kind, source, ref, n, first_time, last_time, people)
	SELECT object_uid, (event_time AT TIME ZONE 'UTC')::date, kind, source, ref, count(*), min(event_time), max(event_time),
		array_agg(person) FILTER (WHERE person IS NOT NULL)
	FROM ins GROUP BY 1, 2, 3, 4, 5
)
SELECT (SELECT count(*) FROM ins), watermark, now() + make_interval(secs => $12) FROM mmelink_state`

// upsertTokens sets each token's state from its newest event; an event older than the stored one
// changes nothing, so stops and resumes are ordered by their timestamps whatever the delivery order.
// Late events (the filter of insertEvents) set nothing. It is a second statement of the same
// transaction, so a watermark raised between the two (once a minute, by hours-old events) can at most
// leave an opt-in's token unset whose event was kept: never count anything twice.
//
//nolint:gosec // G101: SQL about tokens, not a credential
const upsertTokens = `
INSERT INTO mmelink_tokens AS t (object_uid, token_key, sealed, status, event_time, opt_in_time)
SELECT u.uid::uuid, u.key, u.sealed, u.status, u.t, CASE WHEN u.optin THEN u.t END
FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::text[], $5::timestamptz[], $6::bool[])
	AS u(uid, key, sealed, status, t, optin), mmelink_state s
WHERE u.t >= s.watermark AND u.t <= now() + make_interval(secs => $7)
ORDER BY 1, 2
ON CONFLICT (object_uid, token_key) DO UPDATE SET
	sealed = excluded.sealed, status = excluded.status, event_time = excluded.event_time,
	opt_in_time = coalesce(t.opt_in_time, excluded.opt_in_time), updated_at = now()
WHERE t.event_time <= excluded.event_time`

// flush commits batch in one transaction and returns what every request of it is answered.
func (w *Writer) flush(batch []*request) error {
	var rows []row
	for _, r := range batch {
		rows = append(rows, r.rows...)
	}
	rows = sortRows(rows)
	start := time.Now()
	var (
		res flushResult
		err error
	)
	// A partition dropped between reading the watermark and inserting makes the insert fail with "no
	// partition"; nothing was stored, and the second attempt reads the new watermark: those events are late.
	for attempt := 0; attempt < 2; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), w.o.AttemptTimeout)
		res, err = w.commit(ctx, rows)
		cancel()
		if !isNoPartition(err) {
			break
		}
	}
	w.m.flush(err, time.Since(start), len(batch), len(rows))
	if err != nil {
		w.o.Log.V(1).Info("ledger flush failed", "deliveries", len(batch), "events", len(rows), "error", clean(err).Error())
		return fmt.Errorf("%w: %w", status.ErrUnavailable, clean(err))
	}
	for _, r := range res.kept { // their objects are in mmelink_objects now
		w.known.Store(r.obj.uid, struct{}{})
	}
	w.m.events.WithLabelValues(outcomeCounted).Add(float64(res.inserted))
	w.m.events.WithLabelValues(outcomeDuplicate).Add(float64(res.stored - res.inserted))
	w.m.late.Add(float64(res.late))
	return nil
}

type flushResult struct {
	kept                   []row // the rows not late, which the transaction stored or found stored
	stored, inserted, late int
}

// commit stores rows in one round trip: the statements go out as one pipeline ending in one Sync, which
// PostgreSQL runs as one implicit transaction and commits at the Sync; the batch's Close returns once
// the server is ready again, that is after the commit (with its WAL flush under synchronous_commit)
// returned. The late filter is in the statements, so that the watermark is read in the transaction that
// inserts (no round trip before). An event without a time cannot be placed in a partition, so its
// redelivery could not be checked: it is late like an event below the watermark.
func (w *Writer) commit(ctx context.Context, rows []row) (flushResult, error) {
	var res flushResult
	timed := rows[:0:0]
	for _, r := range rows {
		if !r.time.IsZero() {
			timed = append(timed, r)
		}
	}
	if len(timed) == 0 {
		res.late = len(rows)
		return res, nil
	}
	var watermark, horizon time.Time
	b := &pgx.Batch{}
	b.Queue(insertEvents, w.eventArgs(timed)...).QueryRow(func(r pgx.Row) error {
		return r.Scan(&res.inserted, &watermark, &horizon)
	})
	if toks := latestTokens(timed); len(toks) > 0 {
		b.Queue(upsertTokens, append(tokenArgs(toks), w.o.MaxFuture.Seconds())...)
	}
	if err := w.pool.SendBatch(ctx, b).Close(); err != nil {
		return res, err
	}
	for _, r := range timed {
		if !r.time.Before(watermark) && !r.time.After(horizon) {
			res.kept = append(res.kept, r)
		}
	}
	res.stored = len(res.kept)
	res.late = len(rows) - res.stored
	return res, nil
}

func (w *Writer) eventArgs(rows []row) []any {
	n := len(rows)
	var (
		ouid, okind, ons, oname []string
		uid, kind, source, ref  = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		fp, person              = make([][]byte, n), make([][]byte, n)
		times                   = make([]time.Time, n)
		seen                    = map[string]bool{}
	)
	for i, r := range rows {
		uid[i], fp[i], times[i], kind[i], source[i], ref[i], person[i] = r.obj.uid, r.fingerprint, r.time, r.kind, r.source, r.ref, r.person
		if _, known := w.known.Load(r.obj.uid); !known && !seen[r.obj.uid] {
			seen[r.obj.uid] = true
			ouid, okind, ons, oname = append(ouid, r.obj.uid), append(okind, string(r.obj.Kind)), append(ons, r.obj.Namespace), append(oname, r.obj.Name)
		}
	}
	return []any{ouid, okind, ons, oname, uid, fp, times, kind, source, ref, person, w.o.MaxFuture.Seconds()}
}

func tokenArgs(rows []row) []any {
	n := len(rows)
	uid, st := make([]string, n), make([]string, n)
	key, sealed := make([][]byte, n), make([][]byte, n)
	times, optIn := make([]time.Time, n), make([]bool, n)
	for i, r := range rows {
		uid[i], key[i], sealed[i], st[i], times[i], optIn[i] = r.obj.uid, r.token.key, r.token.sealed, r.token.status, r.time, r.token.optIn
	}
	return []any{uid, key, sealed, st, times, optIn}
}

// isNoPartition tells an insert that met a dropped (or not yet created) partition.
func isNoPartition(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23514" && pe.TableName == "mmelink_events"
}
