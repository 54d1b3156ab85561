package pgledger

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/pgtest"
	"github.com/mmelink/operator/internal/status"
)

// Two replicas under load while their busy database sessions are killed every 50 ms (pg_terminate_backend:
// what a replica killed with -9 mid-commit looks like from the database, and a commit whose answer is
// lost looks like from the replica). Deliveries are resent, Meta-style, to the other replica until 200:
// every event is counted exactly once. The load goes on until sessions were killed mid-commit and
// deliveries refused (group commit makes transactions few and short, so a fixed amount of load may
// finish between two kills), at most 30 s.
func TestKilledSessionsMidCommitCountEveryEventOnce(t *testing.T) {
	c, ca := kube(t), newCache(t)
	dsn := pgtest.Database(t)
	keys := testKeys(t)
	a := NewWriter(newPool(t, dsn), ca, keys, Options{})
	b := NewWriter(newPool(t, dsn), ca, keys, Options{})
	killer := newPool(t, dsn)
	l := newLink(t, c, "killed")
	waitCached(t, ca, l)

	stopKilling := make(chan struct{})
	var killed atomic.Int64
	go func() {
		for {
			select {
			case <-stopKilling:
				return
			case <-time.After(50 * time.Millisecond):
			}
			var n int64
			_ = killer.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'`).Scan(&n)
			killed.Add(n)
		}
	}()
	var (
		next, seq, failures atomic.Int64
		wg                  sync.WaitGroup
	)
	const perWorker = 60
	writers := []status.Writer{a, b}
	start := time.Now()
	exercised := func() bool { return killed.Load() >= 3 && failures.Load() > 0 }
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent := 0; sent < perWorker || (!exercised() && time.Since(start) < 30*time.Second); sent++ {
				var d testDelivery
				for range 5 {
					d = append(d, status.Item{Target: linkTarget(l), Event: referral(int(seq.Add(1)), delivery.KindReferral, "SHORTLINK", "summer")})
				}
				failures.Add(int64(metaSend(t, writers, &next, d, time.Second)))
			}
		}()
	}
	wg.Wait()
	close(stopKilling)
	if !exercised() {
		t.Errorf("killed %d sessions, %d deliveries refused: the test did not exercise failed commits", killed.Load(), failures.Load())
	}
	if got, want := counted(t, a.pool, string(l.UID)), seq.Load(); got != want {
		t.Errorf("counted %d, want %d (every event once)", got, want)
	}
	t.Logf("%d sessions killed, %d answers other than 200", killed.Load(), failures.Load())
}
