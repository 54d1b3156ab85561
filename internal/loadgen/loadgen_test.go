package loadgen

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// numbered is a Config.Delivery whose body is the delivery's number, with a header to check it arrives.
func numbered(i int) Delivery {
	return Delivery{Body: []byte(strconv.Itoa(i)), Header: http.Header{"X-Test": {"yes"}}}
}

// serve starts a loopback server whose handler receives the delivery's number.
func serve(t *testing.T, h func(w http.ResponseWriter, i int)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		i, convErr := strconv.Atoi(string(b))
		if err != nil || convErr != nil || r.Method != http.MethodPost || r.Header.Get("X-Test") != "yes" {
			http.Error(w, "not a test delivery", http.StatusBadRequest)
			return
		}
		h(w, i)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	if cfg.Delivery == nil {
		cfg.Delivery = numbered
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	return res
}

// The schedule does not wait for answers: a server that takes 10ms per delivery, one at a time, gets
// 200 a second for half a second all the same, and the latency includes the queue this builds (the last
// delivery waits for the 99 before it), not only the 10ms of its own service.
func TestLatencyIncludesQueueing(t *testing.T) {
	var mu sync.Mutex
	url := serve(t, func(w http.ResponseWriter, _ int) {
		mu.Lock()
		time.Sleep(10 * time.Millisecond)
		mu.Unlock()
	})
	res := run(t, Config{URL: url, Rate: 200, Duration: 500 * time.Millisecond})
	if res.Scheduled != 100 || res.Sent != 100 || res.OK != 100 {
		t.Fatalf("scheduled %d sent %d ok %d, want 100 each", res.Scheduled, res.Sent, res.OK)
	}
	// Served at 100/s, delivery i ends near (i+1)×10ms and was due at i×5ms: the last waits about 0.5s,
	// the median about 0.25s. A closed loop, or timing from the actual send, would see about 10ms.
	if res.Max < 400*time.Millisecond || res.P50 < 150*time.Millisecond {
		t.Errorf("p50 %s max %s: the queue behind a slow server is not in the latency", res.P50, res.Max)
	}
	if res.Rate < 150 { // a closed loop would get the server's 100/s
		t.Errorf("rate %.0f/s, want about 200: the schedule slowed down with the server", res.Rate)
	}
}

// Deliveries arrive at the configured rate, each once, with its body and headers. The test machine is
// shared: a generator descheduled for a while sends what is due late, all at once, which lowers that
// run's achieved rate. Such a stall is transient, so the check gets three tries.
func TestRateAndDeliveries(t *testing.T) {
	var err error
	for try := 1; try <= 3; try++ {
		if err = rateAndDeliveries(t); err == nil {
			return
		}
		t.Logf("try %d: %v", try, err)
	}
	t.Error(err)
}

func rateAndDeliveries(t *testing.T) error {
	var (
		mu           sync.Mutex
		seen         = map[int]int{}
		first, final time.Time
	)
	url := serve(t, func(w http.ResponseWriter, i int) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if len(seen) == 0 {
			first = now
		}
		final = now
		seen[i]++
	})
	res := run(t, Config{URL: url, Rate: 1000, Duration: time.Second})
	if res.Scheduled != 1000 || res.OK != 1000 || res.Failed() != 0 || res.Answers[http.StatusOK] != 1000 {
		t.Fatalf("scheduled %d ok %d failed %d answers %v, want 1000 answered 200", res.Scheduled, res.OK, res.Failed(), res.Answers)
	}
	for i := range 1000 {
		if seen[i] != 1 {
			t.Fatalf("delivery %d arrived %d times", i, seen[i])
		}
	}
	if res.P99 > res.Max || res.P50 > res.P90 || res.P90 > res.P99 || res.P50 <= 0 {
		t.Fatalf("percentiles out of order: %s", res)
	}
	if res.Rate < 900 || res.Rate > 1100 {
		return fmt.Errorf("achieved rate %.0f/s, want 1000 ± 10%%", res.Rate)
	}
	// Spread over the second, not sent in a burst. (No upper bound: on a loaded machine the server's
	// goroutines may run late, which is queueing the latency shows, not the generator's doing.)
	if span := final.Sub(first); span < 900*time.Millisecond {
		return fmt.Errorf("arrivals spread over %s, want about 1s", span)
	}
	return nil
}

// Without Retry every delivery is sent once, and what is not a 200 is counted by its status code.
func TestAnswersByStatus(t *testing.T) {
	url := serve(t, func(w http.ResponseWriter, i int) {
		if i%2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	res := run(t, Config{URL: url, Rate: 500, Duration: 200 * time.Millisecond})
	if res.OK != 50 || res.Answers[http.StatusServiceUnavailable] != 50 || res.Failed() != 50 || res.Retries != 0 {
		t.Errorf("ok %d 503s %d failed %d retries %d, want 50 50 50 0", res.OK, res.Answers[http.StatusServiceUnavailable], res.Failed(), res.Retries)
	}
}

// Retry mode resends every delivery until it is answered 200, and says how many resends that took.
func TestRetryResendsUntil200(t *testing.T) {
	var (
		mu       sync.Mutex
		attempts = map[int]int{}
	)
	url := serve(t, func(w http.ResponseWriter, i int) {
		mu.Lock()
		attempts[i]++
		n := attempts[i]
		mu.Unlock()
		// The first two attempts of every delivery fail, differently.
		switch n {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	res := run(t, Config{URL: url, Rate: 500, Duration: 100 * time.Millisecond, Retry: &Retry{Backoff: time.Millisecond}})
	if res.OK != 50 || res.Failed() != 0 || res.GaveUp != 0 || res.Retries != 100 {
		t.Errorf("ok %d failed %d gave up %d retries %d, want 50 0 0 100", res.OK, res.Failed(), res.GaveUp, res.Retries)
	}
	if res.Answers[http.StatusServiceUnavailable] != 50 || res.Answers[http.StatusInternalServerError] != 50 || res.Answers[http.StatusOK] != 50 {
		t.Errorf("answers %v, want 50 of each of 503, 500 and 200", res.Answers)
	}
	for i := range 50 {
		if attempts[i] != 3 {
			t.Errorf("delivery %d sent %d times, want 3", i, attempts[i])
		}
	}
}

// Retry mode gives up on a delivery once its cap has passed, and a request that gets no answer is an
// error, retried like a refusal.
func TestRetryGivesUpAtCap(t *testing.T) {
	url := serve(t, func(w http.ResponseWriter, i int) { w.WriteHeader(http.StatusTooManyRequests) })
	res := run(t, Config{URL: url, Rate: 100, Duration: 100 * time.Millisecond,
		Retry: &Retry{Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Cap: 100 * time.Millisecond}})
	if res.OK != 0 || res.GaveUp != 10 || res.Failed() != 10 || res.Retries < 10 {
		t.Errorf("ok %d gave up %d failed %d retries %d, want 0 10 10 and at least one resend each", res.OK, res.GaveUp, res.Failed(), res.Retries)
	}
	// The last attempt starts before the cap: the last answer comes near it, not far past it.
	if res.Max < 50*time.Millisecond || res.Max > 500*time.Millisecond {
		t.Errorf("max latency %s, want near the 100ms cap", res.Max)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens at its address any more
	res = run(t, Config{URL: closed.URL, Rate: 100, Duration: 50 * time.Millisecond,
		Retry: &Retry{Backoff: 5 * time.Millisecond, Cap: 30 * time.Millisecond}})
	if res.OK != 0 || res.GaveUp != 5 || res.Errors < 10 || len(res.Answers) != 0 {
		t.Errorf("refused: ok %d gave up %d errors %d answers %v, want 0 5, at least 10 errors, no answers", res.OK, res.GaveUp, res.Errors, res.Answers)
	}
}

// Deliveries due while MaxInFlight are outstanding are not sent, and count as failed.
func TestMaxInFlight(t *testing.T) {
	release := make(chan struct{})
	url := serve(t, func(w http.ResponseWriter, _ int) { <-release })
	done := make(chan *Result)
	go func() {
		res, _ := Run(context.Background(), Config{URL: url, Rate: 200, Duration: 100 * time.Millisecond, MaxInFlight: 5, Delivery: numbered})
		done <- res
	}()
	time.Sleep(300 * time.Millisecond) // the whole schedule has passed; five are held by the server
	close(release)
	res := <-done
	t.Log(res)
	if res.Scheduled != 20 || res.Sent != 5 || res.NotStarted != 15 || res.OK != 5 || res.Failed() != 15 {
		t.Errorf("scheduled %d sent %d not started %d ok %d failed %d, want 20 5 15 5 15", res.Scheduled, res.Sent, res.NotStarted, res.OK, res.Failed())
	}
}

// A cancelled run stops the schedule and returns what it measured with the context's error.
func TestCancel(t *testing.T) {
	url := serve(t, func(http.ResponseWriter, int) {})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, Config{URL: url, Rate: 100, Duration: 10 * time.Second, Delivery: numbered})
	if err != context.DeadlineExceeded {
		t.Fatalf("err %v, want the context's", err)
	}
	if res.Scheduled < 5 || res.Scheduled > 20 || res.OK != res.Scheduled {
		t.Errorf("scheduled %d ok %d, want about 10, all answered", res.Scheduled, res.OK)
	}
}

// A run leaves no connection of its own client open: a benchmark runs many, each with thousands.
func TestClosesItsConnections(t *testing.T) {
	var open atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	defer srv.Close()
	run(t, Config{URL: srv.URL, Rate: 500, Duration: 100 * time.Millisecond})
	deadline := time.Now().Add(5 * time.Second)
	for open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := open.Load(); n != 0 {
		t.Errorf("%d connections still open after the run", n)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Rate: 1, Duration: time.Second, Delivery: numbered},
		{URL: "http://127.0.0.1:1", Rate: 1, Duration: time.Second},
		{URL: "http://127.0.0.1:1", Rate: 0, Duration: time.Second, Delivery: numbered},
		{URL: "http://127.0.0.1:1", Rate: 1, Delivery: numbered},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

func TestQuantile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{nil, 0.5, 0},
		{ms(7), 0.99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{ms(hundred...), 0.99, 99 * time.Millisecond},
		{ms(hundred...), 0.5, 50 * time.Millisecond},
		{ms(hundred...), 1, 100 * time.Millisecond},
	} {
		if got := quantile(tc.values, tc.q); got != tc.want {
			t.Errorf("quantile(%d values, %v) = %s, want %s", len(tc.values), tc.q, got, tc.want)
		}
	}
}

func ExampleRun() {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{
		URL: srv.URL, Rate: 100, Duration: 100 * time.Millisecond,
		Delivery: func(i int) Delivery { return Delivery{Body: []byte(fmt.Sprint(i))} },
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Scheduled, res.OK)
	// Output: 10 10
}

// A kept-alive connection the server closed while idle (its idle timeout) is not a failed delivery: the
// request goes again on a new connection, as net/http's client does.
func TestServerClosedIdleConnectionIsNotAnError(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.IdleTimeout = 20 * time.Millisecond
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	// One delivery every 100 ms: each finds its connection closed by the server 80 ms before.
	res := run(t, Config{URL: srv.URL, Rate: 10, Duration: 500 * time.Millisecond})
	if res.OK != 5 || res.Errors != 0 {
		t.Errorf("ok %d errors %d, want 5 and 0", res.OK, res.Errors)
	}
	if n := conns.Load(); n < 2 {
		t.Errorf("%d connections: the server's idle timeout never closed one, so this tested nothing", n)
	}
}

// Each delivery arrives as net/http wrote it: method, path, headers and body.
func TestSendsTheRequestAsRendered(t *testing.T) {
	got := make(chan *http.Request, 1)
	bodies := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- string(b)
	}))
	defer srv.Close()
	run(t, Config{URL: srv.URL + "/webhook?x=1", Rate: 1, Duration: time.Second, Delivery: func(int) Delivery {
		return Delivery{Body: []byte(`{"object":"page"}`), Header: http.Header{"X-Hub-Signature-256": {"sha256=00"}}}
	}})
	r, body := <-got, <-bodies
	if r.Method != http.MethodPost || r.URL.Path != "/webhook" || r.URL.RawQuery != "x=1" ||
		r.Header.Get("X-Hub-Signature-256") != "sha256=00" || r.ContentLength != int64(len(body)) || body != `{"object":"page"}` {
		t.Errorf("got %s %s %v content-length %d body %q", r.Method, r.URL, r.Header, r.ContentLength, body)
	}
}

func TestOnlyHTTP(t *testing.T) {
	if _, err := Run(context.Background(), Config{URL: "https://127.0.0.1:1", Rate: 1, Duration: time.Second, Delivery: numbered}); err == nil {
		t.Error("an https URL was accepted: the generator speaks plain HTTP/1.1 only")
	}
}
