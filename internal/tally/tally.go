// Package tally holds the counting rules: what an event adds to the counts in status.referrals and
// status.optIns. Both ledgers follow them, the embedded one (internal/status) event by event, the
// PostgreSQL one (internal/ledger/pg) over stored rows, n at a time; a rule changed here changes in both
// modes, so that switching modes never changes what a count means.
package tally

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/link"
)

// MaxSources bounds bySource: Meta's sources are an open set, but the status must stay small. Sources
// beyond it are counted as OTHER.
const MaxSources = 32

// MaxFieldIDs bounds how many distinct ref-field IDs are counted per link; later IDs are not counted.
const MaxFieldIDs = 10

// OtherSource collects the sources beyond MaxSources.
const OtherSource = "OTHER"

// Referral is what a link's counts need of an event: its kind, the source and the ref.
type Referral struct {
	Kind   delivery.Kind
	Source string
	Ref    string
}

// ReferralOf is the Referral of an event attributed to a link: a plugin opt-in carries its ref in
// optin.ref, the referral kinds in referral.ref.
func ReferralOf(ev *delivery.Event) Referral {
	r := Referral{Kind: ev.Kind, Source: ev.Referral.Source, Ref: ev.Referral.Ref}
	if ev.Kind == delivery.KindOptIn {
		r.Ref = ev.OptIn.Ref
	}
	return r
}

// AddReferral adds n events of r to st: the counters of its kind (postback referrals are new
// conversations, referrals returning ones, message referrals neither; plugin opt-ins are counted apart
// and not in total), ads (message referrals, and any source ADS), the source and the ref's fields. A
// kind a link does not count adds nothing. It reports whether r is a referral (counted in total).
func AddReferral(st *messengerv1.ReferralStats, r Referral, n int64) bool {
	referral := true
	switch r.Kind {
	case delivery.KindOptIn:
		st.PluginOptIns += n
		referral = false
	case delivery.KindPostbackReferral:
		st.NewConversations += n
	case delivery.KindReferral:
		st.ReturningConversations += n
	case delivery.KindMessageReferral:
	default:
		return false
	}
	if referral {
		st.Total += n
	}
	if r.Kind == delivery.KindMessageReferral || r.Source == "ADS" {
		st.AdReferrals += n
	}
	if r.Source != "" {
		st.BySource = AddSource(st.BySource, r.Source, n)
	}
	if _, fields, err := link.DecodeRef(r.Ref); err == nil {
		for _, f := range fields {
			st.Fields = addField(st.Fields, f.ID, f.Value, n)
		}
	}
	return referral
}

// AddSource adds n to source in m (allocated when nil), or to OTHER once m holds MaxSources others.
func AddSource(m map[string]int64, source string, n int64) map[string]int64 {
	if m == nil {
		m = map[string]int64{}
	}
	if _, ok := m[source]; !ok && len(m) >= MaxSources {
		source = OtherSource
	}
	m[source] += n
	return m
}

// addField adds n to the value of field id: the first MaxFieldIDs IDs are counted, and per ID the first
// MaxFieldValues values, the rest in Other.
func addField(fields []messengerv1.FieldCounts, id, value string, n int64) []messengerv1.FieldCounts {
	i := 0
	for ; i < len(fields) && fields[i].ID != id; i++ {
	}
	if i == len(fields) {
		if len(fields) >= MaxFieldIDs {
			return fields
		}
		fields = append(fields, messengerv1.FieldCounts{ID: id})
	}
	fc := &fields[i]
	if fc.Values == nil {
		fc.Values = map[string]int64{}
	}
	if _, ok := fc.Values[value]; ok || len(fc.Values) < messengerv1.MaxFieldValues {
		fc.Values[value] += n
	} else {
		fc.Other += n
	}
	return fields
}

// Person identifies the person of an event for the unique-people sketch, "" when it names no one. The
// sketch keeps only hashes of it.
func Person(ev *delivery.Event) string {
	if ev.SenderID != "" {
		return "psid:" + ev.SenderID
	}
	if ev.UserRef != "" {
		return "uref:" + ev.UserRef
	}
	return ""
}

// Earliest returns the earlier of cur and t, in whole UTC seconds as status shows times.
func Earliest(cur *metav1.Time, t time.Time) *metav1.Time {
	mt := second(t)
	if cur == nil || mt.Before(cur) {
		return &mt
	}
	return cur
}

// Latest returns the later of cur and t, in whole UTC seconds.
func Latest(cur *metav1.Time, t time.Time) *metav1.Time {
	mt := second(t)
	if cur == nil || cur.Before(&mt) {
		return &mt
	}
	return cur
}

func second(t time.Time) metav1.Time { return metav1.NewTime(t.UTC().Truncate(time.Second)) }
