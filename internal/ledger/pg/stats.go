package pgledger

import (
	"time"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/sketch"
	"github.com/mmelink/operator/internal/tally"
)

// dailyDays is how many UTC days status.referrals.daily covers.
const dailyDays = 30

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
		counted := tally.AddReferral(st, tally.Referral{Kind: delivery.Kind(r.kind), Source: r.source, Ref: r.ref}, r.n)
		if counted && !r.day.Before(oldest) {
			date := r.day.Format(time.DateOnly)
			d := days[date]
			if d == nil {
				d = &messengerv1.DailyReferrals{Date: date}
				days[date] = d
			}
			d.Total += r.n
			if r.source != "" {
				d.BySource = tally.AddSource(d.BySource, r.source, r.n)
			}
		}
		st.FirstTime = tally.Earliest(st.FirstTime, r.firstTime)
		st.LastTime = tally.Latest(st.LastTime, r.lastTime)
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

// tokenCounts are a topic's counts from mmelink_tokens.
type tokenCounts struct{ total, active, stopped int64 }

// topicStats projects a topic's count rows and token counts. The registration's requestID is recorded
// with a confirmation newer than the one in status (prev), as the embedded mode does at the time it
// counts it.
func topicStats(rows []countRow, tc tokenCounts, prev *messengerv1.OptInStats, reg *messengerv1.RegistrationStatus) *messengerv1.OptInStats {
	st := &messengerv1.OptInStats{Total: tc.total, Active: tc.active, Stopped: tc.stopped}
	for _, r := range rows {
		st.LastTime = tally.Latest(st.LastTime, r.lastTime)
		if r.kind == kindConfirmed {
			st.ConfirmedTime = tally.Latest(st.ConfirmedTime, r.lastTime)
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
