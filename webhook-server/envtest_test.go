package webhookserver_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/mmelink/operator/internal/index"
	"github.com/mmelink/operator/internal/scheme"
	"github.com/mmelink/operator/internal/testenv"
)

// The control plane and a manager whose cache has the operator's indexes, as the webhook-server binary
// builds it; started once, by the first test that asks.
var cluster struct {
	once   sync.Once
	err    error
	env    *envtest.Environment
	cfg    *rest.Config
	client client.Client // direct to the API server
	cache  client.Reader // the manager's cache, what the Server reads
	stop   context.CancelFunc
	done   chan error
	ns     atomic.Int64
}

// startCluster returns a direct client and the manager's synced cache.
func startCluster(t testing.TB) (client.Client, client.Reader) {
	t.Helper()
	cluster.once.Do(func() { cluster.err = bootCluster() })
	if cluster.err != nil {
		t.Fatal(cluster.err)
	}
	return cluster.client, cluster.cache
}

func bootCluster() error {
	env, cfg, err := testenv.Start()
	if err != nil {
		return err
	}
	cluster.env, cluster.cfg = env, cfg
	if cluster.client, err = client.New(cfg, client.Options{Scheme: scheme.New()}); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme.New(),
		Cache:   index.CacheOptions(),
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := index.Setup(ctx, mgr.GetFieldIndexer()); err != nil {
		cancel()
		return err
	}
	cluster.stop, cluster.done = cancel, make(chan error, 1)
	go func() { cluster.done <- mgr.Start(ctx) }()
	syncCtx, cancelSync := context.WithTimeout(ctx, time.Minute)
	defer cancelSync()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		return errors.New("manager cache did not sync")
	}
	cluster.cache = mgr.GetCache()
	return nil
}

// stopEnv stops the manager and the control plane if a test started them.
func stopEnv() error {
	if cluster.env == nil {
		return nil
	}
	var errs []error
	if cluster.stop != nil {
		cluster.stop()
		errs = append(errs, <-cluster.done)
	}
	errs = append(errs, cluster.env.Stop())
	return errors.Join(errs...)
}

// newNamespace creates a namespace for one test.
func newNamespace(t testing.TB, c client.Client) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", cluster.ns.Add(1), strings.ToLower(strings.NewReplacer("/", "-", "_", "-", "=", "-").Replace(t.Name())))
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return name
}

// eventually retries check until it returns nil or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, check func() error) {
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
