package pgledger

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/link"
	"github.com/mmelink/operator/internal/sketch"
)

// The bounds of the embedded mode (internal/status/apply.go), so that both modes show the same status.
const (
	maxSources  = 32
	maxFieldIDs = 10
	dailyDays   = 30
)

// countRow is one row of mmelink_counts.
type countRow struct {
	day                 time.Time
	kind, source, ref   string
	n                   int64
	firstTime, lastTime time.Time
}

// linkStats projects a link's count rows, ordered by first time (so that the bounded maps keep the
// first values seen, as the embedded mode does), and its people sketch.
func linkStats(rows []countRow, people *sketch.HLL, today time.Time) *messengerv1.ReferralStats {
	st := &messengerv1.ReferralStats{}
	oldest := today.AddDate(0, 0, -(dailyDays - 1))
	days := map[string]*messengerv1.DailyReferrals{}
	for _, r := range rows {
		counted := count(st, r)
		if counted && !r.day.Before(oldest) {
			date := r.day.Format(time.DateOnly)
			d := days[date]
			if d == nil {
				d = &messengerv1.DailyReferrals{Date: date}
				days[date] = d
			}
			d.Total += r.n
			if r.source != "" {
				d.BySource = addSource(d.BySource, r.source, r.n)
			}
		}
		st.FirstTime = earliest(st.FirstTime, r.firstTime)
		st.LastTime = latest(st.LastTime, r.lastTime)
	}
	for d := oldest; !d.After(today); d = d.AddDate(0, 0, 1) {
		if v := days[d.Format(time.DateOnly)]; v != nil {
			st.Daily = append(st.Daily, *v)
		}
	}
	if people != nil {
		st.UniquePeople = int64(people.Estimate())
	}
	return st
}

// count adds a row to the counters its kind contributes to, by the embedded mode's rules; it reports
// whether the row is a referral (counted in total).
func count(st *messengerv1.ReferralStats, r countRow) bool {
	referral := true
	switch delivery.Kind(r.kind) {
	case delivery.KindOptIn:
		st.PluginOptIns += r.n
		referral = false
	case delivery.KindPostbackReferral:
		st.NewConversations += r.n
	case delivery.KindReferral:
		st.ReturningConversations += r.n
	case delivery.KindMessageReferral:
	default:
		return false
	}
	if referral {
		st.Total += r.n
	}
	if delivery.Kind(r.kind) == delivery.KindMessageReferral || r.source == "ADS" {
		st.AdReferrals += r.n
	}
	if r.source != "" {
		st.BySource = addSource(st.BySource, r.source, r.n)
	}
	if _, fields, err := link.DecodeRef(r.ref); err == nil {
		for _, f := range fields {
			st.Fields = addField(st.Fields, f.ID, f.Value, r.n)
		}
	}
	return referral
}

func addSource(m map[string]int64, source string, n int64) map[string]int64 {
	if m == nil {
		m = map[string]int64{}
	}
	if _, ok := m[source]; !ok && len(m) >= maxSources {
		source = "OTHER"
	}
	m[source] += n
	return m
}

func addField(fields []messengerv1.FieldCounts, id, value string, n int64) []messengerv1.FieldCounts {
	i := 0
	for ; i < len(fields) && fields[i].ID != id; i++ {
	}
	if i == len(fields) {
		if len(fields) >= maxFieldIDs {
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

// tokenCounts are a topic's counts from mmelink_tokens.
type tokenCounts struct{ total, active, stopped int64 }

// topicStats projects a topic's count rows and token counts. The registration's requestID is recorded
// with a confirmation newer than the one in status (prev), as the embedded mode does at the time it
// counts it.
func topicStats(rows []countRow, tc tokenCounts, prev *messengerv1.OptInStats, reg *messengerv1.RegistrationStatus) *messengerv1.OptInStats {
	st := &messengerv1.OptInStats{Total: tc.total, Active: tc.active, Stopped: tc.stopped}
	for _, r := range rows {
		st.LastTime = latest(st.LastTime, r.lastTime)
		if r.kind == kindConfirmed {
			st.ConfirmedTime = latest(st.ConfirmedTime, r.lastTime)
		}
	}
	if st.ConfirmedTime != nil {
		if prev != nil && prev.ConfirmedTime != nil && !prev.ConfirmedTime.Before(st.ConfirmedTime) {
			st.ConfirmedRequestID = prev.ConfirmedRequestID
		} else if reg != nil {
			st.ConfirmedRequestID = reg.RequestID
		}
	}
	return st
}

func earliest(cur *metav1.Time, t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	if cur == nil || mt.Before(cur) {
		return &mt
	}
	return cur
}

func latest(cur *metav1.Time, t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	if cur == nil || cur.Before(&mt) {
		return &mt
	}
	return cur
}
