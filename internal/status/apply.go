package status

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/sketch"
	"github.com/mmelink/operator/internal/tally"
)

// applier changes the webhook server's status fields of one kind of object. It touches nothing that the
// controllers own.
type applier interface {
	// ledger returns the stored ledger (may be nil); newest the latest event time counted so far;
	// load decodes the rest of the bookkeeping.
	ledger() *messengerv1.DeliveryLedger
	newest() time.Time
	load() error
	// apply counts an item that is neither a redelivery nor late.
	apply(Item)
	// store writes the bookkeeping back into the object, with late events the window could not check.
	store(lg *ledger, late int64)
}

// sideWriter is an applier that stores something outside the object before the status write: the
// topic's tokens. The status then records what the side store holds. It gets the late items too: a side
// store keyed by what it stores (a token) is idempotent without the window.
type sideWriter interface {
	// writeSide returns the bytes it wrote.
	writeSide(ctx context.Context, c client.Client, r client.Reader, counted, late []Item) (int, error)
}

func newApplier(k Kind, o *Options) (client.Object, applier) {
	switch k {
	case KindTopic:
		t := &messengerv1.NotificationTopic{}
		return t, &topicApplier{t: t, perShard: o.TokensPerShard}
	default:
		l := &messengerv1.MessengerLink{}
		return l, &linkApplier{l: l}
	}
}

type linkApplier struct {
	l  *messengerv1.MessengerLink
	sk *sketch.HLL
}

func (a *linkApplier) stats() *messengerv1.ReferralStats {
	if a.l.Status.Referrals == nil {
		a.l.Status.Referrals = &messengerv1.ReferralStats{}
	}
	return a.l.Status.Referrals
}

func (a *linkApplier) ledger() *messengerv1.DeliveryLedger {
	if r := a.l.Status.Referrals; r != nil {
		return r.Ledger
	}
	return nil
}

func (a *linkApplier) newest() time.Time {
	if r := a.l.Status.Referrals; r != nil && r.LastTime != nil {
		return r.LastTime.Time
	}
	return time.Time{}
}

func (a *linkApplier) load() error {
	a.sk = sketch.New()
	if lg := a.ledger(); lg != nil && lg.Sketch != "" {
		sk, err := sketch.Parse(lg.Sketch)
		if err != nil {
			return err
		}
		a.sk = sk
	}
	return nil
}

func (a *linkApplier) apply(it Item) {
	st := a.stats()
	ev := &it.Event
	tally.AddReferral(st, tally.ReferralOf(ev), 1)
	if person := tally.Person(ev); person != "" {
		a.sk.Add(person)
		st.UniquePeople = int64(a.sk.Estimate())
	}
	if !ev.Time.IsZero() {
		st.FirstTime = tally.Earliest(st.FirstTime, ev.Time)
		st.LastTime = tally.Latest(st.LastTime, ev.Time)
	}
}

func (a *linkApplier) store(lg *ledger, late int64) {
	st := a.stats()
	st.Ledger = lg.encode(a.sk.String())
	st.Window = windowStatus(st.Window, lg.win, late)
}

// windowStatus is what status says of the window: its coverage and the late events, added to those of
// the status before.
func windowStatus(prev *messengerv1.DedupeWindow, w *window, late int64) *messengerv1.DedupeWindow {
	ws := &messengerv1.DedupeWindow{Events: int32(w.n)}
	if prev != nil {
		ws.LateEvents = prev.LateEvents
	}
	ws.LateEvents += late
	if since := w.coveredSince(); !since.IsZero() {
		t := metav1.NewTime(since)
		ws.CoveredSince = &t
	}
	return ws
}
