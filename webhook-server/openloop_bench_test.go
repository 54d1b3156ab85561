package webhookserver_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/loadgen"
	"github.com/mmelink/operator/internal/testenv"
)

// BenchmarkOpenLoop offers signed deliveries at a fixed arrival rate (open loop: the schedule does not
// wait for answers, as Meta's does not, and latency counts from the time a delivery was due) to the
// webhook server on loopback, backed by the status Store and the real API server, and in the same run to
// a bare handler that checks the signature and answers 200 at once, with the same deliveries at the same
// rate. Shapes: events spread evenly over 100 or 10,000 links, 1 or 10 events per delivery, 500 to 8,000
// events (not deliveries) per second, 5 seconds each. BENCH_LINKS (e.g. "100") picks the link counts;
// -short runs 100 only. Figures, and how to read them, in docs/performance.md.
func BenchmarkOpenLoop(b *testing.B) {
	for _, links := range openLoopLinks(b) {
		b.Run(fmt.Sprintf("links=%d", links), func(b *testing.B) {
			for _, perDelivery := range []int{1, 10} {
				b.Run(fmt.Sprintf("events=%d", perDelivery), func(b *testing.B) {
					for _, rate := range []int{500, 2000, 8000} {
						b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
							benchmarkOpenLoop(b, openLoopShape{links: links, perDelivery: perDelivery, eventsPerSecond: rate})
						})
					}
				})
			}
		})
	}
}

const (
	openLoopDuration = 5 * time.Second
	openLoopFlush    = 50 * time.Millisecond // the Store's default FlushInterval
	// openLoopInFlight is far above what a healthy receiver holds at these rates (8,000 deliveries/s
	// answered within 0.5 s is 4,000) and within the test process's file descriptors (two per
	// connection on loopback).
	openLoopInFlight = 4096
	openLoopSettle   = 2 * time.Second
)

type openLoopShape struct{ links, perDelivery, eventsPerSecond int }

// openLoopLinks is BENCH_LINKS as numbers, by default 100 and 10,000 (100 alone with -short).
func openLoopLinks(b *testing.B) []int {
	spec := os.Getenv("BENCH_LINKS")
	if spec == "" {
		spec = "100,10000"
		if testing.Short() {
			spec = "100"
		}
	}
	var links []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("BENCH_LINKS=%q: want link counts separated by commas", spec)
		}
		links = append(links, n)
	}
	return links
}

func benchmarkOpenLoop(b *testing.B, shape openLoopShape) {
	set := openLoopLinkSet(b, shape.links)
	bare := httptest.NewServer(signedBareHandler(b))
	defer bare.Close()
	var runs []map[string]float64
	for range b.N {
		runs = append(runs, openLoopOnce(b, shape, set, bare.URL))
	}
	for unit, v := range medians(runs) {
		b.ReportMetric(v, unit)
	}
}

// openLoopOnce runs the shape against the bare handler and then against a new webhook server, and
// returns the figures by unit.
func openLoopOnce(b *testing.B, shape openLoopShape, set *linkSet, bareURL string) map[string]float64 {
	deliveries := set.deliveries(shape.perDelivery, int(float64(shape.eventsPerSecond)*openLoopDuration.Seconds()))
	cfg := loadgen.Config{
		Rate:        float64(shape.eventsPerSecond) / float64(shape.perDelivery),
		Duration:    openLoopDuration,
		Delivery:    deliveries,
		MaxInFlight: openLoopInFlight,
	}
	// The bare handler first: the webhook server leaves work behind it (commits still in flight). And a
	// pause, for the API server, etcd and the cache to finish the previous shape's writes.
	time.Sleep(openLoopSettle)
	cfg.URL = bareURL
	base := runLoad(b, "bare", cfg)

	var writes statusWrites
	in := startInstanceWith(b, instanceOptions{flush: openLoopFlush, wrap: writes.wrap})
	counted := set.total(b)
	commits := in.storeMetric(b, "mmelink_status_commits_total", "result", "ok")
	cfg.URL = in.url
	res := runLoad(b, "webhook", cfg)
	commits = in.storeMetric(b, "mmelink_status_commits_total", "result", "ok") - commits
	bytes := writes.bytes.Load()
	b.Logf("webhook: %d status writes sent (%d bytes), %.0f committed", writes.requests.Load(), bytes, commits)
	// Writes still landing after the last answer are not this run's measurement, but must not run into
	// the next shape's.
	in.stop()

	okEvents := float64(res.OK * shape.perDelivery)
	offered := int64(res.Sent * shape.perDelivery)
	// Every event answered 200 is in status; none is counted twice (all events are distinct).
	eventually(b, 30*time.Second, func() error {
		got := set.total(b) - counted
		if got < int64(okEvents) || got > offered {
			return fmt.Errorf("status counts %d new events; %d were answered 200, %d sent", got, int64(okEvents), offered)
		}
		return nil
	})
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	f := map[string]float64{
		"ok-%":         100 * res.OKShare(),
		"bare-ok-%":    100 * base.OKShare(),
		"p50-ms":       ms(res.P50),
		"p99-ms":       ms(res.P99),
		"bare-p50-ms":  ms(base.P50),
		"bare-p99-ms":  ms(base.P99),
		"p99/bare":     float64(res.P99) / float64(base.P99),
		"ok-events/s":  okEvents / openLoopDuration.Seconds(),
		"writes/s":     commits / openLoopDuration.Seconds(),
		"bytes/event":  0,
		"events/write": 0,
	}
	if okEvents > 0 {
		f["bytes/event"] = float64(bytes) / okEvents
	}
	if commits > 0 {
		f["events/write"] = okEvents / commits
	}
	return f
}

func runLoad(b *testing.B, name string, cfg loadgen.Config) *loadgen.Result {
	b.Helper()
	res, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: %s", name, res)
	return res
}

// signedBareHandler is the open-loop baseline: the least a correct webhook endpoint does, read the body
// and check its signature (with the receiver's own Verifier), then answer 200.
func signedBareHandler(tb testing.TB) http.Handler {
	signatures, err := delivery.NewVerifier(appSecret)
	if err != nil {
		tb.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "reading body", http.StatusBadRequest)
			return
		}
		if err := signatures.Verify(body, r.Header.Get(delivery.SignatureHeader)); err != nil {
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// statusWrites counts the body bytes of the status writes (PATCH or PUT of a status subresource) a
// transport carries.
type statusWrites struct{ requests, bytes atomic.Int64 }

func (s *statusWrites) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if (req.Method == http.MethodPatch || req.Method == http.MethodPut) && strings.HasSuffix(req.URL.Path, "/status") && req.Body != nil {
			s.requests.Add(1)
			req = req.Clone(req.Context())
			req.Body = &countingBody{ReadCloser: req.Body, n: &s.bytes}
		}
		return rt.RoundTrip(req)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// medians returns each unit's median over the runs.
func medians(runs []map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for unit := range runs[0] {
		vs := make([]float64, len(runs))
		for i, r := range runs {
			vs[i] = r[unit]
		}
		slices.Sort(vs)
		out[unit] = vs[len(vs)/2]
	}
	return out
}

// linkSet is a number of MessengerLinks on one Page, in one namespace, with refs r0 to r(n-1).
type linkSet struct {
	ns, page string
	n        int
}

// Every event of the process is distinct: a new number for each, which sets its sender and timestamp.
var openLoopEvents atomic.Int64

// deliveries returns the loadgen.Config.Delivery of events new events, perDelivery to a delivery,
// spread evenly over the set's links (event k to link k mod n: every link equally busy, and a delivery
// of 10 events to 10 links).
func (s *linkSet) deliveries(perDelivery, events int) func(int) loadgen.Delivery {
	first := int(openLoopEvents.Add(int64(events))) - events
	return func(i int) loadgen.Delivery {
		evs := make([]string, perDelivery)
		for j := range evs {
			k := first + i*perDelivery + j
			evs[j] = ev(s.page, fmt.Sprintf("p%d", k), fmt.Sprintf("r%d", k%s.n), k, "referral")
		}
		b := body(s.page, evs...)
		return loadgen.Delivery{Body: b, Header: http.Header{
			"Content-Type":           {"application/json"},
			delivery.SignatureHeader: {delivery.Sign(appSecret, b)},
		}}
	}
}

// total is the referrals counted over the set, read from the cache.
func (s *linkSet) total(b *testing.B) int64 {
	_, cache := startCluster(b)
	var list messengerv1.MessengerLinkList
	if err := cache.List(context.Background(), &list, client.InNamespace(s.ns), client.UnsafeDisableDeepCopy); err != nil {
		b.Fatal(err)
	}
	var sum int64
	for i := range list.Items {
		if r := list.Items[i].Status.Referrals; r != nil {
			sum += r.Total
		}
	}
	return sum
}

// Sets of more than freshLinksMax links are created once per process and shared by the shapes: they
// take a while, and at these rates their links see a few events each over the whole benchmark. Smaller
// sets are new for every shape, so that every shape starts from empty ledgers whatever ran before.
const freshLinksMax = 1000

var sharedLinkSets struct {
	sync.Mutex
	sets map[int]*linkSet
}

func openLoopLinkSet(b *testing.B, n int) *linkSet {
	if n <= freshLinksMax {
		return createLinks(b, n)
	}
	sharedLinkSets.Lock()
	defer sharedLinkSets.Unlock()
	if s := sharedLinkSets.sets[n]; s != nil {
		return s
	}
	s := createLinks(b, n)
	if sharedLinkSets.sets == nil {
		sharedLinkSets.sets = map[int]*linkSet{}
	}
	sharedLinkSets.sets[n] = s
	return s
}

// createLinks creates n links on a new Page, 16 at a time, records in each status that it holds its
// claim (as the controller does; no controller runs here), and waits until the webhook server's cache
// shows them all holding it.
func createLinks(b *testing.B, n int) *linkSet {
	c, cache := startCluster(b)
	ns := newNamespace(b, c)
	s := &linkSet{ns: ns, page: testenv.PageID(ns), n: n}
	start := time.Now()
	next := atomic.Int64{}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				l := &messengerv1.MessengerLink{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("l%d", i)},
					Spec:       messengerv1.MessengerLinkSpec{Page: messengerv1.PageRef{ID: s.page}, Ref: fmt.Sprintf("r%d", i)},
				}
				err := c.Create(context.Background(), l)
				if err == nil {
					l.Status.Claim = l.PageRefKey()
					err = c.Status().Update(context.Background(), l)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("creating link %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	eventually(b, 2*time.Minute, func() error {
		var list messengerv1.MessengerLinkList
		if err := cache.List(context.Background(), &list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
			return err
		}
		holding := 0
		for i := range list.Items {
			if list.Items[i].HoldsClaim() {
				holding++
			}
		}
		if holding != n {
			return fmt.Errorf("cache has %d of %d links holding their claims", holding, n)
		}
		return nil
	})
	b.Logf("%d links created and in the cache in %s", n, time.Since(start).Round(time.Millisecond))
	return s
}
