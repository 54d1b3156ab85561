package status

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/link"
	"github.com/mmelink/operator/internal/sketch"
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

// maxSources bounds bySource: Meta's sources are an open set, but the status must stay small.
const maxSources = 32

// maxFieldIDs bounds how many distinct ref-field IDs are counted per link.
const maxFieldIDs = 10

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
	a.count(st, ev)
	if person := personOf(ev); person != "" {
		a.sk.Add(person)
		st.UniquePeople = int64(a.sk.Estimate())
	}
	if !ev.Time.IsZero() {
		t := metav1.NewTime(ev.Time.UTC().Truncate(time.Second))
		if st.FirstTime == nil || t.Before(st.FirstTime) {
			st.FirstTime = &t
		}
		if st.LastTime == nil || st.LastTime.Before(&t) {
			st.LastTime = &t
		}
	}
}

// count adds one to every counter the event contributes to.
func (a *linkApplier) count(st *messengerv1.ReferralStats, ev *delivery.Event) {
	ref, source := ev.Referral.Ref, ev.Referral.Source
	switch ev.Kind {
	case delivery.KindOptIn:
		st.PluginOptIns = st.PluginOptIns + 1
		ref = ev.OptIn.Ref
	case delivery.KindPostbackReferral:
		st.Total = st.Total + 1
		st.NewConversations = st.NewConversations + 1
	case delivery.KindReferral:
		st.Total = st.Total + 1
		st.ReturningConversations = st.ReturningConversations + 1
	case delivery.KindMessageReferral:
		st.Total = st.Total + 1
	}
	if ev.Kind == delivery.KindMessageReferral || source == "ADS" {
		st.AdReferrals = st.AdReferrals + 1
	}
	if source != "" {
		addSource(st, source)
	}
	if _, fields, err := link.DecodeRef(ref); err == nil {
		for _, f := range fields {
			addField(st, f.ID, f.Value)
		}
	}
}

func addSource(st *messengerv1.ReferralStats, source string) {
	if st.BySource == nil {
		st.BySource = map[string]int64{}
	}
	if _, ok := st.BySource[source]; !ok && len(st.BySource) >= maxSources {
		source = "OTHER"
	}
	st.BySource[source] = st.BySource[source] + 1
}

func addField(st *messengerv1.ReferralStats, id, value string) {
	var fc *messengerv1.FieldCounts
	for i := range st.Fields {
		if st.Fields[i].ID == id {
			fc = &st.Fields[i]
		}
	}
	if fc == nil {
		if len(st.Fields) >= maxFieldIDs {
			return
		}
		st.Fields = append(st.Fields, messengerv1.FieldCounts{ID: id})
		fc = &st.Fields[len(st.Fields)-1]
	}
	if fc.Values == nil {
		fc.Values = map[string]int64{}
	}
	if _, ok := fc.Values[value]; ok || len(fc.Values) < messengerv1.MaxFieldValues {
		fc.Values[value] = fc.Values[value] + 1
		return
	}
	fc.Other = fc.Other + 1
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

// personOf identifies the person for the unique-people sketch, which keeps only hashes.
func personOf(ev *delivery.Event) string {
	if ev.SenderID != "" {
		return "psid:" + ev.SenderID
	}
	if ev.UserRef != "" {
		return "uref:" + ev.UserRef
	}
	return ""
}
