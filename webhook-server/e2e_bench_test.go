package webhookserver_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mmelink/operator/internal/testenv"
)

// BenchmarkEndToEnd drives a listening webhook server, backed by the status Store and a real API server,
// with deliveries spread over 100 links from concurrent senders (Meta delivers in parallel, and under
// load batches events into one POST) for 5 seconds, and reports sustained events per second, p50/p99
// time to the answer, and status writes per event and per link per flush interval (group commit keeps
// the latter at most 1). Targets: at least 2,000 events/s, p99 under 1s, at most one status write per
// link per flush interval.
func BenchmarkEndToEnd(b *testing.B) {
	for _, shape := range []struct{ perPost, senders int }{{1, 256}, {10, 128}} {
		b.Run(fmt.Sprintf("events-per-post-%d", shape.perPost), func(b *testing.B) {
			benchmarkEndToEnd(b, shape.perPost, shape.senders)
		})
	}
}

func benchmarkEndToEnd(b *testing.B, perPost, senders int) {
	const (
		links    = 100
		duration = 5 * time.Second
		flush    = 50 * time.Millisecond // the Store's default FlushInterval
	)
	c, _ := startCluster(b)
	ns := newNamespace(b, c)
	page := testenv.PageID(ns)
	keys := make([]client.ObjectKey, links)
	for i := range links {
		keys[i] = e2eLink(b, ns, fmt.Sprintf("l%03d", i), page, fmt.Sprintf("r%03d", i))
	}
	in := startInstance(b, flush)
	b.ResetTimer()
	for range b.N {
		var (
			sent, failed atomic.Int64
			mu           sync.Mutex
			latencies    []time.Duration
			wg           sync.WaitGroup
			next         atomic.Int64
		)
		commitsBefore := in.storeMetric(b, "mmelink_status_commits_total", "result", "ok")
		start := time.Now()
		for range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for time.Since(start) < duration {
					first := int(next.Add(int64(perPost))) - perPost
					evs := make([]string, perPost)
					for j := range evs {
						i := first + j
						evs[j] = ev(page, fmt.Sprintf("p%d", i%5000), fmt.Sprintf("r%03d", i%links), i, "referral")
					}
					t0 := time.Now()
					code := in.send(body(page, evs...))
					mine = append(mine, time.Since(t0))
					if code != http.StatusOK {
						failed.Add(1)
						continue
					}
					sent.Add(int64(perPost))
				}
				mu.Lock()
				latencies = append(latencies, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		if failed.Load() > 0 {
			b.Fatalf("%d deliveries failed", failed.Load())
		}
		// Every event answered 200 is in status.
		var total int64
		for _, k := range keys {
			total += linkStats(b, k).Total
		}
		if total < sent.Load() {
			b.Fatalf("status counts %d events, %d were answered 200", total, sent.Load())
		}
		commits := in.storeMetric(b, "mmelink_status_commits_total", "result", "ok") - commitsBefore
		slices.Sort(latencies)
		p := func(q float64) time.Duration { return latencies[int(q*float64(len(latencies)-1))] }
		b.ReportMetric(float64(sent.Load())/elapsed.Seconds(), "events/s")
		b.ReportMetric(float64(p(0.50).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(p(0.99).Microseconds())/1000, "p99-ms")
		b.ReportMetric(commits/float64(sent.Load()), "writes/event")
		b.ReportMetric(commits/float64(links)/(elapsed.Seconds()/flush.Seconds()), "writes/link/flush")
	}
}
