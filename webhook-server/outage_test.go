package webhookserver_test

import (
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mmelink/operator/internal/testenv"
)

// The API server stops answering in the middle of a load. Deliveries get 503 while it is down; requests
// the frozen server had queued land after their deliveries were answered 503. Every delivery that got
// 200 is counted exactly once, one that got 503 at most once, and once Meta has delivered every 503 again
// until it got 200, every event is counted exactly once.
//
// The API server process is frozen (SIGSTOP) rather than killed: envtest would give a restarted server
// new certificates, and a frozen one is the harder case: writes sent before the freeze complete after it,
// long after the webhook server gave up on them.
func TestAPIServerOutageLosesAndDoublesNothing(t *testing.T) {
	c, _ := startCluster(t)
	ns := newNamespace(t, c)
	page := testenv.PageID(ns) // a Page of its own: claims are cluster-wide
	keys := []client.ObjectKey{e2eLink(t, ns, "l0", page, "r0"), e2eLink(t, ns, "l1", page, "r1"), e2eLink(t, ns, "l2", page, "r2")}
	in := startInstance(t)
	pid, err := testenv.APIServerPID(cluster.cfg.Host)
	if err != nil {
		t.Fatal(err)
	}

	type sent struct {
		body []byte
		link int
		code int
	}
	var (
		mu      sync.Mutex
		results []sent
	)
	deliver := func(i int) {
		link := i % len(keys)
		b := body(page, ev(page, fmt.Sprintf("p%d", i), fmt.Sprintf("r%d", link), i, "referral"))
		code := in.send(b)
		mu.Lock()
		results = append(results, sent{b, link, code})
		mu.Unlock()
	}

	// Sixteen senders for 6 seconds, a bounded load; the API server is frozen from 1.5s to 3.5s.
	var wg sync.WaitGroup
	start := time.Now()
	next := make(chan int)
	go func() {
		defer close(next)
		for i := 0; time.Since(start) < 6*time.Second; i++ {
			next <- i
			time.Sleep(2 * time.Millisecond)
		}
	}()
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				deliver(i)
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	ok := make([]int64, len(keys))
	var failed []sent
	for _, r := range results {
		switch r.code {
		case http.StatusOK:
			ok[r.link]++
		case http.StatusServiceUnavailable:
			failed = append(failed, r)
		default:
			t.Fatalf("delivery answered %d, want 200 or 503", r.code)
		}
	}
	if len(failed) == 0 {
		t.Fatal("no delivery got 503 while the API server was frozen")
	}
	unknown := in.storeMetric(t, "mmelink_status_commits_total", "result", "unknown")
	t.Logf("%d deliveries: %d answered 503; %v commits with an unknown outcome", len(results), len(failed), unknown)

	// Before Meta resends anything: every event answered 200 is counted, an event answered 503 at most
	// once (its write may have landed after the freeze), and nothing is ever taken back.
	all := make([]int64, len(keys))
	for _, r := range results {
		all[r.link]++
	}
	time.Sleep(time.Second)
	for i, key := range keys {
		if got := linkStats(t, key).Total; got < ok[i] || got > all[i] {
			t.Errorf("%s: total %d, want between %d (answered 200) and %d (all sent)", key.Name, got, ok[i], all[i])
		}
	}
	// Meta resends every 503 until it is answered 200: then each event is counted exactly once.
	for _, f := range failed {
		resendUntilOK(t, in, f.body)
	}
	for i, key := range keys {
		if got := linkStats(t, key).Total; got != all[i] {
			t.Errorf("%s after redelivery: total %d, want %d (every event once)", key.Name, got, all[i])
		}
	}
}

// resendUntilOK delivers body as Meta retries a failed delivery: again, until it is answered 200.
func resendUntilOK(t testing.TB, in *instance, body []byte) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for code := in.send(body); code != http.StatusOK; code = in.send(body) {
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("redelivery answered %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
