package pgledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/pgtest"
	"github.com/mmelink/operator/internal/scheme"
	"github.com/mmelink/operator/internal/status"
	"github.com/mmelink/operator/internal/testenv"
)

// The tests run against a real PostgreSQL (pgtest) and a real API server (envtest), one of each per
// test binary; every test gets its own database and its own objects.

var (
	kubeOnce sync.Once
	kubeEnv  *envtest.Environment
	kubeCfg  *rest.Config
	kubeErr  error
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard()) // the caches' own lines are not what these tests look at
	code := pgtest.Run(m)
	if kubeEnv != nil {
		_ = kubeEnv.Stop()
	}
	os.Exit(code)
}

// kube returns a client of the shared API server.
func kube(t testing.TB) client.Client {
	t.Helper()
	kubeOnce.Do(func() { kubeEnv, kubeCfg, kubeErr = testenv.Start() })
	if kubeErr != nil {
		t.Fatal(kubeErr)
	}
	c, err := client.New(kubeCfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newPool opens (and migrates) a fresh database.
func newPool(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := Open(ctx, dsn, 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := Maintain(ctx, pool, DefaultRetention); err != nil {
		t.Fatal(err)
	}
	return pool
}

func testKeys(t testing.TB) *Keys {
	t.Helper()
	k, err := NewKeys([]byte("a test key of thirty-two bytes or more"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newLink creates a MessengerLink in a namespace of its own.
func newLink(t testing.TB, c client.Client, name string) *messengerv1.MessengerLink {
	t.Helper()
	l := &messengerv1.MessengerLink{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: name + "-"},
		Spec:       messengerv1.MessengerLinkSpec{Page: messengerv1.PageRef{ID: "1234567890"}, Ref: "summer"},
	}
	if err := c.Create(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	return l
}

func linkTarget(l *messengerv1.MessengerLink) status.Target {
	return status.Target{Kind: status.KindLink, NamespacedName: client.ObjectKeyFromObject(l)}
}

// referral returns the n-th distinct referral event of a test: its own fingerprint, person and time
// (spread over the last hours, as Meta's would be).
func referral(n int, kind delivery.Kind, source, ref string) delivery.Event {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	sum := sha256.Sum256(append([]byte(string(kind)+ref), b[:]...))
	return delivery.Event{
		Kind: kind, PageID: "1234567890", SenderID: "psid-" + string(rune('a'+n%26)) + ref,
		Time:        time.Now().Add(-time.Duration(n%3600) * time.Second).Truncate(time.Millisecond),
		Referral:    delivery.Referral{Ref: ref, Source: source},
		Fingerprint: [16]byte(sum[:16]),
	}
}

// newCache starts an informer cache of the shared API server, as the webhook server reads through.
func newCache(t testing.TB) cache.Cache {
	t.Helper()
	kube(t)
	c, err := cache.New(kubeCfg, cache.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = c.Start(ctx) }()
	// Informers start on first use; ask for both kinds now so that Writes never wait for a sync.
	for _, o := range []client.Object{&messengerv1.MessengerLink{}, &messengerv1.NotificationTopic{}} {
		if _, err := c.GetInformer(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	return c
}

// waitCached waits until the cache has the object, as the webhook server's would before its events.
func waitCached(t testing.TB, c client.Reader, o client.Object) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := o.DeepCopyObject().(client.Object)
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(o), got); err == nil && got.GetUID() == o.GetUID() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached the cache", o.GetName())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// counted returns the events counted for uid: compacted counts plus deltas not compacted yet.
func counted(t testing.TB, pool *pgxpool.Pool, uid string) int64 {
	t.Helper()
	var n int64
	err := pool.QueryRow(context.Background(), `SELECT
		coalesce((SELECT sum(n) FROM mmelink_counts WHERE object_uid = $1::uuid), 0) +
		coalesce((SELECT sum(n) FROM mmelink_deltas WHERE object_uid = $1::uuid), 0)`, uid).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
