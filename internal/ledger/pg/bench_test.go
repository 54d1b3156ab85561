package pgledger

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/pgtest"
	"github.com/mmelink/operator/internal/status"
)

// benchLinks are the links of the benchmarks, created once per test binary (10,000 take a while).
var benchLinks struct {
	once    sync.Once
	targets []status.Target
	cache   cache.Cache
}

func links(b *testing.B, n int) ([]status.Target, cache.Cache) {
	b.Helper()
	benchLinks.once.Do(func() {
		c := kube(b)
		ca := newCache(b)
		const total = 10000
		benchLinks.targets = make([]status.Target, total)
		var wg sync.WaitGroup
		var next atomic.Int64
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < total; i = int(next.Add(1)) - 1 {
					l := newLink(b, c, fmt.Sprintf("bench%05d", i))
					benchLinks.targets[i] = linkTarget(l)
				}
			}()
		}
		wg.Wait()
		for _, tg := range benchLinks.targets {
			l := &messengerv1.MessengerLink{}
			for ca.Get(context.Background(), tg.NamespacedName, l) != nil {
				time.Sleep(10 * time.Millisecond)
			}
		}
		benchLinks.cache = ca
	})
	return benchLinks.targets[:n], benchLinks.cache
}

// bareWriter is the baseline: it resolves the targets as the Writer does (the cache) and stores nothing.
type bareWriter struct{ r client.Reader }

func (w bareWriter) Write(ctx context.Context, items []status.Item) error {
	for i := range items {
		if err := w.r.Get(ctx, items[i].Target.NamespacedName, &messengerv1.MessengerLink{}); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkWriterOpenLoop offers the Writer deliveries at a fixed arrival rate (open loop: arrivals do
// not wait for answers, as Meta's do not) for 3 s per iteration, and reports the share answered nil
// (200), p50/p99 time to the answer, and events per flush transaction. The bare sub-benchmark is the
// baseline in the same run: the same generator and UID lookups, no storage. Targets (issue 11):
// 8,000 events/s as 1 and as 10 per delivery over 10,000 links, and on one link, all answered, p99
// under 50 ms.
func BenchmarkWriterOpenLoop(b *testing.B) {
	links(b, 0) // here, so that the cache lives as long as the whole benchmark
	for _, c := range []struct {
		links, perDelivery, eventsPerSec int
	}{
		{10000, 1, 8000}, {10000, 10, 8000}, {1, 1, 8000}, {1, 10, 8000}, {100, 1, 2000},
	} {
		for _, bare := range []bool{true, false} {
			name := fmt.Sprintf("links=%d/per=%d/rate=%d/pg", c.links, c.perDelivery, c.eventsPerSec)
			if bare {
				name = fmt.Sprintf("links=%d/per=%d/rate=%d/bare", c.links, c.perDelivery, c.eventsPerSec)
			}
			b.Run(name, func(b *testing.B) {
				targets, ca := links(b, c.links)
				var w status.Writer = bareWriter{ca}
				var pgw *Writer
				if !bare {
					pgw = NewWriter(newPool(b, pgtest.Database(b)), ca, testKeys(b), Options{})
					w = pgw
				}
				openLoop(b, w, pgw, targets, c.perDelivery, c.eventsPerSec)
			})
		}
	}
}

func openLoop(b *testing.B, w status.Writer, pgw *Writer, targets []status.Target, per, rate int) {
	const window = 3 * time.Second
	interval := time.Second * time.Duration(per) / time.Duration(rate)
	var seq atomic.Int64
	for range b.N {
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			latencies []time.Duration
			ok, sent  atomic.Int64
		)
		flushesBefore, flushSecsBefore := flushCount(b, pgw), flushSeconds(b, pgw)
		start := time.Now()
		for i := 0; ; i++ {
			at := start.Add(time.Duration(i) * interval)
			if at.Sub(start) >= window {
				break
			}
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			}
			items := make([]status.Item, per)
			for j := range items {
				n := int(seq.Add(1))
				items[j] = status.Item{Target: targets[n%len(targets)], Event: referral(n, delivery.KindReferral, "SHORTLINK", "summer")}
			}
			wg.Add(1)
			sent.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				t0 := time.Now()
				err := w.Write(ctx, items)
				d := time.Since(t0)
				if err == nil {
					ok.Add(1)
				}
				mu.Lock()
				latencies = append(latencies, d)
				mu.Unlock()
			}()
		}
		wg.Wait()
		slices.Sort(latencies)
		p := func(q float64) float64 {
			return float64(latencies[int(q*float64(len(latencies)-1))].Microseconds()) / 1000
		}
		b.ReportMetric(100*float64(ok.Load())/float64(sent.Load()), "%answered")
		b.ReportMetric(p(0.50), "p50-ms")
		b.ReportMetric(p(0.99), "p99-ms")
		b.ReportMetric(float64(ok.Load()*int64(per))/window.Seconds(), "events/s")
		if pgw != nil {
			if f := flushCount(b, pgw) - flushesBefore; f > 0 {
				b.ReportMetric(float64(ok.Load()*int64(per))/f, "events/flush")
				b.ReportMetric(f/window.Seconds(), "flushes/s")
				b.ReportMetric(1000*(flushSeconds(b, pgw)-flushSecsBefore)/f, "ms/flush")
			}
		}
	}
}

func flushSeconds(b *testing.B, w *Writer) float64 {
	if w == nil {
		return 0
	}
	var m dto.Metric
	if err := w.m.latency.Write(&m); err != nil {
		b.Fatal(err)
	}
	return m.GetHistogram().GetSampleSum()
}

func flushCount(b *testing.B, w *Writer) float64 {
	if w == nil {
		return 0
	}
	return metricValue(b, w.m.flushes.WithLabelValues("ok"))
}
