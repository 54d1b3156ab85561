package pgledger

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Event outcomes of mmelink_ledger_events_total.
const (
	outcomeCounted   = "counted"
	outcomeDuplicate = "duplicate"
	outcomeGone      = "gone"
)

type metrics struct {
	flushes *prometheus.CounterVec
	latency prometheus.Histogram
	group   prometheus.Histogram
	events  *prometheus.CounterVec
	late    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		flushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mmelink_ledger_flushes_total",
			Help: "Ledger flush transactions by result (ok, failed).",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mmelink_ledger_flush_duration_seconds",
			Help:    "Time of one ledger flush transaction, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		group: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mmelink_ledger_flush_deliveries",
			Help:    "Deliveries committed together in one ledger transaction (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mmelink_ledger_events_total",
			Help: "Events by outcome: counted, duplicate (a redelivery, not counted again), gone (the object was deleted).",
		}, []string{"outcome"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mmelink_ledger_late_events_total",
			Help: "Events answered 200 and not counted: older than the retention (or without a time, or over an hour ahead), so a redelivery check was impossible.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.flushes, m.latency, m.group, m.events, m.late)
	}
	return m
}

func (m *metrics) flush(err error, d time.Duration, deliveries, _ int) {
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.flushes.WithLabelValues(result).Inc()
	m.latency.Observe(d.Seconds())
	if err == nil {
		m.group.Observe(float64(deliveries))
	}
}
