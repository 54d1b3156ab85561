package pgledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultRetention is how long events are kept for the redelivery check: twice Meta's 36-hour retry
// horizon, so a redelivery is always checked, with a day to spare for an outage of the ledger itself.
const DefaultRetention = 72 * time.Hour

const (
	// partitionsAhead is how far past the database's clock hourly partitions exist, well beyond
	// MaxFuture: a maintenance pass that fails for hours still leaves room.
	partitionsAhead = 6 * time.Hour
	partitionPrefix = "mmelink_events_p"
	partitionLayout = "2006010215" // UTC hour
	// maintainLockKey keeps maintenance to one replica at a time.
	maintainLockKey int64 = 0x6d6d656c696e6b + 1
)

// MaintainResult says what a maintenance pass did.
type MaintainResult struct {
	Skipped          bool // another replica holds the maintenance lock
	Watermark        time.Time
	Created, Dropped []string
}

// Maintain applies the retention: it raises the watermark to the database's now minus retention (never
// lowers it), creates the hourly partitions from the watermark's hour to partitionsAhead, and drops the
// partitions wholly below the watermark (DROP TABLE, no row-by-row DELETE).
//
// Why this is exact: the watermark is committed before any drop, and a writer reads it in its own
// transaction and drops events below it (late). A partition is dropped only when its upper bound is at
// or below the watermark, so every event it held is late from then on: no redelivery of it can be
// counted. A writer that read the previous watermark and inserts while the partition goes either
// commits first (its events were counted, once) or meets no partition (its flush fails and retries,
// then finds them late). Counts are unaffected: they live in mmelink_counts, not in the events.
func Maintain(ctx context.Context, pool *pgxpool.Pool, retention time.Duration) (MaintainResult, error) {
	var res MaintainResult
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("ledger maintenance: %w", clean(err))
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", maintainLockKey).Scan(&locked); err != nil {
		return res, fmt.Errorf("ledger maintenance lock: %w", clean(err))
	}
	if !locked {
		res.Skipped = true
		return res, nil
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", maintainLockKey) }()

	var now time.Time
	err = conn.QueryRow(ctx, `UPDATE mmelink_state SET watermark = greatest(watermark, now() - make_interval(secs => $1))
		RETURNING watermark, now()`, retention.Seconds()).Scan(&res.Watermark, &now)
	if err != nil {
		return res, fmt.Errorf("raising the ledger watermark: %w", clean(err))
	}
	have, err := partitions(ctx, conn.Conn())
	if err != nil {
		return res, err
	}
	from, to := res.Watermark.UTC().Truncate(time.Hour), now.UTC().Add(partitionsAhead).Truncate(time.Hour)
	for h := from; !h.After(to); h = h.Add(time.Hour) {
		name := partitionPrefix + h.Format(partitionLayout)
		if have[name] {
			continue
		}
		_, err := conn.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF mmelink_events
			FOR VALUES FROM ('%s') TO ('%s')`, name, h.Format(time.RFC3339), h.Add(time.Hour).Format(time.RFC3339)))
		if err != nil {
			return res, fmt.Errorf("creating partition %s: %w", name, clean(err))
		}
		res.Created = append(res.Created, name)
	}
	for name := range have {
		h, err := time.Parse(partitionLayout, strings.TrimPrefix(name, partitionPrefix))
		if err != nil || h.Add(time.Hour).After(res.Watermark) {
			continue // not ours, or still holding events that can be redelivered
		}
		if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+name); err != nil {
			return res, fmt.Errorf("dropping partition %s: %w", name, clean(err))
		}
		res.Dropped = append(res.Dropped, name)
	}
	return res, nil
}

// partitions lists the events table's partitions by name.
func partitions(ctx context.Context, conn *pgx.Conn) (map[string]bool, error) {
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'mmelink_events'::regclass`)
	if err != nil {
		return nil, fmt.Errorf("listing the event partitions: %w", clean(err))
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing the event partitions: %w", clean(err))
	}
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	return have, nil
}

// Maintainer runs Maintain at start and every Interval, on every replica (the lock picks one).
type Maintainer struct {
	Pool      *pgxpool.Pool
	Retention time.Duration
	Interval  time.Duration
	Log       logr.Logger
}

// Start implements manager.Runnable.
func (m *Maintainer) Start(ctx context.Context) error {
	interval := m.Interval
	if interval == 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := Maintain(ctx, m.Pool, m.Retention)
		switch {
		case err != nil && ctx.Err() == nil:
			m.Log.Error(err, "ledger maintenance failed; retrying", "in", interval)
		case len(res.Created)+len(res.Dropped) > 0:
			m.Log.Info("ledger partitions", "created", len(res.Created), "dropped", len(res.Dropped), "watermark", res.Watermark)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica runs it; the lock decides.
func (m *Maintainer) NeedLeaderElection() bool { return false }
