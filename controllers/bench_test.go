package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/scheme"
)

// benchWorkers is the controller's default MaxConcurrentReconciles; the baseline writes with as many
// goroutines, so that both sides have the same parallelism.
const benchWorkers = 4

// BenchmarkLinksReady measures reconcile throughput: 1,000 MessengerLinks exist, the manager starts, and
// the clock runs until all 1,000 are Ready. The baseline, in the same run, is the least work the
// controller has to do: creating 1,000 ConfigMaps of the same content with the same client, in a loop
// (ratio; target at most 2.0), and, stricter, 4 at a time like the controller's workers
// (ratio-to-parallel).
//
// The apply sub-benchmark also times the creation of the links while the controller runs, as a sequential
// kubectl apply would, against 1,000 sequential ConfigMap creates; it includes the API server's own cost
// of accepting custom resources, several times that of a ConfigMap.
func BenchmarkLinksReady(b *testing.B) {
	b.Run("reconcile", benchmarkReconcile)
	b.Run("apply", benchmarkApply)
}

const benchLinks = 1000

func benchmarkReconcile(b *testing.B) {
	ctx := context.Background()
	wc := watchClient(b)
	var baseline, parallel, reconcile, firstReady time.Duration
	for i := 0; i < b.N; i++ {
		ns := newBenchNamespace(b)
		content := sampleContent(b, wc, ns)
		baseline += timeParallel(b, 1, benchLinks, func(j int) error {
			return wc.Create(ctx, baselineConfigMap(ns, j, content))
		})
		parallel += timeParallel(b, benchWorkers, benchLinks, func(j int) error {
			return wc.Create(ctx, baselineConfigMap(ns, benchLinks+j, content))
		})

		if err := stopManager(); err != nil {
			b.Fatal(err)
		}
		createLinks(b, wc, ns)
		stopWatch, done, ready := watchReady(b, ns)
		start := time.Now()
		if err := startManager(); err != nil {
			b.Fatal(err)
		}
		for ready.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		firstReady += time.Since(start)
		waitReady(b, done, ready)
		reconcile += time.Since(start)
		stopWatch()
		cleanUp(b, wc, ns)
	}
	b.ReportMetric(float64(firstReady.Milliseconds())/float64(b.N), "ms/first-ready")
	b.ReportMetric(float64(reconcile.Milliseconds())/float64(b.N), "ms/1000-links-ready")
	b.ReportMetric(float64(baseline.Milliseconds())/float64(b.N), "ms/1000-configmaps")
	b.ReportMetric(float64(reconcile)/float64(baseline), "ratio")
	// Against ConfigMaps written as many at a time as the controller has workers: the stricter figure.
	b.ReportMetric(float64(parallel.Milliseconds())/float64(b.N), "ms/1000-configmaps-4-at-a-time")
	b.ReportMetric(float64(reconcile)/float64(parallel), "ratio-to-parallel")
}

func benchmarkApply(b *testing.B) {
	ctx := context.Background()
	wc := watchClient(b)
	var baseline, links time.Duration
	for i := 0; i < b.N; i++ {
		ns := newBenchNamespace(b)
		content := sampleContent(b, wc, ns)
		baseline += timeParallel(b, 1, benchLinks, func(j int) error {
			return wc.Create(ctx, baselineConfigMap(ns, j, content))
		})
		stopWatch, done, ready := watchReady(b, ns)
		start := time.Now()
		createLinks(b, wc, ns)
		waitReady(b, done, ready)
		links += time.Since(start)
		stopWatch()
		cleanUp(b, wc, ns)
	}
	b.ReportMetric(float64(links.Milliseconds())/float64(b.N), "ms/1000-links-applied-ready")
	b.ReportMetric(float64(baseline.Milliseconds())/float64(b.N), "ms/1000-configmaps")
	b.ReportMetric(float64(links)/float64(baseline), "ratio")
}

func watchClient(b *testing.B) client.WithWatch {
	b.Helper()
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		b.Fatal(err)
	}
	return wc
}

// sampleContent has the controller render one link, whose ConfigMap content every baseline one carries.
func sampleContent(b *testing.B, c client.Client, ns string) *corev1.ConfigMap {
	b.Helper()
	if err := c.Create(context.Background(), newLink(ns, "sample")); err != nil {
		b.Fatal(err)
	}
	var cm corev1.ConfigMap
	waitFor(b, func() error {
		return c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "sample-mlink"}, &cm)
	})
	return &cm
}

func baselineConfigMap(ns string, j int, content *corev1.ConfigMap) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("baseline-%04d", j)},
		Data:       content.Data, BinaryData: content.BinaryData,
	}
}

func createLinks(b *testing.B, c client.Client, ns string) {
	b.Helper()
	for j := range benchLinks {
		l := newLink(ns, fmt.Sprintf("link-%04d", j), func(l *messengerv1.MessengerLink) {
			l.Spec.Ref = fmt.Sprintf("bench_%04d", j)
		})
		if err := c.Create(context.Background(), l); err != nil {
			b.Fatal(err)
		}
	}
}

// timeParallel runs n calls of op on the given number of goroutines and returns the time they took.
func timeParallel(b *testing.B, workers, n int, op func(int) error) time.Duration {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := int(next.Add(1)) - 1; j < n; j = int(next.Add(1)) - 1 {
				if err := op(j); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// watchReady counts the links of ns that report Ready=True for their generation, from a watch opened
// now. The watch decodes only the fields it reads: it shares the machine's two cores with what it measures.
func watchReady(b *testing.B, ns string) (stop func(), done chan struct{}, ready *atomic.Int64) {
	b.Helper()
	rc, err := rest.RESTClientFor(watchConfig())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	body, err := rc.Get().AbsPath("/apis", messengerv1.GroupVersion.Group, messengerv1.GroupVersion.Version,
		"namespaces", ns, "messengerlinks").Param("watch", "true").Stream(ctx)
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	ready = new(atomic.Int64)
	done = make(chan struct{})
	go countReady(body, benchLinks, ready, done)
	return func() { cancel(); _ = body.Close() }, done, ready
}

func watchConfig() *rest.Config {
	c := rest.CopyConfig(cfg)
	c.APIPath = "/apis"
	c.GroupVersion = &messengerv1.GroupVersion
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme.New()).WithoutConversion()
	return c
}

// readyEvent is the part of a watch event that countReady reads.
type readyEvent struct {
	Object struct {
		Metadata struct {
			Name       string `json:"name"`
			Generation int64  `json:"generation"`
		} `json:"metadata"`
		Status struct {
			Conditions []metav1.Condition `json:"conditions"`
		} `json:"status"`
	} `json:"object"`
}

func waitReady(b *testing.B, done chan struct{}, ready *atomic.Int64) {
	b.Helper()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d links Ready after 5 minutes", ready.Load(), benchLinks)
	}
}

// countReady closes done once n distinct links have reported Ready=True for their generation.
func countReady(body io.Reader, n int64, ready *atomic.Int64, done chan struct{}) {
	seen := map[string]bool{}
	dec := json.NewDecoder(body)
	for {
		var ev readyEvent
		if err := dec.Decode(&ev); err != nil {
			return
		}
		o := &ev.Object
		if seen[o.Metadata.Name] || !strings.HasPrefix(o.Metadata.Name, "link-") {
			continue
		}
		c := apimeta.FindStatusCondition(o.Status.Conditions, messengerv1.ConditionReady)
		if c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == o.Metadata.Generation {
			seen[o.Metadata.Name] = true
			if ready.Add(1) == n {
				close(done)
				return
			}
		}
	}
}

// cleanUp deletes the links and ConfigMaps of ns with the manager stopped, so that each iteration starts
// from the same cluster: otherwise the next start would list and recheck every link of the earlier ones.
func cleanUp(b *testing.B, c client.Client, ns string) {
	b.Helper()
	if err := stopManager(); err != nil {
		b.Fatal(err)
	}
	for _, obj := range []client.Object{&messengerv1.MessengerLink{}, &corev1.ConfigMap{}} {
		if err := c.DeleteAllOf(context.Background(), obj, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
	}
	if err := startManager(); err != nil {
		b.Fatal(err)
	}
}

func newBenchNamespace(b *testing.B) string {
	b.Helper()
	name := fmt.Sprintf("bench-%d", nsCounter.Add(1))
	if err := k8sClient.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		b.Fatal(err)
	}
	return name
}

func waitFor(b *testing.B, check func() error) {
	b.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
