package status

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// topicApplier records what the webhook server learns about a NotificationTopic in status.optIns.
//
// This first version records the registration confirmation and the time of the latest opt-in event. The
// per-token counts (total, active, stopped) need the token store in Secrets, which deduplicates by token
// and orders stops and resumes; they are not counted here until it exists, rather than counted wrong.
type topicApplier struct {
	t *messengerv1.NotificationTopic
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
	if it.Recipient && it.Event.OptIn.Status == "" {
		st.ConfirmedTime = &t
		if r := a.t.Status.Registration; r != nil {
			st.ConfirmedRequestID = r.RequestID
		}
	}
}

// revert cannot take back a confirmation or a time; nothing else is counted yet.
func (a *topicApplier) revert([]Item) {}

func (a *topicApplier) store(lg *ledger) { a.stats().Ledger = lg.encode("") }
