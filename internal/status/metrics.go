package status

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	commits    *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	batch      *prometheus.HistogramVec
	duplicates *prometheus.CounterVec
	late       *prometheus.CounterVec
	counted    *prometheus.CounterVec
	bytes      *prometheus.CounterVec
	coverage   *prometheus.HistogramVec
}

// newMetrics creates the store's collectors and registers them with reg (nil: not registered). As in
// every package here, registration is MustRegister: a name registered twice is a programming error.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mmelink_status_commits_total",
			Help: "Status commits by kind and result (ok, gone, conflict, throttled, failed, unknown).",
		}, []string{"kind", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mmelink_status_commit_duration_seconds",
			Help:    "Time of one status commit attempt (read, apply, write).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"kind"}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mmelink_status_commit_parts",
			Help:    "Deliveries' parts committed together in one status write (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}, []string{"kind"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mmelink_status_duplicate_events_total",
			Help: "Events not counted because the window holds their fingerprint (redeliveries).",
		}, []string{"kind"}),
		late: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mmelink_status_late_events_total",
			Help: "Events acknowledged and not counted because they were older than the dedupe window covers.",
		}, []string{"kind"}),
		counted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mmelink_status_counted_events_total",
			Help: "Events counted in status (stored once each).",
		}, []string{"kind"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mmelink_status_write_bytes_total",
			Help: "Bytes of status patches stored.",
		}, []string{"kind"}),
		coverage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mmelink_status_window_coverage_seconds",
			Help: "At each commit of an object whose dedupe window has dropped events: how far back it still " +
				"recognises redeliveries. Meta retries for about an hour; below that, use the PostgreSQL ledger.",
			Buckets: []float64{60, 300, 900, 1800, 3600, 7200, 21600, 86400},
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.commits, m.latency, m.batch, m.duplicates, m.late, m.counted, m.bytes, m.coverage)
	}
	return m
}

func (m *metrics) commit(k Kind, r result, d time.Duration, parts int) {
	m.commits.WithLabelValues(string(k), string(r)).Inc()
	m.latency.WithLabelValues(string(k)).Observe(d.Seconds())
	if r == resultOK {
		m.batch.WithLabelValues(string(k)).Observe(float64(parts))
	}
}

// stored records what a stored commit did.
func (m *metrics) stored(k Kind, o outcome) {
	kind := string(k)
	m.counted.WithLabelValues(kind).Add(float64(o.counted))
	m.duplicates.WithLabelValues(kind).Add(float64(o.duplicate))
	m.late.WithLabelValues(kind).Add(float64(o.late))
	m.bytes.WithLabelValues(kind).Add(float64(o.patchBytes))
	if o.coverage > 0 {
		m.coverage.WithLabelValues(kind).Observe(o.coverage.Seconds())
	}
}
