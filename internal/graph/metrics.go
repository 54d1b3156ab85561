package graph

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ActionSendOptInRequest is the action label of SendOptInRequest's calls.
const ActionSendOptInRequest = "send_optin_request"

// maxBody bounds how much of an answer is read; Graph answers to these calls are a few hundred bytes.
const maxBody = 1 << 20

// Metrics counts and times the HTTP requests sent to Graph API. Labels carry only the action and the
// outcome: never a token, a Page ID or a path. Calls refused locally during a rate-limit pause send no
// request and are not counted here.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics creates the collectors mmelink_graph_requests_total{action,outcome} and
// mmelink_graph_request_duration_seconds{action} and registers them with reg (nil: not registered). As in
// every package here, registration is MustRegister: a name registered twice is a programming error.
// Several clients share one *Metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mmelink_graph_requests_total",
			Help: "Requests sent to Graph API, by action and outcome (success, transient, throttled, permanent).",
		}, []string{"action", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mmelink_graph_request_duration_seconds",
			Help:    "Duration of requests to Graph API, until the answer was read, by action.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"action"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration)
	}
	return m
}

// observe records one request of action, sent at start, whose answer was of class c ("" for success).
// A nil m records nothing.
func (m *Metrics) observe(action string, start time.Time, c Class) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(action, outcome(c)).Inc()
	m.duration.WithLabelValues(action).Observe(time.Since(start).Seconds())
}
