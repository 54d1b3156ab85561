package pgledger

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/pgtest"
	"github.com/mmelink/operator/internal/status"
)

// delivery is one webhook POST's attributed events.
type testDelivery []status.Item

// deliveries splits events into deliveries of 1 to max events.
func deliveries(rng *rand.Rand, items []status.Item, maxPer int) []testDelivery {
	var out []testDelivery
	for len(items) > 0 {
		n := min(1+rng.IntN(maxPer), len(items))
		out = append(out, testDelivery(items[:n:n]))
		items = items[n:]
	}
	return out
}

// metaSend delivers d as Meta does: to whichever replica is next, again after every answer other than
// 200, until 200. It returns how many answers were not 200.
func metaSend(t testing.TB, writers []status.Writer, next *atomic.Int64, d testDelivery, timeout time.Duration) int {
	t.Helper()
	failures := 0
	for {
		w := writers[int(next.Add(1))%len(writers)]
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := w.Write(ctx, d)
		cancel()
		if err == nil {
			return failures
		}
		if !errors.Is(err, status.ErrUnavailable) {
			t.Errorf("Write failed without ErrUnavailable: %v", err)
			return failures
		}
		failures++
		time.Sleep(50 * time.Millisecond)
	}
}

// Two replicas on one database, deliveries alternating between them, every delivery also redelivered
// once to the other replica after its 200 (an answer Meta lost): every event counted exactly once.
func TestTwoReplicasCountEveryEventOnce(t *testing.T) {
	c, ca := kube(t), newCache(t)
	dsn := pgtest.Database(t)
	keys := testKeys(t)
	a := NewWriter(newPool(t, dsn), ca, keys, Options{})
	b := NewWriter(newPool(t, dsn), ca, keys, Options{})
	writers := []status.Writer{a, b}

	links := make([]status.Target, 3)
	uids := make([]string, 3)
	for i := range links {
		l := newLink(t, c, "replicas")
		waitCached(t, ca, l)
		links[i], uids[i] = linkTarget(l), string(l.UID)
	}
	const events = 6000
	rng := rand.New(rand.NewPCG(1, 2))
	var items []status.Item
	want := make([]int64, len(links))
	kinds := []delivery.Kind{delivery.KindReferral, delivery.KindPostbackReferral, delivery.KindMessageReferral}
	for i := range events {
		li := rng.IntN(len(links))
		want[li]++
		items = append(items, status.Item{Target: links[li], Event: referral(i, kinds[i%3], "SHORTLINK", "summer")})
	}
	ds := deliveries(rng, items, 10)
	var next atomic.Int64
	var wg sync.WaitGroup
	work := make(chan testDelivery)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				metaSend(t, writers, &next, d, 2*time.Second)
				metaSend(t, writers, &next, d, 2*time.Second) // the lost 200's redelivery
			}
		}()
	}
	for _, d := range ds {
		work <- d
	}
	close(work)
	wg.Wait()
	for i, uid := range uids {
		if got := counted(t, a.pool, uid); got != want[i] {
			t.Errorf("link %d: counted %d, want %d", i, got, want[i])
		}
	}
}

// 5,000 events to one link, then every delivery resent; then one 10,000-event delivery, resent: nothing
// is counted twice, and nothing is late.
func TestResentDeliveriesAreNotCountedAgain(t *testing.T) {
	c, ca := kube(t), newCache(t)
	pool := newPool(t, pgtest.Database(t))
	w := NewWriter(pool, ca, testKeys(t), Options{})
	l := newLink(t, c, "resend")
	waitCached(t, ca, l)
	target := linkTarget(l)

	var items []status.Item
	for i := range 5000 {
		items = append(items, status.Item{Target: target, Event: referral(i, delivery.KindReferral, "SHORTLINK", "summer")})
	}
	ds := deliveries(rand.New(rand.NewPCG(3, 4)), items, 10)
	writers := []status.Writer{w}
	var next atomic.Int64
	for round := range 2 {
		for _, d := range ds {
			metaSend(t, writers, &next, d, 3*time.Second)
		}
		if got := counted(t, pool, string(l.UID)); got != 5000 {
			t.Fatalf("after round %d: counted %d, want 5000", round, got)
		}
	}
	var big testDelivery
	for i := range 10000 {
		big = append(big, status.Item{Target: target, Event: referral(100000+i, delivery.KindPostbackReferral, "ADS", "summer")})
	}
	for range 2 {
		metaSend(t, writers, &next, big, 5*time.Second)
	}
	if got := counted(t, pool, string(l.UID)); got != 15000 {
		t.Errorf("after the 10,000-event delivery and its resend: counted %d, want 15000", got)
	}
	if late := metricValue(t, w.m.late); late != 0 {
		t.Errorf("late events = %v, want 0", late)
	}
}
