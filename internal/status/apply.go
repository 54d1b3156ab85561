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
	// ledger returns the stored ledger (may be nil); load decodes the rest of the bookkeeping.
	ledger() *messengerv1.DeliveryLedger
	load() error
	// apply counts an item; revert takes a counted item back (counts only: a sketch cannot forget).
	apply(Item)
	revert([]Item)
	// store writes the bookkeeping back into the object.
	store(*ledger)
}

// sideWriter is an applier that stores something outside the object before the status write: the
// topic's tokens. The status then records what the side store holds.
type sideWriter interface {
	writeSide(ctx context.Context, c client.Client, r client.Reader, counted []Item) error
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
	a.count(st, ev, 1)
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

func (a *linkApplier) revert(items []Item) {
	st := a.stats()
	for i := range items {
		a.count(st, &items[i].Event, -1)
	}
}

// count adds d to every counter the event contributes to.
func (a *linkApplier) count(st *messengerv1.ReferralStats, ev *delivery.Event, d int64) {
	ref, source := ev.Referral.Ref, ev.Referral.Source
	switch ev.Kind {
	case delivery.KindOptIn:
		st.PluginOptIns = nonNegative(st.PluginOptIns + d)
		ref = ev.OptIn.Ref
	case delivery.KindPostbackReferral:
		st.Total = nonNegative(st.Total + d)
		st.NewConversations = nonNegative(st.NewConversations + d)
	case delivery.KindReferral:
		st.Total = nonNegative(st.Total + d)
		st.ReturningConversations = nonNegative(st.ReturningConversations + d)
	case delivery.KindMessageReferral:
		st.Total = nonNegative(st.Total + d)
	}
	if ev.Kind == delivery.KindMessageReferral || source == "ADS" {
		st.AdReferrals = nonNegative(st.AdReferrals + d)
	}
	if source != "" {
		addSource(st, source, d)
	}
	if _, fields, err := link.DecodeRef(ref); err == nil {
		for _, f := range fields {
			addField(st, f.ID, f.Value, d)
		}
	}
}

func addSource(st *messengerv1.ReferralStats, source string, d int64) {
	if st.BySource == nil {
		st.BySource = map[string]int64{}
	}
	if _, ok := st.BySource[source]; !ok && len(st.BySource) >= maxSources {
		source = "OTHER"
	}
	st.BySource[source] = nonNegative(st.BySource[source] + d)
}

func addField(st *messengerv1.ReferralStats, id, value string, d int64) {
	var fc *messengerv1.FieldCounts
	for i := range st.Fields {
		if st.Fields[i].ID == id {
			fc = &st.Fields[i]
		}
	}
	if fc == nil {
		if len(st.Fields) >= maxFieldIDs || d < 0 {
			return
		}
		st.Fields = append(st.Fields, messengerv1.FieldCounts{ID: id})
		fc = &st.Fields[len(st.Fields)-1]
	}
	if fc.Values == nil {
		fc.Values = map[string]int64{}
	}
	if _, ok := fc.Values[value]; ok || len(fc.Values) < messengerv1.MaxFieldValues {
		fc.Values[value] = nonNegative(fc.Values[value] + d)
		return
	}
	fc.Other = nonNegative(fc.Other + d)
}

func (a *linkApplier) store(lg *ledger) {
	a.stats().Ledger = lg.encode(a.sk.String())
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

func nonNegative(v int64) int64 { return max(v, 0) }
