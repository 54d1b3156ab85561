package pgledger

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/pgtest"
	"github.com/mmelink/operator/internal/status"
)

// Group commit's gap: a delivery that finds no flush started within Gather is flushed at once (a quiet
// receiver adds no wait, even with a gap of an hour); deliveries that arrive within the gap wait and
// share one transaction, which starts as soon as GatherEvents are waiting.
func TestGatherGroupsDeliveriesIntoOneFlush(t *testing.T) {
	c, ca := kube(t), newCache(t)
	pool := newPool(t, pgtest.Database(t))
	const waiting = 20
	w := NewWriter(pool, ca, testKeys(t), Options{Gather: time.Hour, GatherEvents: waiting})
	l := newLink(t, c, "gather")
	waitCached(t, ca, l)
	item := func(n int) []status.Item {
		return []status.Item{{Target: linkTarget(l), Event: referral(n, delivery.KindReferral, "SHORTLINK", "summer")}}
	}
	write := func(n int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return w.Write(ctx, item(n))
	}

	if err := write(0); err != nil {
		t.Fatalf("a lone delivery waited for the gap: %v", err)
	}
	if f := metricValue(t, w.m.flushes.WithLabelValues("ok")); f != 1 {
		t.Fatalf("flushes after the first delivery = %v, want 1", f)
	}
	var wg sync.WaitGroup
	errs := make(chan error, waiting)
	for i := range waiting {
		wg.Go(func() { errs <- write(1 + i) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if f := metricValue(t, w.m.flushes.WithLabelValues("ok")); f != 2 {
		t.Errorf("flushes after %d deliveries within the gap = %v, want 2 (one for all of them)", waiting, f)
	}
	if got := counted(t, pool, string(l.UID)); got != 1+waiting {
		t.Errorf("counted %d, want %d", got, 1+waiting)
	}
}

// A delivery that waits in the gap past its deadline is answered ErrUnavailable when the deadline
// comes, not when the gap ends; Close answers the ones still waiting.
func TestGatherHonoursTheDeadline(t *testing.T) {
	c, ca := kube(t), newCache(t)
	w := NewWriter(newPool(t, pgtest.Database(t)), ca, testKeys(t), Options{Gather: time.Hour})
	l := newLink(t, c, "gather-deadline")
	waitCached(t, ca, l)
	send := func(n int, timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return w.Write(ctx, []status.Item{{Target: linkTarget(l), Event: referral(n, delivery.KindReferral, "SHORTLINK", "summer")}})
	}
	if err := send(0, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := send(1, 200*time.Millisecond); !errors.Is(err, status.ErrUnavailable) {
		t.Fatalf("a delivery held in the gap past its deadline: %v, want ErrUnavailable", err)
	}
	if waited := time.Since(start); waited > 20*time.Second {
		t.Errorf("answered after %s: the deadline was 200ms", waited)
	}
	done := make(chan error, 1)
	go func() { done <- send(2, time.Hour) }()
	time.Sleep(100 * time.Millisecond)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, status.ErrUnavailable) {
		t.Errorf("a delivery waiting at Close: %v, want ErrUnavailable", err)
	}
}
