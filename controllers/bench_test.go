package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/scheme"
)

// BenchmarkLinksReady measures how long 1,000 MessengerLinks take to become Ready, from the first create
// to the last Ready condition, against a baseline measured in the same run: creating 1,000 ConfigMaps of
// the same content directly with the same client. The ratio (target: at most 2.0) is what to compare
// across machines; the absolute times depend on the machine and its load.
func BenchmarkLinksReady(b *testing.B) {
	const n = 1000
	ctx := context.Background()
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		b.Fatal(err)
	}
	var baseline, links, createLoop time.Duration
	for i := 0; i < b.N; i++ {
		ns := newBenchNamespace(b)

		// One link rendered by the controller gives the content every baseline ConfigMap carries.
		sample := newLink(ns, "sample")
		if err := wc.Create(ctx, sample); err != nil {
			b.Fatal(err)
		}
		var content corev1.ConfigMap
		waitFor(b, func() error {
			return wc.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sample-mlink"}, &content)
		})

		start := time.Now()
		for j := range n {
			cm := &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("baseline-%04d", j)},
				Data:       content.Data, BinaryData: content.BinaryData,
			}
			if err := wc.Create(ctx, cm); err != nil {
				b.Fatal(err)
			}
		}
		baseline += time.Since(start)

		w, err := wc.Watch(ctx, &messengerv1.MessengerLinkList{}, client.InNamespace(ns))
		if err != nil {
			b.Fatal(err)
		}
		var ready atomic.Int64
		done := make(chan struct{})
		go countReady(w, n, &ready, done)

		start = time.Now()
		for j := range n {
			l := newLink(ns, fmt.Sprintf("link-%04d", j), func(l *messengerv1.MessengerLink) {
				l.Spec.Ref = fmt.Sprintf("bench_%04d", j)
			})
			if err := wc.Create(ctx, l); err != nil {
				b.Fatal(err)
			}
		}
		createLoop += time.Since(start)
		select {
		case <-done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("only %d of %d links Ready after 5 minutes", ready.Load(), n)
		}
		links += time.Since(start)
		w.Stop()
	}
	b.ReportMetric(float64(links.Milliseconds())/float64(b.N), "ms/1000-links")
	b.ReportMetric(float64(baseline.Milliseconds())/float64(b.N), "ms/1000-configmaps")
	// The create loop alone shows how much of the time is the API server accepting the links.
	b.ReportMetric(float64(createLoop.Milliseconds())/float64(b.N), "ms/create-loop")
	b.ReportMetric(float64(links)/float64(baseline), "ratio")
}

// countReady closes done once n distinct links have reported Ready=True for their generation.
func countReady(w watch.Interface, n int64, ready *atomic.Int64, done chan struct{}) {
	seen := map[string]bool{}
	for ev := range w.ResultChan() {
		l, ok := ev.Object.(*messengerv1.MessengerLink)
		if !ok || seen[l.Name] || !strings.HasPrefix(l.Name, "link-") {
			continue
		}
		if c := findCondition(l, messengerv1.ConditionReady); c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == l.Generation {
			seen[l.Name] = true
			if ready.Add(1) == n {
				close(done)
				return
			}
		}
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
