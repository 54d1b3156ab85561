package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/memlimit"
	"github.com/mmelink/operator/internal/scheme"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// startupLinks is how many links BenchmarkStartup creates; BENCH_STARTUP_LINKS overrides it.
const startupLinks = 10_000

// Sizes of a full ledger (internal/status and internal/sketch): the dedupe window at its 4,000
// fingerprints encodes in about 21.6 KB of base64, a dense unique-people sketch in about 4.1 KB.
const (
	fullWindowBytes = 16_200
	fullSketchBytes = 3_074
)

// BenchmarkStartup measures issue 10's "the webhook server's start-up does not grow with the events
// counted": the binary, as the Deployment runs it, started on a cluster of startupLinks links, first with
// empty ledgers, then with every link's ledger full (each link then weighs about 27 KB in the API server
// instead of 1 KB); for each, with the binary's paginated lists and with client-go's watch-list. Each
// iteration starts a process and times it from exec to its first 200 on /readyz, which waits for the
// cache's first sync, and reads its peak resident memory. Reported: ready-s, peak-rss-MiB; with the
// binary's default also the API server's own time for the list (raw-list-s) and, for full ledgers, the
// ratio to the empty ones of the same run (ready/empty).
//
// The full ledgers are random bytes of a full ledger's size: nothing on the start-up path decodes them
// (the cache's transform drops them, internal/index), so only their bytes matter.
func BenchmarkStartup(b *testing.B) {
	n := startupLinks
	if v := os.Getenv("BENCH_STARTUP_LINKS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("BENCH_STARTUP_LINKS=%q: %v", v, err)
		}
	}
	cp := startControlPlane(b)
	secret := cp.file(b, "app-secret", []byte("startup-app-secret"))
	token := cp.file(b, "verify-token", []byte("startup-verify-token"))
	links := createStartupLinks(b, cp, n)

	measure := func(b *testing.B, env ...string) (ready, rss []float64) {
		for range b.N {
			addr := freeAddr(b)
			p := startMain(b, []string{
				"--bind-address=" + addr, "--metrics-bind-address=0", "--health-probe-bind-address=" + freeAddr(b),
				"--app-secret-file=" + secret, "--verify-token-file=" + token, "--zap-log-level=error",
			}, append([]string{"KUBECONFIG=" + cp.kubeconfig, memlimit.Env + "=" + strconv.Itoa(podMemoryLimit)}, env...)...)
			p.waitReady(b, "http://"+addr+webhookserver.PathReadyz)
			ready = append(ready, time.Since(p.started).Seconds())
			_, peak := memory(b, p.pid)
			rss = append(rss, float64(peak)/(1<<20))
			p.stop(b)
		}
		return ready, rss
	}
	// The binary's default (paginated lists, index.ListInPages) and client-go's (the streaming
	// watch-list), one after the other for each state of the ledgers.
	lists := []struct{ name, env string }{
		{"pages", ""},
		{"watch-list", "KUBE_FEATURE_WatchListClient=true"},
	}
	var emptyReady float64
	run := func(ledger string) {
		for _, l := range lists {
			b.Run("ledger="+ledger+"/lists="+l.name, func(b *testing.B) {
				var env []string
				if l.env != "" {
					env = append(env, l.env)
				}
				ready, rss := measure(b, env...)
				b.ReportMetric(median(ready), "ready-s")
				b.ReportMetric(median(rss), "peak-rss-MiB")
				if l.env != "" {
					return
				}
				b.ReportMetric(rawList(b, cp), "raw-list-s")
				if ledger == "empty" {
					emptyReady = median(ready)
				} else if emptyReady > 0 {
					b.ReportMetric(median(ready)/emptyReady, "ready/empty")
				}
			})
		}
	}
	run("empty")
	fillLedgers(b, cp, links)
	run("full")
}

// rawList times what the API server alone takes to serve every link: a paginated list as a reflector
// makes it (500 a page), only the requests timed (not the client's decoding of the pages).
func rawList(b *testing.B, cp *controlPlane) float64 {
	b.Helper()
	cfg := rest.CopyConfig(cp.cfg)
	cfg.GroupVersion = &messengerv1.GroupVersion
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme.New()).WithoutConversion()
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var (
		took         time.Duration
		total, pages int
		next         string
	)
	for {
		start := time.Now()
		raw, err := rc.Get().Resource("messengerlinks").Param("limit", "500").Param("continue", next).DoRaw(context.Background())
		took += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		total, pages = total+len(raw), pages+1
		var page struct {
			Metadata metav1.ListMeta `json:"metadata"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			b.Fatal(err)
		}
		if next = page.Metadata.Continue; next == "" {
			break
		}
	}
	b.Logf("raw list: %d MiB in %d pages, %s", total>>20, pages, took.Round(time.Millisecond))
	return took.Seconds()
}

// createStartupLinks creates n links holding their claims in a namespace of their own, 16 at a time.
func createStartupLinks(b *testing.B, cp *controlPlane, n int) []*messengerv1.MessengerLink {
	b.Helper()
	ns := fmt.Sprintf("startup-%d", time.Now().UnixNano())
	if err := cp.c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	links := make([]*messengerv1.MessengerLink, n)
	start := time.Now()
	parallel(b, n, func(i int) error {
		l := &messengerv1.MessengerLink{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("l%d", i)},
			Spec:       messengerv1.MessengerLinkSpec{Page: messengerv1.PageRef{ID: "1029384756"}, Ref: fmt.Sprintf("r%d", i)},
		}
		if err := cp.c.Create(context.Background(), l); err != nil {
			return err
		}
		l.Status.Claim = l.PageRefKey()
		if err := cp.c.Status().Update(context.Background(), l); err != nil {
			return err
		}
		links[i] = l
		return nil
	})
	b.Logf("%d links created in %s", n, time.Since(start).Round(time.Millisecond))
	return links
}

// fillLedgers gives every link a full ledger and the counts that go with it.
func fillLedgers(b *testing.B, cp *controlPlane, links []*messengerv1.MessengerLink) {
	b.Helper()
	start := time.Now()
	parallel(b, len(links), func(i int) error {
		l := links[i]
		before := l.DeepCopy()
		l.Status.Referrals = &messengerv1.ReferralStats{
			Total: 4000, NewConversations: 4000, BySource: map[string]int64{"SHORTLINK": 4000}, UniquePeople: 3900,
			Window: &messengerv1.DedupeWindow{Events: 4000},
			Ledger: &messengerv1.DeliveryLedger{Window: randomBase64(fullWindowBytes), Sketch: randomBase64(fullSketchBytes)},
		}
		return cp.c.Status().Patch(context.Background(), l, client.MergeFrom(before))
	})
	b.Logf("%d ledgers filled in %s", len(links), time.Since(start).Round(time.Millisecond))
}

// parallel runs f for 0..n-1, 16 at a time, and fails b with the first error.
func parallel(b *testing.B, n int, f func(i int) error) {
	b.Helper()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := f(i); err != nil {
					once.Do(func() { first = fmt.Errorf("item %d: %w", i, err) })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

func randomBase64(n int) string {
	raw := make([]byte, n)
	_, _ = rand.Read(raw)
	return base64.RawStdEncoding.EncodeToString(raw)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
