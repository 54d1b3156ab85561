package loadgen

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Result is what a run measured.
type Result struct {
	// Scheduled is the number of deliveries the schedule called for (Rate × Duration, fewer if the run
	// was cancelled).
	Scheduled int
	// Sent were started; NotStarted were due while MaxInFlight were outstanding and never sent.
	Sent, NotStarted int
	// OK deliveries were answered 200 (in retry mode: eventually). GaveUp, in retry mode, were still not
	// answered 200 when Retry.Cap had passed.
	OK, GaveUp int
	// Answers counts every answer by status code, every attempt included (in retry mode a delivery can
	// have several); Errors counts attempts that got no answer (refused, reset, timed out).
	Answers map[int]int
	Errors  int
	// Retries is the number of resends in retry mode (attempts beyond each delivery's first).
	Retries int
	// Latency of every delivery sent, from the time it was due to its last answer (its 200 in retry mode)
	// or failure: queueing in the client, the network and the server included.
	P50, P90, P99, Max time.Duration
	// Rate is the achieved arrival rate: deliveries started per second of the schedule. MaxLag is the
	// most a delivery started after it was due (the generator's own precision).
	Rate   float64
	MaxLag time.Duration
}

// Failed is the number of deliveries not answered 200, NotStarted included.
func (r *Result) Failed() int { return r.Scheduled - r.OK }

// OKShare is the share of scheduled deliveries answered 200, from 0 to 1.
func (r *Result) OKShare() float64 {
	if r.Scheduled == 0 {
		return 0
	}
	return float64(r.OK) / float64(r.Scheduled)
}

func (r *Result) String() string {
	codes := make([]int, 0, len(r.Answers))
	for c := range r.Answers {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var answers []string
	for _, c := range codes {
		answers = append(answers, fmt.Sprintf("%d:%d", c, r.Answers[c]))
	}
	return fmt.Sprintf("scheduled %d sent %d not-started %d ok %d (%.1f%%) answers [%s] errors %d retries %d gave-up %d p50 %s p90 %s p99 %s max %s rate %.0f/s max-lag %s",
		r.Scheduled, r.Sent, r.NotStarted, r.OK, 100*r.OKShare(), strings.Join(answers, " "), r.Errors, r.Retries, r.GaveUp,
		r.P50, r.P90, r.P99, r.Max, r.Rate, r.MaxLag)
}

// recorder collects outcomes from the delivery goroutines.
type recorder struct {
	mu        sync.Mutex
	res       Result
	latencies []time.Duration
}

func newRecorder(n int) *recorder {
	return &recorder{res: Result{Answers: map[int]int{}}, latencies: make([]time.Duration, 0, n)}
}

// lag is called by the scheduler only, as each delivery starts.
func (r *recorder) lag(d time.Duration) {
	r.mu.Lock()
	r.res.MaxLag = max(r.res.MaxLag, d)
	r.mu.Unlock()
}

func (r *recorder) notStarted() {
	r.mu.Lock()
	r.res.NotStarted++
	r.mu.Unlock()
}

func (r *recorder) answer(code int, err error) {
	r.mu.Lock()
	if err != nil {
		r.res.Errors++
	} else {
		r.res.Answers[code]++
	}
	r.mu.Unlock()
}

// done records a sent delivery's outcome: answered 200 or not, given up on (retry mode), its latency
// and how many times it was resent.
func (r *recorder) done(ok, gaveUp bool, latency time.Duration, retries int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Sent++
	r.res.Retries += retries
	r.latencies = append(r.latencies, latency)
	if ok {
		r.res.OK++
	}
	if gaveUp {
		r.res.GaveUp++
	}
}

// result summarises a run of scheduled deliveries over span.
func (r *recorder) result(scheduled int, span time.Duration) *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	res.Scheduled = scheduled
	res.Rate = float64(res.Sent+res.NotStarted) / span.Seconds()
	slices.Sort(r.latencies)
	res.P50, res.P90, res.P99 = quantile(r.latencies, 0.50), quantile(r.latencies, 0.90), quantile(r.latencies, 0.99)
	if n := len(r.latencies); n > 0 {
		res.Max = r.latencies[n-1]
	}
	return &res
}

// quantile of sorted values, nearest rank: the smallest value at or above the q-th share of them.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
