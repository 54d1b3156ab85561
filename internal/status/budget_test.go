package status_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/status"
)

// patchTimes records when status patches reach the API server.
type patchTimes struct {
	mu    sync.Mutex
	times []time.Time
}

func (p *patchTimes) client(before func(n int) error) client.Client {
	return interceptor.NewClient(k8s, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, pt client.Patch, opts ...client.SubResourcePatchOption) error {
			p.mu.Lock()
			p.times = append(p.times, time.Now())
			n := len(p.times)
			p.mu.Unlock()
			if before != nil {
				if err := before(n); err != nil {
					return err
				}
			}
			return c.SubResource(sub).Patch(ctx, obj, pt, opts...)
		},
	})
}

// The write budget holds over all objects, counting each write by its size: 20 fresh links written at
// once (an object's first write is estimated at 4 KB) by a Store allowed half a full write (13.5 KB) a
// second, after a burst of one full write (27 KB), take about 4 seconds, and every write is stored.
func TestWriteBudgetPacesWritesOverAllObjects(t *testing.T) {
	keys := make([]types.NamespacedName, 20)
	for i := range keys {
		keys[i] = newLink(t)
	}
	var pt patchTimes
	w := status.NewStore(pt.client(nil), k8s, status.Options{FlushInterval: time.Millisecond, WritesPerSecond: 0.5})
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := w.Write(ctx, items(k, event(delivery.KindReferral, "summer", "SHORTLINK", "p", i))); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d writes failed", failed.Load())
	}
	if took := time.Since(start); took < 3*time.Second {
		t.Fatalf("20 writes of 4 KB at 13.5 KB a second after a 27 KB burst took %s, want about 4s", took)
	}
	// No second holds more than the burst and one second's budget: 40.5 KB, 10 writes of 4 KB.
	for i := range pt.times {
		in := 0
		for _, u := range pt.times[i:] {
			if u.Sub(pt.times[i]) < time.Second {
				in++
			}
		}
		if in > 10 {
			t.Fatalf("%d writes within one second, want at most 10", in)
		}
	}
}

// Deliveries that cannot get the budget in time are answered 503 by their deadline, never late, and
// what they carried is not stored afterwards.
func TestWriteBudgetExhaustedAnswersInTime(t *testing.T) {
	keys := make([]types.NamespacedName, 24)
	for i := range keys {
		keys[i] = newLink(t)
	}
	// A burst of 27 KB takes about ten of these writes; then 1.35 KB a second is far too little.
	w := status.NewStore(k8s, k8s, status.Options{FlushInterval: time.Millisecond, WritesPerSecond: 0.05, AttemptTimeout: 500 * time.Millisecond})
	var wg sync.WaitGroup
	var ok, unavailable atomic.Int64
	for i, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			start := time.Now()
			err := w.Write(ctx, items(k, event(delivery.KindReferral, "summer", "SHORTLINK", "p", i)))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, status.ErrUnavailable):
				unavailable.Add(1)
			}
			if took := time.Since(start); took > 1100*time.Millisecond {
				t.Errorf("answered after %s, past its 1s deadline", took)
			}
		}()
	}
	wg.Wait()
	if ok.Load() == 0 || unavailable.Load() == 0 {
		t.Fatalf("%d stored, %d unavailable: want the budget's one write stored and the rest refused", ok.Load(), unavailable.Load())
	}
	time.Sleep(1500 * time.Millisecond)
	var stored int64
	for _, k := range keys {
		stored += referrals(t, k).Total
	}
	if stored != ok.Load() {
		t.Fatalf("%d events stored, want the %d answered as stored", stored, ok.Load())
	}
}

// A 429 with Retry-After from the API server holds every write of the Store back for that long.
func TestTooManyRequestsPausesTheStore(t *testing.T) {
	a, b := newLink(t), newLink(t)
	var pt patchTimes
	throttled := pt.client(func(n int) error {
		if n == 1 {
			return apierrors.NewTooManyRequests("the API server is overloaded", 1)
		}
		return nil
	})
	w := status.NewStore(throttled, k8s, status.Options{FlushInterval: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	err := w.Write(ctx, items(a, event(delivery.KindReferral, "summer", "SHORTLINK", "p", 1)))
	cancel()
	if !errors.Is(err, status.ErrUnavailable) {
		t.Fatalf("throttled write: %v, want ErrUnavailable", err)
	}
	write(t, w, items(b, event(delivery.KindReferral, "summer", "SHORTLINK", "p", 2)))
	if len(pt.times) != 2 {
		t.Fatalf("%d patches, want 2", len(pt.times))
	}
	if gap := pt.times[1].Sub(pt.times[0]); gap < 900*time.Millisecond {
		t.Fatalf("next write %s after the 429, want the 1s Retry-After honoured", gap)
	}
}

// An object that keeps receiving events is written less and less often, down to about once per
// MaxFlushInterval, and every event is still stored.
func TestHotObjectIntervalGrows(t *testing.T) {
	key := newLink(t)
	var pt patchTimes
	w := status.NewStore(pt.client(nil), k8s, status.Options{FlushInterval: 5 * time.Millisecond, MaxFlushInterval: 400 * time.Millisecond, WritesPerSecond: -1})
	var wg sync.WaitGroup
	var failed atomic.Int64
	const senders, perSender = 8, 60
	for i := range perSender { // every 25 ms, 8 deliveries, for 1.5 s; none waits for another's answer
		for s := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				if err := w.Write(ctx, items(key, event(delivery.KindReferral, "summer", "SHORTLINK", "p", s*1000+i))); err != nil {
					failed.Add(1)
				}
			}()
		}
		time.Sleep(25 * time.Millisecond)
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d writes failed", failed.Load())
	}
	if st := referrals(t, key); st.Total != senders*perSender {
		t.Fatalf("total %d, want %d", st.Total, senders*perSender)
	}
	// At a fixed 5 ms interval this would take well over 100 writes.
	if n := len(pt.times); n > 25 {
		t.Fatalf("%d writes for one hot object, want the interval to grow (at most about 15)", n)
	}
}
