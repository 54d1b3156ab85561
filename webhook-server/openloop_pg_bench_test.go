package webhookserver_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mmelink/operator/internal/delivery"
	pgledger "github.com/mmelink/operator/internal/ledger/pg"
	"github.com/mmelink/operator/internal/loadgen"
	"github.com/mmelink/operator/internal/pgtest"
	"github.com/mmelink/operator/internal/scheme"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// BenchmarkOpenLoopPostgres is BenchmarkOpenLoop with --ledger=postgres: the same generator, deliveries
// and bare signature-checking baseline in the same run, against a webhook server whose Writer is the
// PostgreSQL ledger (a fresh database per shape, the default pool and group commit) and whose projector
// writes status every openLoopPGInterval. Shapes are issue 11's targets: 8,000 events/s over 10,000
// links and on one link, as 1 and as 10 events per delivery. After each shape the benchmark checks that
// the ledger holds every event answered 200 and none twice, and reports the status writes the API
// server saw against their bound, changed objects / interval.
func BenchmarkOpenLoopPostgres(b *testing.B) {
	for _, links := range openLoopLinks(b) {
		b.Run(fmt.Sprintf("links=%d", links), func(b *testing.B) {
			for _, perDelivery := range []int{1, 10} {
				b.Run(fmt.Sprintf("events=%d", perDelivery), func(b *testing.B) {
					shape := openLoopShape{links: links, perDelivery: perDelivery, eventsPerSecond: 8000}
					set := openLoopLinkSet(b, links)
					bare := httptest.NewServer(signedBareHandler(b))
					defer bare.Close()
					var runs []map[string]float64
					for range b.N {
						runs = append(runs, openLoopPGOnce(b, shape, set, bare.URL))
					}
					for unit, v := range medians(runs) {
						b.ReportMetric(v, unit)
					}
				})
			}
		})
	}
}

// openLoopPGInterval is the projection interval of the benchmark: the default.
const openLoopPGInterval = pgledger.DefaultProjectInterval

func openLoopPGOnce(b *testing.B, shape openLoopShape, set *linkSet, bareURL string) map[string]float64 {
	deliveries := set.recentDeliveries(shape.perDelivery, int(float64(shape.eventsPerSecond)*openLoopDuration.Seconds()))
	cfg := loadgen.Config{
		Rate:        float64(shape.eventsPerSecond) / float64(shape.perDelivery),
		Duration:    openLoopDuration,
		Delivery:    deliveries,
		MaxInFlight: openLoopInFlight,
	}
	time.Sleep(openLoopSettle)
	cfg.URL = bareURL
	base := runLoad(b, "bare", cfg)

	var writes statusWrites
	in := startPGInstance(b, writes.wrap)
	cfg.URL = in.url
	loadStart := time.Now()
	res := runLoad(b, "webhook", cfg)
	// The status writes of the load's window only (the schedule and the answers after it): the projector
	// goes on after it.
	statusWrites := writes.requests.Load()
	span := time.Since(loadStart)
	flushes, flushSeconds := in.flushes(b)
	in.stop()

	okEvents := int64(res.OK * shape.perDelivery)
	offered := int64(res.Sent * shape.perDelivery)
	var stored, objects int64
	if err := in.pool.QueryRow(context.Background(), "SELECT (SELECT count(*) FROM mmelink_events), (SELECT count(*) FROM mmelink_objects)").Scan(&stored, &objects); err != nil {
		b.Fatal(err)
	}
	// Every event answered 200 is stored; none twice (all events are distinct; the key forbids it anyway).
	if stored < okEvents || stored > offered {
		b.Fatalf("the ledger holds %d events; %d were answered 200, %d sent", stored, okEvents, offered)
	}
	b.Logf("webhook: %d events stored for %d objects in %.0f flushes; %d status writes", stored, objects, flushes, statusWrites)
	if passes := int64(span/openLoopPGInterval + 1); statusWrites > objects*passes {
		b.Errorf("%d status writes in %s: more than one per changed object (%d) per projection pass (at most %d)", statusWrites, span, objects, passes)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	window := openLoopDuration.Seconds()
	f := map[string]float64{
		"ok-%":        100 * res.OKShare(),
		"bare-ok-%":   100 * base.OKShare(),
		"p50-ms":      ms(res.P50),
		"p99-ms":      ms(res.P99),
		"bare-p50-ms": ms(base.P50),
		"bare-p99-ms": ms(base.P99),
		"p99/bare":    float64(res.P99) / float64(base.P99),
		"ok-events/s": float64(okEvents) / window,
		"writes/s":    float64(statusWrites) / span.Seconds(),
		// At most one write per changed object per projection pass; a span of T holds at most
		// floor(T/interval)+1 passes.
		"bound-writes/s": float64(objects) * float64(span/openLoopPGInterval+1) / span.Seconds(),
	}
	if flushes > 0 {
		f["events/flush"] = float64(okEvents) / flushes
		f["ms/flush"] = 1000 * flushSeconds / flushes
	}
	return f
}

// pgInstance is one webhook-server replica with --ledger=postgres: its Writer, projector and server on
// the shared cache, a fresh database of the shared test PostgreSQL.
type pgInstance struct {
	url  string
	pool *pgxpool.Pool
	reg  *prometheus.Registry
	stop func()
}

func startPGInstance(t testing.TB, wrap func(rtt http.RoundTripper) http.RoundTripper) *pgInstance {
	t.Helper()
	_, cache := startCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	pool, err := pgledger.Open(ctx, pgtest.Database(t), 16) // --ledger-max-conns' default
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgledger.Maintain(ctx, pool, pgledger.DefaultRetention); err != nil {
		t.Fatal(err)
	}
	keys, err := pgledger.NewKeys([]byte("a benchmark key of thirty-two bytes or more"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(cluster.cfg)
	cfg.Wrap(wrap)
	cached, err := client.New(cfg, client.Options{Scheme: scheme.New(), Cache: &client.CacheOptions{Reader: cache}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	w := pgledger.NewWriter(pool, cache, keys, pgledger.Options{Registerer: reg, Log: logr.Discard(), Gather: benchGather(t)})
	proj := &pgledger.Projector{Pool: pool, Client: cached, Interval: openLoopPGInterval, Log: logr.Discard()}
	srv, err := webhookserver.New(webhookserver.Options{
		AppSecret: appSecret, VerifyToken: verifyToken, Reader: cache, Writer: w,
		Registerer: prometheus.NewRegistry(), Logger: logr.Discard(), CommitTimeout: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- srv.Serve(ctx, ln) }()
	go func() { done <- proj.Start(ctx) }()
	in := &pgInstance{url: "http://" + ln.Addr().String() + webhookserver.PathWebhook, pool: pool, reg: reg}
	in.stop = sync.OnceFunc(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("server or projector: %v", err)
			}
		}
		closeCtx, cancelClose := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancelClose()
		if err := w.Close(closeCtx); err != nil {
			t.Errorf("closing the writer: %v", err)
		}
	})
	t.Cleanup(func() { in.stop(); pool.Close() })
	return in
}

// benchGather is the Writer's gather gap: BENCH_PG_GATHER when set (a duration; negative turns the gap
// off, to compare), else the default.
func benchGather(t testing.TB) time.Duration {
	v := os.Getenv("BENCH_PG_GATHER")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("BENCH_PG_GATHER: %v", err)
	}
	return d
}

// flushes returns the Writer's committed flushes and the seconds they took.
func (in *pgInstance) flushes(t testing.TB) (n, seconds float64) {
	t.Helper()
	families, err := in.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		switch f.GetName() {
		case "mmelink_ledger_flushes_total":
			for _, m := range f.GetMetric() {
				if hasLabel(m, "result", "ok") {
					n += m.GetCounter().GetValue()
				}
			}
		case "mmelink_ledger_flush_duration_seconds":
			for _, m := range f.GetMetric() {
				seconds += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return n, seconds
}

// recentDeliveries is linkSet.deliveries with event times of the last minutes: the PostgreSQL ledger
// answers older events (below its watermark) 200 without storing them, which would measure nothing.
func (s *linkSet) recentDeliveries(perDelivery, events int) func(int) loadgen.Delivery {
	first := int(openLoopEvents.Add(int64(events))) - events
	base := time.Now().Add(-10 * time.Minute).UnixMilli()
	return func(i int) loadgen.Delivery {
		evs := make([]string, perDelivery)
		for j := range evs {
			k := first + i*perDelivery + j
			evs[j] = fmt.Sprintf(`{"sender":{"id":"p%d"},"recipient":{"id":%q},"timestamp":%d,"referral":{"ref":"r%d","source":"SHORTLINK","type":"OPEN_THREAD"}}`,
				k, s.page, base+int64(k), k%s.n)
		}
		b := body(s.page, evs...)
		return loadgen.Delivery{Body: b, Header: http.Header{
			"Content-Type":           {"application/json"},
			delivery.SignatureHeader: {delivery.Sign(appSecret, b)},
		}}
	}
}
