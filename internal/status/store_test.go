package status_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/scheme"
	"github.com/mmelink/operator/internal/status"
	"github.com/mmelink/operator/internal/testenv"
)

var k8s client.WithWatch

func TestMain(m *testing.M) {
	env, cfg, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	k8s, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

var nsN atomic.Int64

func newLink(t *testing.T) types.NamespacedName {
	t.Helper()
	ns := fmt.Sprintf("status-%d", nsN.Add(1))
	ctx := context.Background()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	l := &messengerv1.MessengerLink{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "poster"},
		Spec:       messengerv1.MessengerLinkSpec{Page: messengerv1.PageRef{ID: "42"}, Ref: "summer"},
	}
	if err := k8s.Create(ctx, l); err != nil {
		t.Fatal(err)
	}
	return client.ObjectKeyFromObject(l)
}

// event builds a referral event; n makes its fingerprint unique.
func event(kind delivery.Kind, ref, source, sender string, n int) delivery.Event {
	ev := delivery.Event{Kind: kind, PageID: "42", SenderID: sender, Time: time.Unix(1_760_000_000+int64(n), 0)}
	if kind == delivery.KindOptIn {
		ev.OptIn.Ref = ref
	} else {
		ev.Referral = delivery.Referral{Ref: ref, Source: source, Type: "OPEN_THREAD"}
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%s/%d", kind, ref, sender, n))
	copy(ev.Fingerprint[:], sum[:16])
	return ev
}

func items(key types.NamespacedName, evs ...delivery.Event) []status.Item {
	out := make([]status.Item, len(evs))
	for i, ev := range evs {
		out[i] = status.Item{Target: status.Target{Kind: status.KindLink, NamespacedName: key}, Event: ev}
	}
	return out
}

func referrals(t *testing.T, key types.NamespacedName) *messengerv1.ReferralStats {
	t.Helper()
	l := &messengerv1.MessengerLink{}
	if err := k8s.Get(context.Background(), key, l); err != nil {
		t.Fatal(err)
	}
	if l.Status.Referrals == nil {
		return &messengerv1.ReferralStats{}
	}
	return l.Status.Referrals
}

// write writes as Meta delivers: again after every 503, until it is stored (on a loaded machine an
// attempt can outlast its second; every write is idempotent, so the counts the tests assert are exact).
func write(t *testing.T, w status.Writer, its []status.Item) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := w.Write(ctx, its)
		cancel()
		if err == nil {
			return
		}
		if !errors.Is(err, status.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("write: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func newStore(c client.Client) *status.Store {
	return status.NewStore(c, k8s, status.Options{FlushInterval: 5 * time.Millisecond})
}

// Every kind of event lands in its own counters.
func TestEventsLandInTheirFields(t *testing.T) {
	key := newLink(t)
	w := newStore(k8s)
	write(t, w, items(key,
		event(delivery.KindPostbackReferral, "summer", "SHORTLINK", "p1", 1),
		event(delivery.KindPostbackReferral, "summer--738--store12", "SHORTLINK", "p2", 2),
		event(delivery.KindReferral, "summer--738--store12", "SHORTLINK", "p1", 3),
		event(delivery.KindReferral, "summer--738--store7", "MESSENGER_CODE", "p3", 4),
		event(delivery.KindMessageReferral, "summer", "ADS", "p4", 5),
		event(delivery.KindOptIn, "summer", "", "p5", 6),
	))
	st := referrals(t, key)
	checks := []struct {
		name      string
		got, want int64
	}{
		{"total", st.Total, 5},
		{"newConversations", st.NewConversations, 2},
		{"returningConversations", st.ReturningConversations, 2},
		{"adReferrals", st.AdReferrals, 1},
		{"pluginOptIns", st.PluginOptIns, 1},
		{"bySource[SHORTLINK]", st.BySource["SHORTLINK"], 3},
		{"bySource[MESSENGER_CODE]", st.BySource["MESSENGER_CODE"], 1},
		{"bySource[ADS]", st.BySource["ADS"], 1},
		{"uniquePeople", st.UniquePeople, 5},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if len(st.Fields) != 1 || st.Fields[0].ID != "738" || st.Fields[0].Values["store12"] != 2 || st.Fields[0].Values["store7"] != 1 {
		t.Errorf("fields = %+v", st.Fields)
	}
	if st.FirstTime == nil || st.LastTime == nil || !st.FirstTime.Equal(&metav1.Time{Time: time.Unix(1_760_000_001, 0)}) ||
		!st.LastTime.Equal(&metav1.Time{Time: time.Unix(1_760_000_006, 0)}) {
		t.Errorf("firstTime %v lastTime %v", st.FirstTime, st.LastTime)
	}
}

// The same delivery stored twice, by the same writer or a new one (a restart), counts once.
func TestRedeliveryCountsOnce(t *testing.T) {
	key := newLink(t)
	batch := items(key, event(delivery.KindReferral, "summer", "SHORTLINK", "p1", 1), event(delivery.KindReferral, "summer", "SHORTLINK", "p2", 2))
	write(t, newStore(k8s), batch)
	write(t, newStore(k8s), batch)
	write(t, newStore(k8s), batch[1:])
	if st := referrals(t, key); st.Total != 2 || st.UniquePeople != 2 {
		t.Fatalf("total %d unique %d, want 2 and 2", st.Total, st.UniquePeople)
	}
}

// Two writers (two replicas) writing to the same objects at once lose nothing: conflicts are retried
// with the deltas applied again to the fresh object.
func TestConcurrentWritersKeepExactTotals(t *testing.T) {
	keys := []types.NamespacedName{newLink(t), newLink(t)}
	writers := []status.Writer{newStore(k8s), newStore(k8s)}
	const perWriter = 40
	var wg sync.WaitGroup
	var failures atomic.Int64
	for wi, w := range writers {
		for i := range perWriter {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var its []status.Item
				for _, k := range keys {
					its = append(its, items(k, event(delivery.KindReferral, "summer", "SHORTLINK", fmt.Sprintf("w%d-%d", wi, i), wi*1000+i))...)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := w.Write(ctx, its); err != nil {
					failures.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d writes failed", failures.Load())
	}
	for _, k := range keys {
		if st := referrals(t, k); st.Total != 2*perWriter {
			t.Errorf("%s: total %d, want %d", k, st.Total, 2*perWriter)
		}
	}
}

// errLost stands for an answer lost on the way back: the write was stored, the writer cannot know.
var errLost = errors.New("http2: client connection lost")

// lossyClient stores status patches but, while lose is set, loses the answer of the first one.
func lossyClient(lose *atomic.Bool) client.Client {
	return interceptor.NewClient(k8s, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			err := c.SubResource(sub).Patch(ctx, obj, p, opts...)
			if err == nil && lose.CompareAndSwap(true, false) {
				return errLost
			}
			return err
		},
	})
}

// A commit whose answer is lost is answered 503 and left alone: nothing is taken back. The write landed,
// so Meta's redelivery finds its events in the window and is answered 200 without counting them again.
func TestLostAnswerIsRecognisedOnRedelivery(t *testing.T) {
	key := newLink(t)
	var lose atomic.Bool
	w := newStore(lossyClient(&lose))
	write(t, w, items(key, event(delivery.KindReferral, "summer", "SHORTLINK", "p1", 1)))

	lose.Store(true)
	lost := items(key, event(delivery.KindReferral, "summer", "ADS", "p2", 2))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	err := w.Write(ctx, lost)
	cancel()
	if !errors.Is(err, status.ErrUnavailable) {
		t.Fatalf("write with a lost answer: %v, want ErrUnavailable", err)
	}
	time.Sleep(200 * time.Millisecond) // room for any take-back, which must not happen
	if st := referrals(t, key); st.Total != 2 || st.BySource["ADS"] != 1 {
		t.Fatalf("after the lost answer: total %d ADS %d, want 2 and 1 (the write landed)", st.Total, st.BySource["ADS"])
	}
	write(t, w, lost)
	write(t, newStore(k8s), lost) // and on another replica
	if st := referrals(t, key); st.Total != 2 || st.BySource["ADS"] != 1 {
		t.Fatalf("after redelivery: total %d ADS %d, want 2 and 1", st.Total, st.BySource["ADS"])
	}
}

// A delivery stored for one object and not for another is answered 503 as a whole; the stored half
// stays, and Meta's redelivery counts the other half and not the first again.
func TestPartlyStoredDeliveryCountsOnceWhenRedelivered(t *testing.T) {
	good, bad := newLink(t), newLink(t)
	var failBad atomic.Bool
	failBad.Store(true)
	flaky := interceptor.NewClient(k8s, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			if obj.GetNamespace() == bad.Namespace && failBad.Load() {
				return fmt.Errorf("dial tcp 127.0.0.1:1: connect: %w", errConnRefused)
			}
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	})
	w := newStore(flaky)
	its := append(items(good, event(delivery.KindReferral, "summer", "SHORTLINK", "p1", 1)),
		items(bad, event(delivery.KindReferral, "summer", "SHORTLINK", "p1", 1))...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	err := w.Write(ctx, its)
	cancel()
	if !errors.Is(err, status.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if st := referrals(t, good); st.Total != 1 {
		t.Fatalf("the stored half: total %d, want 1", st.Total)
	}
	failBad.Store(false)
	write(t, w, its)
	for _, k := range []types.NamespacedName{good, bad} {
		if st := referrals(t, k); st.Total != 1 {
			t.Errorf("%s total %d after the redelivery, want 1", k.Namespace, st.Total)
		}
	}
}

var errConnRefused = syscall.ECONNREFUSED

// One commit can carry parts of several deliveries. When its answer is lost, every part is answered 503
// and stays stored; each delivery, when Meta resends it, is answered 200 and counted once in all.
func TestLostAnswerOfASharedCommitCountsEachDeliveryOnce(t *testing.T) {
	key := newLink(t)
	var calls atomic.Int64
	release := make(chan struct{})
	lossy := interceptor.NewClient(k8s, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			n := calls.Add(1)
			if n == 1 {
				<-release // hold the first commit so that the next deliveries queue up behind it
			}
			err := c.SubResource(sub).Patch(ctx, obj, p, opts...)
			if n == 2 && err == nil {
				return errLost // the second commit, shared by three deliveries, is stored but unanswered
			}
			return err
		},
	})
	w := status.NewStore(lossy, k8s, status.Options{FlushInterval: time.Millisecond})
	deliveries := make([][]status.Item, 4)
	errs := make(chan error, 4)
	for i := range 4 {
		deliveries[i] = items(key, event(delivery.KindReferral, "summer", "SHORTLINK", fmt.Sprintf("q%d", i), 100+i))
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			errs <- w.Write(ctx, deliveries[i])
		}()
		if i == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	failed := 0
	for range 4 {
		if err := <-errs; err != nil {
			failed++
		}
	}
	if failed != 3 {
		t.Fatalf("%d writes failed, want the 3 of the lost shared commit", failed)
	}
	for _, d := range deliveries { // Meta resends every delivery, also the one answered 200
		write(t, w, d)
	}
	if st := referrals(t, key); st.Total != 4 {
		t.Fatalf("total %d, want 4: each delivery once", st.Total)
	}
}

// A delivery waiting for a commit slot is answered by its deadline, not after the commits ahead of it,
// and what it carried is never stored later.
func TestWriteWaitingForASlotAnswersByItsDeadline(t *testing.T) {
	slow, waiting := newLink(t), newLink(t)
	release := make(chan struct{})
	held := interceptor.NewClient(k8s, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			if obj.GetNamespace() == slow.Namespace {
				<-release // the API server is slow for this object
			}
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	})
	w := status.NewStore(held, k8s, status.Options{FlushInterval: time.Millisecond, MaxConcurrentCommits: 1, AttemptTimeout: 500 * time.Millisecond})
	// Released after 3s in any case, so that a writer that waits for the slot fails the test, not hangs it.
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer time.AfterFunc(3*time.Second, releaseOnce).Stop()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Write(ctx, items(slow, event(delivery.KindReferral, "summer", "SHORTLINK", "a", 1)))
	}()
	time.Sleep(100 * time.Millisecond) // the slow commit holds the only slot

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	err := w.Write(ctx, items(waiting, event(delivery.KindReferral, "summer", "SHORTLINK", "b", 2)))
	cancel()
	if took := time.Since(start); !errors.Is(err, status.ErrUnavailable) || took > 2*time.Second {
		t.Fatalf("got %v after %s, want ErrUnavailable by the 1.5s deadline", err, took)
	}
	releaseOnce()
	time.Sleep(300 * time.Millisecond)
	if st := referrals(t, waiting); st.Total != 0 {
		t.Fatalf("the abandoned delivery was stored later: total %d", st.Total)
	}
}
