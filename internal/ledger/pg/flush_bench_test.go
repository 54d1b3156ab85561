package pgledger

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/pgtest"
	"github.com/mmelink/operator/internal/status"
)

// BenchmarkFlush is the cost of one flush transaction by its size, one after the other on one
// connection: wall time, and PostgreSQL's own CPU (its processes' user and system time, from /proc) per
// flush and per event. It is what sizes group commit: a fixed cost per transaction and a cost per event,
// so that small flushes at a high rate spend PostgreSQL's CPU on the fixed part (Options.Gather).
func BenchmarkFlush(b *testing.B) {
	targets, ca := links(b, 10000)
	pool := newPool(b, pgtest.Database(b))
	if _, err := Maintain(context.Background(), pool, DefaultRetention); err != nil {
		b.Fatal(err)
	}
	w := NewWriter(pool, ca, testKeys(b), Options{})
	n := 0
	for _, links := range []int{1, 10000} {
		for _, size := range []int{1, 4, 16, 64, 256} {
			b.Run(fmt.Sprintf("links=%d/events=%d", links, size), func(b *testing.B) {
				cpu0, start := postgresCPU(b), time.Now()
				for b.Loop() {
					items := make([]status.Item, size)
					for j := range items {
						n++
						items[j] = status.Item{Target: targets[n%links], Event: referral(n, delivery.KindReferral, "SHORTLINK", "summer")}
					}
					rows, err := w.rows(context.Background(), items)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := w.commit(context.Background(), sortRows(rows)); err != nil {
						b.Fatal(err)
					}
				}
				cpu := (postgresCPU(b) - cpu0).Seconds()
				b.ReportMetric(1000*time.Since(start).Seconds()/float64(b.N), "wall-ms/flush")
				b.ReportMetric(1000*cpu/float64(b.N), "pg-cpu-ms/flush")
				b.ReportMetric(1e6*cpu/float64(b.N*size), "pg-cpu-µs/event")
			})
		}
	}
}

// postgresCPU is the user and system time of every process named postgres, from /proc (Linux; the test
// server is local). Clock ticks are 1/100 s on Linux.
func postgresCPU(b *testing.B) time.Duration {
	b.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatalf("reading PostgreSQL's CPU time: %v", err)
	}
	var ticks int64
	for _, e := range ents {
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil || !strings.Contains(string(stat), "(postgres)") {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 13 {
			continue
		}
		user, _ := strconv.ParseInt(f[11], 10, 64)
		sys, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += user + sys
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
