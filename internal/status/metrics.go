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
	reverts    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mmelink_status_commits_total",
			Help: "Status commits by kind and result (ok, gone, conflict, failed, unknown).",
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
			Help: "Events not counted because their fingerprint was already stored (redeliveries).",
		}, []string{"kind"}),
		reverts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mmelink_status_reverted_events_total",
			Help: "Events taken back because their delivery was answered 503 after they were stored.",
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.commits, m.latency, m.batch, m.duplicates, m.reverts)
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
