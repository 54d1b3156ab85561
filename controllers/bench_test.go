package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/scheme"
	"github.com/mmelink/operator/internal/testenv"
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
// The machine is shared and its speed drifts within seconds, so each iteration times the loop both
// before and after the links (A-B-A) and compares the links with the mean of the two; the figures
// reported are medians over the iterations (run with -benchtime 5x).
//
// The apply sub-benchmark also times the creation of the links while the controller runs, as a sequential
// kubectl apply would, against 1,000 sequential ConfigMap creates; it includes the API server's own cost
// of accepting custom resources, several times that of a ConfigMap.
//
// The floor sub-benchmark is what this machine allows at best: no controller, no cache, no watch and no
// rendering, only the two writes the controller makes per link (its ConfigMap, with content rendered
// beforehand, and the status that makes it Ready) from 4 goroutines, against the same loop.
func BenchmarkLinksReady(b *testing.B) {
	b.Run("reconcile", benchmarkReconcile)
	b.Run("apply", benchmarkApply)
	b.Run("floor", benchmarkFloor)
}

const benchLinks = 1000

func benchmarkReconcile(b *testing.B) {
	wc := watchClient(b)
	var m benchMedians
	for i := 0; i < b.N; i++ {
		ns, content, before := startIteration(b, wc)
		parallel := createConfigMaps(b, wc, ns, benchLinks, benchWorkers, content)

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
		firstReady := time.Since(start)
		waitReady(b, done, ready)
		reconcile := time.Since(start)
		stopWatch()

		m.add("ms/first-ready", ms(firstReady))
		m.add("ms/1000-links-ready", ms(reconcile))
		m.addBaseline(b, wc, ns, content, before, reconcile)
		// Against ConfigMaps written as many at a time as the controller has workers: the stricter figure.
		m.add("ms/1000-configmaps-4-at-a-time", ms(parallel))
		m.add("ratio-to-parallel", float64(reconcile)/float64(parallel))
		cleanUp(b, wc, ns)
	}
	m.report(b)
}

func benchmarkApply(b *testing.B) {
	wc := watchClient(b)
	var m benchMedians
	for i := 0; i < b.N; i++ {
		ns, content, before := startIteration(b, wc)
		stopWatch, done, ready := watchReady(b, ns)
		start := time.Now()
		createLinks(b, wc, ns)
		waitReady(b, done, ready)
		links := time.Since(start)
		stopWatch()
		m.add("ms/1000-links-applied-ready", ms(links))
		m.addBaseline(b, wc, ns, content, before, links)
		cleanUp(b, wc, ns)
	}
	m.report(b)
}

func benchmarkFloor(b *testing.B) {
	ctx := context.Background()
	wc := watchClient(b)
	var m benchMedians
	for i := 0; i < b.N; i++ {
		ns, content, before := startIteration(b, wc)
		if err := stopManager(); err != nil {
			b.Fatal(err)
		}
		createLinks(b, wc, ns)
		var links messengerv1.MessengerLinkList
		if err := wc.List(ctx, &links, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		// The links the benchmark created, without the sample one.
		links.Items = slices.DeleteFunc(links.Items, func(l messengerv1.MessengerLink) bool { return !strings.HasPrefix(l.Name, "link-") })
		floor := timeParallel(b, benchWorkers, benchLinks, func(j int) error {
			l := &links.Items[j]
			cm := baselineConfigMap(ns, benchLinks+j, content)
			if err := wc.Create(ctx, cm); err != nil {
				return err
			}
			patch := fmt.Sprintf(`{"status":{"observedGeneration":1,"url":"https://m.me/acme.shoes?ref=%s","configMapName":%q,`+
				`"conditions":[{"type":"Ready","status":"True","observedGeneration":1,"lastTransitionTime":%q,"reason":"Succeeded","message":"Link and QR codes are in ConfigMap %s"}]}}`,
				l.Spec.Ref, cm.Name, time.Now().UTC().Format(time.RFC3339), cm.Name)
			return wc.Status().Patch(ctx, l, client.RawPatch(types.MergePatchType, []byte(patch)))
		})
		m.add("ms/1000-links-written", ms(floor))
		m.addBaseline(b, wc, ns, content, before, floor)
		deleteBenchObjects(b, wc, ns)
		if err := startManager(); err != nil {
			b.Fatal(err)
		}
	}
	m.report(b)
}

// startIteration makes a namespace with one rendered link, whose ConfigMap's content the baseline
// ConfigMaps carry, and times the first baseline loop (A of A-B-A).
func startIteration(b *testing.B, c client.Client) (ns string, content *corev1.ConfigMap, before time.Duration) {
	b.Helper()
	ns = newBenchNamespace(b)
	content = sampleContent(b, c, ns)
	return ns, content, createConfigMaps(b, c, ns, 0, 1, content)
}

// createConfigMaps times the baseline: 1,000 ConfigMaps with content's data, named from first on, created
// by the given number of goroutines.
func createConfigMaps(b *testing.B, c client.Client, ns string, first, workers int, content *corev1.ConfigMap) time.Duration {
	b.Helper()
	return timeParallel(b, workers, benchLinks, func(j int) error {
		return c.Create(context.Background(), baselineConfigMap(ns, first+j, content))
	})
}

// addBaseline times the loop again, after what was measured, and adds the mean of both loops and the
// ratio of measured to it (A-B-A: the machine's drift during the iteration affects both sides alike).
func (m *benchMedians) addBaseline(b *testing.B, c client.Client, ns string, content *corev1.ConfigMap, before, measured time.Duration) {
	b.Helper()
	after := createConfigMaps(b, c, ns, 2*benchLinks, 1, content)
	baseline := (before + after) / 2
	m.add("ms/1000-configmaps", ms(baseline))
	m.add("ratio", float64(measured)/float64(baseline))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchMedians collects one value per iteration for each metric and reports their medians, in the order
// the metrics were first added.
type benchMedians struct {
	names  []string
	values map[string][]float64
}

func (m *benchMedians) add(name string, v float64) {
	if m.values == nil {
		m.values = map[string][]float64{}
	}
	if _, ok := m.values[name]; !ok {
		m.names = append(m.names, name)
	}
	m.values[name] = append(m.values[name], v)
}

func (m *benchMedians) report(b *testing.B) {
	for _, name := range m.names {
		b.ReportMetric(median(m.values[name]), name)
	}
}

func median(vs []float64) float64 {
	s := slices.Sorted(slices.Values(vs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
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
	testenv.Eventually(b, wait, func() error {
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
	deleteBenchObjects(b, c, ns)
	if err := startManager(); err != nil {
		b.Fatal(err)
	}
}

func deleteBenchObjects(b *testing.B, c client.Client, ns string) {
	b.Helper()
	for _, obj := range []client.Object{&messengerv1.MessengerLink{}, &corev1.ConfigMap{}} {
		if err := c.DeleteAllOf(context.Background(), obj, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
	}
}

func newBenchNamespace(b *testing.B) string {
	b.Helper()
	return testenv.NewNamespace(b, k8sClient)
}
