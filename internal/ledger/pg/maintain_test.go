package pgledger

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mmelink/operator/internal/pgtest"
)

func listPartitions(t *testing.T, pool *pgxpool.Pool) map[string]bool {
	t.Helper()
	conn, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	have, err := partitions(context.Background(), conn.Conn())
	if err != nil {
		t.Fatal(err)
	}
	return have
}

func hourPartition(t time.Time) string {
	return partitionPrefix + t.UTC().Truncate(time.Hour).Format(partitionLayout)
}

// Maintenance keeps hourly partitions from the watermark's hour to a few hours ahead, drops (not
// deletes from) those wholly below the watermark, and never lowers the watermark.
func TestMaintainPartitionsFollowTheWatermark(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, pgtest.Database(t)) // maintained once with the default retention
	now := time.Now()
	have := listPartitions(t, pool)
	for _, want := range []time.Time{now.Add(-DefaultRetention), now, now.Add(partitionsAhead - time.Hour)} {
		if !have[hourPartition(want)] {
			t.Errorf("no partition for %s", want.UTC().Format(time.RFC3339))
		}
	}
	if have[hourPartition(now.Add(-DefaultRetention-time.Hour))] {
		t.Errorf("a partition wholly below the watermark exists")
	}

	res, err := Maintain(ctx, pool, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Dropped) < 69 || len(res.Created) != 0 {
		t.Errorf("shortening the retention to 2h dropped %d partitions, created %d; want about 70 and 0", len(res.Dropped), len(res.Created))
	}
	if d := time.Since(res.Watermark) - 2*time.Hour; d < -time.Minute || d > time.Minute {
		t.Errorf("watermark %s is not now minus 2h", res.Watermark)
	}
	have = listPartitions(t, pool)
	if have[hourPartition(now.Add(-3*time.Hour))] || !have[hourPartition(now.Add(-2*time.Hour))] {
		t.Errorf("after a 2h retention: partitions %v", have)
	}

	// Lengthening it again cannot bring dropped events back: the watermark stays.
	res2, err := Maintain(ctx, pool, DefaultRetention)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Watermark.Before(res.Watermark) || len(res2.Created) != 0 {
		t.Errorf("a longer retention lowered the watermark to %s (from %s) or created %v", res2.Watermark, res.Watermark, res2.Created)
	}
}

// Two replicas' maintenance at once: one does it, the other skips; neither fails.
func TestMaintainIsOneReplicaAtATime(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, pgtest.Database(t))
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", maintainLockKey); err != nil {
		t.Fatal(err)
	}
	res, err := Maintain(ctx, pool, time.Hour)
	if err != nil || !res.Skipped {
		t.Fatalf("Maintain while another replica holds the lock = %+v, %v; want skipped", res, err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", maintainLockKey); err != nil {
		t.Fatal(err)
	}
	if res, err := Maintain(ctx, pool, time.Hour); err != nil || res.Skipped || len(res.Dropped) == 0 {
		t.Fatalf("Maintain after the lock is free = %+v, %v", res, err)
	}
}
