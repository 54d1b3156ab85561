package status_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/status"
)

// The race that lost acknowledged events with two replicas: replica A's write lands but its answer is
// lost, so A answers 503; Meta's retry reaches replica B, which finds the events counted and answers
// 200. Whatever A does afterwards, the events answered 200 by B must stay counted, exactly once.
func TestOutcomeUnknownOnOneReplicaRetriedOnTheOther(t *testing.T) {
	for trial := range 5 {
		t.Run(fmt.Sprint("trial-", trial), func(t *testing.T) {
			key := newLink(t)
			var lose atomic.Bool
			lose.Store(true)
			replicaA := interceptor.NewClient(k8s, interceptor.Funcs{
				SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
					err := c.SubResource(sub).Patch(ctx, obj, p, opts...)
					if err == nil && lose.CompareAndSwap(true, false) {
						return errLost // stored, but A cannot know
					}
					return err
				},
			})
			a := status.NewStore(replicaA, k8s, status.Options{FlushInterval: 5 * time.Millisecond})
			b := status.NewStore(k8s, k8s, status.Options{FlushInterval: 5 * time.Millisecond})
			delivered := items(key,
				event(delivery.KindReferral, "summer", "SHORTLINK", "p1", 10*trial+1),
				event(delivery.KindReferral, "summer", "ADS", "p2", 10*trial+2))

			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			err := a.Write(ctx, delivered)
			cancel()
			if !errors.Is(err, status.ErrUnavailable) {
				t.Fatalf("replica A: %v, want ErrUnavailable (answered 503)", err)
			}
			write(t, b, delivered) // Meta's retry, answered 200 by replica B
			// Give replica A every chance to act on what it learned, then a later delivery through A.
			time.Sleep(500 * time.Millisecond)
			write(t, a, items(key, event(delivery.KindReferral, "summer", "SHORTLINK", "p3", 10*trial+3)))
			time.Sleep(300 * time.Millisecond)
			if st := referrals(t, key); st.Total != 3 || st.BySource["ADS"] != 1 {
				t.Fatalf("total %d ADS %d, want 3 and 1: an event answered 200 was lost or doubled", st.Total, st.BySource["ADS"])
			}
		})
	}
}
