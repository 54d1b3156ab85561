package webhookserver_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
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
	cluster.cache, cluster.stop, cluster.done, err = startManager(cfg)
	return err
}

// startManager starts a manager on cfg whose cache has the operator's indexes, as the webhook-server
// binary builds it, and returns its synced cache; stop ends it, and done then receives what Start returned.
func startManager(cfg *rest.Config) (cache client.Reader, stop context.CancelFunc, done chan error, err error) {
	cacheOpts, err := index.CacheOptions(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme.New(),
		Cache:   cacheOpts,
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("creating manager: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := index.Setup(ctx, mgr.GetFieldIndexer()); err != nil {
		cancel()
		return nil, nil, nil, err
	}
	done = make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	syncCtx, cancelSync := context.WithTimeout(ctx, time.Minute)
	defer cancelSync()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		cancel()
		<-done
		return nil, nil, nil, errors.New("manager cache did not sync")
	}
	return mgr.GetCache(), cancel, done, nil
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
	return testenv.NewNamespace(t, c)
}

// eventually retries check until it returns nil or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	testenv.Eventually(t, timeout, check)
}

// holdClaim records in the status of o, already created, that it holds the claim of its spec, as the
// controller does (the webhook server attributes only to holders), and waits until the cache shows it.
func holdClaim(t testing.TB, o client.Object) {
	t.Helper()
	c, cache := startCluster(t)
	ctx := context.Background()
	key := client.ObjectKeyFromObject(o)
	switch o := o.(type) {
	case *messengerv1.MessengerLink:
		base := o.DeepCopy()
		o.Status.Claim = o.PageRefKey()
		if err := c.Status().Patch(ctx, o, client.MergeFrom(base)); err != nil {
			t.Fatalf("recording the claim of %s: %v", key, err)
		}
		eventually(t, 10*time.Second, func() error {
			var got messengerv1.MessengerLink
			if err := cache.Get(ctx, key, &got); err != nil || !got.HoldsClaim() {
				return fmt.Errorf("the cache does not show %s holding its claim (%v)", key, err)
			}
			return nil
		})
	case *messengerv1.NotificationTopic:
		base := o.DeepCopy()
		o.Status.Claim = o.PageTopicKey()
		if err := c.Status().Patch(ctx, o, client.MergeFrom(base)); err != nil {
			t.Fatalf("recording the claim of %s: %v", key, err)
		}
		eventually(t, 10*time.Second, func() error {
			var got messengerv1.NotificationTopic
			if err := cache.Get(ctx, key, &got); err != nil || !got.HoldsClaim() {
				return fmt.Errorf("the cache does not show %s holding its claim (%v)", key, err)
			}
			return nil
		})
	default:
		t.Fatalf("holdClaim: %T claims nothing", o)
	}
}
