package controllers

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// The source lets the controller start once every object in the cache is queued, as the builder's
// sources do (that it says so without polling shows in BenchmarkLinksReady's ms/first-ready).
func TestSyncedSourceWaitsForEveryCachedObject(t *testing.T) {
	const n = 500
	objs := make([]corev1.ConfigMap, n)
	cs := fake.NewClientset()
	for i := range objs {
		objs[i] = corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("cm-%03d", i)}}
		if _, err := cs.CoreV1().ConfigMaps("ns").Create(context.Background(), &objs[i], metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory := informers.NewSharedInformerFactory(cs, 0)
	inf := factory.Core().V1().ConfigMaps().Informer()
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("informer of %v did not sync", typ)
		}
	}

	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer queue.ShutDown()
	src := newSyncedSource(inf, &handler.EnqueueRequestForObject{})
	if err := src.Start(ctx, queue); err != nil {
		t.Fatal(err)
	}
	if err := src.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := queue.Len(); got != n {
		t.Errorf("%d of %d cached objects queued when the source reported synced", got, n)
	}

	canceled, stop := context.WithCancel(context.Background())
	stop()
	if err := newSyncedSource(inf, &handler.EnqueueRequestForObject{}).WaitForSync(canceled); err == nil {
		t.Error("WaitForSync of a source never started returned no error on a canceled context")
	}
}
