package testenv

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// namespaces numbers the namespaces of a test binary, so that reruns (-count) and subtests never collide.
var namespaces atomic.Int64

// NewNamespace creates a namespace for one test, named after it, and returns its name.
func NewNamespace(t testing.TB, c client.Client) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", namespaces.Add(1), strings.ToLower(strings.NewReplacer("/", "-", "_", "-", "=", "-").Replace(t.Name())))
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return name
}

// PageID gives each namespace a Page of its own: claims of refs and topics are cluster-wide, and tests
// must not collide.
func PageID(ns string) string {
	h := fnv.New32a()
	h.Write([]byte(ns))
	return fmt.Sprintf("9%d", h.Sum32())
}

// Eventually retries check every 20 ms until it returns nil, and fails the test with its last error once
// timeout has passed.
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
