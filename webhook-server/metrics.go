package webhookserver

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mmelink/operator/internal/delivery"
)

// Results of a delivery (POST /webhook or another method on /webhook), the values of the result label.
const (
	ResultOK            = "ok"
	ResultBadSignature  = "bad_signature"
	ResultTooLarge      = "too_large"
	ResultMalformed     = "malformed"
	ResultUnavailable   = "unavailable"
	ResultBadMethod     = "bad_method"
	ResultIgnoredObject = "ignored_object"
	// ResultReadError is a body that could not be read to its end for another reason than its size: the
	// sender went away or was too slow.
	ResultReadError = "read_error"
	// ResultBusy is a request answered 503 because the budget of body bytes in flight
	// (--max-body-bytes-in-flight) had no room for its body.
	ResultBusy = "busy"
)

// Results of a verification handshake (GET /webhook).
const (
	HandshakeOK        = "ok"
	HandshakeForbidden = "forbidden"
	// HandshakeInvalid is a handshake with the right token but a missing or oversized challenge.
	HandshakeInvalid = "invalid"
)

// KindUntracked labels, in mmelink_webhook_events_total, the page events of kinds the operator does not
// track (plain messages, reads, echoes...), so that the kinds add up to the events received.
const KindUntracked = "untracked"

// KindSkipped labels, in mmelink_webhook_events_total, the events of a verified delivery that could not be
// read (of a shape Meta's documents do not give, as in the app dashboard's test delivery): acknowledged
// with the rest rather than refused, since Meta unsubscribes an app whose deliveries keep failing.
const KindSkipped = "skipped"

var (
	deliveryResults  = []string{ResultOK, ResultBadSignature, ResultTooLarge, ResultMalformed, ResultUnavailable, ResultBadMethod, ResultIgnoredObject, ResultReadError, ResultBusy}
	handshakeResults = []string{HandshakeOK, HandshakeForbidden, HandshakeInvalid}
	trackedKinds     = []delivery.Kind{delivery.KindPostbackReferral, delivery.KindReferral, delivery.KindMessageReferral, delivery.KindOptIn, delivery.KindNotificationOptIn}
)

// metrics are the server's Prometheus collectors. Labels take values from the fixed sets above only:
// never a path, an ID, a ref or anything else a sender chooses.
type metrics struct {
	deliveries *prometheus.CounterVec
	handshakes *prometheus.CounterVec
	events     *prometheus.CounterVec
	unmatched  *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	batch      prometheus.Histogram
	conns      prometheus.Gauge
	shed       *prometheus.CounterVec
	bodyBytes  prometheus.GaugeFunc

	// The series of the known kinds, looked up once rather than per event.
	byKind          map[delivery.Kind]prometheus.Counter
	unmatchedByKind map[delivery.Kind]prometheus.Counter
	untracked       prometheus.Counter
	skipped         prometheus.Counter
}

// eventCounter returns the events_total series of kind.
func (m *metrics) eventCounter(kind delivery.Kind) prometheus.Counter {
	if c, ok := m.byKind[kind]; ok {
		return c
	}
	return m.events.WithLabelValues(string(kind)) // a kind added to package delivery later
}

// unmatchedCounter returns the unmatched_events_total series of kind.
func (m *metrics) unmatchedCounter(kind delivery.Kind) prometheus.Counter {
	if c, ok := m.unmatchedByKind[kind]; ok {
		return c
	}
	return m.unmatched.WithLabelValues(string(kind))
}

// shedConn counts a connection closed or refused at the connection cap.
func (m *metrics) shedConn(reason string) { m.shed.WithLabelValues(reason).Inc() }

// setOpenConns reports the open connections.
func (m *metrics) setOpenConns(n int) { m.conns.Set(float64(n)) }

// newMetrics creates the server's collectors and registers them with reg (nil: not registered). As in
// every package here, registration is MustRegister: a name registered twice is a programming error.
func newMetrics(reg prometheus.Registerer, bodies *budget) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mmelink_webhook_deliveries_total",
			Help: "Webhook requests on /webhook other than handshakes, by result.",
		}, []string{"result"}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mmelink_webhook_handshakes_total",
			Help: "Verification handshakes (GET /webhook), by result.",
		}, []string{"result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mmelink_webhook_events_total",
			Help: "Events in verified page deliveries, by kind (untracked: kinds the operator ignores; skipped: events it could not read).",
		}, []string{"kind"}),
		unmatched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mmelink_webhook_unmatched_events_total",
			Help: "Tracked events acknowledged without a MessengerLink or NotificationTopic to count them, by kind.",
		}, []string{"kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mmelink_webhook_delivery_duration_seconds",
			Help: "Time from receiving a delivery to answering it, by result. Meta expects an answer within 5s.",
			// DefBuckets end at 10s, past Meta's 5s deadline.
			Buckets: prometheus.DefBuckets,
		}, []string{"result"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mmelink_webhook_batch_events",
			Help:    "Events per verified page delivery, tracked or not.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8), // 1 ... 16384: Meta batches up to 1,000
		}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mmelink_webhook_connections",
			Help: "Open connections to the webhook endpoint (at most --max-connections).",
		}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mmelink_webhook_connections_shed_total",
			Help: "Connections closed to make room at --max-connections (evicted_idle, evicted_unverified) or refused because every open one carried a verified delivery.",
		}, []string{"reason"}),
		bodyBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mmelink_webhook_body_bytes_in_flight",
			Help: "Bytes reserved for request bodies being read or handled (at most --max-body-bytes-in-flight).",
		}, func() float64 { return float64(bodies.inUse()) }),
	}
	for _, r := range shedReasons {
		m.shed.WithLabelValues(r)
	}
	// Every series exists from the start, so that rate() and alerts see a 0 rather than nothing.
	for _, r := range deliveryResults {
		m.deliveries.WithLabelValues(r)
		m.duration.WithLabelValues(r)
	}
	for _, r := range handshakeResults {
		m.handshakes.WithLabelValues(r)
	}
	m.byKind = make(map[delivery.Kind]prometheus.Counter, len(trackedKinds))
	m.unmatchedByKind = make(map[delivery.Kind]prometheus.Counter, len(trackedKinds))
	for _, k := range trackedKinds {
		m.byKind[k] = m.events.WithLabelValues(string(k))
		m.unmatchedByKind[k] = m.unmatched.WithLabelValues(string(k))
	}
	m.untracked = m.events.WithLabelValues(KindUntracked)
	m.skipped = m.events.WithLabelValues(KindSkipped)

	if reg != nil {
		reg.MustRegister(m.deliveries, m.handshakes, m.events, m.unmatched, m.duration, m.batch, m.conns, m.shed, m.bodyBytes)
	}
	return m
}
