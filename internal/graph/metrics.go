package graph

import (
	"errors"
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
// mmelink_graph_request_duration_seconds{action} and registers them with reg (nil: not registered).
// Collectors already registered by an earlier call are reused, so several clients can share reg. It
// panics only if reg holds different collectors under the same names, a programming error.
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
	if reg == nil {
		return m
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
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
