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

// PostgreSQL stops as in a crash (pg_ctl stop -m immediate) for 5 s under load, then starts again:
// deliveries are refused (503) while it is down, every event answered 200 is counted exactly once after,
// and the status projection converges to the count.
func TestPostgresOutageUnderLoad(t *testing.T) {
	c, ca := kube(t), newCache(t)
	srv := pgtest.Start(t) // its own server: stopping the shared one would fail other packages' tests
	dsn := srv.Database(t)
	pool := newPool(t, dsn)
	w := NewWriter(pool, ca, testKeys(t), Options{AttemptTimeout: 500 * time.Millisecond})
	l := newLink(t, c, "outage")
	waitCached(t, ca, l)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	proj := &Projector{Pool: newPool(t, dsn), Client: c, Interval: 200 * time.Millisecond}
	projDone := make(chan error, 1)
	go func() { projDone <- proj.Start(ctx) }()

	var (
		next, seq       atomic.Int64
		down            atomic.Bool
		refusedWhenDown atomic.Int64
		acked           atomic.Int64
		stop            = make(chan struct{})
		wg              sync.WaitGroup
	)
	writers := []status.Writer{w}
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var d testDelivery
				for range 1 + g%5 {
					d = append(d, status.Item{Target: linkTarget(l), Event: referral(int(seq.Add(1)), delivery.KindReferral, "SHORTLINK", "summer")})
				}
				wasDown := down.Load()
				if failures := metaSend(t, writers, &next, d, time.Second); failures > 0 && wasDown {
					refusedWhenDown.Add(1)
				}
				acked.Add(int64(len(d)))
			}
		}()
	}
	time.Sleep(time.Second)
	down.Store(true)
	srv.Halt(t)
	time.Sleep(5 * time.Second)
	srv.Resume(t)
	down.Store(false)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	if refusedWhenDown.Load() == 0 {
		t.Errorf("no delivery was refused while PostgreSQL was down")
	}
	want := acked.Load()
	if got := counted(t, pool, string(l.UID)); got != want {
		t.Errorf("counted %d events, want the %d answered 200", got, want)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := getLink(t, c, l).Status.Referrals
		if st != nil && st.Total == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the projection did not converge: status %+v, want total %d", st, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-projDone; err != nil {
		t.Errorf("projector: %v", err)
	}
}
