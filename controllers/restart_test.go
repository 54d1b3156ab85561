package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// A restart reconciles every link again. Links whose inputs did not change must cost neither a QR
// rendering nor a write: with 10,000 links, a restart must not redraw 10,000 codes.
func TestRestartRendersAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	const n = 25
	for i := range n {
		create(t, newLink(ns, fmt.Sprintf("link-%02d", i), func(l *messengerv1.MessengerLink) {
			l.Spec.Ref = fmt.Sprintf("ref_%02d", i)
		}))
	}
	eventually(t, wait, func() error { return allReady(ns, n) })

	versions := resourceVersions(t, ns)
	renders := metricSum(t, "mmelink_qr_renders_total", nil)
	var all messengerv1.MessengerLinkList
	if err := k8sClient.List(ctx, &all); err != nil {
		t.Fatal(err)
	}
	reconciles := metricSum(t, "controller_runtime_reconcile_total", map[string]string{"controller": "messengerlink"})

	if err := stopManager(); err != nil {
		t.Fatalf("stopping manager: %v", err)
	}
	if err := startManager(); err != nil {
		t.Fatalf("starting manager: %v", err)
	}
	// The new manager reconciles every link in the cluster once on start.
	eventually(t, wait, func() error {
		got := metricSum(t, "controller_runtime_reconcile_total", map[string]string{"controller": "messengerlink"})
		if got < reconciles+float64(len(all.Items)) {
			return fmt.Errorf("%v reconciles since restart, want at least %d", got-reconciles, len(all.Items))
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond) // let in-flight reconciles finish their writes, if any

	if got := metricSum(t, "mmelink_qr_renders_total", nil); got != renders {
		t.Errorf("QR renderings after restart: %v, want %v (none new)", got-renders, 0)
	}
	after := resourceVersions(t, ns)
	for name, rv := range versions {
		if after[name] != rv {
			t.Errorf("%s was written after restart (resourceVersion %s -> %s)", name, rv, after[name])
		}
	}
}

func allReady(ns string, n int) error {
	var links messengerv1.MessengerLinkList
	if err := k8sClient.List(context.Background(), &links, client.InNamespace(ns)); err != nil {
		return err
	}
	ready := 0
	for i := range links.Items {
		l := &links.Items[i]
		if c := findCondition(l, messengerv1.ConditionReady); c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == l.Generation {
			ready++
		}
	}
	if ready != n {
		return fmt.Errorf("%d of %d links ready", ready, n)
	}
	return nil
}

// resourceVersions maps every link and ConfigMap of ns to its resourceVersion.
func resourceVersions(t *testing.T, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var links messengerv1.MessengerLinkList
	var cms corev1.ConfigMapList
	if err := k8sClient.List(context.Background(), &links, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.List(context.Background(), &cms, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, l := range links.Items {
		out["MessengerLink/"+l.Name] = l.ResourceVersion
	}
	for _, c := range cms.Items {
		out["ConfigMap/"+c.Name] = c.ResourceVersion
	}
	return out
}

// metricSum adds up the samples of a metric of the controller-runtime registry whose labels match.
func metricSum(t *testing.T, name string, match map[string]string) float64 {
	t.Helper()
	return metricSumB(name, match)
}

func metricSumB(name string, match map[string]string) float64 {
	families, _ := metrics.Registry.Gather()
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	samples:
		for _, m := range f.GetMetric() {
			for k, v := range match {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue samples
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
