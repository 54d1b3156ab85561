package pgledger

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// referralCollector exports the projected counts: one series per link and referral source (Meta's open
// set, bounded per link as in status), never per person or ref value. Daily figures are Prometheus's
// increase(mmelink_ledger_link_events_total[1d]); status.referrals.daily has the ledger's own. Only the
// projector's replica exports them, so sums over replicas do not double.
type referralCollector struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	by   map[string]linkSeries // by UID
}

type linkSeries struct {
	namespace, name string
	bySource        map[string]int64
	total           int64
}

func newReferralCollector() *referralCollector {
	return &referralCollector{
		desc: prometheus.NewDesc("mmelink_ledger_link_events_total",
			"Events (referrals and plugin opt-ins) counted per link and referral source by the PostgreSQL ledger, as projected into status; source \"\" is events without one.",
			[]string{"namespace", "name", "source"}, nil),
		by: map[string]linkSeries{},
	}
}

func (c *referralCollector) set(namespace, name, uid string, st *messengerv1.ReferralStats) {
	s := linkSeries{namespace: namespace, name: name, total: st.Total, bySource: map[string]int64{}}
	var sourced int64
	for src, n := range st.BySource {
		s.bySource[src] = n
		sourced += n
	}
	if rest := st.Total + st.PluginOptIns - sourced; rest > 0 {
		s.bySource[""] = rest
	}
	c.mu.Lock()
	c.by[uid] = s
	c.mu.Unlock()
}

func (c *referralCollector) reset() {
	c.mu.Lock()
	c.by = map[string]linkSeries{}
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *referralCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *referralCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.by {
		for src, n := range s.bySource {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), s.namespace, s.name, src)
		}
	}
}
