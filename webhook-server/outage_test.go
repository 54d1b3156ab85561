package webhookserver_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mmelink/operator/internal/testenv"
)

// The API server stops answering in the middle of a load. Deliveries get 503 while it is down. Once it is
// back, every delivery that got 200 is counted exactly once and none that got 503 is, although requests
// the frozen server had queued land after their deliveries were answered 503; when Meta delivers the
// 503s again, they count once too.
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
	pid := apiServerPID(t)

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
	if unknown == 0 {
		t.Error("no commit had an unknown outcome: the freeze did not catch a write in flight")
	}

	// Reverts of commits that landed late run on their own; wait until the counts are what the 200s say.
	for i, key := range keys {
		eventually(t, 20*time.Second, func() error {
			if got := linkStats(t, key).Total; got != ok[i] {
				return fmt.Errorf("%s: total %d, want %d (deliveries answered 200)", key.Name, got, ok[i])
			}
			return nil
		})
	}
	// And they stay so: nothing counted late.
	time.Sleep(time.Second)
	t.Logf("%v events taken back after their commit landed late", in.storeMetric(t, "mmelink_status_reverted_events_total", "", ""))
	for i, key := range keys {
		if got := linkStats(t, key).Total; got != ok[i] {
			t.Errorf("%s: total moved to %d after settling, want %d", key.Name, got, ok[i])
		}
	}

	// Meta delivers the 503s again: each counts once.
	for _, f := range failed {
		if code := in.send(f.body); code != http.StatusOK {
			t.Fatalf("redelivery: %d", code)
		}
		ok[f.link]++
	}
	for i, key := range keys {
		if got := linkStats(t, key).Total; got != ok[i] {
			t.Errorf("%s after redelivery: total %d, want %d", key.Name, got, ok[i])
		}
	}
}

// apiServerPID finds the test control plane's kube-apiserver by its secure port.
func apiServerPID(t *testing.T) int {
	t.Helper()
	u, err := url.Parse(cluster.cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	want := "--secure-port=" + u.Port()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(raw), "\x00")
		if len(args) == 0 || filepath.Base(args[0]) != "kube-apiserver" {
			continue
		}
		for _, a := range args {
			if a == want {
				var pid int
				fmt.Sscanf(filepath.Base(filepath.Dir(p)), "%d", &pid)
				return pid
			}
		}
	}
	t.Fatalf("no kube-apiserver process with %s", want)
	return 0
}
