package status

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/tally"
)

// topicApplier records what the webhook server learns about a NotificationTopic in status.optIns.
//
// The counts come from the token store (tokens.go), written before the status: a token is counted once
// however often its opt-in is delivered, and stops and resumes are ordered by their timestamps.
type topicApplier struct {
	t        *messengerv1.NotificationTopic
	perShard int
}

func (a *topicApplier) stats() *messengerv1.OptInStats {
	if a.t.Status.OptIns == nil {
		a.t.Status.OptIns = &messengerv1.OptInStats{}
	}
	return a.t.Status.OptIns
}

func (a *topicApplier) ledger() *messengerv1.DeliveryLedger {
	if o := a.t.Status.OptIns; o != nil {
		return o.Ledger
	}
	return nil
}

func (a *topicApplier) newest() time.Time {
	if o := a.t.Status.OptIns; o != nil && o.LastTime != nil {
		return o.LastTime.Time
	}
	return time.Time{}
}

func (a *topicApplier) load() error { return nil }

func (a *topicApplier) apply(it Item) {
	st := a.stats()
	when := it.Event.Time
	if when.IsZero() {
		when = time.Now()
	}
	t := metav1.NewTime(when.UTC().Truncate(time.Second))
	if st.LastTime == nil || st.LastTime.Before(&t) {
		st.LastTime = &t
	}
	if tally.Confirms(&it.Event, it.Recipient) {
		st.ConfirmedTime = &t
		if r := a.t.Status.Registration; r != nil {
			st.ConfirmedRequestID = r.RequestID
		}
	}
}

// writeSide stores the tokens of counted and late opt-ins alike: a token is its own idempotency key, so
// an opt-in older than the window is still kept (a late confirmation is not: it needs the window).
func (a *topicApplier) writeSide(ctx context.Context, c client.Client, r client.Reader, counted, late []Item) (int, error) {
	all := append(append([]Item(nil), counted...), late...)
	if len(tokenEvents(all)) == 0 {
		return 0, nil
	}
	tc, err := storeTokens(ctx, c, r, a.t, all, a.perShard)
	if err != nil {
		return 0, err
	}
	st := a.stats()
	st.Total, st.Active, st.Stopped, st.Secrets = tc.total, tc.active, tc.stopped, tc.secrets
	return tc.bytesWritten, nil
}

func (a *topicApplier) store(lg *ledger, late int64) {
	st := a.stats()
	st.Ledger = lg.encode("")
	st.Window = windowStatus(st.Window, lg.win, late)
}
