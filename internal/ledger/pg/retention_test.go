package pgledger

import (
	"context"
	"testing"
	"time"

	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/pgtest"
	"github.com/mmelink/operator/internal/status"
)

// Events older than the retention are answered (nil: 200) and not counted; once the retention passes
// events already counted, their partitions are dropped, their counts stay, and their redeliveries are
// late: never counted again.
func TestRetention(t *testing.T) {
	c, ca := kube(t), newCache(t)
	dsn := pgtest.Database(t)
	pool := newPool(t, dsn) // retention 72h
	w := NewWriter(pool, ca, testKeys(t), Options{})
	l := newLink(t, c, "retention")
	waitCached(t, ca, l)
	ctx := context.Background()
	at := func(n int, age time.Duration) status.Item {
		ev := referral(n, delivery.KindReferral, "SHORTLINK", "summer")
		ev.Time = time.Now().Add(-age).Truncate(time.Millisecond)
		return status.Item{Target: linkTarget(l), Event: ev}
	}
	old := []status.Item{at(1, 200*time.Minute), at(2, 200*time.Minute), at(3, 199*time.Minute)}
	recent := []status.Item{at(4, 10*time.Minute), at(5, 5*time.Minute)}
	tooOld := []status.Item{at(6, 73*time.Hour), at(7, 30*24*time.Hour)}
	noTime := at(8, 0)
	noTime.Event.Time = time.Time{}
	future := at(9, -2*time.Hour)

	if err := w.Write(ctx, append(append(append([]status.Item{}, old...), recent...), append(tooOld, noTime, future)...)); err != nil {
		t.Fatal(err)
	}
	if got := counted(t, pool, string(l.UID)); got != 5 {
		t.Errorf("counted %d, want the 5 events within the retention", got)
	}
	if late := metricValue(t, w.m.late); late != 4 {
		t.Errorf("late = %v, want 4 (two too old, one without a time, one two hours ahead)", late)
	}

	// The retention shrinks to 2h (as 72h later would): the partitions of the 200-minute-old events go.
	res, err := Maintain(ctx, pool, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if have := listPartitions(t, pool); have[hourPartition(time.Now().Add(-200*time.Minute))] || len(res.Dropped) == 0 {
		t.Errorf("the old events' partition was not dropped (dropped %v)", res.Dropped)
	}
	var rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM mmelink_events").Scan(&rows); err != nil || rows != 2 {
		t.Errorf("event rows left = %d (%v), want the 2 recent ones", rows, err)
	}
	// Their redeliveries are answered and not counted; the recent ones' are duplicates.
	if err := w.Write(ctx, append(append([]status.Item{}, old...), recent...)); err != nil {
		t.Fatal(err)
	}
	if got := counted(t, pool, string(l.UID)); got != 5 {
		t.Errorf("after redelivering everything past a dropped partition: counted %d, want 5", got)
	}
	if late := metricValue(t, w.m.late); late != 4+3 {
		t.Errorf("late = %v, want 7", late)
	}
}
