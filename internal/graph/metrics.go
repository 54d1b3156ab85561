package graph

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
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

type actionKey struct{}

// withAction labels the requests made with ctx.
func withAction(ctx context.Context, action string) context.Context {
	return context.WithValue(ctx, actionKey{}, action)
}

func actionOf(ctx context.Context) string {
	if a, ok := ctx.Value(actionKey{}).(string); ok {
		return a
	}
	return "other"
}

// roundTripper wraps next to record every request in m.
func (m *Metrics) roundTripper(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &instrumented{next: next, m: m}
}

type instrumented struct {
	next http.RoundTripper
	m    *Metrics
}

// RoundTrip sends the request and classifies the answer as the client would. It reads the (small) body
// so that the outcome can depend on the Graph error code, then hands an equivalent body on.
func (t *instrumented) RoundTrip(req *http.Request) (*http.Response, error) {
	action := actionOf(req.Context())
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		t.observe(action, start, Transient)
		return nil, err
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var c Class
	switch {
	case readErr != nil:
		c = Transient
		// The caller must see the read failure too, not a silently shortened body.
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{readErr}))
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		c, _ = classifyError(parseError(resp.StatusCode, resp.Header, body))
	}
	t.observe(action, start, c)
	return resp, nil
}

func (t *instrumented) observe(action string, start time.Time, c Class) {
	t.m.requests.WithLabelValues(action, outcome(c)).Inc()
	t.m.duration.WithLabelValues(action).Observe(time.Since(start).Seconds())
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
